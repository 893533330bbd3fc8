//! The typed project model: every section of SPEC.md, every value with its source location.
//!
//! These types are produced by [`crate::load`] and read by every engine. They carry no behaviour
//! beyond small accessors; decoding and validation live in `decode` and `validate`.

use std::path::PathBuf;
use std::time::Duration;

use indexmap::IndexMap;
use serde::Serialize;
use serde_json::Value;

use crate::selector::Selector;
use crate::span::{Sources, Span, Spanned};

/// A whole project: `baton.yaml` plus its includes, decoded and validated.
#[derive(Debug, Clone, Default)]
pub struct Project {
    /// Directory holding the main project file; relative paths resolve against it.
    pub root: PathBuf,
    /// The main project file.
    pub file: PathBuf,
    /// Text of every file read, for diagnostics.
    pub sources: Sources,
    pub name: Option<Spanned<String>>,
    pub vars: IndexMap<String, Value>,
    pub nodes: IndexMap<String, Node>,
    /// Roles, labels and vars of `local` (`nodes: { local: { roles: [control] } }`).
    pub local: LocalNode,
    pub inventory: Option<Spanned<String>>,
    pub ssh: SshSettings,
    pub environments: IndexMap<String, Environment>,
    pub pipelines: IndexMap<String, Pipeline>,
    pub configs: IndexMap<String, Config>,
    pub resources: IndexMap<String, Resource>,
    pub outputs: IndexMap<String, Spanned<String>>,
    pub monitoring: Monitoring,
    pub checks: IndexMap<String, Check>,
    pub alerts: IndexMap<String, Alert>,
    pub notifications: IndexMap<String, Notification>,
    pub secrets: SecretsSettings,
    pub server: ServerSettings,
    /// Not errors, worth saying (an inventory host renamed to a valid node name).
    pub warnings: Vec<crate::Diagnostic>,
}

/// The implicit node that is this machine (no SSH).
pub const LOCAL_NODE: &str = "local";

/// What `nodes: { local: … }` may give this machine: no address, it is reached without SSH.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LocalNode {
    pub roles: Vec<String>,
    pub labels: IndexMap<String, String>,
    pub vars: IndexMap<String, Value>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Node {
    pub name: String,
    #[serde(skip)]
    pub span: Span,
    pub host: String,
    /// `None` means the default, 22.
    pub port: Option<u16>,
    /// `None` means the current user.
    pub user: Option<String>,
    /// Private key path, relative to the project root; `None` means agent then defaults.
    pub key: Option<PathBuf>,
    /// `ProxyJump`: `[user@]host[:port]` or a node name, hops separated by `,`.
    pub proxy_jump: Option<String>,
    pub roles: Vec<String>,
    pub labels: IndexMap<String, String>,
    pub vars: IndexMap<String, Value>,
    pub r#become: Become,
}

/// `become: true` (+ `become_user`, `become_password_secret`) on a node, stage, config or
/// resource: its commands and uploads run through sudo. A field left out inherits: a stage's,
/// config's or resource's over its node's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Become {
    pub enabled: Option<bool>,
    pub user: Option<String>,
    /// Name of the baton secret holding the login user's sudo password.
    pub password_secret: Option<Spanned<String>>,
}

/// The user `become` runs as when `become_user` is not given.
pub const DEFAULT_BECOME_USER: &str = "root";

impl Become {
    /// `self` written over `under`: each field given here wins.
    pub fn over(&self, under: &Become) -> Become {
        Become {
            enabled: self.enabled.or(under.enabled),
            user: self.user.clone().or_else(|| under.user.clone()),
            password_secret: self
                .password_secret
                .clone()
                .or_else(|| under.password_secret.clone()),
        }
    }

    /// The user to become, when escalation is on.
    pub fn target_user(&self) -> Option<&str> {
        (self.enabled == Some(true)).then(|| self.user.as_deref().unwrap_or(DEFAULT_BECOME_USER))
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SshSettings {
    pub known_hosts: Option<PathBuf>,
    pub accept_new_host_keys: bool,
    pub connect_timeout: Duration,
    pub forks: u32,
    /// Keep connections open between baton commands for this idle time (`None` = off).
    pub persist: Option<Duration>,
    /// Project-wide defaults under nodes' own keys and ssh_config (`ssh: { user, port, key }`).
    pub user: Option<String>,
    pub port: Option<u16>,
    pub key: Option<PathBuf>,
    /// Which OpenSSH client configuration to read.
    pub config: SshConfigFile,
}

/// `ssh.config`: `~/.ssh/config` by default, `false` for none, or a path.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SshConfigFile {
    #[default]
    User,
    Off,
    /// Relative to the project root.
    Path(PathBuf),
}

impl Default for SshSettings {
    fn default() -> Self {
        SshSettings {
            known_hosts: None,
            accept_new_host_keys: false,
            connect_timeout: Duration::from_secs(10),
            forks: 50,
            persist: None,
            user: None,
            port: None,
            key: None,
            config: SshConfigFile::User,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Environment {
    pub name: String,
    #[serde(skip)]
    pub span: Span,
    /// Runs on this git branch publish their artifacts to this environment's shelf.
    pub branch: Option<String>,
    /// Environments an artifact may be promoted from.
    pub promote_from: Vec<Spanned<String>>,
    pub approval: Approval,
    /// Pipelines that must have succeeded on the source shelf before promotion.
    pub gate: Vec<Spanned<String>>,
    /// Template of a git tag created on promotion, e.g. `v{{ artifact.version }}`.
    pub tag: Option<Spanned<String>>,
    pub vars: IndexMap<String, Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Approval {
    #[default]
    None,
    Manual,
}

#[derive(Debug, Clone, Serialize)]
pub struct Pipeline {
    pub name: String,
    #[serde(skip)]
    pub span: Span,
    /// Always contains at least `Manual` implicitly; listed triggers as written.
    pub triggers: Vec<Spanned<Trigger>>,
    pub env: Option<Spanned<String>>,
    pub stages: IndexMap<String, Stage>,
    pub notify: PipelineNotify,
    /// Runs of this pipeline allowed at once; more wait queued. Default 1.
    pub concurrency: u32,
    /// When a stage fails, start no new stage. Default true.
    pub fail_fast: bool,
    pub vars: IndexMap<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Trigger {
    Manual,
    Webhook {
        /// Name of the baton secret holding the signing secret (GitHub, plain HMAC) or token
        /// (GitLab); `None` accepts no delivery (a webhook needs a secret to be verified).
        secret: Option<String>,
        /// Branch globs a push must match; empty means every branch.
        branches: Vec<String>,
    },
    Schedule {
        cron: String,
        /// An IANA time zone name (`Europe/Paris`); `None` means UTC.
        timezone: Option<String>,
        /// After downtime, run one missed slot (default) or skip them.
        catch_up: bool,
    },
    Commit {
        /// Repository path or URL; `None` means the project's own repository.
        repo: Option<String>,
        /// Branch globs; empty means every branch.
        branches: Vec<String>,
        /// How often `git ls-remote` looks.
        interval: Duration,
    },
}

/// How often a commit trigger polls when `interval` is not given.
pub const DEFAULT_COMMIT_INTERVAL: Duration = Duration::from_secs(60);

/// How long `baton serve` lets runs finish on SIGTERM when `server.grace` is not given.
pub const DEFAULT_SERVER_GRACE: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Default, Serialize)]
pub struct PipelineNotify {
    pub on_failure: Vec<Spanned<String>>,
    pub on_success: Vec<Spanned<String>>,
    /// When a run's status differs from the previous finished run of the pipeline.
    pub on_change: Vec<Spanned<String>>,
    pub on_start: Vec<Spanned<String>>,
}

pub const DEFAULT_STAGE_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Serialize)]
pub struct Stage {
    pub name: String,
    #[serde(skip)]
    pub span: Span,
    pub action: StageAction,
    pub needs: Vec<Spanned<String>>,
    /// Default [`DEFAULT_STAGE_TIMEOUT`].
    pub timeout: Duration,
    /// `None` means `local`.
    pub targets: Option<Spanned<Selector>>,
    pub strategy: Strategy,
    /// Environment variables for the stage's commands (values are templates), as GitHub
    /// Actions' `env:`. The run's *environment* (dev, prod…) comes from `--env` or the pipeline.
    pub env: IndexMap<String, Spanned<String>>,
    pub secrets: Vec<Spanned<String>>,
    pub retries: u32,
    /// The `if:` template; the stage runs only when it renders truthy.
    pub condition: Option<Spanned<String>>,
    pub continue_on_error: bool,
    /// Globs, relative to the stage's working directory, collected after success.
    pub artifacts: Vec<Spanned<String>>,
    /// Commands run (in order) to undo this stage.
    pub rollback: Vec<Spanned<String>>,
    pub r#become: Become,
}

// Decoded once and read in place; boxing the request would only add indirection for readers.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StageAction {
    /// Commands run in order, each under `bash -eo pipefail -c`.
    Run(Vec<Spanned<String>>),
    Http(HttpRequest),
    Steps(Vec<StageStep>),
}

/// One entry of a stage's `steps:`: the step, and the `name:` shown for it in progress, logs
/// and reports instead of its command text. Reads as the step itself (`Deref`).
#[derive(Debug, Clone, Serialize)]
pub struct StageStep {
    pub name: Option<Spanned<String>>,
    pub step: Spanned<Step>,
}

impl std::ops::Deref for StageStep {
    type Target = Spanned<Step>;

    fn deref(&self) -> &Spanned<Step> {
        &self.step
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Run(Vec<Spanned<String>>),
    Http(HttpRequest),
    Upload(Upload),
    /// Name of a config to apply in the run's environment.
    Config(Spanned<String>),
    Infra(InfraAction),
    Promote(Promote),
    Notify(NotifyStep),
}

impl Step {
    pub fn kind(&self) -> &'static str {
        match self {
            Step::Run(_) => "run",
            Step::Http(_) => "http",
            Step::Upload(_) => "upload",
            Step::Config(_) => "config",
            Step::Infra(_) => "infra",
            Step::Promote(_) => "promote",
            Step::Notify(_) => "notify",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct HttpRequest {
    pub url: Spanned<String>,
    /// Upper-case method name; default `GET`.
    pub method: String,
    pub headers: IndexMap<String, String>,
    pub body: Option<String>,
    /// Per attempt; default 10s.
    pub timeout: Duration,
    /// `None` means any 2xx.
    pub expect_status: Option<u16>,
    pub expect_body_contains: Option<String>,
    /// Further attempts after the first fails; default 0.
    pub retries: u32,
    /// Wait between attempts; default 1s.
    pub interval: Duration,
    /// Path in the run workspace the body is written to.
    pub save: Option<String>,
    /// Conditional requests (ETag / Last-Modified), reusing the stored body on 304.
    pub cache: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Upload {
    pub source: UploadSource,
    pub dest: Spanned<String>,
    /// Octal permission bits, e.g. 0o644.
    pub mode: Option<u32>,
    pub owner: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UploadSource {
    /// A path relative to the stage's working directory.
    Src(Spanned<String>),
    /// An artifact: from the run's own shelf, or with `from` the newest version a successful
    /// run of that pipeline built.
    Artifact {
        name: Spanned<String>,
        from: Option<Spanned<String>>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InfraAction {
    Plan,
    Apply,
}

#[derive(Debug, Clone, Serialize)]
pub struct Promote {
    pub artifact: Spanned<String>,
    pub to: Spanned<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NotifyStep {
    pub channels: Vec<Spanned<String>>,
    pub message: Option<Spanned<String>>,
}

/// How a targeted stage spreads over its nodes.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Strategy {
    /// At most this many nodes at once (within a batch); `None` = all (bounded by `ssh.forks`).
    pub parallel: Option<u32>,
    /// Rolling batches; empty = one batch of every node. A ramp like `[1, 30%, 100%]` gives the
    /// size of each successive batch, the last size repeating.
    pub batch: Vec<Amount>,
    /// Failures tolerated across all batches before no further batch starts; `None` = unlimited
    /// within the stage (the stage still fails if any node failed).
    pub max_failures: Option<Amount>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Amount {
    Count(u32),
    Percent(u32),
}

impl Amount {
    /// The amount as a count out of `total`; percentages round up, never below 1 when total > 0.
    pub fn of(self, total: usize) -> usize {
        match self {
            Amount::Count(n) => n as usize,
            Amount::Percent(p) => {
                let n = (total * p as usize).div_ceil(100);
                if total > 0 { n.max(1) } else { 0 }
            }
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Config {
    pub name: String,
    #[serde(skip)]
    pub span: Span,
    pub kind: ConfigKind,
    /// `None` means `local`.
    pub targets: Option<Spanned<Selector>>,
    /// Destination path; derived from `name` for service and network configs.
    pub path: Option<Spanned<String>>,
    /// The unit or interface name (service, network).
    pub unit_name: Option<String>,
    pub source: ConfigSource,
    pub validate: Validator,
    pub mode: Option<u32>,
    pub owner: Option<String>,
    pub group: Option<String>,
    pub on_change: Option<Spanned<String>>,
    /// Secrets the content reads as `{{ secrets.NAME }}` (loaded for the environment; stored
    /// versions of a content that holds them are encrypted).
    pub secrets: Vec<Spanned<String>>,
    /// For `service`: the state to bring the unit to after a change.
    pub state: Option<ServiceState>,
    pub r#become: Become,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ConfigKind {
    File,
    Env,
    Service,
    Network,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConfigSource {
    Content(Spanned<String>),
    /// Path of a Jinja template, relative to the project root.
    Template(Spanned<String>),
    /// `type: env`: variables rendered to `KEY=value` lines.
    Vars(IndexMap<String, Spanned<String>>),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Validator {
    /// Chosen from the destination's extension.
    Auto,
    None,
    Json,
    Yaml,
    Toml,
    Ini,
    Sh,
    /// A command run on a temporary copy; `{path}` is replaced by the copy's path.
    Command(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceState {
    Started,
    Stopped,
    Restarted,
    Enabled,
}

#[derive(Debug, Clone, Serialize)]
pub struct Resource {
    pub id: String,
    #[serde(skip)]
    pub span: Span,
    /// `file`, `directory`, …, or a provider type such as `aws.s3_bucket`.
    pub kind: Spanned<String>,
    /// Node to act on over SSH; `None` = local.
    pub node: Option<Spanned<String>>,
    pub depends_on: Vec<Spanned<String>>,
    pub r#become: Become,
    /// Every other key, as written (templates unrendered). The span is the value's.
    pub attrs: IndexMap<String, Spanned<Value>>,
    /// Where each attribute's key is written, for problems with the key itself (an unknown or
    /// computed attribute), whose caret belongs under the name, not the value.
    #[serde(skip)]
    pub attr_keys: IndexMap<String, Span>,
}

impl Resource {
    /// The span of attribute `name`'s key, if it is written.
    pub fn key_span(&self, name: &str) -> Option<Span> {
        self.attr_keys.get(name).copied()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Monitoring {
    pub interval: Duration,
    pub retention: Duration,
    /// Nodes sampled besides the targets of alerts and checks.
    pub targets: Option<Spanned<Selector>>,
}

impl Default for Monitoring {
    fn default() -> Self {
        Monitoring {
            interval: Duration::from_secs(15),
            retention: Duration::from_secs(7 * 24 * 3600),
            targets: None,
        }
    }
}

/// How long a check waits for its probe when `timeout` is not given.
pub const DEFAULT_CHECK_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: String,
    #[serde(skip)]
    pub span: Span,
    /// `None` means `local`.
    pub targets: Option<Spanned<Selector>>,
    pub probe: CheckProbe,
    /// Default the monitoring interval.
    pub interval: Duration,
    /// Default [`DEFAULT_CHECK_TIMEOUT`].
    pub timeout: Duration,
}

// Decoded once and read in place; boxing the request would only add indirection for readers.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckProbe {
    /// A request made from the monitoring machine (the URL a template per target).
    Http(HttpRequest),
    /// A TCP connect from the monitoring machine to `host:port` (a template per target).
    Tcp(Spanned<String>),
    /// A command run on each target; exit 0 means healthy.
    Command(Spanned<String>),
}

impl CheckProbe {
    pub fn kind(&self) -> &'static str {
        match self {
            CheckProbe::Http(_) => "http",
            CheckProbe::Tcp(_) => "tcp",
            CheckProbe::Command(_) => "command",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Alert {
    pub name: String,
    #[serde(skip)]
    pub span: Span,
    pub condition: AlertCondition,
    /// `None`: a check's alert watches the check's targets, a metric alert every node (`local`
    /// when there are none).
    pub targets: Option<Spanned<Selector>>,
    /// How long the condition must hold before firing; default 0.
    pub for_: Duration,
    pub notify: Vec<Spanned<String>>,
    /// Re-send the notification this often while the alert keeps firing; `None` = never.
    pub repeat: Option<Duration>,
    pub severity: Severity,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertCondition {
    /// True while the metric is above `above` or below `below` (at least one is given; an `up`
    /// alert with neither means `below: 1`, the node is down).
    Metric {
        metric: Metric,
        above: Option<f64>,
        below: Option<f64>,
    },
    /// Fires while the named check fails.
    Check(Spanned<String>),
}

impl AlertCondition {
    /// The condition in words, for notifications and listings: `cpu above 80`, `check api_up
    /// fails`.
    pub fn describe(&self) -> String {
        match self {
            AlertCondition::Metric {
                metric,
                above,
                below,
            } => {
                let mut parts = Vec::new();
                if let Some(a) = above {
                    parts.push(format!("{metric} above {a}"));
                }
                if let Some(b) = below {
                    parts.push(format!("{metric} below {b}"));
                }
                if parts.is_empty() {
                    format!("{metric} below 1")
                } else {
                    parts.join(" or ")
                }
            }
            AlertCondition::Check(check) => format!("check {} fails", check.value),
        }
    }
}

/// A node metric the collector samples (SPEC §5).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Metric {
    /// % busy between two samples (`/proc/stat`).
    Cpu,
    /// % of memory used, from MemAvailable.
    Memory,
    Load1,
    Load5,
    Load15,
    /// % used of the mount point (`disk` is `/`).
    Disk(String),
    /// 1 when the node answered the probe, else 0.
    Up,
}

/// The metric names, as written in `metric:` (`disk:/PATH` besides).
pub const METRIC_NAMES: &[&str] = &["cpu", "memory", "load1", "load5", "load15", "disk", "up"];

impl Metric {
    /// `cpu`, `disk` (for `/`), `disk:/var`.
    pub fn name(&self) -> String {
        match self {
            Metric::Cpu => "cpu".into(),
            Metric::Memory => "memory".into(),
            Metric::Load1 => "load1".into(),
            Metric::Load5 => "load5".into(),
            Metric::Load15 => "load15".into(),
            Metric::Disk(mount) if mount == "/" => "disk".into(),
            Metric::Disk(mount) => format!("disk:{mount}"),
            Metric::Up => "up".into(),
        }
    }

    /// The metric `text` names (`load` is `load1`), or `None`.
    pub fn parse(text: &str) -> Option<Metric> {
        Some(match text {
            "cpu" => Metric::Cpu,
            "memory" => Metric::Memory,
            "load" | "load1" => Metric::Load1,
            "load5" => Metric::Load5,
            "load15" => Metric::Load15,
            "disk" => Metric::Disk("/".into()),
            "up" => Metric::Up,
            _ => {
                let mount = text.strip_prefix("disk:")?;
                if !mount.starts_with('/') || mount.chars().any(|c| c.is_whitespace() || c == '\'')
                {
                    return None;
                }
                let trimmed = mount.trim_end_matches('/');
                Metric::Disk(if trimmed.is_empty() { "/" } else { trimmed }.to_string())
            }
        })
    }
}

impl std::fmt::Display for Metric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

impl Serialize for Metric {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    #[default]
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Notification {
    pub name: String,
    #[serde(skip)]
    pub span: Span,
    pub channel: Channel,
    /// Attempts after the first before a delivery is given up; default
    /// [`DEFAULT_NOTIFY_RETRIES`].
    pub retries: u32,
}

/// Attempts after the first failed one when a channel does not say (`retries:`).
pub const DEFAULT_NOTIFY_RETRIES: u32 = 5;

/// Connect and per-command deadline of a channel when it does not say (`timeout:`).
pub const DEFAULT_NOTIFY_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Smtp(SmtpChannel),
    Webhook(WebhookChannel),
}

#[derive(Debug, Clone, Serialize)]
pub struct SmtpChannel {
    pub host: String,
    /// Default 587 with starttls, 465 with tls, 25 with none.
    pub port: Option<u16>,
    pub tls: SmtpTls,
    pub user: Option<String>,
    /// Name of the secret holding the password.
    pub password_secret: Option<Spanned<String>>,
    pub from: String,
    pub to: Vec<String>,
    /// A PEM file of CA certificates trusted besides the public roots (a private CA), relative
    /// to the project root.
    pub ca_file: Option<Spanned<String>>,
    /// Connect and per-command deadline; default [`DEFAULT_NOTIFY_TIMEOUT`].
    pub timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    None,
    Starttls,
    Tls,
}

#[derive(Debug, Clone, Serialize)]
pub struct WebhookChannel {
    pub url: Spanned<String>,
    pub headers: IndexMap<String, String>,
    /// Name of a secret used to sign the body (HMAC-SHA256, `X-Baton-Signature: sha256=HEX`).
    pub secret: Option<Spanned<String>>,
    pub format: WebhookFormat,
    /// Whole-request deadline; default [`DEFAULT_NOTIFY_TIMEOUT`].
    pub timeout: Duration,
}

/// The body a notification webhook posts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    /// The message's fields (alert or run) with `subject` and `text`.
    #[default]
    Json,
    /// `{"text": …}`, as Slack (and Mattermost, Rocket.Chat) incoming webhooks take.
    Slack,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct SecretsSettings {
    /// age X25519 recipients (`age1…`).
    pub recipients: Vec<Spanned<String>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServerSettings {
    /// `None`: `baton serve`'s default, 127.0.0.1:8080.
    pub listen: Option<String>,
    /// The server's public address, for links in notifications.
    pub url: Option<String>,
    pub tokens: IndexMap<String, ServerToken>,
    /// On SIGTERM, how long running runs may go on before they are cancelled.
    pub grace: Duration,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            listen: None,
            url: None,
            tokens: IndexMap::new(),
            grace: DEFAULT_SERVER_GRACE,
        }
    }
}

/// An API token, known by the SHA-256 of its value only (the value is shown once, by
/// `baton token add`).
#[derive(Debug, Clone, Serialize)]
pub struct ServerToken {
    pub name: String,
    pub role: TokenRole,
    /// Lower-case hex SHA-256 of the token.
    pub sha256: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenRole {
    Viewer,
    Operator,
}

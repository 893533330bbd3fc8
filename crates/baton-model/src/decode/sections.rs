//! Every section except pipelines: nodes, ssh, environments, configs, resources, monitoring,
//! checks, alerts, notifications, secrets and the server (SPEC §1, §3-§6, §9).

use std::path::PathBuf;
use std::time::Duration;

use indexmap::IndexMap;

use super::keys::*;
use super::pipeline::http;
use super::values::{Decoder, Fields, to_json};
use crate::diagnostic::{Diagnostic, did_you_mean};
use crate::span::Spanned;
use crate::types::*;
use crate::yaml::{Kind, Node};

fn what(kind: &str, key: &Node) -> String {
    format!("{kind} `{}`", key.scalar_text().unwrap_or_default())
}

pub(super) fn ssh(dec: &mut Decoder, node: &Node) -> SshSettings {
    let mut ssh = SshSettings::default();
    let Some(f) = dec.fields(node, Some(SSH_KEYS), "`ssh`") else {
        return ssh;
    };
    ssh.known_hosts = f
        .get("known_hosts")
        .and_then(|n| dec.string(n))
        .map(|s| PathBuf::from(s.value));
    if let Some(b) = f.get("accept_new_host_keys").and_then(|n| dec.bool(n)) {
        ssh.accept_new_host_keys = b;
    }
    if let Some(d) = f.get("connect_timeout").and_then(|n| dec.duration(n)) {
        ssh.connect_timeout = d;
    }
    if let Some(d) = f.get("persist").and_then(|n| dec.duration(n)) {
        ssh.persist = (!d.is_zero()).then_some(d);
    }
    ssh.user = f.get("user").and_then(|n| dec.string(n)).map(|s| s.value);
    ssh.port = f.get("port").and_then(|n| dec.port(n));
    ssh.key = f
        .get("key")
        .and_then(|n| dec.string(n))
        .map(|s| PathBuf::from(s.value));
    if let Some(config) = f.get("config").and_then(|n| dec.string(n)) {
        ssh.config = match config.value.as_str() {
            "false" | "no" | "off" => SshConfigFile::Off,
            "true" | "yes" | "on" => SshConfigFile::User,
            _ => SshConfigFile::Path(PathBuf::from(config.value)),
        };
    }
    if let Some(n) = f.get("forks").and_then(|n| dec.int(n, "1 to 10000")) {
        if n == 0 {
            dec.error(Diagnostic::new(
                "`forks` must be at least 1",
                f.get("forks").map_or(node.span, |n| n.span),
            ));
        }
        ssh.forks = n;
    }
    ssh
}

pub(super) fn monitoring(dec: &mut Decoder, node: &Node) -> Monitoring {
    let mut m = Monitoring::default();
    let Some(f) = dec.fields(node, Some(MONITORING_KEYS), "`monitoring`") else {
        return m;
    };
    if let Some(d) = f.get("interval").and_then(|n| dec.duration(n)) {
        m.interval = d;
    }
    if let Some(d) = f.get("retention").and_then(|n| dec.duration(n)) {
        m.retention = d;
    }
    m.targets = f.get("targets").and_then(|n| dec.selector(n));
    for (key, value) in [("interval", m.interval), ("retention", m.retention)] {
        if value.is_zero()
            && let Some(span) = f.get(key).map(|n| n.span)
        {
            dec.error(Diagnostic::new(
                format!("`monitoring.{key}` must be more than 0"),
                span,
            ));
        }
    }
    m
}

pub(super) fn secrets(dec: &mut Decoder, node: &Node) -> SecretsSettings {
    let Some(f) = dec.fields(node, Some(SECRETS_KEYS), "`secrets`") else {
        return SecretsSettings::default();
    };
    let recipients = f
        .get("recipients")
        .map(|n| dec.strings(n))
        .unwrap_or_default();
    for r in &recipients {
        if !r.value.starts_with("age1") {
            dec.error(
                Diagnostic::new(format!("`{}` is not an age recipient", r.value), r.span)
                    .with_help("age X25519 recipients start with `age1`"),
            );
        }
    }
    SecretsSettings { recipients }
}

pub(super) fn server(dec: &mut Decoder, node: &Node) -> ServerSettings {
    let mut server = ServerSettings::default();
    let Some(f) = dec.fields(node, Some(SERVER_KEYS), "`server`") else {
        return server;
    };
    server.listen = f.get("listen").and_then(|n| dec.string(n)).map(|s| s.value);
    server.url = f.get("url").and_then(|n| dec.string(n)).map(|s| s.value);
    if let Some(d) = f.get("grace").and_then(|n| dec.duration(n)) {
        server.grace = d;
    }
    let Some(tokens) = f.get("tokens") else {
        return server;
    };
    let Kind::Map(entries) = &tokens.kind else {
        if !tokens.is_null() {
            dec.mismatch(tokens, "a mapping of token names to `{ role, sha256 }`");
        }
        return server;
    };
    for (key, value) in entries {
        let Some(name) = dec.name(key, "token") else {
            continue;
        };
        let Some(t) = dec.fields(value, Some(TOKEN_KEYS), &what("token", key)) else {
            continue;
        };
        let role = dec.require(&t, "role").and_then(|n| {
            dec.choice(
                n,
                &[
                    ("viewer", TokenRole::Viewer),
                    ("operator", TokenRole::Operator),
                ],
            )
        });
        let sha256 = dec.require(&t, "sha256").and_then(|n| dec.string(n));
        let sha256 = sha256.and_then(|h| {
            let hex = h.value.len() == 64 && h.value.bytes().all(|b| b.is_ascii_hexdigit());
            if !hex {
                dec.error(
                    Diagnostic::new(format!("token `{name}`: `sha256` is not a SHA-256 hash"), h.span)
                        .with_help("64 hex digits; `baton token add NAME --role R` writes the entry (the token itself never goes in baton.yaml)"),
                );
                return None;
            }
            Some(h.value.to_ascii_lowercase())
        });
        if let (Some(role), Some(sha256)) = (role, sha256) {
            server
                .tokens
                .insert(name.clone(), ServerToken { name, role, sha256 });
        }
    }
    server
}

pub(super) fn node(dec: &mut Decoder, key: &Node, value: &Node) -> Option<Node_> {
    let name = dec.name(key, "node");
    let what = what("node", key);
    let f = dec.fields(value, Some(NODE_KEYS), &what)?;
    let labels = f
        .get("labels")
        .map(|n| dec.string_map(n, "`labels`"))
        .unwrap_or_default();
    let node = Node_ {
        name: String::new(),
        span: key.span,
        host: f
            .get("host")
            .and_then(|n| dec.string(n))
            .map(|s| s.value)
            .unwrap_or_default(),
        port: f.get("port").and_then(|n| dec.port(n)),
        user: f.get("user").and_then(|n| dec.string(n)).map(|s| s.value),
        key: f
            .get("key")
            .and_then(|n| dec.string(n))
            .map(|s| PathBuf::from(s.value)),
        proxy_jump: f
            .get("proxy_jump")
            .and_then(|n| dec.string(n))
            .map(|s| s.value),
        r#become: escalation(dec, &f),
        roles: f
            .get("roles")
            .map(|n| dec.strings(n))
            .unwrap_or_default()
            .into_iter()
            .map(|s| s.value)
            .collect(),
        labels,
        vars: f
            .get("vars")
            .map(|n| dec.vars(n, "`vars`"))
            .unwrap_or_default(),
    };
    let name = name?;
    // As in Ansible, a node without an address is reached by its name.
    let host = if node.host.is_empty() {
        name.clone()
    } else {
        node.host.clone()
    };
    Some(Node_ { name, host, ..node })
}

/// `become`, `become_user`, `become_password_secret` of a node, stage, config or resource.
pub(super) fn escalation(dec: &mut Decoder, f: &Fields) -> Become {
    Become {
        enabled: f.get("become").and_then(|n| dec.bool(n)),
        user: f
            .get("become_user")
            .and_then(|n| dec.string(n))
            .map(|s| s.value),
        password_secret: f.get("become_password_secret").and_then(|n| dec.string(n)),
    }
}

/// `nodes: { local: { roles, labels, vars } }`: this machine's place in selectors and templates.
pub(super) fn local_node(dec: &mut Decoder, value: &Node) -> LocalNode {
    let empty = Node::map(Vec::new(), value.span);
    let value = if value.is_null() { &empty } else { value };
    let mut addressed = false;
    if let Kind::Map(entries) = &value.kind {
        for (key, _) in entries {
            if let Some(k @ ("host" | "port" | "user" | "key")) = key.scalar_text() {
                addressed = true;
                dec.error(
                    Diagnostic::new(format!("node `local` cannot have `{k}`"), key.span)
                        .with_help("`local` is this machine, reached without SSH: it takes `roles`, `labels` and `vars`; give a remote machine another name"),
                );
            }
        }
    }
    if addressed {
        return LocalNode::default();
    }
    let Some(f) = dec.fields(value, Some(LOCAL_NODE_KEYS), "node `local`") else {
        return LocalNode::default();
    };
    LocalNode {
        roles: f
            .get("roles")
            .map(|n| dec.strings(n))
            .unwrap_or_default()
            .into_iter()
            .map(|s| s.value)
            .collect(),
        labels: f
            .get("labels")
            .map(|n| dec.string_map(n, "`labels`"))
            .unwrap_or_default(),
        vars: f
            .get("vars")
            .map(|n| dec.vars(n, "`vars`"))
            .unwrap_or_default(),
    }
}

/// The model's node type; `Node` here is the YAML node.
type Node_ = crate::types::Node;

pub(super) fn environment(dec: &mut Decoder, key: &Node, value: &Node) -> Option<Environment> {
    let name = dec.name(key, "environment");
    let what = what("environment", key);
    // `staging: {}` and `staging:` both define an environment with no settings.
    let empty = Node::map(Vec::new(), value.span);
    let value = if value.is_null() { &empty } else { value };
    let f = dec.fields(value, Some(ENVIRONMENT_KEYS), &what)?;
    let env = Environment {
        name: String::new(),
        span: key.span,
        branch: f.get("branch").and_then(|n| dec.string(n)).map(|s| s.value),
        promote_from: f
            .get("promote_from")
            .map(|n| dec.strings(n))
            .unwrap_or_default(),
        approval: match f.get("approval") {
            Some(n) => dec
                .choice(n, &[("manual", Approval::Manual), ("none", Approval::None)])
                .unwrap_or_default(),
            None => Approval::None,
        },
        gate: f.get("gate").map(|n| dec.strings(n)).unwrap_or_default(),
        tag: f.get("tag").and_then(|n| dec.template(n)),
        vars: f
            .get("vars")
            .map(|n| dec.vars(n, "`vars`"))
            .unwrap_or_default(),
    };
    Some(Environment { name: name?, ..env })
}

pub(super) fn config(dec: &mut Decoder, key: &Node, value: &Node) -> Option<Config> {
    let name = dec.name(key, "config");
    let what = what("config", key);
    let f = dec.fields(value, Some(CONFIG_KEYS), &what)?;
    let kinds = [
        ("file", ConfigKind::File),
        ("env", ConfigKind::Env),
        ("service", ConfigKind::Service),
        ("network", ConfigKind::Network),
    ];
    let kind = match f.get("type") {
        Some(n) => dec.choice(n, &kinds)?,
        None => ConfigKind::File,
    };
    let unit_name = f.get("name").and_then(|n| dec.string(n));
    let mut path = f.get("path").and_then(|n| dec.template(n));
    match kind {
        ConfigKind::File | ConfigKind::Env => {
            if path.is_none() {
                dec.error(Diagnostic::new(format!("{what} needs `path`"), f.span));
            }
            if let Some(span) = f.key_span("name") {
                dec.error(Diagnostic::new(
                    "`name` is for `service` and `network` configs; use `path`",
                    span,
                ));
            }
        }
        ConfigKind::Service | ConfigKind::Network => match (&unit_name, &path) {
            (Some(unit), None) => {
                let derived = if kind == ConfigKind::Service {
                    format!("/etc/systemd/system/{}.service", unit.value)
                } else {
                    format!("/etc/network/interfaces.d/{}", unit.value)
                };
                path = Some(Spanned::new(derived, unit.span));
            }
            (None, None) => dec.error(Diagnostic::new(format!("{what} needs `name`"), f.span)),
            _ => {}
        },
    }
    let source = config_source(dec, &f, kind, &what);
    let validate = match f.get("validate") {
        Some(n) => dec.string(n).map(|s| match s.value.as_str() {
            "auto" => Validator::Auto,
            "none" => Validator::None,
            "json" => Validator::Json,
            "yaml" => Validator::Yaml,
            "toml" => Validator::Toml,
            "ini" => Validator::Ini,
            "sh" => Validator::Sh,
            _ => Validator::Command(s.value),
        }),
        None => Some(Validator::Auto),
    };
    let state = f.get("state").and_then(|n| {
        dec.choice(
            n,
            &[
                ("started", ServiceState::Started),
                ("stopped", ServiceState::Stopped),
                ("restarted", ServiceState::Restarted),
                ("enabled", ServiceState::Enabled),
            ],
        )
    });
    if state.is_some() && kind != ConfigKind::Service {
        dec.error(Diagnostic::new(
            "`state` is only for `service` configs",
            f.key_span("state")?,
        ));
    }
    Some(Config {
        name: name?,
        span: key.span,
        kind,
        targets: f.get("targets").and_then(|n| dec.selector(n)),
        path,
        unit_name: unit_name.map(|s| s.value),
        source: source?,
        validate: validate?,
        mode: f.get("mode").and_then(|n| dec.mode(n)),
        owner: f.get("owner").and_then(|n| dec.string(n)).map(|s| s.value),
        group: f.get("group").and_then(|n| dec.string(n)).map(|s| s.value),
        on_change: f.get("on_change").and_then(|n| dec.template(n)),
        secrets: f.get("secrets").map(|n| dec.strings(n)).unwrap_or_default(),
        state,
        r#become: escalation(dec, &f),
    })
}

fn config_source(
    dec: &mut Decoder,
    f: &super::values::Fields,
    kind: ConfigKind,
    what: &str,
) -> Option<ConfigSource> {
    let present: Vec<&str> = ["template", "content", "vars"]
        .into_iter()
        .filter(|k| f.has(k))
        .collect();
    match present.as_slice() {
        ["vars"] if kind == ConfigKind::Env => {
            let node = f.get("vars")?;
            let fields = dec.fields(node, None, "`vars`")?;
            let mut vars = IndexMap::new();
            for (name, key, value) in fields.others(&[]) {
                if !is_env_name(name) {
                    dec.error(
                        Diagnostic::new(
                            format!("`{name}` is not an environment variable name"),
                            key.span,
                        )
                        .with_help("names match ^[A-Z_][A-Z0-9_]*$"),
                    );
                }
                if let Some(v) = dec.template(value) {
                    vars.insert(name.to_string(), v);
                }
            }
            Some(ConfigSource::Vars(vars))
        }
        ["vars"] => {
            dec.error(Diagnostic::new(
                "`vars` is for `type: env` configs",
                f.key_span("vars")?,
            ));
            None
        }
        ["content"] => Some(ConfigSource::Content(dec.template(f.get("content")?)?)),
        // The template file is read (and checked) when the config is rendered.
        ["template"] => Some(ConfigSource::Template(dec.string(f.get("template")?)?)),
        [] => {
            let wanted = if kind == ConfigKind::Env {
                "`vars`, `content` or `template`"
            } else {
                "`content` or `template`"
            };
            dec.error(Diagnostic::new(format!("{what} needs {wanted}"), f.span));
            None
        }
        several => {
            dec.error(Diagnostic::new(
                format!(
                    "{what} has both `{}` and `{}`; give only one",
                    several[0], several[1]
                ),
                f.key_span(several[1]).unwrap_or(f.span),
            ));
            None
        }
    }
}

fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_uppercase() || c == '_')
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

pub(super) fn resource(dec: &mut Decoder, key: &Node, value: &Node) -> Option<Resource> {
    let id = dec.name(key, "resource");
    let what = what("resource", key);
    let f = dec.fields(value, None, &what)?;
    let kind = dec.require(&f, "type").and_then(|n| dec.string(n));
    let mut attrs = IndexMap::new();
    let mut attr_keys = IndexMap::new();
    for (name, key, value) in f.others(RESOURCE_KEYS) {
        check_templates_in(dec, value);
        attrs.insert(name.to_string(), Spanned::new(to_json(value), value.span));
        attr_keys.insert(name.to_string(), key.span);
    }
    Some(Resource {
        id: id?,
        span: key.span,
        kind: kind?,
        node: f.get("node").and_then(|n| dec.string(n)),
        depends_on: f
            .get("depends_on")
            .map(|n| dec.strings(n))
            .unwrap_or_default(),
        r#become: escalation(dec, &f),
        attrs,
        attr_keys,
    })
}

fn check_templates_in(dec: &mut Decoder, node: &Node) {
    match &node.kind {
        Kind::Str(s) => dec.check_template(s, node.span),
        Kind::Seq(items) => items.iter().for_each(|i| check_templates_in(dec, i)),
        Kind::Map(entries) => entries.iter().for_each(|(_, v)| check_templates_in(dec, v)),
        _ => {}
    }
}

pub(super) fn check(
    dec: &mut Decoder,
    key: &Node,
    value: &Node,
    default_interval: Duration,
) -> Option<Check> {
    let name = dec.name(key, "check");
    let what = what("check", key);
    let f = dec.fields(value, Some(CHECK_KEYS), &what)?;
    let probes: Vec<&str> = ["http", "tcp", "command"]
        .into_iter()
        .filter(|k| f.has(k))
        .collect();
    let probe = match probes.as_slice() {
        ["http"] => f
            .get("http")
            .and_then(|n| http(dec, n))
            .map(CheckProbe::Http),
        ["tcp"] => f
            .get("tcp")
            .and_then(|n| dec.template(n))
            .map(CheckProbe::Tcp),
        ["command"] => f
            .get("command")
            .and_then(|n| dec.template(n))
            .map(CheckProbe::Command),
        _ => {
            dec.error(Diagnostic::new(
                format!("{what} needs exactly one of `http`, `tcp` and `command`"),
                f.span,
            ));
            None
        }
    };
    let interval = f.get("interval").and_then(|n| dec.duration(n));
    if interval.is_some_and(|d| d.is_zero()) {
        dec.error(Diagnostic::new(
            format!("the `interval` of {what} must be more than 0"),
            f.get("interval").map_or(f.span, |n| n.span),
        ));
    }
    Some(Check {
        name: name?,
        span: key.span,
        targets: f.get("targets").and_then(|n| dec.selector(n)),
        probe: probe?,
        interval: interval.unwrap_or(default_interval),
        timeout: f
            .get("timeout")
            .and_then(|n| dec.duration(n))
            .unwrap_or(DEFAULT_CHECK_TIMEOUT),
    })
}

pub(super) fn alert(dec: &mut Decoder, key: &Node, value: &Node) -> Option<Alert> {
    let name = dec.name(key, "alert");
    let what = what("alert", key);
    let f = dec.fields(value, Some(ALERT_KEYS), &what)?;
    let condition = match (f.get("metric"), f.get("check")) {
        (Some(metric), None) => {
            let metric = self::metric(dec, metric);
            let above = f.get("above").and_then(|n| dec.float(n));
            let below = f.get("below").and_then(|n| dec.float(n));
            // `up` has one meaning without a threshold: the node is down.
            if above.is_none()
                && below.is_none()
                && metric.as_ref().is_some_and(|m| *m != Metric::Up)
            {
                dec.error(
                    Diagnostic::new(format!("{what} needs `above` or `below`"), f.span)
                        .with_help("e.g. `above: 80`: the alert's condition is the metric past it"),
                );
            }
            metric.map(|metric| AlertCondition::Metric {
                metric,
                above,
                below,
            })
        }
        (None, Some(check)) => {
            for key in ["above", "below"] {
                if let Some(span) = f.key_span(key) {
                    dec.error(Diagnostic::new(
                        format!("`{key}` goes with `metric`, not `check`"),
                        span,
                    ));
                }
            }
            dec.string(check).map(AlertCondition::Check)
        }
        _ => {
            dec.error(Diagnostic::new(
                format!("{what} needs exactly one of `metric` and `check`"),
                f.span,
            ));
            None
        }
    };
    Some(Alert {
        name: name?,
        span: key.span,
        condition: condition?,
        targets: f.get("targets").and_then(|n| dec.selector(n)),
        for_: f
            .get("for")
            .and_then(|n| dec.duration(n))
            .unwrap_or(Duration::ZERO),
        notify: f.get("notify").map(|n| dec.strings(n)).unwrap_or_default(),
        repeat: f
            .get("repeat")
            .and_then(|n| dec.duration(n))
            .filter(|d| !d.is_zero()),
        severity: f
            .get("severity")
            .and_then(|n| {
                dec.choice(
                    n,
                    &[
                        ("info", Severity::Info),
                        ("warning", Severity::Warning),
                        ("critical", Severity::Critical),
                    ],
                )
            })
            .unwrap_or_default(),
    })
}

/// A metric name (`cpu`, `disk:/var`…); an unknown one is reported with a suggestion.
fn metric(dec: &mut Decoder, node: &Node) -> Option<Metric> {
    let text = dec.string(node)?;
    if let Some(metric) = Metric::parse(&text.value) {
        return Some(metric);
    }
    let help = if text.value.starts_with("disk:") {
        "`disk:` takes an absolute mount point, e.g. `disk:/var`".to_string()
    } else {
        match did_you_mean(&text.value, METRIC_NAMES.iter().copied()) {
            Some(s) => format!("did you mean `{s}`?"),
            None => format!(
                "metrics: {}, or `disk:/PATH` for another mount",
                METRIC_NAMES.join(", ")
            ),
        }
    };
    dec.error(
        Diagnostic::new(format!("unknown metric `{}`", text.value), text.span).with_help(help),
    );
    None
}

pub(super) fn notification(dec: &mut Decoder, key: &Node, value: &Node) -> Option<Notification> {
    let name = dec.name(key, "notification");
    let what = what("notification", key);
    let f = dec.fields(value, Some(NOTIFICATION_KEYS), &what)?;
    let channel = match (f.get("smtp"), f.get("webhook")) {
        (Some(n), None) => smtp(dec, n).map(Channel::Smtp),
        (None, Some(n)) => webhook(dec, n).map(Channel::Webhook),
        _ => {
            dec.error(Diagnostic::new(
                format!("{what} needs exactly one of `smtp` and `webhook`"),
                f.span,
            ));
            None
        }
    };
    let retries = f
        .get("retries")
        .and_then(|n| dec.u32(n))
        .unwrap_or(DEFAULT_NOTIFY_RETRIES);
    Some(Notification {
        name: name?,
        span: key.span,
        channel: channel?,
        retries,
    })
}

fn smtp(dec: &mut Decoder, node: &Node) -> Option<SmtpChannel> {
    let f = dec.fields(node, Some(SMTP_KEYS), "`smtp`")?;
    let host = dec.require(&f, "host").and_then(|n| dec.string(n));
    let from = dec.require(&f, "from").and_then(|n| dec.string(n));
    let to = dec.require(&f, "to").map(|n| dec.strings(n));
    let tls = match f.get("tls") {
        Some(n) => dec.choice(
            n,
            &[
                ("none", SmtpTls::None),
                ("starttls", SmtpTls::Starttls),
                ("tls", SmtpTls::Tls),
            ],
        )?,
        None => SmtpTls::Starttls,
    };
    Some(SmtpChannel {
        host: host?.value,
        port: f.get("port").and_then(|n| dec.port(n)),
        tls,
        user: f.get("user").and_then(|n| dec.string(n)).map(|s| s.value),
        password_secret: f.get("password_secret").and_then(|n| dec.string(n)),
        from: from?.value,
        to: to?.into_iter().map(|s| s.value).collect(),
        ca_file: f.get("ca_file").and_then(|n| dec.string(n)),
        timeout: notify_timeout(dec, &f),
    })
}

fn webhook(dec: &mut Decoder, node: &Node) -> Option<WebhookChannel> {
    if !matches!(node.kind, Kind::Map(_)) {
        let url = dec.template(node)?;
        return Some(WebhookChannel {
            url,
            headers: IndexMap::new(),
            secret: None,
            format: WebhookFormat::Json,
            timeout: DEFAULT_NOTIFY_TIMEOUT,
        });
    }
    let f = dec.fields(node, Some(WEBHOOK_KEYS), "`webhook`")?;
    let url = dec.require(&f, "url").and_then(|n| dec.template(n));
    Some(WebhookChannel {
        url: url?,
        headers: f
            .get("headers")
            .map(|n| dec.string_map(n, "`headers`"))
            .unwrap_or_default(),
        secret: f.get("secret").and_then(|n| dec.string(n)),
        format: match f.get("format") {
            Some(n) => dec.choice(
                n,
                &[
                    ("json", WebhookFormat::Json),
                    ("slack", WebhookFormat::Slack),
                ],
            )?,
            None => WebhookFormat::Json,
        },
        timeout: notify_timeout(dec, &f),
    })
}

fn notify_timeout(dec: &mut Decoder, f: &Fields) -> Duration {
    f.get("timeout")
        .and_then(|n| dec.duration(n))
        .unwrap_or(DEFAULT_NOTIFY_TIMEOUT)
}

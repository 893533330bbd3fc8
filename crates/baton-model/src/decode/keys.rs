//! The keys each section of baton.yaml accepts, with the type of each value. The decoder
//! rejects any other key, and the JSON Schema is generated from these same tables (names and
//! types), so the two cannot drift apart; `schema.rs` only adds descriptions.

/// A key and the type of its value.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Key(pub &'static str, pub Ty);

/// The shape of a value, as the decoder reads it. Each variant is one reader of
/// `decode::values` (or a section decoder); `schema.rs` turns it into JSON Schema.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Ty {
    /// A plain string; numbers and booleans are read as written.
    Str,
    /// A string whose template syntax is checked.
    Template,
    /// One template or a list of them.
    Templates,
    /// One string or a list of strings.
    Names,
    Bool,
    /// A non-negative integer.
    Count,
    /// A TCP port, 1 to 65535.
    Port,
    /// An integer or a float.
    Number,
    Duration,
    Selector,
    /// Octal file permissions.
    Mode,
    /// A count or a percentage.
    Amount,
    /// Environment variables: shell-valid names to templates (a mapping, never a string).
    EnvVars,
    /// String keys to scalar values.
    StringMap,
    /// Any YAML values, by name.
    Vars,
    /// One of fixed words.
    Enum(&'static [&'static str]),
    /// A structure described in the schema's `$defs`.
    Def(&'static str),
    /// A mapping of names to the `$defs` structure.
    Named(&'static str),
    /// A mapping of names to values of a type.
    MapOf(&'static Ty),
    List(&'static Ty),
    OneOrList(&'static Ty),
}

/// The names of a key table, for messages.
pub(crate) fn names(keys: &[Key]) -> impl Iterator<Item = &'static str> + Clone + '_ {
    keys.iter().map(|k| k.0)
}

/// Whether `name` is in `keys`.
pub(crate) fn contains(keys: &[Key], name: &str) -> bool {
    keys.iter().any(|k| k.0 == name)
}

pub(crate) const TOP_KEYS: &[Key] = &[
    Key("project", Ty::Str),
    Key("include", Ty::Names),
    Key("vars", Ty::Vars),
    Key("nodes", Ty::Named("node")),
    Key("inventory", Ty::Str),
    Key("ssh", Ty::Def("ssh")),
    Key("environments", Ty::Named("environment")),
    Key("pipelines", Ty::Named("pipeline")),
    Key("configs", Ty::Named("config")),
    Key("resources", Ty::Named("resource")),
    Key("outputs", Ty::MapOf(&Ty::Template)),
    Key("monitoring", Ty::Def("monitoring")),
    Key("checks", Ty::Named("check")),
    Key("alerts", Ty::Named("alert")),
    Key("notifications", Ty::Named("notification")),
    Key("secrets", Ty::Def("secrets")),
    Key("server", Ty::Def("server")),
];

pub(crate) const NODE_KEYS: &[Key] = &[
    Key("host", Ty::Str),
    Key("port", Ty::Port),
    Key("user", Ty::Str),
    Key("key", Ty::Str),
    Key("proxy_jump", Ty::Str),
    Key("roles", Ty::Names),
    Key("labels", Ty::StringMap),
    Key("vars", Ty::Vars),
    Key("become", Ty::Bool),
    Key("become_user", Ty::Str),
    Key("become_password_secret", Ty::Str),
];

/// `nodes: { local: … }`: this machine takes roles, labels and vars, never an address.
pub(crate) const LOCAL_NODE_KEYS: &[Key] = &[
    Key("roles", Ty::Names),
    Key("labels", Ty::StringMap),
    Key("vars", Ty::Vars),
];

pub(crate) const SSH_KEYS: &[Key] = &[
    Key("known_hosts", Ty::Str),
    Key("accept_new_host_keys", Ty::Bool),
    Key("connect_timeout", Ty::Duration),
    Key("forks", Ty::Count),
    Key("persist", Ty::Duration),
    Key("user", Ty::Str),
    Key("port", Ty::Port),
    Key("key", Ty::Str),
    Key("config", Ty::Str),
];

pub(crate) const ENVIRONMENT_KEYS: &[Key] = &[
    Key("branch", Ty::Str),
    Key("promote_from", Ty::Names),
    Key("approval", Ty::Enum(&["manual", "none"])),
    Key("gate", Ty::Names),
    Key("tag", Ty::Template),
    Key("vars", Ty::Vars),
];

pub(crate) const PIPELINE_KEYS: &[Key] = &[
    Key("triggers", Ty::OneOrList(&Ty::Def("trigger"))),
    Key("env", Ty::Str),
    Key("stages", Ty::Named("stage")),
    Key("notify", Ty::Def("pipeline_notify")),
    Key("concurrency", Ty::Count),
    Key("fail_fast", Ty::Bool),
    Key("vars", Ty::Vars),
];

pub(crate) const PIPELINE_NOTIFY_KEYS: &[Key] = &[
    Key("on_failure", Ty::Names),
    Key("on_success", Ty::Names),
    Key("on_change", Ty::Names),
    Key("on_start", Ty::Names),
];

/// Trigger kinds written as a bare string or as the single key of a mapping.
pub(crate) const TRIGGER_KINDS: &[&str] = &["manual", "webhook", "commit", "schedule"];

pub(crate) const COMMIT_TRIGGER_KEYS: &[Key] = &[
    Key("repo", Ty::Str),
    Key("branches", Ty::Names),
    Key("interval", Ty::Duration),
];

pub(crate) const WEBHOOK_TRIGGER_KEYS: &[Key] =
    &[Key("secret", Ty::Str), Key("branches", Ty::Names)];

pub(crate) const SCHEDULE_TRIGGER_KEYS: &[Key] = &[
    Key("schedule", Ty::Str),
    Key("timezone", Ty::Str),
    Key("catch_up", Ty::Bool),
];

pub(crate) const STAGE_KEYS: &[Key] = &[
    Key("run", Ty::Templates),
    Key("http", Ty::Def("http")),
    Key("steps", Ty::List(&Ty::Def("step"))),
    Key("needs", Ty::Names),
    Key("timeout", Ty::Duration),
    Key("targets", Ty::Selector),
    Key("strategy", Ty::Def("strategy")),
    Key("env", Ty::EnvVars),
    Key("secrets", Ty::Names),
    Key("retries", Ty::Count),
    Key("if", Ty::Template),
    Key("continue_on_error", Ty::Bool),
    Key("artifacts", Ty::Names),
    Key("rollback", Ty::Templates),
    Key("become", Ty::Bool),
    Key("become_user", Ty::Str),
    Key("become_password_secret", Ty::Str),
];

/// A stage does exactly one of these.
pub(crate) const STAGE_ACTIONS: &[&str] = &["run", "http", "steps"];

pub(crate) const STRATEGY_KEYS: &[Key] = &[
    Key("parallel", Ty::Count),
    Key("batch", Ty::OneOrList(&Ty::Amount)),
    Key("max_failures", Ty::Amount),
];

pub(crate) const HTTP_KEYS: &[Key] = &[
    Key("url", Ty::Template),
    Key("method", Ty::Str),
    Key("headers", Ty::StringMap),
    Key("body", Ty::Template),
    Key("timeout", Ty::Duration),
    Key("expect_status", Ty::Count),
    Key("expect_body_contains", Ty::Str),
    Key("retries", Ty::Count),
    Key("interval", Ty::Duration),
    Key("save", Ty::Template),
    Key("cache", Ty::Bool),
];

pub(crate) const STEP_KINDS: &[Key] = &[
    Key("run", Ty::Templates),
    Key("http", Ty::Def("http")),
    Key("upload", Ty::Def("upload")),
    Key("config", Ty::Str),
    Key("infra", Ty::Enum(&["plan", "apply"])),
    Key("promote", Ty::Def("promote")),
    Key("notify", Ty::Def("notify_step")),
];

pub(crate) const UPLOAD_KEYS: &[Key] = &[
    Key("src", Ty::Template),
    Key("artifact", Ty::Str),
    Key("from", Ty::Str),
    Key("dest", Ty::Template),
    Key("mode", Ty::Mode),
    Key("owner", Ty::Str),
];

pub(crate) const PROMOTE_KEYS: &[Key] = &[Key("artifact", Ty::Str), Key("to", Ty::Str)];

pub(crate) const NOTIFY_STEP_KEYS: &[Key] =
    &[Key("channels", Ty::Names), Key("message", Ty::Template)];

pub(crate) const CONFIG_KEYS: &[Key] = &[
    Key("type", Ty::Enum(&["file", "env", "service", "network"])),
    Key("targets", Ty::Selector),
    Key("path", Ty::Template),
    Key("name", Ty::Str),
    Key("template", Ty::Str),
    Key("content", Ty::Template),
    Key("vars", Ty::StringMap),
    Key("validate", Ty::Str),
    Key("mode", Ty::Mode),
    Key("owner", Ty::Str),
    Key("group", Ty::Str),
    Key("on_change", Ty::Template),
    Key("secrets", Ty::Names),
    Key(
        "state",
        Ty::Enum(&["started", "stopped", "restarted", "enabled"]),
    ),
    Key("become", Ty::Bool),
    Key("become_user", Ty::Str),
    Key("become_password_secret", Ty::Str),
];

/// Keys baton reads itself on a resource; every other key is an attribute of its type.
pub(crate) const RESOURCE_KEYS: &[Key] = &[
    Key("type", Ty::Str),
    Key("node", Ty::Str),
    Key("depends_on", Ty::Names),
    Key("become", Ty::Bool),
    Key("become_user", Ty::Str),
    Key("become_password_secret", Ty::Str),
];

pub(crate) const MONITORING_KEYS: &[Key] = &[
    Key("interval", Ty::Duration),
    Key("retention", Ty::Duration),
    Key("targets", Ty::Selector),
];

pub(crate) const CHECK_KEYS: &[Key] = &[
    Key("targets", Ty::Selector),
    Key("http", Ty::Def("http")),
    Key("tcp", Ty::Template),
    Key("command", Ty::Template),
    Key("interval", Ty::Duration),
    Key("timeout", Ty::Duration),
];

pub(crate) const ALERT_KEYS: &[Key] = &[
    // `cpu`, `memory`, `load1`, `load5`, `load15`, `disk`, `disk:/PATH`, `up`: a pattern the
    // decoder checks (with a suggestion), so a plain string here.
    Key("metric", Ty::Str),
    Key("above", Ty::Number),
    Key("below", Ty::Number),
    Key("check", Ty::Str),
    Key("targets", Ty::Selector),
    Key("for", Ty::Duration),
    Key("notify", Ty::Names),
    Key("repeat", Ty::Duration),
    Key("severity", Ty::Enum(&["info", "warning", "critical"])),
];

pub(crate) const NOTIFICATION_KEYS: &[Key] = &[
    Key("smtp", Ty::Def("smtp")),
    Key("webhook", Ty::Def("notification_webhook")),
    Key("retries", Ty::Count),
];

pub(crate) const SMTP_KEYS: &[Key] = &[
    Key("host", Ty::Str),
    Key("port", Ty::Port),
    Key("tls", Ty::Enum(&["none", "starttls", "tls"])),
    Key("user", Ty::Str),
    Key("password_secret", Ty::Str),
    Key("from", Ty::Str),
    Key("to", Ty::Names),
    Key("ca_file", Ty::Str),
    Key("timeout", Ty::Duration),
];

pub(crate) const WEBHOOK_KEYS: &[Key] = &[
    Key("url", Ty::Template),
    Key("headers", Ty::StringMap),
    Key("secret", Ty::Str),
    Key("format", Ty::Enum(&["json", "slack"])),
    Key("timeout", Ty::Duration),
];

pub(crate) const SECRETS_KEYS: &[Key] = &[Key("recipients", Ty::Names)];

pub(crate) const SERVER_KEYS: &[Key] = &[
    Key("listen", Ty::Str),
    Key("url", Ty::Str),
    Key("tokens", Ty::Named("token")),
    Key("grace", Ty::Duration),
];

pub(crate) const TOKEN_KEYS: &[Key] = &[
    Key("role", Ty::Enum(&["viewer", "operator"])),
    Key("sha256", Ty::Str),
];

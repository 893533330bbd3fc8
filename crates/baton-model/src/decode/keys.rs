//! The keys each section of baton.yaml accepts. The decoder rejects any other key and the JSON
//! Schema is generated from these same lists, so the two cannot drift apart.

pub(crate) const TOP_KEYS: &[&str] = &[
    "project",
    "include",
    "vars",
    "nodes",
    "inventory",
    "ssh",
    "environments",
    "pipelines",
    "configs",
    "resources",
    "outputs",
    "monitoring",
    "checks",
    "alerts",
    "notifications",
    "secrets",
    "server",
];

pub(crate) const NODE_KEYS: &[&str] = &["host", "port", "user", "key", "roles", "labels", "vars"];

pub(crate) const SSH_KEYS: &[&str] = &[
    "known_hosts",
    "accept_new_host_keys",
    "connect_timeout",
    "forks",
    "persist",
];

pub(crate) const ENVIRONMENT_KEYS: &[&str] =
    &["branch", "promote_from", "approval", "gate", "tag", "vars"];

pub(crate) const PIPELINE_KEYS: &[&str] = &[
    "triggers",
    "env",
    "stages",
    "notify",
    "concurrency",
    "fail_fast",
    "vars",
];

pub(crate) const PIPELINE_NOTIFY_KEYS: &[&str] = &["on_failure", "on_success", "on_start"];

/// Trigger kinds written as a bare string or as the single key of a mapping.
pub(crate) const TRIGGER_KINDS: &[&str] = &["manual", "webhook", "commit", "schedule"];

pub(crate) const COMMIT_TRIGGER_KEYS: &[&str] = &["repo", "branches"];

pub(crate) const STAGE_KEYS: &[&str] = &[
    "run",
    "http",
    "steps",
    "needs",
    "timeout",
    "targets",
    "strategy",
    "env",
    "secrets",
    "retries",
    "if",
    "continue_on_error",
    "artifacts",
    "rollback",
];

/// A stage does exactly one of these.
pub(crate) const STAGE_ACTIONS: &[&str] = &["run", "http", "steps"];

pub(crate) const STRATEGY_KEYS: &[&str] = &["parallel", "batch", "max_failures"];

pub(crate) const HTTP_KEYS: &[&str] = &[
    "url",
    "method",
    "headers",
    "body",
    "timeout",
    "expect_status",
    "expect_body_contains",
    "retries",
    "interval",
    "save",
    "cache",
];

pub(crate) const STEP_KINDS: &[&str] = &[
    "run", "http", "upload", "config", "infra", "promote", "notify",
];

pub(crate) const UPLOAD_KEYS: &[&str] = &["src", "artifact", "dest", "mode", "owner"];

pub(crate) const PROMOTE_KEYS: &[&str] = &["artifact", "to"];

pub(crate) const NOTIFY_STEP_KEYS: &[&str] = &["channels", "message"];

pub(crate) const CONFIG_KEYS: &[&str] = &[
    "type",
    "targets",
    "path",
    "name",
    "template",
    "content",
    "vars",
    "validate",
    "mode",
    "owner",
    "group",
    "on_change",
    "state",
];

/// Keys baton reads itself on a resource; every other key is an attribute of its type.
pub(crate) const RESOURCE_KEYS: &[&str] = &["type", "node", "depends_on"];

pub(crate) const MONITORING_KEYS: &[&str] = &["interval", "retention"];

pub(crate) const CHECK_KEYS: &[&str] = &["targets", "http", "command", "interval", "timeout"];

pub(crate) const ALERT_KEYS: &[&str] = &[
    "metric", "above", "below", "check", "targets", "for", "notify",
];

pub(crate) const NOTIFICATION_KEYS: &[&str] = &["smtp", "webhook"];

pub(crate) const SMTP_KEYS: &[&str] = &[
    "host",
    "port",
    "tls",
    "user",
    "password_secret",
    "from",
    "to",
];

pub(crate) const WEBHOOK_KEYS: &[&str] = &["url", "headers", "secret"];

pub(crate) const SECRETS_KEYS: &[&str] = &["recipients"];

pub(crate) const SERVER_KEYS: &[&str] = &["listen", "tokens"];

pub(crate) const TOKEN_KEYS: &[&str] = &["name", "secret", "role"];

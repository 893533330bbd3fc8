//! The JSON Schema (draft 2020-12) of baton.yaml, for editors (`baton schema`).
//!
//! Property lists come from the decoder's own key lists (`decode::keys`), so the schema accepts
//! exactly what `baton validate` accepts, key for key.

use serde_json::{Map, Value, json};

use crate::decode::keys::*;

pub fn json_schema() -> Value {
    let defs = json!({
        "duration": {
            "description": "A duration: `90s`, `5m`, `1h30m`, `2d`, `500ms`, or a number of seconds.",
            "oneOf": [
                { "type": "string", "pattern": "^\\s*(\\d+\\s*(ms|s|sec|secs|m|min|mins|h|d|w)\\s*)+$" },
                { "type": "integer", "minimum": 0 }
            ]
        },
        "template": { "type": ["string", "number", "boolean"], "description": "A Jinja template (`{{ }}`) rendered with `vars`, `env`, `node` and `run`." },
        "names": {
            "description": "A name or a list of names.",
            "oneOf": [scalar(), { "type": "array", "items": scalar() }]
        },
        "selector": {
            "description": "Target nodes: `all`, `local`, a node name, a glob (`web*`), `role:NAME`, `label:KEY=VALUE`; `,` union, `&` intersection, `!` exclusion. A list is joined with `,`.",
            "oneOf": [{ "type": "string" }, { "type": "array", "items": { "type": "string" } }]
        },
        "amount": {
            "description": "A count, or a percentage like \"30%\".",
            "oneOf": [{ "type": "integer", "minimum": 0 }, { "type": "string", "pattern": "^\\s*\\d+\\s*%?\\s*$" }]
        },
        "mode": {
            "description": "Octal file permissions, e.g. \"0644\".",
            "oneOf": [{ "type": "string", "pattern": "^(0o)?[0-7]{3,4}$" }, { "type": "integer" }]
        },
        "vars": { "type": "object", "description": "Variables, available to templates as `vars`." },
        "string_map": { "type": "object", "additionalProperties": { "type": ["string", "number", "boolean"] } },
        "notification_webhook": {
            "oneOf": [
                { "$ref": "#/$defs/template", "description": "The URL, with every other setting at its default." },
                r("webhook")
            ]
        },
        "node": section("node", NODE_KEYS, &[]),
        "ssh": section("ssh", SSH_KEYS, &[]),
        "environment": nullable(section("environment", ENVIRONMENT_KEYS, &[])),
        "pipeline": section("pipeline", PIPELINE_KEYS, &["stages"]),
        "pipeline_notify": section("pipeline_notify", PIPELINE_NOTIFY_KEYS, &[]),
        "trigger": {
            "description": "`manual`, `webhook`, `commit`, `{ schedule: CRON, timezone, catch_up }`, `{ webhook: { secret, branches } }` or `{ commit: { repo, branches, interval } }`.",
            "oneOf": [
                { "enum": ["manual", "webhook", "commit"] },
                with_doc(section("schedule_trigger", SCHEDULE_TRIGGER_KEYS, &["schedule"]), "Runs at the times of a cron expression."),
                single_key("webhook", with_doc(section("webhook_trigger", WEBHOOK_TRIGGER_KEYS, &[]), "Runs on a signed `POST /hooks/PIPELINE`.")),
                single_key("commit", with_doc(section("commit_trigger", COMMIT_TRIGGER_KEYS, &[]), "Runs on new commits of a repository's branches."))
            ]
        },
        "stage": {
            "allOf": [
                section("stage", STAGE_KEYS, &[]),
                { "oneOf": STAGE_ACTIONS.iter().map(|a| json!({ "required": [a] })).collect::<Vec<_>>() }
            ]
        },
        "strategy": section("strategy", STRATEGY_KEYS, &[]),
        "http": {
            "oneOf": [
                { "$ref": "#/$defs/template", "description": "The URL, with every other setting at its default." },
                section("http", HTTP_KEYS, &["url"])
            ]
        },
        "step": {
            "description": "A typed step: a mapping with exactly one key, its kind.",
            "oneOf": STEP_KINDS.iter().map(|k| step_schema(k.0, prop("step", k))).collect::<Vec<_>>()
        },
        "upload": section("upload", UPLOAD_KEYS, &["dest"]),
        "promote": section("promote", PROMOTE_KEYS, &["artifact", "to"]),
        "notify_step": section("notify_step", NOTIFY_STEP_KEYS, &["channels"]),
        "config": section("config", CONFIG_KEYS, &[]),
        "resource": {
            "type": "object",
            "description": "A resource; keys other than `type`, `node` and `depends_on` are attributes of its type.",
            "properties": properties("resource", RESOURCE_KEYS),
            "required": ["type"]
        },
        "monitoring": section("monitoring", MONITORING_KEYS, &[]),
        "check": section("check", CHECK_KEYS, &[]),
        "alert": section("alert", ALERT_KEYS, &[]),
        "notification": section("notification", NOTIFICATION_KEYS, &[]),
        "smtp": section("smtp", SMTP_KEYS, &["host", "from", "to"]),
        "webhook": section("webhook", WEBHOOK_KEYS, &["url"]),
        "secrets": section("secrets", SECRETS_KEYS, &[]),
        "server": section("server", SERVER_KEYS, &[]),
        "token": section("token", TOKEN_KEYS, &["role", "sha256"])
    });
    let mut root = section("top", TOP_KEYS, &[]);
    let root = root.as_object_mut().expect("section() builds an object");
    root.insert(
        "$schema".into(),
        json!("https://json-schema.org/draft/2020-12/schema"),
    );
    root.insert(
        "$id".into(),
        json!("https://baton.dev/schema/baton.yaml.json"),
    );
    root.insert("title".into(), json!("baton.yaml"));
    root.insert("$defs".into(), defs);
    Value::Object(root.clone())
}

fn section(name: &str, keys: &[Key], required: &[&str]) -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": properties(name, keys),
        "required": required,
    })
}

fn properties(section: &str, keys: &[Key]) -> Value {
    Value::Object(
        keys.iter()
            .map(|k| (k.0.to_string(), prop(section, k)))
            .collect::<Map<_, _>>(),
    )
}

fn nullable(schema: Value) -> Value {
    json!({ "oneOf": [schema, { "type": "null" }] })
}

fn single_key(key: &str, schema: Value) -> Value {
    json!({ "type": "object", "properties": { key: schema }, "required": [key], "additionalProperties": false })
}

/// A step of kind `key`: that one key, and an optional `name:` beside it.
fn step_schema(key: &str, schema: Value) -> Value {
    let mut step = single_key(key, schema);
    step["properties"]["name"] = json!({
        "type": "string",
        "description": "Shown for the step in progress, logs and reports instead of its command text."
    });
    step
}

fn r(def: &str) -> Value {
    json!({ "$ref": format!("#/$defs/{def}") })
}

fn named(def: &str) -> Value {
    json!({ "type": "object", "additionalProperties": r(def) })
}

fn with_doc(mut schema: Value, doc: &str) -> Value {
    if let Some(obj) = schema.as_object_mut() {
        obj.insert("description".into(), json!(doc));
    }
    schema
}

fn scalar() -> Value {
    json!({ "type": ["string", "number", "boolean"] })
}

fn integer() -> Value {
    json!({ "type": "integer", "minimum": 0 })
}

fn boolean() -> Value {
    json!({ "type": "boolean" })
}

fn one_of(words: &[&str]) -> Value {
    json!({ "enum": words })
}

/// The schema of one key of one section: its type from the decoder's key table, its
/// description from here.
fn prop(section: &str, key: &Key) -> Value {
    with_doc(ty_schema(key.1), doc(section, key.0))
}

/// A value of type `ty`, as JSON Schema. Strings accept numbers and booleans too, as the decoder
/// reads scalars as written (`port: 8080` is the string "8080" where a string is wanted).
fn ty_schema(ty: Ty) -> Value {
    match ty {
        Ty::Str => scalar(),
        Ty::Template => r("template"),
        Ty::Templates => {
            json!({ "oneOf": [r("template"), { "type": "array", "items": r("template") }] })
        }
        Ty::Names => r("names"),
        Ty::Bool => boolean(),
        Ty::Count => integer(),
        Ty::Port => json!({ "type": "integer", "minimum": 1, "maximum": 65535 }),
        Ty::Number => json!({ "type": "number" }),
        Ty::Duration => r("duration"),
        Ty::Selector => r("selector"),
        Ty::Mode => r("mode"),
        Ty::Amount => r("amount"),
        Ty::EnvVars => json!({
            "type": "object",
            "propertyNames": { "pattern": "^[A-Za-z_][A-Za-z0-9_]*$" },
            "additionalProperties": r("template")
        }),
        Ty::StringMap => r("string_map"),
        Ty::Vars => r("vars"),
        Ty::Enum(words) => one_of(words),
        Ty::Def(def) => r(def),
        Ty::Named(def) => named(def),
        Ty::MapOf(item) => json!({ "type": "object", "additionalProperties": ty_schema(*item) }),
        Ty::List(item) => json!({ "type": "array", "items": ty_schema(*item) }),
        Ty::OneOrList(item) => {
            json!({ "oneOf": [ty_schema(*item), { "type": "array", "items": ty_schema(*item) }] })
        }
    }
}

/// The description of one key of one section.
fn doc(section: &str, key: &str) -> &'static str {
    match (section, key) {
        ("top", "project") => "The project's name.",
        ("top", "include") => "Globs of more YAML files merged into this one, relative to it.",
        ("top", "vars") => "Project variables, available to templates as `vars`.",
        ("top", "nodes") => "Nodes reached over SSH, by name. `local` always exists.",
        ("top", "inventory") => "An Ansible inventory (INI or YAML) merged with `nodes`.",
        ("top", "ssh") => "SSH connection settings.",
        ("top", "environments") => "Environments (shelves) artifacts are promoted through.",
        ("top", "pipelines") => "CI/CD pipelines, by name.",
        ("top", "configs") => {
            "Managed configuration files, env files, services and network interfaces."
        }
        ("top", "resources") => "Infrastructure resources, by id.",
        ("top", "outputs") => "Values computed from resources after apply.",
        ("top", "monitoring") => "Metric collection settings.",
        ("top", "checks") => "Health checks run on nodes.",
        ("top", "alerts") => "Alerts on metrics or checks.",
        ("top", "notifications") => "Notification channels (SMTP e-mail, webhooks).",
        ("top", "secrets") => "Encryption settings of secrets.",
        ("top", "server") => "Settings of `baton serve`.",
        ("node", "host") => "Address to connect to; default the node's name.",
        ("node", "port") => "SSH port; default 22.",
        ("node", "user") => "SSH user; default the current user.",
        ("node", "key") => {
            "Private key path; default ssh-agent, then ~/.ssh/id_ed25519, ~/.ssh/id_rsa."
        }
        ("node", "proxy_jump") => {
            "Reach the node through this bastion: a node name or [user@]host[:port], hops separated by `,` (as OpenSSH's ProxyJump)."
        }
        (_, "become") => {
            "Run commands and uploads through sudo (`sudo -n`, or with the password secret)."
        }
        (_, "become_user") => "User to become; default root.",
        (_, "become_password_secret") => {
            "Name of the baton secret holding the login user's sudo password, when sudo asks for one."
        }
        ("node", "roles") => "Roles, matched by `role:NAME` selectors.",
        ("node", "labels") => "Labels, matched by `label:KEY=VALUE` selectors.",
        ("node", "vars") => "Per-node variables (`node.vars`).",
        ("ssh", "known_hosts") => "known_hosts file; default ~/.ssh/known_hosts.",
        ("ssh", "accept_new_host_keys") => {
            "Trust unknown host keys on first use (changed keys are always refused)."
        }
        ("ssh", "connect_timeout") => "Connection timeout; default 10s.",
        ("ssh", "user") => "SSH user of nodes that set none (and ssh_config neither).",
        ("ssh", "port") => "SSH port of nodes that set none (and ssh_config neither).",
        ("ssh", "key") => "Private key of nodes that set none (and ssh_config neither).",
        ("ssh", "config") => {
            "OpenSSH client config read for Host, HostName, Port, User, IdentityFile, ProxyJump: default ~/.ssh/config, `false` for none, or a path."
        }
        ("ssh", "forks") => "Most nodes worked on at once; default 50.",
        ("ssh", "persist") => {
            "Keep SSH connections open between baton commands for this idle time (a per-project connection daemon, like ControlPersist); default off."
        }
        ("environment", "branch") => "Runs on this branch publish artifacts to this environment.",
        ("environment", "promote_from") => "Environments artifacts may be promoted from.",
        ("environment", "approval") => "`manual` requires `--approve` to promote.",
        ("environment", "gate") => "Pipelines that must have succeeded on the source shelf.",
        ("environment", "tag") => "Git tag created on promotion.",
        ("environment", "vars") => "Environment variables for templates (`env.vars`).",
        ("pipeline", "triggers") => "What starts the pipeline; manual is always allowed.",
        ("pipeline", "env") => "Default environment of runs.",
        ("pipeline", "stages") => "Stages by name; they run when their `needs` succeeded.",
        ("pipeline", "notify") => "Notifications sent on run events.",
        ("pipeline", "concurrency") => "Runs at once; more wait queued. Default 1.",
        ("pipeline", "fail_fast") => "Start no new stage after a failure. Default true.",
        ("pipeline", "vars") => "Pipeline variables.",
        ("pipeline_notify", "on_failure") => "Channels notified when a run fails.",
        ("pipeline_notify", "on_success") => "Channels notified when a run succeeds.",
        ("pipeline_notify", "on_change") => {
            "Channels notified when a run's status differs from the pipeline's previous run."
        }
        ("pipeline_notify", _) => "Channels notified when a run starts.",
        ("commit_trigger", "repo") => "Repository path or URL; default the project's own.",
        ("commit_trigger", "branches") => "Branch globs; default every branch.",
        ("commit_trigger", "interval") => "How often `git ls-remote` looks; default 60s.",
        ("webhook_trigger", "secret") => {
            "Name of the baton secret that signs deliveries (GitHub, plain HMAC) or is the GitLab token."
        }
        ("webhook_trigger", "branches") => "Branch globs a push must match; default every branch.",
        ("schedule_trigger", "schedule") => {
            "A cron expression, e.g. \"0 0 * * *\" (minute hour day-of-month month day-of-week)."
        }
        ("schedule_trigger", "timezone") => {
            "IANA time zone of the expression, e.g. Europe/Paris; default UTC."
        }
        ("schedule_trigger", "catch_up") => {
            "After downtime, run one missed time (default true) or skip them."
        }
        ("stage", "run") => "A command or a list run in order under `bash -eo pipefail -c`.",
        ("stage", "http") => "An HTTP request with expectations.",
        ("stage", "steps") => "Typed steps run in order.",
        ("stage", "needs") => "Stages that must succeed first.",
        ("stage", "timeout") => "Default 300s; on expiry the whole process tree is killed.",
        ("stage", "targets") => "Nodes to run on; default `local`.",
        ("stage", "strategy") => "How the stage spreads over its nodes.",
        ("stage", "env") => "Environment of this stage.",
        ("stage", "secrets") => "Secrets injected as env vars.",
        ("stage", "retries") => "Further attempts after a failure.",
        ("stage", "if") => "Template that must render true for the stage to run.",
        ("stage", "continue_on_error") => "A failure does not fail the run.",
        ("stage", "artifacts") => "Globs collected after success.",
        ("stage", "rollback") => "Commands that undo this stage.",
        ("strategy", "parallel") => "At most this many nodes at once.",
        ("strategy", "batch") => {
            "Rolling batch size, percentage or ramp like [1, \"30%\", \"100%\"]."
        }
        ("strategy", "max_failures") => "Failures tolerated before no further batch starts.",
        ("http", "url") => "URL to request.",
        ("http", "method") => "HTTP method; default GET.",
        ("http", "headers") => "Request headers.",
        ("http", "body") => "Request body.",
        ("http", "timeout") => "Per attempt; default 10s.",
        ("http", "expect_status") => "Expected status; default any 2xx.",
        ("http", "expect_body_contains") => "Text the body must contain.",
        ("http", "retries") => "Further attempts after a failure.",
        ("http", "interval") => "Wait between attempts; default 1s.",
        ("http", "save") => "Workspace path the body is written to.",
        ("http", "cache") => {
            "Conditional requests (ETag / Last-Modified), reusing the stored body."
        }
        ("step", "run") => "Commands.",
        ("step", "http") => "An HTTP request.",
        ("step", "upload") => "Copy a file or an artifact to the target nodes.",
        ("step", "config") => "Apply the named config.",
        ("step", "infra") => "Plan or apply resources.",
        ("step", "promote") => "Promote an artifact to an environment.",
        ("step", "notify") => "Send a notification.",
        ("upload", "src") => "Local path to upload.",
        ("upload", "artifact") => {
            "Artifact name, from the run's shelf (or `from`'s newest success)."
        }
        ("upload", "from") => "Take the artifact from the newest successful run of this pipeline.",
        ("upload", "dest") => "Destination path on the node.",
        ("upload", "mode") => "Permissions of the uploaded file.",
        ("upload", "owner") => "Owner of the uploaded file.",
        ("promote", "artifact") => "Artifact name.",
        ("promote", "to") => "Target environment.",
        ("notify_step", "channels") => "Notifications to send to.",
        ("notify_step", "message") => "Message text.",
        ("config", "type") => "Kind of config; default file.",
        ("config", "targets") => "Nodes to apply to; default `local`.",
        ("config", "path") => "Destination path (derived from `name` for service and network).",
        ("config", "name") => "Unit or interface name (service, network).",
        ("config", "template") => "Path of a Jinja template file.",
        ("config", "content") => "Inline content (a template).",
        ("config", "vars") => "`type: env`: KEY=value lines; names match ^[A-Z_][A-Z0-9_]*$.",
        ("config", "validate") => {
            "json|yaml|toml|ini|sh|none or a command; default from the extension."
        }
        ("config", "mode") => "File permissions.",
        ("config", "owner") => "File owner.",
        ("config", "group") => "File group.",
        ("config", "on_change") => "Command run once per node whose content changed.",
        ("config", "secrets") => {
            "Secrets the content reads as `{{ secrets.NAME }}`; masked in diffs and logs, stored versions encrypted."
        }
        ("config", "state") => "Service state after a change.",
        ("resource", "type") => {
            "`file`, `directory`, `symlink`, `user`, `group`, `service`, `cron`, `command`, or a provider type like `aws.s3_bucket`."
        }
        ("resource", "node") => "Node to act on over SSH; default local.",
        ("resource", "depends_on") => {
            "Resources to create first (besides `resources.X` references)."
        }
        ("monitoring", "interval") => "Metric collection interval; default 15s.",
        ("monitoring", "retention") => {
            "How long metrics are kept; default 7d (raw samples 24h, then 1-minute and 1-hour roll-ups)."
        }
        ("monitoring", "targets") => {
            "Nodes sampled besides the targets of alerts and checks (`local` only when named)."
        }
        ("check", "targets") => "Nodes to check; default `local`.",
        ("check", "http") => {
            "An HTTP probe from this machine: a URL or a request (status, body contains, timeout)."
        }
        ("check", "tcp") => {
            "A TCP connect from this machine to `HOST:PORT` (a template, e.g. `{{ node.host }}:5432`)."
        }
        ("check", "command") => "A command run on each target; exit 0 means healthy.",
        ("check", "interval") => "Default the monitoring interval.",
        ("check", "timeout") => "Default 10s.",
        ("alert", "metric") => {
            "Node metric watched: cpu, memory, load1, load5, load15, disk, disk:/PATH, up."
        }
        ("alert", "above") => "Fire when the metric is above this.",
        ("alert", "below") => "Fire when the metric is below this.",
        ("alert", "check") => "Fire while this check fails.",
        ("alert", "targets") => "Nodes watched.",
        ("alert", "for") => "How long the condition holds before firing; default 0.",
        ("alert", "notify") => "Notifications sent when firing and resolving.",
        ("alert", "repeat") => {
            "Re-send the notification this often while still firing; default never."
        }
        ("alert", "severity") => "info, warning (default) or critical.",
        ("notification", "smtp") => "E-mail over SMTP.",
        ("notification", "webhook") => "A webhook POST.",
        ("notification", "retries") => {
            "Attempts after the first failed one (backoff 10s … 30m); default 5."
        }
        ("smtp", "host") => "SMTP server.",
        ("smtp", "port") => "Default 587 (starttls), 465 (tls), 25 (none).",
        ("smtp", "tls") => "Default starttls.",
        ("smtp", "user") => "Login user.",
        ("smtp", "password_secret") => "Name of the secret holding the password.",
        ("smtp", "from") => "Sender address.",
        ("smtp", "to") => "Recipient addresses.",
        ("smtp", "ca_file") => "PEM file of CA certificates trusted besides the public roots.",
        ("smtp", "timeout") => "Connect and per-command deadline; default 15s.",
        ("webhook", "url") => "URL to POST to.",
        ("webhook", "headers") => "Extra headers.",
        ("webhook", "secret") => {
            "Name of the secret signing the body: `X-Baton-Signature: sha256=HEX` (HMAC-SHA256)."
        }
        ("webhook", "format") => {
            "`json` (the message's fields, default) or `slack` (`{\"text\": …}`)."
        }
        ("webhook", "timeout") => "Request deadline; default 15s.",
        ("secrets", "recipients") => "age X25519 recipients (`age1…`).",
        ("server", "listen") => "Address to bind; default 127.0.0.1:8080.",
        ("server", "url") => "Public address of the server, for links in notifications.",
        ("server", "tokens") => {
            "API tokens by name (the run's actor), as SHA-256 hashes; `baton token add` writes them."
        }
        ("server", "grace") => {
            "On SIGTERM, how long runs may finish before they are cancelled; default 30s."
        }
        ("token", "role") => "viewer (reads) or operator (also runs, cancels, applies).",
        ("token", "sha256") => "Lower-case hex SHA-256 of the token.",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn keys_of(schema: &Value) -> BTreeSet<String> {
        let props = schema
            .get("properties")
            .or_else(|| schema.pointer("/allOf/0/properties"));
        props
            .and_then(Value::as_object)
            .expect("properties")
            .keys()
            .cloned()
            .collect()
    }

    #[test]
    fn every_section_lists_exactly_the_decoder_keys() {
        let schema = json_schema();
        let defs = &schema["$defs"];
        let sections: &[(&str, &[Key])] = &[
            ("node", NODE_KEYS),
            ("ssh", SSH_KEYS),
            ("pipeline", PIPELINE_KEYS),
            ("pipeline_notify", PIPELINE_NOTIFY_KEYS),
            ("stage", STAGE_KEYS),
            ("strategy", STRATEGY_KEYS),
            ("upload", UPLOAD_KEYS),
            ("promote", PROMOTE_KEYS),
            ("notify_step", NOTIFY_STEP_KEYS),
            ("config", CONFIG_KEYS),
            ("resource", RESOURCE_KEYS),
            ("monitoring", MONITORING_KEYS),
            ("check", CHECK_KEYS),
            ("alert", ALERT_KEYS),
            ("notification", NOTIFICATION_KEYS),
            ("smtp", SMTP_KEYS),
            ("webhook", WEBHOOK_KEYS),
            ("secrets", SECRETS_KEYS),
            ("server", SERVER_KEYS),
            ("token", TOKEN_KEYS),
        ];
        let set = |keys: &[Key]| {
            keys.iter()
                .map(|k| k.0.to_string())
                .collect::<BTreeSet<_>>()
        };
        assert_eq!(keys_of(&schema), set(TOP_KEYS));
        for (name, keys) in sections {
            assert_eq!(keys_of(&defs[*name]), set(keys), "section {name}");
        }
        assert_eq!(
            keys_of(&defs["environment"]["oneOf"][0]),
            set(ENVIRONMENT_KEYS)
        );
        assert_eq!(keys_of(&defs["http"]["oneOf"][1]), set(HTTP_KEYS));
        let step_kinds: BTreeSet<String> = defs["step"]["oneOf"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| {
                s["required"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|k| k.as_str().unwrap().to_string())
            })
            .collect();
        assert_eq!(step_kinds, set(STEP_KINDS));
    }

    #[test]
    fn every_property_is_described() {
        fn walk(value: &Value, path: &str) {
            match value {
                Value::Object(map) => {
                    if let Some(Value::Object(props)) = map.get("properties") {
                        for (key, prop) in props {
                            let doc = prop
                                .get("description")
                                .and_then(Value::as_str)
                                .unwrap_or("");
                            assert!(!doc.is_empty(), "{path}.{key} has no description");
                        }
                    }
                    for (key, child) in map {
                        walk(child, &format!("{path}/{key}"));
                    }
                }
                Value::Array(items) => items.iter().for_each(|i| walk(i, path)),
                _ => {}
            }
        }
        walk(&json_schema(), "#");
    }

    #[test]
    fn sections_reject_unknown_keys() {
        let schema = json_schema();
        assert_eq!(schema["additionalProperties"], json!(false));
        assert_eq!(
            schema["$defs"]["stage"]["allOf"][0]["additionalProperties"],
            json!(false)
        );
    }

    /// A structural JSON Schema checker for the subset `json_schema()` emits (`$ref` into
    /// `$defs`, `type`, `enum`, `properties`, `additionalProperties`, `required`, `items`,
    /// `oneOf`, `allOf`, `minimum`, `maximum`). `pattern` and `propertyNames` are not checked:
    /// the decoder checks those values itself, and no `oneOf` here hinges on a pattern. Written
    /// here rather than pulling in a validator crate with its regex and HTTP dependencies.
    fn check(root: &Value, schema: &Value, value: &Value, path: &str, problems: &mut Vec<String>) {
        let Some(obj) = schema.as_object() else {
            return;
        };
        if let Some(reference) = obj.get("$ref").and_then(Value::as_str) {
            let def = reference.strip_prefix("#/$defs/").expect("local $ref");
            check(root, &root["$defs"][def], value, path, problems);
        }
        if let Some(t) = obj.get("type") {
            let types: Vec<&str> = match t {
                Value::String(one) => vec![one.as_str()],
                Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
                _ => vec![],
            };
            let fits = |t: &str| match t {
                "string" => value.is_string(),
                "integer" => value.is_i64() || value.is_u64(),
                "number" => value.is_number(),
                "boolean" => value.is_boolean(),
                "object" => value.is_object(),
                "array" => value.is_array(),
                "null" => value.is_null(),
                _ => false,
            };
            if !types.iter().any(|t| fits(t)) {
                problems.push(format!("{path}: {value} is not of type {t}"));
                return;
            }
        }
        if let Some(words) = obj.get("enum").and_then(Value::as_array)
            && !words.contains(value)
        {
            problems.push(format!("{path}: {value} is not one of {words:?}"));
        }
        if let Some(n) = value.as_f64() {
            if obj
                .get("minimum")
                .and_then(Value::as_f64)
                .is_some_and(|m| n < m)
            {
                problems.push(format!("{path}: {n} is below the minimum"));
            }
            if obj
                .get("maximum")
                .and_then(Value::as_f64)
                .is_some_and(|m| n > m)
            {
                problems.push(format!("{path}: {n} is above the maximum"));
            }
        }
        if let Some(map) = value.as_object() {
            let props = obj.get("properties").and_then(Value::as_object);
            for (key, item) in map {
                let at = format!("{path}/{key}");
                match (
                    props.and_then(|p| p.get(key)),
                    obj.get("additionalProperties"),
                ) {
                    (Some(prop), _) => check(root, prop, item, &at, problems),
                    (None, Some(Value::Bool(false))) => {
                        problems.push(format!("{at}: property not allowed"))
                    }
                    (None, Some(extra)) => check(root, extra, item, &at, problems),
                    (None, None) => {}
                }
            }
            for key in obj
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if !map.contains_key(key.as_str().unwrap_or_default()) {
                    problems.push(format!("{path}: missing required {key}"));
                }
            }
        }
        if let (Some(items), Some(list)) = (obj.get("items"), value.as_array()) {
            for (i, item) in list.iter().enumerate() {
                check(root, items, item, &format!("{path}/{i}"), problems);
            }
        }
        for part in obj
            .get("allOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            check(root, part, value, path, problems);
        }
        if let Some(branches) = obj.get("oneOf").and_then(Value::as_array) {
            let mut reasons = Vec::new();
            let passing = branches
                .iter()
                .filter(|b| {
                    let mut p = Vec::new();
                    check(root, b, value, path, &mut p);
                    reasons.extend(p.iter().cloned());
                    p.is_empty()
                })
                .count();
            if passing != 1 {
                problems.push(format!(
                    "{path}: {passing} of the oneOf branches match ({})",
                    reasons.join("; ")
                ));
            }
        }
    }

    fn schema_problems(yaml_text: &str) -> Vec<String> {
        let node = crate::yaml::parse(yaml_text, crate::span::FileId(0)).expect("valid YAML");
        let schema = json_schema();
        let mut problems = Vec::new();
        check(
            &schema,
            &schema,
            &crate::decode::to_json(&node),
            "#",
            &mut problems,
        );
        problems
    }

    fn project_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                project_files(&path, out);
            } else if path.file_name().is_some_and(|n| n == crate::PROJECT_FILE) {
                out.push(path);
            }
        }
    }

    #[test]
    fn every_example_project_validates_against_the_schema() {
        let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
        let mut files = Vec::new();
        project_files(&examples, &mut files);
        assert!(
            !files.is_empty(),
            "no example projects under {}",
            examples.display()
        );
        for file in files {
            // The decoder accepts it …
            if let Err(d) = crate::load(&file) {
                panic!("{} does not load:\n{}", file.display(), d.render(false));
            }
            // … and so must an editor using the schema.
            let problems = schema_problems(&std::fs::read_to_string(&file).unwrap());
            assert!(
                problems.is_empty(),
                "{}:\n{}",
                file.display(),
                problems.join("\n")
            );
        }
        // The starter file too: it is the first thing users open in an editor.
        let problems = schema_problems(crate::starter::STARTER_YAML);
        assert!(problems.is_empty(), "starter:\n{}", problems.join("\n"));
    }

    #[test]
    fn the_checker_rejects_what_the_decoder_rejects() {
        // Guards the checker itself: a string `env` on a stage was the schema's original bug.
        let bad = "pipelines:\n  p:\n    stages:\n      s: { run: x, env: prod }\n";
        let problems = schema_problems(bad);
        assert!(
            problems.iter().any(|p| p.contains("/stages/s/env")),
            "{problems:?}"
        );
        assert!(
            !schema_problems("pipelines:\n  p:\n    stages:\n      s: { run: x, env: { A: 1 } }\n")
                .iter()
                .any(|p| p.contains("env"))
        );
        assert!(
            !schema_problems("pipelines: { p: { stages: { s: { run: x, tmeout: 5s } } } }\n")
                .is_empty()
        );
    }

    /// A value of `ty` the decoder must accept, as YAML flow text; `None` for structures whose
    /// samples are the examples' job.
    fn sample(ty: Ty) -> Option<String> {
        Some(match ty {
            Ty::Str => "x".into(),
            Ty::Template => "\"{{ vars.a }}\"".into(),
            Ty::Templates => "[a, b]".into(),
            Ty::Names => "[a]".into(),
            Ty::Bool => "true".into(),
            Ty::Count => "3".into(),
            Ty::Port => "2222".into(),
            Ty::Number => "1.5".into(),
            Ty::Duration => "90s".into(),
            Ty::Selector => "local".into(),
            Ty::Mode => "\"0644\"".into(),
            Ty::Amount => "\"30%\"".into(),
            Ty::EnvVars => "{ A_B: \"{{ vars.a }}\", PORT: 8080 }".into(),
            Ty::StringMap => "{ a: b, n: 1 }".into(),
            Ty::Vars => "{ a: [1, { b: c }] }".into(),
            Ty::Enum(words) => words[0].into(),
            Ty::List(item) => format!("[{}]", sample(*item)?),
            Ty::OneOrList(item) => format!("[{}]", sample(*item)?),
            Ty::MapOf(item) => format!("{{ k: {} }}", sample(*item)?),
            Ty::Def(_) | Ty::Named(_) => return None,
        })
    }

    #[test]
    fn the_decoder_accepts_a_value_of_every_declared_type() {
        // Each key's declared type, as a sample value, in a section the decoder reads: if a key's
        // type in `keys.rs` and its reader disagree, this reports "expected …, found …".
        let sections: &[(&[Key], &str)] = &[
            (
                STAGE_KEYS,
                "pipelines: {{ p: {{ stages: {{ s: {{ run: x, {entry} }} }} }} }}",
            ),
            (
                PIPELINE_KEYS,
                "pipelines: {{ p: {{ stages: {{ s: {{ run: x }} }}, {entry} }} }}",
            ),
            (NODE_KEYS, "nodes: {{ n: {{ {entry} }} }}"),
            (SSH_KEYS, "ssh: {{ {entry} }}"),
            (ENVIRONMENT_KEYS, "environments: {{ e: {{ {entry} }} }}"),
            (
                HTTP_KEYS,
                "pipelines: {{ p: {{ stages: {{ s: {{ http: {{ url: u, {entry} }} }} }} }} }}",
            ),
            (
                STRATEGY_KEYS,
                "pipelines: {{ p: {{ stages: {{ s: {{ run: x, strategy: {{ {entry} }} }} }} }} }}",
            ),
            (CONFIG_KEYS, "configs: {{ c: {{ content: x, {entry} }} }}"),
            (CHECK_KEYS, "checks: {{ c: {{ command: x, {entry} }} }}"),
            (MONITORING_KEYS, "monitoring: {{ {entry} }}"),
            (
                SMTP_KEYS,
                "notifications: {{ m: {{ smtp: {{ host: h, from: f, to: t, {entry} }} }} }}",
            ),
        ];
        let mut mismatches = Vec::new();
        for (keys, template) in sections {
            for key in keys.iter() {
                let Some(value) = sample(key.1) else { continue };
                let entry = format!("{}: {value}", key.0);
                let text = format!(
                    "project: x\n{}\n",
                    template
                        .replace("{entry}", &entry)
                        .replace("{{", "{")
                        .replace("}}", "}")
                );
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path().join("baton.yaml");
                std::fs::write(&path, &text).unwrap();
                let Err(d) = crate::load(&path) else { continue };
                for item in d
                    .items
                    .iter()
                    .filter(|i| i.message.starts_with("expected "))
                {
                    mismatches.push(format!("{text}  → {}", item.message));
                }
            }
        }
        assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    }
}

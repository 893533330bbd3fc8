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
        "template": { "type": "string", "description": "A Jinja template (`{{ }}`) rendered with `vars`, `env`, `node` and `run`." },
        "names": {
            "description": "A name or a list of names.",
            "oneOf": [{ "type": "string" }, { "type": "array", "items": { "type": "string" } }]
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
        "node": section("node", NODE_KEYS, &[]),
        "ssh": section("ssh", SSH_KEYS, &[]),
        "environment": nullable(section("environment", ENVIRONMENT_KEYS, &[])),
        "pipeline": section("pipeline", PIPELINE_KEYS, &["stages"]),
        "pipeline_notify": section("pipeline_notify", PIPELINE_NOTIFY_KEYS, &[]),
        "trigger": {
            "description": "`manual`, `webhook`, `commit`, `{ schedule: CRON }` or `{ commit: { repo, branches } }`.",
            "oneOf": [
                { "enum": ["manual", "webhook", "commit"] },
                single_key("schedule", json!({ "type": "string", "description": "A cron expression, e.g. \"0 0 * * *\"." })),
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
            "oneOf": STEP_KINDS.iter().map(|k| single_key(k, prop("step", k))).collect::<Vec<_>>()
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
        "token": section("token", TOKEN_KEYS, &["name", "secret"])
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

fn section(name: &str, keys: &[&str], required: &[&str]) -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": properties(name, keys),
        "required": required,
    })
}

fn properties(section: &str, keys: &[&str]) -> Value {
    Value::Object(
        keys.iter()
            .map(|k| (k.to_string(), prop(section, k)))
            .collect::<Map<_, _>>(),
    )
}

fn nullable(schema: Value) -> Value {
    json!({ "oneOf": [schema, { "type": "null" }] })
}

fn single_key(key: &str, schema: Value) -> Value {
    json!({ "type": "object", "properties": { key: schema }, "required": [key], "additionalProperties": false })
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

fn string() -> Value {
    json!({ "type": "string" })
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

/// The schema and description of one key of one section.
fn prop(section: &str, key: &str) -> Value {
    let (schema, doc) = match (section, key) {
        ("top", "project") => (string(), "The project's name."),
        ("top", "include") => (
            r("names"),
            "Globs of more YAML files merged into this one, relative to it.",
        ),
        ("top", "vars") => (
            r("vars"),
            "Project variables, available to templates as `vars`.",
        ),
        ("top", "nodes") => (
            named("node"),
            "Nodes reached over SSH, by name. `local` always exists.",
        ),
        ("top", "inventory") => (
            string(),
            "An Ansible inventory (INI or YAML) merged with `nodes`.",
        ),
        ("top", "ssh") => (r("ssh"), "SSH connection settings."),
        ("top", "environments") => (
            named("environment"),
            "Environments (shelves) artifacts are promoted through.",
        ),
        ("top", "pipelines") => (named("pipeline"), "CI/CD pipelines, by name."),
        ("top", "configs") => (
            named("config"),
            "Managed configuration files, env files, services and network interfaces.",
        ),
        ("top", "resources") => (named("resource"), "Infrastructure resources, by id."),
        ("top", "outputs") => (
            json!({ "type": "object", "additionalProperties": r("template") }),
            "Values computed from resources after apply.",
        ),
        ("top", "monitoring") => (r("monitoring"), "Metric collection settings."),
        ("top", "checks") => (named("check"), "Health checks run on nodes."),
        ("top", "alerts") => (named("alert"), "Alerts on metrics or checks."),
        ("top", "notifications") => (
            named("notification"),
            "Notification channels (SMTP e-mail, webhooks).",
        ),
        ("top", "secrets") => (r("secrets"), "Encryption settings of secrets."),
        ("top", "server") => (r("server"), "Settings of `baton serve`."),

        ("node", "host") => (string(), "Address to connect to; default the node's name."),
        ("node", "port") => (integer(), "SSH port; default 22."),
        ("node", "user") => (string(), "SSH user; default the current user."),
        ("node", "key") => (
            string(),
            "Private key path; default ssh-agent, then ~/.ssh/id_ed25519, ~/.ssh/id_rsa.",
        ),
        ("node", "roles") => (r("names"), "Roles, matched by `role:NAME` selectors."),
        ("node", "labels") => (
            r("string_map"),
            "Labels, matched by `label:KEY=VALUE` selectors.",
        ),
        ("node", "vars") => (r("vars"), "Per-node variables (`node.vars`)."),

        ("ssh", "known_hosts") => (string(), "known_hosts file; default ~/.ssh/known_hosts."),
        ("ssh", "accept_new_host_keys") => (
            boolean(),
            "Trust unknown host keys on first use (changed keys are always refused).",
        ),
        ("ssh", "connect_timeout") => (r("duration"), "Connection timeout; default 10s."),
        ("ssh", "forks") => (integer(), "Most nodes worked on at once; default 50."),
        ("ssh", "persist") => (
            r("duration"),
            "Keep SSH connections open between baton commands for this idle time (a per-project connection daemon, like ControlPersist); default off.",
        ),

        ("environment", "branch") => (
            string(),
            "Runs on this branch publish artifacts to this environment.",
        ),
        ("environment", "promote_from") => {
            (r("names"), "Environments artifacts may be promoted from.")
        }
        ("environment", "approval") => (
            one_of(&["manual", "none"]),
            "`manual` requires `--approve` to promote.",
        ),
        ("environment", "gate") => (
            r("names"),
            "Pipelines that must have succeeded on the source shelf.",
        ),
        ("environment", "tag") => (r("template"), "Git tag created on promotion."),
        ("environment", "vars") => (
            r("vars"),
            "Environment variables for templates (`env.vars`).",
        ),

        ("pipeline", "triggers") => (
            json!({ "oneOf": [r("trigger"), { "type": "array", "items": r("trigger") }] }),
            "What starts the pipeline; manual is always allowed.",
        ),
        ("pipeline", "env") => (string(), "Default environment of runs."),
        ("pipeline", "stages") => (
            named("stage"),
            "Stages by name; they run when their `needs` succeeded.",
        ),
        ("pipeline", "notify") => (r("pipeline_notify"), "Notifications sent on run events."),
        ("pipeline", "concurrency") => (integer(), "Runs at once; more wait queued. Default 1."),
        ("pipeline", "fail_fast") => (
            boolean(),
            "Start no new stage after a failure. Default true.",
        ),
        ("pipeline", "vars") => (r("vars"), "Pipeline variables."),
        ("pipeline_notify", k) => (
            r("names"),
            match k {
                "on_failure" => "Channels notified when a run fails.",
                "on_success" => "Channels notified when a run succeeds.",
                _ => "Channels notified when a run starts.",
            },
        ),
        ("commit_trigger", "repo") => (
            string(),
            "Repository path or URL; default the project's own.",
        ),
        ("commit_trigger", "branches") => (r("names"), "Branch globs; default every branch."),

        ("stage", "run") => (
            json!({ "oneOf": [r("template"), { "type": "array", "items": r("template") }] }),
            "A command or a list run in order under `bash -eo pipefail -c`.",
        ),
        ("stage", "http") => (r("http"), "An HTTP request with expectations."),
        ("stage", "steps") => (
            json!({ "type": "array", "items": r("step") }),
            "Typed steps run in order.",
        ),
        ("stage", "needs") => (r("names"), "Stages that must succeed first."),
        ("stage", "timeout") => (
            r("duration"),
            "Default 300s; on expiry the whole process tree is killed.",
        ),
        ("stage", "targets") => (r("selector"), "Nodes to run on; default `local`."),
        ("stage", "strategy") => (r("strategy"), "How the stage spreads over its nodes."),
        ("stage", "env") => (string(), "Environment of this stage."),
        ("stage", "secrets") => (r("names"), "Secrets injected as env vars."),
        ("stage", "retries") => (integer(), "Further attempts after a failure."),
        ("stage", "if") => (
            r("template"),
            "Template that must render true for the stage to run.",
        ),
        ("stage", "continue_on_error") => (boolean(), "A failure does not fail the run."),
        ("stage", "artifacts") => (r("names"), "Globs collected after success."),
        ("stage", "rollback") => (
            json!({ "oneOf": [r("template"), { "type": "array", "items": r("template") }] }),
            "Commands that undo this stage.",
        ),

        ("strategy", "parallel") => (integer(), "At most this many nodes at once."),
        ("strategy", "batch") => (
            json!({ "oneOf": [r("amount"), { "type": "array", "items": r("amount") }] }),
            "Rolling batch size, percentage or ramp like [1, \"30%\", \"100%\"].",
        ),
        ("strategy", "max_failures") => (
            r("amount"),
            "Failures tolerated before no further batch starts.",
        ),

        ("http", "url") => (r("template"), "URL to request."),
        ("http", "method") => (string(), "HTTP method; default GET."),
        ("http", "headers") => (r("string_map"), "Request headers."),
        ("http", "body") => (r("template"), "Request body."),
        ("http", "timeout") => (r("duration"), "Per attempt; default 10s."),
        ("http", "expect_status") => (integer(), "Expected status; default any 2xx."),
        ("http", "expect_body_contains") => (string(), "Text the body must contain."),
        ("http", "retries") => (integer(), "Further attempts after a failure."),
        ("http", "interval") => (r("duration"), "Wait between attempts; default 1s."),
        ("http", "save") => (string(), "Workspace path the body is written to."),
        ("http", "cache") => (
            boolean(),
            "Conditional requests (ETag / Last-Modified), reusing the stored body.",
        ),

        ("step", "run") => (
            json!({ "oneOf": [r("template"), { "type": "array", "items": r("template") }] }),
            "Commands.",
        ),
        ("step", "http") => (r("http"), "An HTTP request."),
        ("step", "upload") => (
            r("upload"),
            "Copy a file or an artifact to the target nodes.",
        ),
        ("step", "config") => (string(), "Apply the named config."),
        ("step", "infra") => (one_of(&["plan", "apply"]), "Plan or apply resources."),
        ("step", "promote") => (r("promote"), "Promote an artifact to an environment."),
        ("step", "notify") => (r("notify_step"), "Send a notification."),
        ("upload", "src") => (r("template"), "Local path to upload."),
        ("upload", "artifact") => (string(), "Artifact name, from the run's shelf."),
        ("upload", "dest") => (r("template"), "Destination path on the node."),
        ("upload", "mode") => (r("mode"), "Permissions of the uploaded file."),
        ("upload", "owner") => (string(), "Owner of the uploaded file."),
        ("promote", "artifact") => (string(), "Artifact name."),
        ("promote", "to") => (string(), "Target environment."),
        ("notify_step", "channels") => (r("names"), "Notifications to send to."),
        ("notify_step", "message") => (r("template"), "Message text."),

        ("config", "type") => (
            one_of(&["file", "env", "service", "network"]),
            "Kind of config; default file.",
        ),
        ("config", "targets") => (r("selector"), "Nodes to apply to; default `local`."),
        ("config", "path") => (
            r("template"),
            "Destination path (derived from `name` for service and network).",
        ),
        ("config", "name") => (string(), "Unit or interface name (service, network)."),
        ("config", "template") => (string(), "Path of a Jinja template file."),
        ("config", "content") => (r("template"), "Inline content (a template)."),
        ("config", "vars") => (
            r("string_map"),
            "`type: env`: KEY=value lines; names match ^[A-Z_][A-Z0-9_]*$.",
        ),
        ("config", "validate") => (
            string(),
            "json|yaml|toml|ini|sh|none or a command; default from the extension.",
        ),
        ("config", "mode") => (r("mode"), "File permissions."),
        ("config", "owner") => (string(), "File owner."),
        ("config", "group") => (string(), "File group."),
        ("config", "on_change") => (
            r("template"),
            "Command run once per node whose content changed.",
        ),
        ("config", "state") => (
            one_of(&["started", "stopped", "restarted", "enabled"]),
            "Service state after a change.",
        ),

        ("resource", "type") => (
            string(),
            "`file`, `directory`, `symlink`, `user`, `group`, `service`, `cron`, `command`, or a provider type like `aws.s3_bucket`.",
        ),
        ("resource", "node") => (string(), "Node to act on over SSH; default local."),
        ("resource", "depends_on") => (
            r("names"),
            "Resources to create first (besides `resources.X` references).",
        ),

        ("monitoring", "interval") => (r("duration"), "Metric collection interval; default 15s."),
        ("monitoring", "retention") => (r("duration"), "How long metrics are kept; default 7d."),

        ("check", "targets") => (r("selector"), "Nodes to check."),
        ("check", "http") => (r("http"), "An HTTP probe: a URL or a request."),
        ("check", "command") => (r("template"), "A command whose exit 0 means healthy."),
        ("check", "interval") => (r("duration"), "Default the monitoring interval."),
        ("check", "timeout") => (r("duration"), "Default 10s."),

        ("alert", "metric") => (
            one_of(&["cpu", "memory", "load", "disk", "up"]),
            "Node metric watched.",
        ),
        ("alert", "above") => (
            json!({ "type": "number" }),
            "Fire when the metric is above this.",
        ),
        ("alert", "below") => (
            json!({ "type": "number" }),
            "Fire when the metric is below this.",
        ),
        ("alert", "check") => (string(), "Fire while this check fails."),
        ("alert", "targets") => (r("selector"), "Nodes watched."),
        ("alert", "for") => (
            r("duration"),
            "How long the condition holds before firing; default 0.",
        ),
        ("alert", "notify") => (r("names"), "Notifications sent when firing and resolving."),

        ("notification", "smtp") => (r("smtp"), "E-mail over SMTP."),
        ("notification", "webhook") => (
            json!({ "oneOf": [r("template"), r("webhook")] }),
            "A webhook POST.",
        ),
        ("smtp", "host") => (string(), "SMTP server."),
        ("smtp", "port") => (integer(), "Default 587 (starttls), 465 (tls), 25 (none)."),
        ("smtp", "tls") => (one_of(&["none", "starttls", "tls"]), "Default starttls."),
        ("smtp", "user") => (string(), "Login user."),
        ("smtp", "password_secret") => (string(), "Name of the secret holding the password."),
        ("smtp", "from") => (string(), "Sender address."),
        ("smtp", "to") => (r("names"), "Recipient addresses."),
        ("webhook", "url") => (r("template"), "URL to POST to."),
        ("webhook", "headers") => (r("string_map"), "Extra headers."),
        ("webhook", "secret") => (
            string(),
            "Secret signing the body (HMAC-SHA256, X-Baton-Signature-256).",
        ),

        ("secrets", "recipients") => (r("names"), "age X25519 recipients (`age1…`)."),
        ("server", "listen") => (string(), "Address to bind; default 127.0.0.1:8080."),
        ("server", "tokens") => (
            json!({ "type": "array", "items": r("token") }),
            "API tokens.",
        ),
        ("token", "name") => (string(), "Token name."),
        ("token", "secret") => (string(), "Name of the secret holding the token."),
        ("token", "role") => (one_of(&["viewer", "operator"]), "Default viewer."),

        _ => (json!({}), ""),
    };
    with_doc(schema, doc)
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
        let sections: &[(&str, &[&str])] = &[
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
        let set = |keys: &[&str]| keys.iter().map(|k| k.to_string()).collect::<BTreeSet<_>>();
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
}

//! `user`, `group`, `service` and `cron`: system objects managed with the usual tools
//! (`useradd`/`usermod`/`userdel`, `groupadd`…, `systemctl`, files in `/etc/cron.d`), run through
//! the executor on `local` or on a node.

use serde_json::{Value, json};

use super::shell::{self, quote};
use super::str_attr;
use crate::provider::*;

pub struct User;
pub struct Group;
pub struct Service;
pub struct Cron;

static USER_ATTRS: [AttrSpec; 7] = [
    AttrSpec::required("name", AttrKind::String).immutable(),
    AttrSpec::optional("uid", AttrKind::Int),
    AttrSpec::optional("gid", AttrKind::String),
    AttrSpec::optional("home", AttrKind::String),
    AttrSpec::optional("shell", AttrKind::String),
    AttrSpec::optional("groups", AttrKind::StringList),
    // A crypt(3) hash, as `useradd -p` takes it.
    AttrSpec::optional("password", AttrKind::String).sensitive(),
];

static GROUP_ATTRS: [AttrSpec; 2] = [
    AttrSpec::required("name", AttrKind::String).immutable(),
    AttrSpec::optional("gid", AttrKind::Int),
];

static SERVICE_ATTRS: [AttrSpec; 3] = [
    AttrSpec::required("name", AttrKind::String).immutable(),
    AttrSpec::optional("state", AttrKind::String)
        .default("\"started\"")
        .one_of(&["started", "stopped"]),
    AttrSpec::optional("enabled", AttrKind::Bool),
];

static CRON_ATTRS: [AttrSpec; 4] = [
    AttrSpec::required("name", AttrKind::String).immutable(),
    AttrSpec::required("schedule", AttrKind::String),
    AttrSpec::required("command", AttrKind::String),
    AttrSpec::optional("user", AttrKind::String).default("\"root\""),
];

/// Where cron entries live: one file per entry, so each is replaced atomically.
const CRON_DIR: &str = "/etc/cron.d";

/// Read items one command each (these types are few per project; files are the ones batched).
async fn read_each<'a, F>(
    ctx: &'a Context,
    req: ReadRequest<'a>,
    script: F,
    parse: fn(&Attrs, &str) -> Option<Attrs>,
) -> ReadResponse
where
    F: Fn(&Attrs) -> String,
{
    let mut states = Vec::new();
    let mut diagnostics = Vec::new();
    for (_, attrs) in req.items {
        match shell::run_ok(ctx, req.target, &script(attrs), "reading").await {
            Ok(out) => states.push(parse(attrs, &out)),
            Err(d) => {
                diagnostics.push(d);
                states.push(None);
            }
        }
    }
    ReadResponse {
        states,
        diagnostics,
    }
}

fn done(result: Result<String, Diagnostic>) -> ChangeResponse {
    match result {
        Ok(_) => ChangeResponse::default(),
        Err(d) => ChangeResponse::failed(d),
    }
}

// ---- user ----

fn user_read_script(attrs: &Attrs) -> String {
    let n = quote(str_attr(attrs, "name"));
    format!(
        "if ! line=$(getent passwd {n}); then echo absent; exit 0; fi\n\
         echo \"passwd|$line\"\necho \"primary|$(id -gn {n})\"\necho \"groups|$(id -Gn {n})\"\n\
         echo \"shadow|$(getent shadow {n} 2>/dev/null | cut -d: -f2)\""
    )
}

fn user_parse(desired: &Attrs, out: &str) -> Option<Attrs> {
    let mut attrs = Attrs::new();
    let mut primary = String::new();
    for line in out.lines() {
        let (tag, rest) = line.split_once('|')?;
        match tag {
            "passwd" => {
                let f: Vec<&str> = rest.split(':').collect();
                attrs.insert("name".into(), json!(f.first()?));
                attrs.insert("uid".into(), json!(f.get(2)?.parse::<i64>().ok()?));
                // gid is compared the way it is written: a number, or a group name.
                let numeric = desired
                    .get("gid")
                    .and_then(Value::as_str)
                    .is_some_and(|g| g.parse::<u32>().is_ok());
                if numeric {
                    attrs.insert("gid".into(), json!(f.get(3)?));
                }
                attrs.insert("home".into(), json!(f.get(5)?));
                attrs.insert("shell".into(), json!(f.get(6)?));
            }
            "primary" => primary = rest.to_string(),
            "groups" => {
                let mut groups: Vec<&str> =
                    rest.split_whitespace().filter(|g| *g != primary).collect();
                groups.sort();
                attrs.insert("groups".into(), json!(groups));
            }
            "shadow" if desired.contains_key("password") => {
                attrs.insert("password".into(), json!(rest));
            }
            _ => {}
        }
    }
    if !attrs.contains_key("gid") && !primary.is_empty() {
        attrs.insert("gid".into(), json!(primary));
    }
    attrs.contains_key("uid").then_some(attrs)
}

fn user_flags(attrs: &Attrs, create: bool) -> String {
    let mut flags = String::new();
    if let Some(uid) = attrs.get("uid").and_then(Value::as_i64) {
        flags.push_str(&format!(" -u {uid}"));
    }
    for (key, flag) in [("gid", "-g"), ("shell", "-s"), ("password", "-p")] {
        if let Some(v) = attrs.get(key).and_then(Value::as_str) {
            flags.push_str(&format!(" {flag} {}", quote(v)));
        }
    }
    if let Some(home) = attrs.get("home").and_then(Value::as_str) {
        // useradd -m makes the home; usermod -m moves the old one there.
        flags.push_str(&format!(" -d {} -m", quote(home)));
    } else if create {
        flags.push_str(" -m");
    }
    if let Some(groups) = attrs.get("groups").and_then(Value::as_array) {
        let list: Vec<&str> = groups.iter().filter_map(Value::as_str).collect();
        flags.push_str(&format!(" -G {}", quote(&list.join(","))));
    }
    flags
}

impl ResourceType for User {
    fn name(&self) -> &'static str {
        "user"
    }
    fn attributes(&self) -> &'static [AttrSpec] {
        &USER_ATTRS
    }
    fn expected(&self, _ctx: &Context, desired: &mut Attrs) -> Result<(), String> {
        if let Some(Value::Array(groups)) = desired.get_mut("groups") {
            groups.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
        }
        Ok(())
    }
    fn read<'a>(&'a self, ctx: &'a Context, req: ReadRequest<'a>) -> BoxFuture<'a, ReadResponse> {
        Box::pin(read_each(ctx, req, user_read_script, user_parse))
    }
    fn create<'a>(
        &'a self,
        ctx: &'a Context,
        req: ChangeRequest<'a>,
    ) -> BoxFuture<'a, ChangeResponse> {
        let script = format!(
            "useradd{} {}",
            user_flags(req.attrs, true),
            quote(str_attr(req.attrs, "name"))
        );
        Box::pin(async move {
            with_read_back(
                ctx,
                &req,
                shell::run_ok(ctx, req.target, &script, "useradd").await,
                user_read_script,
                user_parse,
            )
            .await
        })
    }
    fn update<'a>(
        &'a self,
        ctx: &'a Context,
        req: ChangeRequest<'a>,
    ) -> BoxFuture<'a, ChangeResponse> {
        let script = format!(
            "usermod{} {}",
            user_flags(req.attrs, false),
            quote(str_attr(req.attrs, "name"))
        );
        Box::pin(async move { done(shell::run_ok(ctx, req.target, &script, "usermod").await) })
    }
    fn delete<'a>(
        &'a self,
        ctx: &'a Context,
        req: ChangeRequest<'a>,
    ) -> BoxFuture<'a, ChangeResponse> {
        // The home directory is kept (userdel without -r): it may hold data baton never made.
        let n = quote(str_attr(req.attrs, "name"));
        let script = format!("if getent passwd {n} >/dev/null; then userdel {n}; fi");
        Box::pin(async move { done(shell::run_ok(ctx, req.target, &script, "userdel").await) })
    }
}

/// After a create, read back what the system chose (uid, home…) as computed attributes.
async fn with_read_back(
    ctx: &Context,
    req: &ChangeRequest<'_>,
    result: Result<String, Diagnostic>,
    script: fn(&Attrs) -> String,
    parse: fn(&Attrs, &str) -> Option<Attrs>,
) -> ChangeResponse {
    if let Err(d) = result {
        return ChangeResponse::failed(d);
    }
    let mut computed = Attrs::new();
    if let Ok(out) = shell::run_ok(ctx, req.target, &script(req.attrs), "reading").await
        && let Some(seen) = parse(req.attrs, &out)
    {
        for (k, v) in seen {
            if !req.attrs.contains_key(&k) && k != "password" {
                computed.insert(k, v);
            }
        }
    }
    ChangeResponse {
        computed,
        diagnostics: Vec::new(),
    }
}

// ---- group ----

fn group_read_script(attrs: &Attrs) -> String {
    let n = quote(str_attr(attrs, "name"));
    format!("getent group {n} || echo absent")
}

fn group_parse(_: &Attrs, out: &str) -> Option<Attrs> {
    let f: Vec<&str> = out.trim().split(':').collect();
    let gid = f.get(2)?.parse::<i64>().ok()?;
    let mut attrs = Attrs::new();
    attrs.insert("name".into(), json!(f[0]));
    attrs.insert("gid".into(), json!(gid));
    Some(attrs)
}

impl ResourceType for Group {
    fn name(&self) -> &'static str {
        "group"
    }
    fn attributes(&self) -> &'static [AttrSpec] {
        &GROUP_ATTRS
    }
    fn read<'a>(&'a self, ctx: &'a Context, req: ReadRequest<'a>) -> BoxFuture<'a, ReadResponse> {
        Box::pin(read_each(ctx, req, group_read_script, group_parse))
    }
    fn create<'a>(
        &'a self,
        ctx: &'a Context,
        req: ChangeRequest<'a>,
    ) -> BoxFuture<'a, ChangeResponse> {
        let gid = req
            .attrs
            .get("gid")
            .and_then(Value::as_i64)
            .map(|g| format!(" -g {g}"))
            .unwrap_or_default();
        let script = format!("groupadd{gid} {}", quote(str_attr(req.attrs, "name")));
        Box::pin(async move {
            with_read_back(
                ctx,
                &req,
                shell::run_ok(ctx, req.target, &script, "groupadd").await,
                group_read_script,
                group_parse,
            )
            .await
        })
    }
    fn update<'a>(
        &'a self,
        ctx: &'a Context,
        req: ChangeRequest<'a>,
    ) -> BoxFuture<'a, ChangeResponse> {
        let gid = req
            .attrs
            .get("gid")
            .and_then(Value::as_i64)
            .map(|g| format!(" -g {g}"))
            .unwrap_or_default();
        let script = format!("groupmod{gid} {}", quote(str_attr(req.attrs, "name")));
        Box::pin(async move { done(shell::run_ok(ctx, req.target, &script, "groupmod").await) })
    }
    fn delete<'a>(
        &'a self,
        ctx: &'a Context,
        req: ChangeRequest<'a>,
    ) -> BoxFuture<'a, ChangeResponse> {
        let n = quote(str_attr(req.attrs, "name"));
        let script = format!("if getent group {n} >/dev/null; then groupdel {n}; fi");
        Box::pin(async move { done(shell::run_ok(ctx, req.target, &script, "groupdel").await) })
    }
}

// ---- service ----

fn service_read_script(attrs: &Attrs) -> String {
    let n = quote(str_attr(attrs, "name"));
    format!(
        "command -v systemctl >/dev/null || {{ echo 'systemctl not found: the service type needs systemd'; exit 1; }}\n\
         if ! systemctl cat {n} >/dev/null 2>&1; then echo absent; exit 0; fi\n\
         echo \"active|$(systemctl is-active {n} || true)\"\necho \"enabled|$(systemctl is-enabled {n} || true)\""
    )
}

fn service_parse(desired: &Attrs, out: &str) -> Option<Attrs> {
    let mut attrs = Attrs::new();
    attrs.insert("name".into(), desired.get("name")?.clone());
    let mut seen = false;
    for line in out.lines() {
        match line.split_once('|') {
            Some(("active", v)) => {
                seen = true;
                let state = if v.trim() == "active" {
                    "started"
                } else {
                    "stopped"
                };
                attrs.insert("state".into(), json!(state));
            }
            Some(("enabled", v)) => {
                attrs.insert("enabled".into(), json!(v.trim() == "enabled"));
            }
            _ => {}
        }
    }
    seen.then_some(attrs)
}

fn service_script(attrs: &Attrs) -> String {
    let n = quote(str_attr(attrs, "name"));
    let mut script = match str_attr(attrs, "state") {
        "stopped" => format!("systemctl stop {n}"),
        _ => format!("systemctl start {n}"),
    };
    match attrs.get("enabled").and_then(Value::as_bool) {
        Some(true) => script.push_str(&format!(" && systemctl enable {n}")),
        Some(false) => script.push_str(&format!(" && systemctl disable {n}")),
        None => {}
    }
    script
}

impl ResourceType for Service {
    fn name(&self) -> &'static str {
        "service"
    }
    fn attributes(&self) -> &'static [AttrSpec] {
        &SERVICE_ATTRS
    }
    fn read<'a>(&'a self, ctx: &'a Context, req: ReadRequest<'a>) -> BoxFuture<'a, ReadResponse> {
        Box::pin(read_each(ctx, req, service_read_script, service_parse))
    }
    fn create<'a>(
        &'a self,
        ctx: &'a Context,
        req: ChangeRequest<'a>,
    ) -> BoxFuture<'a, ChangeResponse> {
        let script = format!(
            "systemctl cat {} >/dev/null || {{ echo 'no such unit'; exit 1; }}\n{}",
            quote(str_attr(req.attrs, "name")),
            service_script(req.attrs)
        );
        Box::pin(async move { done(shell::run_ok(ctx, req.target, &script, "systemctl").await) })
    }
    fn update<'a>(
        &'a self,
        ctx: &'a Context,
        req: ChangeRequest<'a>,
    ) -> BoxFuture<'a, ChangeResponse> {
        let script = service_script(req.attrs);
        Box::pin(async move { done(shell::run_ok(ctx, req.target, &script, "systemctl").await) })
    }
    fn delete<'a>(
        &'a self,
        _ctx: &'a Context,
        _req: ChangeRequest<'a>,
    ) -> BoxFuture<'a, ChangeResponse> {
        // Destroying a `service` ends its management; the unit was not made by baton (it comes
        // from a package or a `file`), so it is left as it is.
        Box::pin(async { ChangeResponse::default() })
    }
}

// ---- cron ----

fn cron_path(attrs: &Attrs) -> String {
    format!("{CRON_DIR}/baton-{}", str_attr(attrs, "name"))
}

fn cron_line(attrs: &Attrs) -> String {
    format!(
        "# managed by baton: resource {}\n{} {} {}\n",
        str_attr(attrs, "name"),
        str_attr(attrs, "schedule"),
        str_attr(attrs, "user"),
        str_attr(attrs, "command")
    )
}

fn cron_read_script(attrs: &Attrs) -> String {
    let p = quote(&cron_path(attrs));
    format!("if [ -f {p} ]; then cat {p}; else echo absent; fi")
}

fn cron_parse(desired: &Attrs, out: &str) -> Option<Attrs> {
    let line = out
        .lines()
        .find(|l| !l.starts_with('#') && !l.trim().is_empty())?;
    if line.trim() == "absent" {
        return None;
    }
    // `@daily user cmd` or `m h dom mon dow user cmd`.
    let fields = if line.starts_with('@') { 1 } else { 5 };
    let parts: Vec<&str> = line.splitn(fields + 2, ' ').collect();
    if parts.len() < fields + 2 {
        return Some(Attrs::new());
    }
    let mut attrs = Attrs::new();
    attrs.insert("name".into(), desired.get("name")?.clone());
    attrs.insert("schedule".into(), json!(parts[..fields].join(" ")));
    attrs.insert("user".into(), json!(parts[fields]));
    attrs.insert("command".into(), json!(parts[fields + 1]));
    Some(attrs)
}

async fn write_cron(ctx: &Context, req: ChangeRequest<'_>) -> ChangeResponse {
    let result = shell::write_file(
        ctx,
        req.target,
        cron_line(req.attrs).as_bytes(),
        &cron_path(req.attrs),
        Some(0o644),
        None,
    )
    .await;
    match result {
        Ok(()) => ChangeResponse::default(),
        Err(d) => ChangeResponse::failed(d),
    }
}

impl ResourceType for Cron {
    fn name(&self) -> &'static str {
        "cron"
    }
    fn attributes(&self) -> &'static [AttrSpec] {
        &CRON_ATTRS
    }
    fn check(&self, attrs: &Attrs) -> Vec<String> {
        let mut problems = Vec::new();
        let name = str_attr(attrs, "name");
        // cron ignores files in /etc/cron.d whose names hold dots or other characters.
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            problems.push(format!("cron `name` `{name}` may hold only letters, digits, `_` and `-` (cron ignores other file names)"));
        }
        let schedule = str_attr(attrs, "schedule");
        let fields = schedule.split_whitespace().count();
        let shaped = fields == 5 || (fields == 1 && schedule.starts_with('@'));
        if !shaped && !baton_model::template::is_template(schedule) {
            problems.push(format!("cron `schedule` `{schedule}` needs five fields (`m h dom mon dow`) or an `@daily`-style word"));
        }
        if str_attr(attrs, "command").contains('\n') {
            problems.push("cron `command` must be one line".into());
        }
        problems
    }
    fn read<'a>(&'a self, ctx: &'a Context, req: ReadRequest<'a>) -> BoxFuture<'a, ReadResponse> {
        Box::pin(read_each(ctx, req, cron_read_script, cron_parse))
    }
    fn create<'a>(
        &'a self,
        ctx: &'a Context,
        req: ChangeRequest<'a>,
    ) -> BoxFuture<'a, ChangeResponse> {
        Box::pin(write_cron(ctx, req))
    }
    fn delete<'a>(
        &'a self,
        ctx: &'a Context,
        req: ChangeRequest<'a>,
    ) -> BoxFuture<'a, ChangeResponse> {
        let script = format!("rm -f -- {}", quote(&cron_path(req.attrs)));
        Box::pin(async move {
            done(shell::run_ok(ctx, req.target, &script, "removing the cron entry").await)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(v: Value) -> Attrs {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn user_output_is_parsed_with_supplementary_groups_only() {
        let desired = attrs(json!({"name": "app"}));
        let out = "passwd|app:x:1001:1001::/home/app:/bin/bash\nprimary|app\ngroups|app wheel adm\nshadow|!\n";
        let seen = user_parse(&desired, out).unwrap();
        assert_eq!(seen["uid"], 1001);
        assert_eq!(seen["gid"], "app");
        assert_eq!(seen["groups"], json!(["adm", "wheel"]));
        assert!(!seen.contains_key("password"));
        assert!(user_parse(&desired, "absent\n").is_none());
    }

    #[test]
    fn cron_lines_round_trip() {
        let desired = attrs(
            json!({"name": "backup", "schedule": "0 3 * * *", "user": "root", "command": "tar czf /b.tgz /srv"}),
        );
        let seen = cron_parse(&desired, &cron_line(&desired)).unwrap();
        for key in ["schedule", "user", "command"] {
            assert_eq!(seen[key], desired[key], "{key}");
        }
        assert!(Cron.check(&desired).is_empty());
        let bad = attrs(json!({"name": "a.b", "schedule": "daily", "command": "x"}));
        assert_eq!(Cron.check(&bad).len(), 2);
    }

    #[test]
    fn service_scripts_follow_state_and_enabled() {
        let a = attrs(json!({"name": "nginx", "state": "stopped", "enabled": false}));
        assert_eq!(
            service_script(&a),
            "systemctl stop 'nginx' && systemctl disable 'nginx'"
        );
        let seen = service_parse(&a, "active|active\nenabled|disabled\n").unwrap();
        assert_eq!(seen["state"], "started");
        assert_eq!(seen["enabled"], false);
    }
}

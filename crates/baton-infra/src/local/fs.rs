//! `file`, `directory` and `symlink`.
//!
//! Reads on the local node are done in-process, in parallel threads (a stat and a hash per file,
//! no process per resource), so refreshing ten thousand files stays well under a second. Reads
//! on other nodes are batched: one command per node for every path. Writes go through the
//! executor (`upload` for file contents, `run` for the rest).

use std::collections::HashMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::OnceLock;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::shell::{self, quote};
use super::str_attr;
use crate::provider::*;
use crate::render::UNKNOWN;

/// Contents up to this size are read back in full so a plan can show what changed by hand;
/// larger ones are compared by hash only.
const SHOWN_CONTENT: u64 = 16 * 1024;
/// Paths per batched read command on a node (bounded command line).
const BATCH: usize = 500;

pub struct File;
pub struct Directory;
pub struct Symlink;

static FILE_ATTRS: [AttrSpec; 7] = [
    AttrSpec::required("path", AttrKind::String).immutable(),
    AttrSpec::optional("content", AttrKind::String),
    AttrSpec::optional("source", AttrKind::String),
    AttrSpec::optional("mode", AttrKind::Mode).default("\"0644\""),
    AttrSpec::optional("owner", AttrKind::String),
    AttrSpec::optional("group", AttrKind::String),
    AttrSpec::computed("sha256", AttrKind::String),
];

static DIRECTORY_ATTRS: [AttrSpec; 4] = [
    AttrSpec::required("path", AttrKind::String).immutable(),
    AttrSpec::optional("mode", AttrKind::Mode).default("\"0755\""),
    AttrSpec::optional("owner", AttrKind::String),
    AttrSpec::optional("group", AttrKind::String),
];

static SYMLINK_ATTRS: [AttrSpec; 2] = [
    AttrSpec::required("path", AttrKind::String).immutable(),
    AttrSpec::required("target", AttrKind::String),
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    File,
    Directory,
    Symlink,
}

impl ResourceType for File {
    fn name(&self) -> &'static str {
        "file"
    }
    fn attributes(&self) -> &'static [AttrSpec] {
        &FILE_ATTRS
    }
    fn check(&self, attrs: &Attrs) -> Vec<String> {
        match (attrs.contains_key("content"), attrs.contains_key("source")) {
            (true, true) => vec!["a `file` takes `content` or `source`, not both".into()],
            (false, false) => vec!["a `file` needs `content` or `source`".into()],
            _ => Vec::new(),
        }
    }
    fn expected(&self, ctx: &Context, desired: &mut Attrs) -> Result<(), String> {
        let digest = match (desired.get("content"), desired.get("source")) {
            (Some(Value::String(c)), _) if c.contains(UNKNOWN) => return Ok(()),
            (Some(Value::String(c)), _) => hex::encode(Sha256::digest(c.as_bytes())),
            (_, Some(Value::String(s))) => {
                let path = ctx.root.join(s);
                let bytes = std::fs::read(&path)
                    .map_err(|e| format!("cannot read `source` `{}`: {e}", path.display()))?;
                hex::encode(Sha256::digest(&bytes))
            }
            _ => return Ok(()),
        };
        desired.insert("sha256".into(), Value::String(digest));
        Ok(())
    }
    fn read<'a>(&'a self, ctx: &'a Context, req: ReadRequest<'a>) -> BoxFuture<'a, ReadResponse> {
        Box::pin(read(ctx, req, Kind::File))
    }
    fn create<'a>(
        &'a self,
        ctx: &'a Context,
        req: ChangeRequest<'a>,
    ) -> BoxFuture<'a, ChangeResponse> {
        Box::pin(write_file(ctx, req))
    }
    fn delete<'a>(
        &'a self,
        ctx: &'a Context,
        req: ChangeRequest<'a>,
    ) -> BoxFuture<'a, ChangeResponse> {
        let path = quote(str_attr(req.attrs, "path"));
        let script = format!("rm -f -- {path}");
        Box::pin(async move {
            finish(shell::run_ok(ctx, req.target, &script, "removing the file").await)
        })
    }
}

impl ResourceType for Directory {
    fn name(&self) -> &'static str {
        "directory"
    }
    fn attributes(&self) -> &'static [AttrSpec] {
        &DIRECTORY_ATTRS
    }
    fn read<'a>(&'a self, ctx: &'a Context, req: ReadRequest<'a>) -> BoxFuture<'a, ReadResponse> {
        Box::pin(read(ctx, req, Kind::Directory))
    }
    fn create<'a>(
        &'a self,
        ctx: &'a Context,
        req: ChangeRequest<'a>,
    ) -> BoxFuture<'a, ChangeResponse> {
        Box::pin(make_directory(ctx, req))
    }
    fn delete<'a>(
        &'a self,
        ctx: &'a Context,
        req: ChangeRequest<'a>,
    ) -> BoxFuture<'a, ChangeResponse> {
        // Only an empty directory is removed: baton never deletes files it does not manage.
        // Managed files inside it are destroyed first, as they depend on it.
        let p = quote(str_attr(req.attrs, "path"));
        let script = format!(
            "if [ -d {p} ]; then rmdir -- {p} 2>/dev/null || {{ echo \"{} is not empty: baton removes only what it manages\"; exit 1; }}; fi",
            str_attr(req.attrs, "path").replace('"', "\\\"")
        );
        Box::pin(async move {
            finish(shell::run_ok(ctx, req.target, &script, "removing the directory").await)
        })
    }
}

impl ResourceType for Symlink {
    fn name(&self) -> &'static str {
        "symlink"
    }
    fn attributes(&self) -> &'static [AttrSpec] {
        &SYMLINK_ATTRS
    }
    fn read<'a>(&'a self, ctx: &'a Context, req: ReadRequest<'a>) -> BoxFuture<'a, ReadResponse> {
        Box::pin(read(ctx, req, Kind::Symlink))
    }
    fn create<'a>(
        &'a self,
        ctx: &'a Context,
        req: ChangeRequest<'a>,
    ) -> BoxFuture<'a, ChangeResponse> {
        Box::pin(make_symlink(ctx, req))
    }
    fn delete<'a>(
        &'a self,
        ctx: &'a Context,
        req: ChangeRequest<'a>,
    ) -> BoxFuture<'a, ChangeResponse> {
        let p = quote(str_attr(req.attrs, "path"));
        let script = format!("if [ -L {p} ]; then rm -f -- {p}; fi");
        Box::pin(async move {
            finish(shell::run_ok(ctx, req.target, &script, "removing the symlink").await)
        })
    }
}

fn finish(result: Result<String, Diagnostic>) -> ChangeResponse {
    match result {
        Ok(_) => ChangeResponse::default(),
        Err(d) => ChangeResponse::failed(d),
    }
}

fn owner_spec(attrs: &Attrs) -> Option<String> {
    match (
        attrs.get("owner").and_then(Value::as_str),
        attrs.get("group").and_then(Value::as_str),
    ) {
        (Some(o), Some(g)) => Some(format!("{o}:{g}")),
        (Some(o), None) => Some(o.to_string()),
        (None, Some(g)) => Some(format!(":{g}")),
        (None, None) => None,
    }
}

fn mode_bits(attrs: &Attrs) -> Option<u32> {
    attrs
        .get("mode")
        .and_then(Value::as_str)
        .and_then(|m| u32::from_str_radix(m, 8).ok())
}

/// A relative `path` on `local` is relative to the project root, as local commands run there
/// (not to wherever baton was started, e.g. with `-f`); on a node, to the login directory.
fn resolve(ctx: &Context, target: &Target, path: &str) -> String {
    if target.is_local() && !path.starts_with('/') {
        ctx.root.join(path).to_string_lossy().into_owned()
    } else {
        path.to_string()
    }
}

async fn write_file(ctx: &Context, req: ChangeRequest<'_>) -> ChangeResponse {
    let path = &resolve(ctx, req.target, str_attr(req.attrs, "path"));
    let (mode, owner) = (mode_bits(req.attrs), owner_spec(req.attrs));
    let (result, digest) = match (req.attrs.get("content"), req.attrs.get("source")) {
        (Some(Value::String(content)), _) => (
            shell::write_file(ctx, req.target, content.as_bytes(), path, mode, owner).await,
            hex::encode(Sha256::digest(content.as_bytes())),
        ),
        (_, Some(Value::String(source))) => {
            let source = ctx.root.join(source);
            let digest = match std::fs::read(&source) {
                Ok(bytes) => hex::encode(Sha256::digest(&bytes)),
                Err(e) => {
                    return ChangeResponse::failed(Diagnostic::error(format!(
                        "cannot read `{}`: {e}",
                        source.display()
                    )));
                }
            };
            (
                shell::upload(req.target, source, path, mode, owner).await,
                digest,
            )
        }
        _ => {
            return ChangeResponse::failed(Diagnostic::error(
                "a `file` needs `content` or `source`",
            ));
        }
    };
    match result {
        Ok(()) => {
            let mut computed = Attrs::new();
            computed.insert("sha256".into(), Value::String(digest));
            ChangeResponse {
                computed,
                diagnostics: Vec::new(),
            }
        }
        Err(d) => ChangeResponse::failed(d),
    }
}

async fn make_directory(ctx: &Context, req: ChangeRequest<'_>) -> ChangeResponse {
    let p = quote(str_attr(req.attrs, "path"));
    let mut script = format!("mkdir -p -- {p}");
    if let Some(mode) = req.attrs.get("mode").and_then(Value::as_str) {
        script.push_str(&format!(" && chmod {mode} -- {p}"));
    }
    if let Some(owner) = owner_spec(req.attrs) {
        script.push_str(&format!(" && chown {} -- {p}", quote(&owner)));
    }
    finish(shell::run_ok(ctx, req.target, &script, "creating the directory").await)
}

async fn make_symlink(ctx: &Context, req: ChangeRequest<'_>) -> ChangeResponse {
    let path = str_attr(req.attrs, "path");
    let p = quote(path);
    let t = quote(str_attr(req.attrs, "target"));
    // Refuse to replace a real file or directory with a link: that would lose data.
    let script = format!(
        "if [ -e {p} ] && [ ! -L {p} ]; then echo \"{path} exists and is not a symlink\"; exit 1; fi\n\
         mkdir -p -- \"$(dirname -- {p})\" && ln -sfn -- {t} {p}"
    );
    finish(shell::run_ok(ctx, req.target, &script, "creating the symlink").await)
}

async fn read(ctx: &Context, req: ReadRequest<'_>, kind: Kind) -> ReadResponse {
    let paths: Vec<String> = req
        .items
        .iter()
        .map(|(_, attrs)| str_attr(attrs, "path").to_string())
        .collect();
    if req.target.is_local() {
        let resolved: Vec<String> = paths.iter().map(|p| resolve(ctx, req.target, p)).collect();
        let mut states = tokio::task::spawn_blocking(move || read_local_all(&resolved, kind))
            .await
            .unwrap_or_default();
        // Report the path as written, so it compares equal to the desired one.
        for (state, path) in states.iter_mut().zip(&paths) {
            if let Some(attrs) = state {
                attrs.insert("path".into(), json!(path));
            }
        }
        return ReadResponse {
            states,
            diagnostics: Vec::new(),
        };
    }
    let mut states = Vec::with_capacity(paths.len());
    for chunk in paths.chunks(BATCH) {
        let script = remote_read_script(chunk, kind);
        match shell::run_ok(ctx, req.target, &script, "reading files").await {
            Ok(output) => states.extend(parse_remote(&output, chunk, kind)),
            Err(d) => {
                return ReadResponse {
                    states: Vec::new(),
                    diagnostics: vec![d],
                };
            }
        }
    }
    ReadResponse {
        states,
        diagnostics: Vec::new(),
    }
}

/// Read every path on this machine, spread over a few threads (the work is stat + read + hash:
/// mostly system calls, so a few more threads than cores keeps the disk queue busy).
fn read_local_all(paths: &[String], kind: Kind) -> Vec<Option<Attrs>> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()) * 2;
    let chunk = paths.len().div_ceil(threads).max(64);
    std::thread::scope(|scope| {
        let handles: Vec<_> = paths
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || part.iter().map(|p| read_local(p, kind)).collect::<Vec<_>>())
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

fn read_local(path: &str, kind: Kind) -> Option<Attrs> {
    let path_ref = Path::new(path);
    let mut attrs = Attrs::new();
    attrs.insert("path".into(), json!(path));
    match kind {
        Kind::Symlink => {
            let target = std::fs::read_link(path_ref).ok()?;
            attrs.insert("target".into(), json!(target.to_string_lossy()));
            return Some(attrs);
        }
        Kind::File | Kind::Directory => {
            let meta = std::fs::metadata(path_ref).ok()?;
            if (kind == Kind::File && !meta.is_file())
                || (kind == Kind::Directory && !meta.is_dir())
            {
                return None;
            }
            attrs.insert(
                "mode".into(),
                json!(format!("{:04o}", meta.permissions().mode() & 0o7777)),
            );
            attrs.insert("owner".into(), json!(user_name(meta.uid())));
            attrs.insert("group".into(), json!(group_name(meta.gid())));
            if kind == Kind::File {
                match std::fs::read(path_ref) {
                    Ok(bytes) => {
                        attrs.insert("sha256".into(), json!(hex::encode(Sha256::digest(&bytes))));
                        if meta.len() <= SHOWN_CONTENT
                            && let Ok(text) = String::from_utf8(bytes)
                        {
                            attrs.insert("content".into(), json!(text));
                        }
                    }
                    Err(e) => {
                        attrs.insert("sha256".into(), json!(format!("(unreadable: {e})")));
                    }
                }
            }
        }
    }
    Some(attrs)
}

fn remote_read_script(paths: &[String], kind: Kind) -> String {
    // One line per path: `INDEX|a` absent, or the fields of what is there.
    let mut script = String::from(match kind {
        Kind::File => {
            "r() { if [ -f \"$2\" ]; then printf '%s|f|%s|%s\\n' \"$1\" \"$(stat -c '%a|%U|%G' -- \"$2\")\" \"$(sha256sum -- \"$2\" | cut -d' ' -f1)\"; else printf '%s|a\\n' \"$1\"; fi; }\n"
        }
        Kind::Directory => {
            "r() { if [ -d \"$2\" ]; then printf '%s|d|%s\\n' \"$1\" \"$(stat -c '%a|%U|%G' -- \"$2\")\"; else printf '%s|a\\n' \"$1\"; fi; }\n"
        }
        Kind::Symlink => {
            "r() { if [ -L \"$2\" ]; then printf '%s|l|%s\\n' \"$1\" \"$(readlink -- \"$2\")\"; else printf '%s|a\\n' \"$1\"; fi; }\n"
        }
    });
    for (i, p) in paths.iter().enumerate() {
        script.push_str(&format!("r {i} {}\n", quote(p)));
    }
    script
}

fn parse_remote(output: &str, paths: &[String], kind: Kind) -> Vec<Option<Attrs>> {
    let mut found: HashMap<usize, Attrs> = HashMap::new();
    for line in output.lines() {
        let fields: Vec<&str> = line.splitn(6, '|').collect();
        let Some(index) = fields.first().and_then(|i| i.parse::<usize>().ok()) else {
            continue;
        };
        let Some(path) = paths.get(index) else {
            continue;
        };
        let mut attrs = Attrs::new();
        attrs.insert("path".into(), json!(path));
        match (kind, &fields[1..]) {
            (Kind::File, ["f", mode, owner, group, sha]) => {
                attrs.insert(
                    "mode".into(),
                    json!(crate::schema::mode(mode).unwrap_or_default()),
                );
                attrs.insert("owner".into(), json!(owner));
                attrs.insert("group".into(), json!(group));
                attrs.insert("sha256".into(), json!(sha));
            }
            (Kind::Directory, ["d", mode, owner, group]) => {
                attrs.insert(
                    "mode".into(),
                    json!(crate::schema::mode(mode).unwrap_or_default()),
                );
                attrs.insert("owner".into(), json!(owner));
                attrs.insert("group".into(), json!(group));
            }
            (Kind::Symlink, ["l", rest @ ..]) => {
                attrs.insert("target".into(), json!(rest.join("|")));
            }
            _ => continue,
        }
        found.insert(index, attrs);
    }
    (0..paths.len()).map(|i| found.remove(&i)).collect()
}

/// Names of local users and groups, read once from `/etc/passwd` and `/etc/group` (no process,
/// no NSS call per file).
fn names(file: &str) -> HashMap<u32, String> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            Some((f.get(2)?.parse().ok()?, f.first()?.to_string()))
        })
        .collect()
}

fn user_name(uid: u32) -> String {
    static USERS: OnceLock<HashMap<u32, String>> = OnceLock::new();
    USERS
        .get_or_init(|| names("/etc/passwd"))
        .get(&uid)
        .cloned()
        .unwrap_or_else(|| uid.to_string())
}

fn group_name(gid: u32) -> String {
    static GROUPS: OnceLock<HashMap<u32, String>> = OnceLock::new();
    GROUPS
        .get_or_init(|| names("/etc/group"))
        .get(&gid)
        .cloned()
        .unwrap_or_else(|| gid.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_reads_see_content_mode_and_absence() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        std::fs::write(&path, "hello").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let p = path.to_string_lossy().to_string();
        let missing = dir.path().join("nope").to_string_lossy().to_string();
        let states = read_local_all(&[p.clone(), missing], Kind::File);
        let a = states[0].as_ref().unwrap();
        assert_eq!(a["mode"], "0600");
        assert_eq!(a["content"], "hello");
        assert_eq!(a["sha256"], hex::encode(Sha256::digest(b"hello")));
        assert!(states[1].is_none());
        // A directory is not a file, and a file is not a directory.
        assert!(read_local(&dir.path().to_string_lossy(), Kind::File).is_none());
        assert!(read_local(&p, Kind::Directory).is_none());
    }

    #[test]
    fn remote_read_output_is_matched_to_paths_by_index() {
        let paths = vec!["/a".to_string(), "/b|c".to_string()];
        let states = parse_remote("1|f|644|root|root|abc\n0|a\nnoise\n", &paths, Kind::File);
        assert!(states[0].is_none());
        let b = states[1].as_ref().unwrap();
        assert_eq!(b["path"], "/b|c");
        assert_eq!(b["mode"], "0644");
        assert_eq!(b["sha256"], "abc");
    }
}

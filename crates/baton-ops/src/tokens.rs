//! API tokens for `baton serve` (`baton token add|list|rm`). baton.yaml keeps a token's name,
//! role and SHA-256 under `server.tokens`; the token itself is generated here, returned once
//! and stored nowhere.
//!
//! The change is a text edit of the main project file, not a re-serialization: a YAML writer
//! would drop the comments and reformat the file. One line (an entry, or `server:` / `tokens:`
//! with it) is inserted or removed and every other byte is kept; a layout this does not
//! recognise (flow style, an alias, a value on the `server:` line) is refused with the line to
//! add by hand, never guessed at. The file is replaced atomically, then loaded again: unless the
//! project reads back as before plus (or minus) exactly that token, the original bytes are put
//! back.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use baton_model::diagnostic::did_you_mean;
use baton_model::{Project, TokenRole};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::api::tokens::{Role, TokenAdded, TokenInfo, TokenSource};
use crate::error::{OpsError, OpsResult};

/// The environment variable holding the server's own operator token (and its actor name).
pub const ENV_TOKEN: &str = "BATON_TOKEN";

/// Tokens start with this, so a leaked one is recognisable (secret scanners, log reviews).
const TOKEN_PREFIX: &str = "baton_";
const TOKEN_BYTES: usize = 32;
/// Hex digits of a hash that `token list` shows.
const PREFIX_DIGITS: usize = 12;

/// Lower-case hex SHA-256 of a token, as `server.tokens` stores it and the server compares it.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Create token `name` with `role`: written to `server.tokens` of the main project file (its
/// hash only); the returned [`TokenAdded`] is the only place the token ever appears.
pub fn add_token(project: &Project, name: &str, role: Role) -> OpsResult<TokenAdded> {
    check_token_name(name)?;
    let _lock = lock_project(project)?;
    // Read again under the lock: another `token add` may have written since `project` loaded.
    let project = &crate::load_project(&project.file)?;
    if project.server.tokens.contains_key(name) {
        return Err(
            OpsError::conflict(format!("a token named `{name}` already exists")).with_hint(
                format!(
                    "`baton token rm {name}` first: a token is never shown again, only replaced"
                ),
            ),
        );
    }
    let token = new_token()?;
    let sha256 = token_hash(&token);
    let entry = format!(
        "{}: {{ role: {}, sha256: {sha256} }}",
        yaml_key(name),
        role.as_str()
    );
    let file = shown(project);
    // The hand-edit line is of no use without the token it hashes, so a refusal carries it.
    let by_hand = format!(
        "add this entry under `server:` → `tokens:` by hand:\n      {entry}\n    it is the hash of this token, shown only here: {token}"
    );
    let original = read_text(&project.file)?;
    let edited = plan_add(&original, &entry).map_err(|refusal| {
        OpsError::usage(format!(
            "{file}: {refusal}; `token add` edits block-style YAML only and does not guess"
        ))
        .with_hint(by_hand.clone())
    })?;
    let mut expected = tokens_of(project);
    expected.insert(name.to_string(), (role.into(), sha256.clone()));
    replace_and_check(project, &original, &edited, &expected)
        .map_err(|failure| failure.into_error(&file, &format!("adding `{name}`"), &by_hand))?;
    Ok(TokenAdded {
        api: crate::api::VERSION,
        name: name.to_string(),
        role,
        token,
        sha256,
    })
}

/// The tokens a server of this project accepts: `server.tokens`, then `BATON_TOKEN` when the
/// caller's environment sets it (`env_token`; empty counts as unset, as the server reads it).
pub fn list_tokens(project: &Project, env_token: Option<&str>) -> Vec<TokenInfo> {
    let mut listed: Vec<TokenInfo> = project
        .server
        .tokens
        .values()
        .map(|t| TokenInfo {
            name: t.name.clone(),
            role: t.role.into(),
            sha256_prefix: prefix(&t.sha256),
            source: TokenSource::Project,
        })
        .collect();
    if let Some(token) = env_token.filter(|t| !t.is_empty()) {
        listed.push(TokenInfo {
            name: ENV_TOKEN.to_string(),
            role: Role::Operator,
            sha256_prefix: prefix(&token_hash(token)),
            source: TokenSource::Env,
        });
    }
    listed
}

/// Remove token `name` from `server.tokens` of the main project file; returns what it was.
pub fn remove_token(project: &Project, name: &str) -> OpsResult<TokenInfo> {
    let _lock = lock_project(project)?;
    let project = &crate::load_project(&project.file)?;
    let Some(existing) = project.server.tokens.get(name) else {
        if name == ENV_TOKEN {
            return Err(OpsError::usage(format!(
                "`{ENV_TOKEN}` comes from the environment, not from baton.yaml"
            ))
            .with_hint("unset it where `baton serve` runs"));
        }
        let error = OpsError::not_found(format!("no token named `{name}`"));
        let hint = match did_you_mean(name, project.server.tokens.keys().map(String::as_str)) {
            Some(s) => format!("did you mean `{s}`?"),
            None => "`baton token list` lists them".to_string(),
        };
        return Err(error.with_hint(hint));
    };
    let file = shown(project);
    let by_hand = format!("remove the entry `{name}:` from `server.tokens` by hand");
    let original = read_text(&project.file)?;
    let edited = plan_remove(&original, name).map_err(|refusal| {
        OpsError::usage(format!(
            "{file}: {refusal}; `token rm` edits block-style YAML only and does not guess"
        ))
        .with_hint(by_hand.clone())
    })?;
    let mut expected = tokens_of(project);
    expected.remove(name);
    replace_and_check(project, &original, &edited, &expected)
        .map_err(|failure| failure.into_error(&file, &format!("removing `{name}`"), &by_hand))?;
    Ok(TokenInfo {
        name: existing.name.clone(),
        role: existing.role.into(),
        sha256_prefix: prefix(&existing.sha256),
        source: TokenSource::Project,
    })
}

/// The model's naming rule (`is_valid_name` in baton-model's decoder, which it does not
/// export), checked before anything is generated or written. The reload would catch a bad
/// name too, but later and in the model's words rather than these.
fn check_token_name(name: &str) -> OpsResult<()> {
    let mut chars = name.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !valid {
        return Err(
            OpsError::usage(format!("`{name}` is not a valid token name")).with_hint(
                "names use letters, digits, `_`, `.` and `-`, and do not start with `.` or `-`",
            ),
        );
    }
    if name == ENV_TOKEN {
        // The server names the environment's token so: two callers would share an actor.
        return Err(OpsError::usage(format!(
            "`{ENV_TOKEN}` is the name of the server's environment token"
        ))
        .with_hint("pick another name"));
    }
    Ok(())
}

/// `null` is a name by the rule but YAML reads it unquoted as nothing.
fn yaml_key(name: &str) -> String {
    if matches!(name, "null" | "Null" | "NULL") {
        format!("\"{name}\"")
    } else {
        name.to_string()
    }
}

fn new_token() -> OpsResult<String> {
    let mut bytes = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut bytes).map_err(|e| {
        OpsError::failed(format!(
            "cannot get random bytes from the operating system: {e}"
        ))
    })?;
    Ok(format!("{TOKEN_PREFIX}{}", hex::encode(bytes)))
}

fn prefix(sha256: &str) -> String {
    sha256.get(..PREFIX_DIGITS).unwrap_or(sha256).to_string()
}

/// The main file as messages name it: relative to the project root (`baton.yaml`).
fn shown(project: &Project) -> String {
    project
        .file
        .strip_prefix(&project.root)
        .unwrap_or(&project.file)
        .display()
        .to_string()
}

/// Edits are serialized between processes: two `token add`s at once would each rename their
/// own version into place and lose the other's token. The lock is on the directory, as
/// `secret set`'s is, so no lock file appears in the project. Held until the value is dropped.
fn lock_project(project: &Project) -> OpsResult<fs::File> {
    let dir = project.file.parent().unwrap_or(Path::new("."));
    let locked = fs::File::open(dir).and_then(|handle| handle.lock().map(|()| handle));
    locked.map_err(|e| OpsError::failed(format!("cannot lock `{}`: {e}", dir.display())))
}

fn read_text(path: &Path) -> OpsResult<String> {
    fs::read_to_string(path)
        .map_err(|e| OpsError::failed(format!("cannot read `{}`: {e}", path.display())))
}

/// Name → (role, hash): what "the tokens read back as expected" compares.
fn tokens_of(project: &Project) -> BTreeMap<String, (TokenRole, String)> {
    project
        .server
        .tokens
        .values()
        .map(|t| (t.name.clone(), (t.role, t.sha256.clone())))
        .collect()
}

/// Everything the project says except `server.tokens`, to check that an edit changed nothing
/// else. Spans are not serialized, so the lines that moved do not count. The pattern names
/// every field: a field added to `Project` must be decided on here.
fn fingerprint(project: &Project) -> Value {
    fn part<T: serde::Serialize>(value: &T) -> Value {
        // Both sides of the comparison fail alike, so an error is just another value.
        serde_json::to_value(value).unwrap_or_else(|e| Value::String(e.to_string()))
    }
    let Project {
        root: _,
        file: _,
        sources: _,
        name,
        vars,
        nodes,
        local,
        inventory,
        ssh,
        environments,
        pipelines,
        configs,
        resources,
        outputs,
        monitoring,
        checks,
        alerts,
        notifications,
        secrets,
        server,
        warnings: _,
    } = project;
    Value::Array(vec![
        part(name),
        part(vars),
        part(nodes),
        part(local),
        part(inventory),
        part(ssh),
        part(environments),
        part(pipelines),
        part(configs),
        part(resources),
        part(outputs),
        part(monitoring),
        part(checks),
        part(alerts),
        part(notifications),
        part(secrets),
        part(&server.listen),
        part(&server.url),
        part(&server.grace),
    ])
}

/// Why a checked replacement did not happen.
enum EditFailure {
    /// The file could not be replaced: it is as it was.
    NotWritten(String),
    /// The edited file did not read back as expected; the original bytes are back.
    Reverted(String),
    /// As `Reverted`, but writing the original back failed too.
    NotReverted { why: String, restore: String },
}

impl EditFailure {
    fn into_error(self, file: &str, doing: &str, by_hand: &str) -> OpsError {
        match self {
            EditFailure::NotWritten(e) => {
                OpsError::failed(format!("cannot write `{file}`: {e}; it was left as it was"))
            }
            EditFailure::Reverted(why) => OpsError::failed(format!(
                "`{file}` did not read back as expected after {doing} ({why}), so it was put back as it was"
            ))
            .with_hint(by_hand.to_string()),
            EditFailure::NotReverted { why, restore } => OpsError::failed(format!(
                "`{file}` did not read back as expected after {doing} ({why}), and putting it back failed: {restore}"
            ))
            .with_hint(format!(
                "check it with `baton validate`; then {by_hand}"
            )),
        }
    }
}

/// Replace the main file with `edited`, load the project again and check it reads as the old
/// one with `expected` as its tokens; otherwise put `original` back.
fn replace_and_check(
    project: &Project,
    original: &str,
    edited: &str,
    expected: &BTreeMap<String, (TokenRole, String)>,
) -> Result<(), EditFailure> {
    let file = &project.file;
    write_atomically(file, edited.as_bytes())
        .map_err(|e| EditFailure::NotWritten(e.to_string()))?;
    let problem = match crate::load_project(file) {
        Err(e) => Some(
            e.diagnostics
                .as_ref()
                .and_then(|d| d.items.first())
                .map(|d| d.message.clone())
                .unwrap_or(e.message),
        ),
        Ok(after) if tokens_of(&after) != *expected => {
            Some("the tokens did not read back as written".to_string())
        }
        Ok(after) if fingerprint(&after) != fingerprint(project) => {
            Some("the rest of the project did not read back the same".to_string())
        }
        Ok(_) => None,
    };
    let Some(why) = problem else {
        return Ok(());
    };
    match write_atomically(file, original.as_bytes()) {
        Ok(()) => Err(EditFailure::Reverted(why)),
        Err(e) => Err(EditFailure::NotReverted {
            why,
            restore: e.to_string(),
        }),
    }
}

/// Replace `path` with `bytes` so that a reader (a `baton serve` watching the file, a crash)
/// sees the old file or the new one, never a part: a temporary file beside it, synced, then
/// renamed over it. Mode (and, where permitted, owner) are the old file's.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // One name per process: a file left by a dead process of the same pid is stale.
    let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    if let Err(e) = fs::remove_file(&temp)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        return Err(e);
    }
    let meta = fs::metadata(path)?;
    let result = (|| {
        // Private until the old mode is applied: baton.yaml need not be world-readable.
        let mut out = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)?;
        out.set_permissions(meta.permissions())?;
        // Only root can give a file away; anyone else creates it as the owner already.
        let _ = std::os::unix::fs::fchown(&out, Some(meta.uid()), Some(meta.gid()));
        out.write_all(bytes)?;
        out.sync_all()?;
        fs::rename(&temp, path)?;
        // The rename itself lasts once the directory is synced; not every filesystem can.
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

// ---- The text edit -------------------------------------------------------------------------

/// One line of the file: its byte range (with the line end) and its text (without).
struct Line<'a> {
    start: usize,
    end: usize,
    text: &'a str,
}

impl Line<'_> {
    fn indent(&self) -> usize {
        self.text.len() - self.body().len()
    }

    /// The text after the indentation.
    fn body(&self) -> &str {
        self.text.trim_start_matches(' ')
    }

    fn is_blank(&self) -> bool {
        self.body().trim().is_empty()
    }

    /// Not blank and not a comment: a line that says something.
    fn is_content(&self) -> bool {
        !self.is_blank() && !self.body().starts_with('#')
    }

    /// `---`, `...` or a `%` directive: document boundaries, not part of any section.
    fn is_marker(&self) -> bool {
        self.text.starts_with("---") || self.text.starts_with("...") || self.text.starts_with('%')
    }

    /// `KEY:` alone (with spaces at most): a line an emptied section can lose whole.
    fn is_bare(&self, key: &str) -> bool {
        self.body().trim_end().strip_suffix(':') == Some(key)
    }
}

/// A line index as editors number lines.
fn number(index: usize) -> usize {
    index + 1
}

/// What follows `KEY:` on its line.
#[derive(PartialEq, Eq)]
enum After {
    /// Nothing (or a comment): the value is the indented block below.
    Block,
    /// `{ … }` or `[ … ]`.
    Flow,
    /// Anything else: a scalar, an alias, an anchor or a tag.
    Other,
}

/// A mapping line's key (unquoted) and what follows its colon; `None` for anything else.
fn key_value(body: &str) -> Option<(&str, &str)> {
    let (key, after) = if let Some(quoted) = body.strip_prefix('"') {
        let close = quoted.find('"')?;
        let key = &quoted[..close];
        if key.contains('\\') {
            return None;
        }
        (key, &quoted[close + 1..])
    } else if let Some(quoted) = body.strip_prefix('\'') {
        // `'it''s'` finds no colon right after the first quote: not a key this reads.
        let close = quoted.find('\'')?;
        (&quoted[..close], &quoted[close + 1..])
    } else {
        if body.starts_with([
            '-', '?', '#', '{', '[', '&', '*', '!', '|', '>', '%', '@', '`',
        ]) {
            return None;
        }
        let bytes = body.as_bytes();
        let colon = (0..bytes.len())
            .find(|&i| bytes[i] == b':' && matches!(bytes.get(i + 1), None | Some(b' ' | b'\t')))?;
        (body[..colon].trim_end(), &body[colon..])
    };
    let rest = after.strip_prefix(':')?;
    if !(rest.is_empty() || rest.starts_with([' ', '\t'])) || key.is_empty() {
        return None;
    }
    Some((key, rest))
}

fn value_kind(rest: &str) -> After {
    let value = rest.trim_start();
    if value.is_empty() || value.starts_with('#') {
        After::Block
    } else if value.starts_with(['{', '[']) {
        After::Flow
    } else {
        After::Other
    }
}

/// The indented block below a `KEY:` line.
struct Block {
    /// The indentation of its entries; `None` when it is empty.
    indent: Option<usize>,
    /// The index of the first line after it.
    end: usize,
}

struct Doc<'a> {
    text: &'a str,
    lines: Vec<Line<'a>>,
    /// The file's own line end, for the lines added.
    nl: &'static str,
}

impl<'a> Doc<'a> {
    fn new(text: &'a str) -> Doc<'a> {
        let mut lines = Vec::new();
        let mut start = 0;
        for piece in text.split_inclusive('\n') {
            let end = start + piece.len();
            let line = piece.strip_suffix('\n').unwrap_or(piece);
            let line = line.strip_suffix('\r').unwrap_or(line);
            lines.push(Line {
                start,
                end,
                text: line,
            });
            start = end;
        }
        let crlf = text
            .split_inclusive('\n')
            .next()
            .is_some_and(|l| l.ends_with("\r\n"));
        Doc {
            text,
            lines,
            nl: if crlf { "\r\n" } else { "\n" },
        }
    }

    /// Refuse a top level that is not a block mapping (`{ project: x, … }`): appending a
    /// `server:` after it would not be part of it.
    fn check_block_top(&self) -> Result<(), String> {
        for (i, line) in self.lines.iter().enumerate() {
            if line.is_marker() {
                let after = line.text.get(3..).unwrap_or("").trim_start();
                if line.text.starts_with("---") && !after.is_empty() && !after.starts_with('#') {
                    return Err(format!(
                        "the document starts on its `---` line (line {})",
                        number(i)
                    ));
                }
                continue;
            }
            if !line.is_content() {
                continue;
            }
            if line.body().starts_with(['{', '[']) {
                return Err(format!(
                    "the top level is written in flow style (line {})",
                    number(i)
                ));
            }
            return Ok(());
        }
        Ok(())
    }

    /// The top-level line `KEY:`.
    fn top_key(&self, key: &str) -> Option<usize> {
        self.lines.iter().position(|l| {
            l.indent() == 0
                && l.is_content()
                && !l.is_marker()
                && key_value(l.body()).is_some_and(|(k, _)| k == key)
        })
    }

    /// The block below line `at`: lines indented deeper than it, comments and blank lines
    /// wherever they are.
    fn block(&self, at: usize) -> Result<Block, String> {
        let parent = self.lines[at].indent();
        let mut indent = None;
        let mut end = at + 1;
        while let Some(line) = self.lines.get(end) {
            if line.is_marker() || (line.is_content() && line.indent() <= parent) {
                break;
            }
            if line.is_content() {
                match indent {
                    None if line.body().starts_with('-') => {
                        return Err(format!(
                            "line {} is a list item where a mapping was expected",
                            number(end)
                        ));
                    }
                    None => indent = Some(line.indent()),
                    Some(entries) if line.indent() < entries => {
                        return Err(format!(
                            "line {} is indented less than the entries above it",
                            number(end)
                        ));
                    }
                    Some(_) => {}
                }
            }
            end += 1;
        }
        Ok(Block { indent, end })
    }

    /// The entry `KEY:` of the block below line `at`.
    fn child(&self, at: usize, block: &Block, key: &str) -> Option<usize> {
        let indent = block.indent?;
        (at + 1..block.end).find(|&i| {
            let line = &self.lines[i];
            line.indent() == indent
                && line.is_content()
                && key_value(line.body()).is_some_and(|(k, _)| k == key)
        })
    }

    /// A `KEY:` line whose value is the block below it; refused otherwise.
    fn expect_block(&self, at: usize, what: &str) -> Result<(), String> {
        let rest = key_value(self.lines[at].body()).map_or("", |(_, rest)| rest);
        match value_kind(rest) {
            After::Block => Ok(()),
            After::Flow => Err(format!(
                "`{what}` is written in flow style (line {})",
                number(at)
            )),
            After::Other => Err(format!(
                "`{what}` has a value on its own line (line {}), not an indented block",
                number(at)
            )),
        }
    }

    /// The text with `new` (whole lines) inserted after line `at`.
    fn insert_after(&self, at: usize, new: &str) -> String {
        let line = &self.lines[at];
        let mut out = String::with_capacity(self.text.len() + new.len() + 2);
        out.push_str(&self.text[..line.end]);
        if !self.text[..line.end].ends_with('\n') {
            out.push_str(self.nl);
        }
        out.push_str(new);
        out.push_str(&self.text[line.end..]);
        out
    }

    /// Whether nothing but blank lines (and lines in `removed`) is left in the block below
    /// line `at`. A comment at the block's own depth or shallower belongs to what follows.
    fn emptied(&self, at: usize, removed: &[bool]) -> bool {
        let parent = self.lines[at].indent();
        self.lines
            .iter()
            .enumerate()
            .skip(at + 1)
            .find(|(i, l)| !removed[*i] && !l.is_blank())
            .is_none_or(|(_, l)| l.is_marker() || l.indent() <= parent)
    }
}

/// The file with `entry` (`NAME: { role: R, sha256: H }`) as the first token.
fn plan_add(text: &str, entry: &str) -> Result<String, String> {
    let doc = Doc::new(text);
    let nl = doc.nl;
    doc.check_block_top()?;
    let Some(server) = doc.top_key("server") else {
        let mut out = text.to_string();
        if !out.is_empty() && !out.ends_with('\n') {
            out.push_str(nl);
        }
        out.push_str(&format!("server:{nl}  tokens:{nl}    {entry}{nl}"));
        return Ok(out);
    };
    doc.expect_block(server, "server:")?;
    let section = doc.block(server)?;
    let step = section.indent.unwrap_or(2);
    let Some(tokens) = doc.child(server, &section, "tokens") else {
        let (outer, inner) = (" ".repeat(step), " ".repeat(step * 2));
        return Ok(doc.insert_after(server, &format!("{outer}tokens:{nl}{inner}{entry}{nl}")));
    };
    doc.expect_block(tokens, "tokens:")?;
    let entries = doc.block(tokens)?;
    let indent = entries.indent.unwrap_or(step * 2);
    Ok(doc.insert_after(tokens, &format!("{}{entry}{nl}", " ".repeat(indent))))
}

/// The file without token `name`'s entry: its line and the deeper-indented lines below it.
/// A `tokens:` (then a `server:`) left empty goes too, so that removing what `add` wrote gives
/// the file back as it was.
fn plan_remove(text: &str, name: &str) -> Result<String, String> {
    let doc = Doc::new(text);
    let Some(server) = doc.top_key("server") else {
        return Err(
            "there is no top-level `server:` block here (is it in an included file?)".into(),
        );
    };
    doc.expect_block(server, "server:")?;
    let section = doc.block(server)?;
    let Some(tokens) = doc.child(server, &section, "tokens") else {
        return Err("`server:` has no `tokens:` block here".into());
    };
    doc.expect_block(tokens, "tokens:")?;
    let entries = doc.block(tokens)?;
    let Some(entry) = doc.child(tokens, &entries, name) else {
        return Err(format!(
            "no line `{name}:` was found under `server:` → `tokens:`"
        ));
    };
    let indent = doc.lines[entry].indent();
    let mut last = entry;
    for (i, line) in doc.lines.iter().enumerate().skip(entry + 1) {
        if line.is_blank() {
            continue;
        }
        if line.is_marker() || line.indent() <= indent {
            break;
        }
        last = i;
    }
    let mut removed = vec![false; doc.lines.len()];
    removed[entry..=last].fill(true);
    if doc.lines[tokens].is_bare("tokens") && doc.emptied(tokens, &removed) {
        removed[tokens] = true;
        if doc.lines[server].is_bare("server") && doc.emptied(server, &removed) {
            removed[server] = true;
        }
    }
    Ok(doc
        .lines
        .iter()
        .zip(&removed)
        .filter(|(_, gone)| !**gone)
        .map(|(line, _)| &text[line.start..line.end])
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const E: &str = "ci: { role: operator, sha256: H }";

    #[test]
    fn keys_are_read_plain_and_quoted() {
        assert_eq!(key_value("server:"), Some(("server", "")));
        assert_eq!(key_value("server: # c"), Some(("server", " # c")));
        assert_eq!(key_value("\"a b\": x"), Some(("a b", " x")));
        assert_eq!(key_value("'ci': x"), Some(("ci", " x")));
        assert_eq!(key_value("url: http://x:80"), Some(("url", " http://x:80")));
        assert_eq!(key_value("- a: b"), None);
        assert_eq!(key_value("http://x"), None);
    }

    #[test]
    fn the_new_entry_goes_first_with_the_entries_indentation() {
        let text = "server:\n    tokens:\n        old: { role: viewer, sha256: X }\n";
        assert_eq!(
            plan_add(text, E).unwrap(),
            format!(
                "server:\n    tokens:\n        {E}\n        old: {{ role: viewer, sha256: X }}\n"
            )
        );
    }

    #[test]
    fn a_server_without_tokens_gets_them_at_its_own_indentation() {
        let text = "server:\n    listen: x\n";
        assert_eq!(
            plan_add(text, E).unwrap(),
            format!("server:\n    tokens:\n        {E}\n    listen: x\n")
        );
    }

    #[test]
    fn crlf_files_get_crlf_lines_and_a_missing_last_newline_is_added_first() {
        assert_eq!(
            plan_add("project: x\r\n", E).unwrap(),
            format!("project: x\r\nserver:\r\n  tokens:\r\n    {E}\r\n")
        );
        assert_eq!(
            plan_add("project: x", E).unwrap(),
            format!("project: x\nserver:\n  tokens:\n    {E}\n")
        );
    }

    #[test]
    fn unexpected_layouts_are_refused() {
        for text in [
            "server: { listen: x }\n",
            "server:\n  tokens: { a: { role: viewer, sha256: X } }\n",
            "server: *s\n",
            "server:\n  tokens: ~\n",
            "{ project: x }\n",
            "server:\n  - a\n",
        ] {
            assert!(plan_add(text, E).is_err(), "{text}");
        }
    }

    #[test]
    fn a_block_entry_goes_with_its_deeper_lines_and_nothing_else() {
        let text = "server:\n  tokens:\n    a:\n      role: viewer\n\n      sha256: X\n    # b's\n    b: { role: viewer, sha256: Y }\n";
        assert_eq!(
            plan_remove(text, "a").unwrap(),
            "server:\n  tokens:\n    # b's\n    b: { role: viewer, sha256: Y }\n"
        );
    }

    #[test]
    fn an_emptied_section_keeps_what_is_not_its_own() {
        let text =
            "server:\n  tokens:\n    a: { role: viewer, sha256: X }\n  # listen\n  listen: x\n";
        assert_eq!(
            plan_remove(text, "a").unwrap(),
            "server:\n  # listen\n  listen: x\n"
        );
        let commented = "server:\n  tokens: # ci\n    a: { role: viewer, sha256: X }\n";
        assert_eq!(
            plan_remove(commented, "a").unwrap(),
            "server:\n  tokens: # ci\n"
        );
    }
}

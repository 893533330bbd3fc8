//! The OpenSSH client configuration (`~/.ssh/config`, ssh_config(5)) as far as baton reads
//! it: `Host` blocks (patterns with `*`, `?` and `!`), `HostName`, `Port`, `User`,
//! `IdentityFile`, `ProxyJump`, and `Include`. As OpenSSH: the first value obtained for a
//! keyword wins, `IdentityFile`s add up, keywords are case-insensitive, `Keyword=value` is
//! accepted, host names are matched case-insensitively.
//!
//! `Match` blocks: only `Match all` applies; any other criterion (host, user, exec, …) is
//! treated as not matching, so settings meant for a narrower case never leak into every
//! host. Other keywords are ignored (baton has its own equivalents or no use for them).
//! Why not the ssh2-config crate: it has no `Match`, and settings under a `Match` line are
//! silently applied to the `Host` block before it (docs/decisions.md).

use std::path::{Path, PathBuf};

/// Includes nested deeper than this are refused (OpenSSH's limit is 16 too).
const MAX_INCLUDE_DEPTH: usize = 16;

/// A parsed configuration: every setting in file order, with the conditions it is under.
#[derive(Debug, Clone, Default)]
pub struct SshConfig {
    settings: Vec<Setting>,
}

#[derive(Debug, Clone)]
struct Setting {
    /// Every condition must hold: the enclosing `Host`/`Match` blocks of the file and of the
    /// files that included it.
    conditions: Vec<Condition>,
    /// Lowercase.
    keyword: String,
    args: Vec<String>,
}

#[derive(Debug, Clone)]
enum Condition {
    Host(Vec<Pattern>),
    /// A `Match` this parser cannot evaluate (never holds) or `Match all` (always).
    Match(bool),
}

#[derive(Debug, Clone)]
struct Pattern {
    negated: bool,
    /// Lowercase.
    glob: String,
}

/// What the configuration says for one host alias.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostSettings {
    pub host_name: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    /// In order, `~` and `%` tokens not yet expanded (they need the final host and user).
    pub identity_files: Vec<String>,
    pub proxy_jump: Option<String>,
}

impl SshConfig {
    /// Read `path` and what it includes. Relative `Include` paths are taken from `~/.ssh`
    /// (`home`), as OpenSSH does for a user's configuration.
    pub fn read(path: &Path, home: &Path) -> Result<SshConfig, String> {
        let mut config = SshConfig::default();
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read ssh config `{}`: {e}", path.display()))?;
        config.parse(&text, path, home, &[], 0)?;
        Ok(config)
    }

    /// Parse `text` as the file `path` (for messages and `Include`).
    pub fn parse_str(text: &str, path: &Path, home: &Path) -> Result<SshConfig, String> {
        let mut config = SshConfig::default();
        config.parse(text, path, home, &[], 0)?;
        Ok(config)
    }

    fn parse(
        &mut self,
        text: &str,
        path: &Path,
        home: &Path,
        outer: &[Condition],
        depth: usize,
    ) -> Result<(), String> {
        let mut current: Option<Condition> = None;
        for (index, raw) in text.lines().enumerate() {
            let at = || format!("{}:{}", path.display(), index + 1);
            let Some((keyword, args)) = split_line(raw).map_err(|e| format!("{}: {e}", at()))?
            else {
                continue;
            };
            let mut conditions = outer.to_vec();
            match keyword.as_str() {
                "host" => {
                    if args.is_empty() {
                        return Err(format!("{}: `Host` needs at least one pattern", at()));
                    }
                    current = Some(Condition::Host(args.iter().map(|a| pattern(a)).collect()));
                    continue;
                }
                "match" => {
                    let all = args.len() == 1 && args[0].eq_ignore_ascii_case("all");
                    current = Some(Condition::Match(all));
                    continue;
                }
                _ => {}
            }
            conditions.extend(current.clone());
            if keyword == "include" {
                if depth >= MAX_INCLUDE_DEPTH {
                    return Err(format!("{}: `Include` nested too deeply", at()));
                }
                for arg in &args {
                    for file in include_files(arg, home)? {
                        let Ok(included) = std::fs::read_to_string(&file) else {
                            continue;
                        };
                        self.parse(&included, &file, home, &conditions, depth + 1)?;
                    }
                }
                continue;
            }
            if keyword == "port" {
                let port = args.first().map(String::as_str).unwrap_or_default();
                if port.parse::<u16>().map_or(true, |p| p == 0) {
                    return Err(format!("{}: `Port {port}` is not a port (1-65535)", at()));
                }
            }
            if args.is_empty() {
                return Err(format!("{}: `{keyword}` has no value", at()));
            }
            self.settings.push(Setting {
                conditions,
                keyword,
                args,
            });
        }
        Ok(())
    }

    /// The settings for `alias` (the name given to ssh: a node's `host`).
    pub fn query(&self, alias: &str) -> HostSettings {
        let alias = alias.to_ascii_lowercase();
        let mut out = HostSettings::default();
        for setting in &self.settings {
            if !setting.conditions.iter().all(|c| c.holds(&alias)) {
                continue;
            }
            let first = setting.args[0].clone();
            match setting.keyword.as_str() {
                "hostname" => {
                    out.host_name.get_or_insert(first);
                }
                "port" => {
                    out.port = out.port.or_else(|| first.parse().ok());
                }
                "user" => {
                    out.user.get_or_insert(first);
                }
                "identityfile" => out.identity_files.push(first),
                "proxyjump" => {
                    out.proxy_jump.get_or_insert(first);
                }
                _ => {}
            }
        }
        out
    }
}

impl Condition {
    fn holds(&self, alias: &str) -> bool {
        match self {
            Condition::Match(all) => *all,
            // A negated pattern that matches rules the block out, whatever else matches.
            Condition::Host(patterns) => {
                let mut matched = false;
                for p in patterns {
                    if glob_match(&p.glob, alias) {
                        if p.negated {
                            return false;
                        }
                        matched = true;
                    }
                }
                matched
            }
        }
    }
}

fn pattern(text: &str) -> Pattern {
    match text.strip_prefix('!') {
        Some(rest) => Pattern {
            negated: true,
            glob: rest.to_ascii_lowercase(),
        },
        None => Pattern {
            negated: false,
            glob: text.to_ascii_lowercase(),
        },
    }
}

/// OpenSSH's pattern matching: `*` any run of characters, `?` exactly one.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// `Keyword args…` / `Keyword=args…` with `"quoted args"`; `None` for blank lines and
/// comments. A `#` after the keyword starts a trailing comment.
fn split_line(line: &str) -> Result<Option<(String, Vec<String>)>, String> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let split = line
        .find(|c: char| c.is_whitespace() || c == '=')
        .unwrap_or(line.len());
    let keyword = line[..split].to_ascii_lowercase();
    let mut rest = line[split..].trim_start();
    if let Some(after) = rest.strip_prefix('=') {
        rest = after.trim_start();
    }
    let mut args = Vec::new();
    let mut chars = rest.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        if c == '#' {
            break;
        }
        let mut arg = String::new();
        if c == '"' {
            chars.next();
            let mut closed = false;
            for c in chars.by_ref() {
                if c == '"' {
                    closed = true;
                    break;
                }
                arg.push(c);
            }
            if !closed {
                return Err(format!("unterminated quote in `{line}`"));
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                arg.push(c);
                chars.next();
            }
        }
        args.push(arg);
    }
    Ok(Some((keyword, args)))
}

/// The files an `Include` argument names, sorted as OpenSSH does (glob order).
fn include_files(arg: &str, home: &Path) -> Result<Vec<PathBuf>, String> {
    let path = expand_tilde(arg, home);
    let path = if path.is_absolute() {
        path
    } else {
        home.join(".ssh").join(path)
    };
    let mut files: Vec<PathBuf> = match glob::glob(&path.to_string_lossy()) {
        Ok(paths) => paths.flatten().filter(|p| p.is_file()).collect(),
        Err(e) => return Err(format!("bad `Include` pattern `{arg}`: {e}")),
    };
    files.sort();
    Ok(files)
}

/// `~` and `~/…` → the home directory.
pub fn expand_tilde(path: &str, home: &Path) -> PathBuf {
    if path == "~" {
        return home.to_path_buf();
    }
    match path.strip_prefix("~/") {
        Some(rest) => home.join(rest),
        None => PathBuf::from(path),
    }
}

/// ssh_config's `%` tokens for a resolved connection: `%h` host, `%p` port, `%r` remote user,
/// `%n` the alias as given, `%u` local user, `%d` home, `%%`. Unknown tokens stay as written.
pub struct Tokens<'a> {
    pub host: &'a str,
    pub port: u16,
    pub remote_user: &'a str,
    pub alias: &'a str,
    pub local_user: &'a str,
    pub home: &'a Path,
}

impl Tokens<'_> {
    pub fn expand(&self, text: &str) -> String {
        let mut out = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('h') => out.push_str(self.host),
                Some('p') => out.push_str(&self.port.to_string()),
                Some('r') => out.push_str(self.remote_user),
                Some('n') => out.push_str(self.alias),
                Some('u') => out.push_str(self.local_user),
                Some('d') => out.push_str(&self.home.to_string_lossy()),
                Some('%') => out.push('%'),
                Some(other) => {
                    out.push('%');
                    out.push(other);
                }
                None => out.push('%'),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> SshConfig {
        SshConfig::parse_str(text, Path::new("config"), Path::new("/home/me")).unwrap()
    }

    #[test]
    fn patterns_match_as_openssh_does() {
        assert!(glob_match("web*", "web1"));
        assert!(glob_match("web?", "web1"));
        assert!(!glob_match("web?", "web12"));
        assert!(glob_match("*.example.com", "a.b.example.com"));
        assert!(glob_match("*", ""));
        assert!(!glob_match("db*", "web1"));
        assert!(glob_match("10.0.*.?", "10.0.3.7"));
    }

    #[test]
    fn the_first_value_wins_and_identity_files_add_up() {
        let c = config(
            "Host web1\n  HostName 10.0.0.1\n  IdentityFile ~/.ssh/web\n\
             Host web*\n  HostName ignored\n  Port 2222\n  User deploy\n  IdentityFile ~/.ssh/all\n\
             Host *\n  User nobody\n  Port 22\n",
        );
        let s = c.query("web1");
        assert_eq!(s.host_name.as_deref(), Some("10.0.0.1"));
        assert_eq!(s.port, Some(2222));
        assert_eq!(s.user.as_deref(), Some("deploy"));
        assert_eq!(s.identity_files, vec!["~/.ssh/web", "~/.ssh/all"]);
        let other = c.query("db1");
        assert_eq!(other.user.as_deref(), Some("nobody"));
        assert_eq!(other.host_name, None);
    }

    #[test]
    fn a_negated_pattern_rules_the_block_out() {
        let c = config("Host * !bastion\n  ProxyJump bastion\nHost bastion\n  User jump\n");
        assert_eq!(c.query("web1").proxy_jump.as_deref(), Some("bastion"));
        assert_eq!(c.query("bastion").proxy_jump, None);
        assert_eq!(c.query("BASTION").user.as_deref(), Some("jump"));
    }

    #[test]
    fn keywords_take_equals_quotes_comments_and_any_case() {
        let c =
            config("# a comment\nhost=web1\n  HOSTNAME = \"10.0.0.9\"\n  port=2200 # trailing\n\n");
        let s = c.query("web1");
        assert_eq!(s.host_name.as_deref(), Some("10.0.0.9"));
        assert_eq!(s.port, Some(2200));
    }

    #[test]
    fn settings_before_any_host_apply_everywhere() {
        let c = config("User early\nHost web1\n  User late\n");
        assert_eq!(c.query("web1").user.as_deref(), Some("early"));
    }

    #[test]
    fn match_blocks_do_not_leak_into_the_host_before_them() {
        let c = config(
            "Host web1\n  User a\nMatch host web1 exec true\n  Port 2022\n  HostName elsewhere\n\
             Match all\n  Port 2200\n",
        );
        let s = c.query("web1");
        assert_eq!(s.user.as_deref(), Some("a"));
        assert_eq!(s.host_name, None);
        assert_eq!(s.port, Some(2200));
    }

    #[test]
    fn include_reads_files_under_the_including_block() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path();
        std::fs::create_dir_all(home.join(".ssh/conf.d")).unwrap();
        std::fs::write(
            home.join(".ssh/conf.d/10-web"),
            "Port 2201\nHost web2\n  User two\n",
        )
        .unwrap();
        let main = home.join(".ssh/config");
        std::fs::write(
            &main,
            "Host web*\n  Include conf.d/*\nHost *\n  User everyone\n",
        )
        .unwrap();
        let c = SshConfig::read(&main, home).unwrap();
        assert_eq!(c.query("web1").port, Some(2201));
        assert_eq!(c.query("web2").user.as_deref(), Some("two"));
        assert_eq!(c.query("db1").port, None);
        assert_eq!(c.query("db1").user.as_deref(), Some("everyone"));
    }

    #[test]
    fn bad_values_name_the_file_and_line() {
        let err = SshConfig::parse_str("Host a\n  Port nope\n", Path::new("cfg"), Path::new("/"))
            .unwrap_err();
        assert!(err.starts_with("cfg:2:"), "{err}");
        assert!(
            SshConfig::parse_str("Host\n", Path::new("cfg"), Path::new("/"))
                .unwrap_err()
                .contains("cfg:1")
        );
    }

    #[test]
    fn tokens_expand() {
        let t = Tokens {
            host: "10.0.0.1",
            port: 22,
            remote_user: "root",
            alias: "web1",
            local_user: "me",
            home: Path::new("/home/me"),
        };
        assert_eq!(
            t.expand("%d/.ssh/%r@%h:%p-%n-%u-100%%"),
            "/home/me/.ssh/root@10.0.0.1:22-web1-me-100%"
        );
        assert_eq!(
            expand_tilde("~/.ssh/id", Path::new("/h")),
            PathBuf::from("/h/.ssh/id")
        );
    }
}

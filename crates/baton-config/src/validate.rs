//! Validators that run here, before anything is sent to a node: json, yaml, toml, ini, sh, and
//! the `KEY=value` shape of env files. Each reports the first problem with its line and column.
//! (`validate: "CMD {path}"` runs on the target instead: see `remote.rs`.)

use baton_model::Validator;

/// A validator's complaint, 1-based position when the validator gives one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub line: Option<usize>,
    pub col: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.line, self.col) {
            (Some(l), Some(c)) => write!(f, "line {l}, column {c}: {}", self.message),
            (Some(l), None) => write!(f, "line {l}: {}", self.message),
            _ => write!(f, "{}", self.message),
        }
    }
}

/// The validator a config uses: its own, else one chosen by the destination's extension
/// (`.json`, `.yaml`/`.yml`, `.toml`, `.ini`/`.cfg`/`.conf` are not guessed: many `.conf`
/// dialects are not INI; `.sh`/`.bash`).
pub fn effective(validator: &Validator, path: &str) -> Validator {
    if *validator != Validator::Auto {
        return validator.clone();
    }
    let ext = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("json") => Validator::Json,
        Some("yaml" | "yml") => Validator::Yaml,
        Some("toml") => Validator::Toml,
        Some("ini") => Validator::Ini,
        Some("sh" | "bash") => Validator::Sh,
        _ => Validator::None,
    }
}

/// Run a local validator on `text`. `Command` and `None` pass here.
pub fn check(validator: &Validator, text: &[u8]) -> Result<(), Invalid> {
    let needs_text = !matches!(
        validator,
        Validator::None | Validator::Command(_) | Validator::Auto
    );
    let text = if needs_text {
        std::str::from_utf8(text).map_err(|e| Invalid {
            line: None,
            col: None,
            message: format!(
                "not UTF-8 text (invalid byte at offset {})",
                e.valid_up_to()
            ),
        })?
    } else {
        return Ok(());
    };
    match validator {
        Validator::Json => serde_json::from_str::<serde_json::Value>(text)
            .map(|_| ())
            .map_err(|e| Invalid {
                line: Some(e.line()),
                col: Some(e.column()),
                message: strip_position(&e.to_string()),
            }),
        Validator::Yaml => baton_model::check_yaml(text).map_err(|(line, col, message)| Invalid {
            line: Some(line as usize),
            col: Some(col as usize),
            message,
        }),
        Validator::Toml => toml::from_str::<toml::Table>(text)
            .map(|_| ())
            .map_err(|e| {
                let (line, col) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
                Invalid {
                    line: Some(line),
                    col: Some(col),
                    message: e.message().to_string(),
                }
            }),
        Validator::Ini => check_ini(text),
        Validator::Sh => check_sh(text),
        _ => Ok(()),
    }
}

/// serde_json ends its messages with " at line L column C"; the position is reported apart.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, col)
}

/// INI as Python's configparser and most daemons read it: `[section]` headers, `key = value`
/// or `key: value` lines, `;`/`#` comments, indented continuation lines; a key before any
/// section or twice in one section is an error (configparser's strict mode).
fn check_ini(text: &str) -> Result<(), Invalid> {
    let mut section: Option<String> = None;
    let mut sections = std::collections::HashSet::new();
    let mut keys = std::collections::HashSet::new();
    let mut after_key = false;
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let trimmed = raw.trim();
        let err = |col: usize, message: String| Invalid {
            line: Some(line_no),
            col: Some(col),
            message,
        };
        if trimmed.is_empty() || trimmed.starts_with(';') || trimmed.starts_with('#') {
            after_key = after_key && trimmed.is_empty();
            continue;
        }
        let indent = raw.len() - raw.trim_start().len();
        if indent > 0 && after_key {
            continue; // a continuation of the previous value
        }
        if trimmed.starts_with('[') {
            let Some(name) = trimmed.strip_prefix('[').and_then(|t| t.strip_suffix(']')) else {
                return Err(err(
                    indent + 1,
                    "section header without a closing `]`".into(),
                ));
            };
            if !sections.insert(name.to_string()) {
                return Err(err(indent + 1, format!("section `[{name}]` appears twice")));
            }
            section = Some(name.to_string());
            keys.clear();
            after_key = false;
            continue;
        }
        let Some(at) = trimmed.find(['=', ':']) else {
            return Err(err(
                indent + 1,
                format!("expected `key = value`, found `{trimmed}`"),
            ));
        };
        let key = trimmed[..at].trim().to_ascii_lowercase();
        if key.is_empty() {
            return Err(err(indent + 1, "a value without a key".into()));
        }
        let Some(name) = &section else {
            return Err(err(
                indent + 1,
                format!("key `{key}` before any `[section]`"),
            ));
        };
        if !keys.insert(key.clone()) {
            return Err(err(
                indent + 1,
                format!("key `{key}` appears twice in `[{name}]`"),
            ));
        }
        after_key = true;
    }
    Ok(())
}

/// `bash -n` on the text (parse only, nothing runs), here rather than on the node: the syntax is
/// bash's wherever it runs.
fn check_sh(text: &str) -> Result<(), Invalid> {
    use std::io::Write;
    let mut child = baton_exec::host_command("bash")
        .arg("-n")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| Invalid {
            line: None,
            col: None,
            message: format!("cannot run `bash -n`: {e}"),
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        // A write error means bash already stopped; its exit status tells why.
        let _ = stdin.write_all(text.as_bytes());
    }
    let out = child.wait_with_output().map_err(|e| Invalid {
        line: None,
        col: None,
        message: format!("`bash -n` failed: {e}"),
    })?;
    if out.status.success() {
        return Ok(());
    }
    // bash: "bash: line 3: syntax error near unexpected token `fi'"
    let stderr = String::from_utf8_lossy(&out.stderr);
    let first = stderr.lines().next().unwrap_or("syntax error").to_string();
    let rest = first.strip_prefix("bash: ").unwrap_or(&first);
    if let Some(after) = rest.strip_prefix("line ")
        && let Some((n, msg)) = after.split_once(": ")
        && let Ok(line) = n.parse()
    {
        return Err(Invalid {
            line: Some(line),
            col: None,
            message: msg.to_string(),
        });
    }
    Err(Invalid {
        line: None,
        col: None,
        message: rest.to_string(),
    })
}

/// An env file: every non-blank, non-comment line is `NAME=value` with NAME matching
/// `^[A-Z_][A-Z0-9_]*$` (an `export ` prefix is accepted, as both readers take it).
pub fn check_env(text: &[u8]) -> Result<(), Invalid> {
    let text = std::str::from_utf8(text).map_err(|_| Invalid {
        line: None,
        col: None,
        message: "an env file must be UTF-8 text".into(),
    })?;
    let mut in_quote: Option<char> = None;
    for (i, line) in text.lines().enumerate() {
        if let Some(q) = in_quote {
            // Inside a quoted value spanning lines.
            if line.matches(q).count() % 2 == 1 {
                in_quote = None;
            }
            continue;
        }
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let body = trimmed.strip_prefix("export ").unwrap_or(trimmed);
        let Some((name, value)) = body.split_once('=') else {
            return Err(Invalid {
                line: Some(i + 1),
                col: Some(1),
                message: format!("expected `NAME=value`, found `{trimmed}`"),
            });
        };
        if !is_env_name(name) {
            return Err(Invalid {
                line: Some(i + 1),
                col: Some(line.len() - body.len() + 1),
                message: format!(
                    "`{name}` is not an environment variable name (^[A-Z_][A-Z0-9_]*$)"
                ),
            });
        }
        for q in ['"', '\''] {
            if value.starts_with(q) && unescaped_count(value, q) % 2 == 1 {
                in_quote = Some(q);
            }
        }
    }
    Ok(())
}

fn unescaped_count(value: &str, q: char) -> usize {
    let mut count = 0;
    let mut escaped = false;
    for c in value.chars() {
        if escaped {
            escaped = false;
        } else if c == '\\' && q == '"' {
            escaped = true;
        } else if c == q {
            count += 1;
        }
    }
    count
}

pub fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_uppercase() || c == '_')
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// Quote a value so that both systemd's `EnvironmentFile=` and a shell's `source` read it back
/// unchanged: bare when it has only safe characters, else double quotes escaping exactly the
/// characters both treat specially inside them (`"`, `\`, `` ` ``, `$`; systemd's
/// SHELL_NEED_ESCAPE). Newlines stay literal inside the quotes, which both keep.
pub fn quote_env_value(value: &str) -> String {
    let safe = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:@%+,".contains(c));
    if safe {
        return value.to_string();
    }
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if matches!(c, '"' | '\\' | '`' | '$') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_errors_have_line_and_column() {
        let err = check(&Validator::Json, b"{\n  \"a\": 1,\n  \"b\": }\n").unwrap_err();
        assert_eq!((err.line, err.col), (Some(3), Some(8)), "{err}");
        assert!(err.message.contains("expected value"), "{err}");
        assert!(check(&Validator::Json, b"{\"a\": [1, 2]}").is_ok());
    }

    #[test]
    fn yaml_uses_the_project_parser_rules() {
        let err = check(&Validator::Yaml, b"a: 1\nb: [1, 2\n").unwrap_err();
        assert!(err.line.is_some(), "{err}");
        let dup = check(&Validator::Yaml, b"a: 1\na: 2\n").unwrap_err();
        assert_eq!(dup.line, Some(2), "{dup}");
        assert!(check(&Validator::Yaml, b"a: {b: [1, 2]}\n").is_ok());
    }

    #[test]
    fn toml_errors_have_line_and_column() {
        let err = check(&Validator::Toml, b"[server]\nport = 80\nhost = \n").unwrap_err();
        assert_eq!(err.line, Some(3), "{err}");
        assert!(check(&Validator::Toml, b"[server]\nport = 80\n").is_ok());
    }

    #[test]
    fn ini_rules() {
        assert!(
            check(
                &Validator::Ini,
                b"; c\n[a]\nx = 1\ny: 2\n  more\n[b]\nx=3\n"
            )
            .is_ok()
        );
        let err = check(&Validator::Ini, b"x = 1\n").unwrap_err();
        assert_eq!(err.line, Some(1));
        let err = check(&Validator::Ini, b"[a]\nx = 1\nX = 2\n").unwrap_err();
        assert_eq!(err.line, Some(3));
        assert!(err.message.contains("twice"));
        let err = check(&Validator::Ini, b"[a]\njunk\n").unwrap_err();
        assert_eq!((err.line, err.col), (Some(2), Some(1)));
        let err = check(&Validator::Ini, b"[a\n").unwrap_err();
        assert!(err.message.contains("`]`"));
    }

    #[test]
    fn sh_uses_bash_n() {
        assert!(check(&Validator::Sh, b"if true; then echo ok; fi\n").is_ok());
        let err = check(&Validator::Sh, b"echo a\nif true; then\n").unwrap_err();
        assert!(err.line.is_some(), "{err}");
    }

    #[test]
    fn extension_picks_the_validator() {
        assert_eq!(effective(&Validator::Auto, "/etc/a.json"), Validator::Json);
        assert_eq!(effective(&Validator::Auto, "/etc/a.YML"), Validator::Yaml);
        assert_eq!(
            effective(&Validator::Auto, "/etc/nginx.conf"),
            Validator::None
        );
        assert_eq!(effective(&Validator::Ini, "/etc/a.json"), Validator::Ini);
    }

    #[test]
    fn env_values_read_back_unchanged_by_a_shell() {
        let values = [
            "plain",
            "with space",
            "it's",
            "dollar $HOME and `cmd` and \\ and \"q\"",
            "two\nlines",
            "",
        ];
        let mut file = String::new();
        for (i, v) in values.iter().enumerate() {
            file.push_str(&format!("V{i}={}\n", quote_env_value(v)));
        }
        check_env(file.as_bytes()).unwrap();
        let mut script = format!("set -e; source /dev/stdin <<'BATON_EOF'\n{file}BATON_EOF\n");
        for i in 0..values.len() {
            script.push_str(&format!("printf '%s\\0' \"$V{i}\"; "));
        }
        let out = baton_exec::host_command("bash")
            .arg("-c")
            .arg(script)
            .output()
            .unwrap();
        let got: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .split('\0')
            .map(String::from)
            .collect();
        assert_eq!(&got[..values.len()], &values.map(String::from)[..]);
    }

    #[test]
    fn env_names_are_checked() {
        let err = check_env(b"GOOD=1\nbad=2\n").unwrap_err();
        assert_eq!(err.line, Some(2));
        assert!(check_env(b"# c\nexport A_1=\"x\ny\"\nB=2\n").is_ok());
    }
}

//! Shell text shared by every executor and every caller: quoting, the `bash -eo pipefail`
//! command line of a script with its environment, and running a script to capture its output.
//!
//! One copy on purpose: the local node, SSH nodes, configs and infra must quote and wrap
//! scripts the same way, or a value that works on one target breaks on another.

use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use crate::{CommandSpec, ExecError, Executor, ExitInfo};

/// Quote for POSIX shells (sh, dash, bash): `it's` → `'it'\''s'`. Everything inside single
/// quotes is literal, so `$`, backquotes, newlines and globs pass through unchanged.
pub fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// Whether `name` can be an environment variable set by a shell (`[A-Za-z_][A-Za-z0-9_]*`).
pub fn valid_env_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b'A'..=b'Z' | b'a'..=b'z' | b'_'))
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Refuse environment names a shell cannot set: on nodes they would be pasted into shell text,
/// locally bash would silently drop them. Same error on every executor.
pub fn check_env(env: &[(String, String)]) -> Result<(), ExecError> {
    match env.iter().find(|(name, _)| !valid_env_name(name)) {
        Some((name, _)) => Err(ExecError::Spawn(format!(
            "environment variable name `{name}` is not valid: use letters, digits and `_`, \
             not starting with a digit"
        ))),
        None => Ok(()),
    }
}

/// The arguments of the interpreter every script runs under: `bash -eo pipefail -c SCRIPT`.
pub fn bash_args(script: &str) -> [&str; 4] {
    ["-eo", "pipefail", "-c", script]
}

/// Shell text (for any POSIX `sh`) that changes to `spec.cwd`, exports `spec.env` and becomes
/// `bash -eo pipefail -c SCRIPT` with stderr merged into stdout — what the local executor does
/// with a process spawn. Used for targets reached through a shell (SSH).
pub fn script_command_line(spec: &CommandSpec) -> Result<String, ExecError> {
    check_env(&spec.env)?;
    Ok(format!(
        "{}{}{}",
        cd_line(spec),
        exports(&spec.env),
        exec_line(spec)
    ))
}

/// `cd DIR || { explain; exit 127; }; ` for `spec.cwd`, or nothing.
pub(crate) fn cd_line(spec: &CommandSpec) -> String {
    let Some(cwd) = &spec.cwd else {
        return String::new();
    };
    let cwd = cwd.to_string_lossy();
    // `cd` prints its own error; this one names the fix as the local executor does.
    format!(
        "cd {} 2>/dev/null || {{ printf '%s\\n' {} >&2; exit 127; }}; ",
        quote(&cwd),
        quote(&format!("working directory `{cwd}` does not exist"))
    )
}

/// `export NAME='value' …; ` (names already checked), or nothing.
pub(crate) fn exports(env: &[(String, String)]) -> String {
    if env.is_empty() {
        return String::new();
    }
    let mut line = String::from("export");
    for (name, value) in env {
        line.push_str(&format!(" {name}={}", quote(value)));
    }
    line.push_str("; ");
    line
}

/// `exec bash -eo pipefail -c SCRIPT 2>&1`.
pub(crate) fn exec_line(spec: &CommandSpec) -> String {
    format!("exec bash -eo pipefail -c {} 2>&1", quote(&spec.script))
}

/// What a script printed (stdout and stderr interleaved, as bytes) and how it ended.
#[derive(Debug, Clone)]
pub struct ScriptOutput {
    pub exit: ExitInfo,
    pub output: Vec<u8>,
}

impl ScriptOutput {
    pub fn success(&self) -> bool {
        self.exit.success()
    }

    /// The output as text (invalid UTF-8 replaced), for messages.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.output).into_owned()
    }
}

/// Run `spec` on `executor` and collect all of its output: the "run a script and look at what
/// it printed" that probes, infra resources and configs need. Not for unbounded output (a
/// pipeline step streams instead).
pub async fn run_script(
    executor: &dyn Executor,
    spec: &CommandSpec,
    cancel: &CancellationToken,
) -> Result<ScriptOutput, ExecError> {
    let captured = Arc::new(Mutex::new(Vec::new()));
    let sink = captured.clone();
    let exit = executor
        .run(
            spec,
            Box::new(|_| {}),
            Box::new(move |chunk| {
                sink.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .extend_from_slice(chunk)
            }),
            cancel,
        )
        .await?;
    let output = std::mem::take(&mut *captured.lock().unwrap_or_else(|p| p.into_inner()));
    Ok(ScriptOutput { exit, output })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_single_quotes() {
        assert_eq!(quote("it's"), r"'it'\''s'");
        let out = crate::host_command("sh")
            .arg("-c")
            .arg(format!("printf %s {}", quote("a 'b' $HOME\n`x`")))
            .output()
            .unwrap();
        assert_eq!(out.stdout, b"a 'b' $HOME\n`x`");
    }

    #[test]
    fn env_names_are_checked() {
        assert!(valid_env_name("A_1"));
        assert!(valid_env_name("_x"));
        assert!(!valid_env_name("1A"));
        assert!(!valid_env_name("A-B"));
        assert!(!valid_env_name("A;rm"));
        assert!(!valid_env_name(""));
    }

    #[test]
    fn the_command_line_runs_under_sh() {
        let spec = CommandSpec {
            script: "echo \"$GREETING\" from $(pwd); echo err >&2".into(),
            env: vec![("GREETING".into(), "it's me".into())],
            cwd: Some("/tmp".into()),
            ..Default::default()
        };
        let out = crate::host_command("sh")
            .arg("-c")
            .arg(script_command_line(&spec).unwrap())
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            "it's me from /tmp\nerr\n"
        );
    }

    #[test]
    fn a_missing_cwd_is_named() {
        let spec = CommandSpec {
            script: "true".into(),
            cwd: Some("/nonexistent/it's".into()),
            ..Default::default()
        };
        let out = crate::host_command("sh")
            .arg("-c")
            .arg(script_command_line(&spec).unwrap())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(127));
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            "working directory `/nonexistent/it's` does not exist\n"
        );
    }
}

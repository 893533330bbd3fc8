//! The shell text sent to nodes: command wrappers that report their process group, uploads,
//! and process-group kills.

use baton_exec::{CommandSpec, UploadSpec};

/// First line every wrapped command prints: the pid of its session leader, which sshd made a
/// process group leader, so a timeout can kill the whole remote tree.
pub const PID_MARKER: &[u8] = b"\x1ebaton-pid:";

/// Quote for POSIX shells: `it's` → `'it'\''s'`.
pub fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// The command line for a node: print the marker, set the environment (sshd refuses most
/// `env` requests), change directory, then become `bash -eo pipefail -c SCRIPT` with stderr
/// merged into stdout, as on the local node.
pub fn command_line(spec: &CommandSpec) -> String {
    let mut line = String::from(r"printf '\036baton-pid:%s\n' $$; ");
    // Without a terminal, sshd does not signal the command when the connection is lost (baton
    // killed, network gone): a watchdog ends the command's process group once its sshd session
    // process is gone. It sits in the same group, so normal completion ends it too.
    line.push_str(WATCHDOG);
    if let Some(cwd) = &spec.cwd {
        line.push_str(&format!("cd {} && ", quote(&cwd.to_string_lossy())));
    }
    if !spec.env.is_empty() {
        line.push_str("export");
        for (name, value) in &spec.env {
            line.push_str(&format!(" {name}={}", quote(value)));
        }
        line.push_str(" && ");
    }
    line.push_str(&format!(
        "exec bash -eo pipefail -c {} 2>&1",
        quote(&spec.script)
    ));
    line
}

/// Polls the parent (the sshd session) once a second; `/proc` works whoever owns the parent.
const WATCHDOG: &str = "s=$PPID; (trap - TERM; while [ -e /proc/$s ]; do sleep 1; done; kill -TERM -- -$$) \
     </dev/null >/dev/null 2>&1 & ";

/// Signal a remote process group (and its leader, should it have left the group).
pub fn kill_line(pid: u32, signal: &str) -> String {
    format!("kill -{signal} -- -{pid} 2>/dev/null; kill -{signal} {pid} 2>/dev/null; true")
}

/// Receive stdin into a temporary file beside the destination and rename it into place,
/// keeping the replaced file's mode and owner unless new ones are given.
pub fn upload_line(spec: &UploadSpec) -> String {
    let mut line = format!(
        "set -e; d={}; dir=$(dirname \"$d\"); t=\"$dir/.$(basename \"$d\").baton-$$\"; \
         mkdir -p \"$dir\"; trap 'rm -f \"$t\"' EXIT; cat > \"$t\"; \
         if [ -e \"$d\" ]; then chmod --reference=\"$d\" \"$t\"; chown --reference=\"$d\" \"$t\" 2>/dev/null || true; fi; ",
        quote(&spec.dest)
    );
    if let Some(mode) = spec.mode {
        line.push_str(&format!("chmod {mode:o} \"$t\"; "));
    }
    if let Some(owner) = &spec.owner {
        line.push_str(&format!("chown {} \"$t\"; ", quote(owner)));
    }
    line.push_str("mv -f \"$t\" \"$d\"");
    line
}

/// Signal number of an SSH signal name.
pub fn signal_number(sig: &russh::Sig) -> i32 {
    use russh::Sig;
    match sig {
        Sig::HUP => 1,
        Sig::INT => 2,
        Sig::QUIT => 3,
        Sig::ILL => 4,
        Sig::ABRT => 6,
        Sig::FPE => 8,
        Sig::KILL => 9,
        Sig::USR1 => 10,
        Sig::SEGV => 11,
        Sig::PIPE => 13,
        Sig::ALRM => 14,
        Sig::TERM => 15,
        Sig::Custom(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_single_quotes() {
        assert_eq!(quote("it's"), r"'it'\''s'");
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("printf %s {}", quote("a 'b' $HOME")))
            .output()
            .unwrap();
        assert_eq!(out.stdout, b"a 'b' $HOME");
    }

    #[test]
    fn the_command_line_runs_under_sh() {
        let spec = CommandSpec {
            script: "echo \"$GREETING\" from $(pwd); echo err >&2".into(),
            env: vec![("GREETING".into(), "it's me".into())],
            cwd: Some("/tmp".into()),
            ..Default::default()
        };
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(command_line(&spec))
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let mut lines = text.lines();
        assert!(lines.next().unwrap().starts_with("\u{1e}baton-pid:"));
        assert_eq!(lines.next(), Some("it's me from /tmp"));
        assert_eq!(lines.next(), Some("err"));
    }
}

//! The shell text sent to nodes: the command wrapper that reports its process group and
//! watches its session, and process-group kills. Quoting, the `bash -eo pipefail` line and the
//! upload scripts are baton-exec's (one copy for every executor).

use baton_exec::{CommandSpec, ExecError, RunAs, script_command_line};

/// First line every wrapped command prints: the pid of its session leader, which sshd made a
/// process group leader, so a timeout can kill the whole remote tree.
pub const PID_MARKER: &[u8] = b"\x1ebaton-pid:";

/// The command line for a node: print the marker, start the watchdog, then baton-exec's
/// script line (cd, exported env — sshd refuses most `env` requests — and `exec bash -eo
/// pipefail -c SCRIPT 2>&1`).
///
/// With `become`, the marker and the watchdog run as the become user, once sudo let it in (so
/// a missing marker means sudo refused, and the watchdog may kill what the command started).
/// The login shell `exec`s sudo, which keeps its pid, the group's id: the marker names that
/// group, and the watchdog watches sudo's parent, the sshd session.
pub fn command_line(spec: &CommandSpec) -> Result<String, ExecError> {
    if let Some(run_as) = &spec.run_as {
        let head = format!(
            "printf '\\036baton-pid:%s\\n' \"$1\"; {}",
            watchdog("$2", "$1")
        );
        let line = run_as.command_line(spec, &head, &["\"$$\"", "\"$PPID\""])?;
        return Ok(line);
    }
    let mut line = String::from(r"printf '\036baton-pid:%s\n' $$; ");
    line.push_str(&watchdog("$PPID", "$$"));
    line.push_str(&script_command_line(spec)?);
    Ok(line)
}

/// Without a terminal, sshd does not signal the command when the connection is lost (baton
/// killed, network gone): the watchdog TERMs the command's process group once its sshd session
/// process (`session`) is gone. It also ends with the command: once the command (`command`,
/// the group leader, which `exec` keeps) has exited it KILLs what the command left in its
/// group (background jobs, as the local executor does) and itself. Without that second
/// condition every finished command left a watchdog polling until the connection closed (one
/// per step, for the whole run, or for as long as the `ssh.persist` daemon kept the
/// connection).
///
/// Polls every 50 ms for the first second, so short commands release their watchdog (and
/// their leftovers) at once, then every second. `/proc` works whoever owns the parent. The
/// kills take no `--` (see `kill_line`).
fn watchdog(session: &str, command: &str) -> String {
    format!(
        "s={session}; c={command}; (trap - TERM; i=0; \
     while [ -e /proc/$s ] && [ -e /proc/$c ]; do \
       if [ $i -lt 20 ]; then i=$((i+1)); sleep 0.05; else sleep 1; fi; done; \
     if [ -e /proc/$s ]; then kill -KILL -$c; else kill -TERM -$c; fi) \
     </dev/null >/dev/null 2>&1 & "
    )
}

/// `line` (a helper: a kill, an upload script reading stdin) as it must be sent, and what goes
/// on its stdin first: unchanged and nothing, or run as the become user after its password.
pub fn escalated(line: String, run_as: Option<&RunAs>) -> (String, Vec<u8>) {
    match run_as {
        Some(run_as) => (run_as.script_line(&line), run_as.stdin_preamble()),
        None => (line, Vec::new()),
    }
}

/// An upload sudo refused (`sudo: …`) says so with the fix.
pub fn upload_refused(error: ExecError, run_as: Option<&RunAs>) -> ExecError {
    match (error, run_as) {
        (ExecError::Spawn(said), Some(run_as)) => match said.split_once(": ") {
            Some((node, rest)) if rest.starts_with("sudo:") || rest.starts_with("Sorry") => {
                run_as.refused(node, rest)
            }
            _ => ExecError::Spawn(said),
        },
        (error, _) => error,
    }
}

/// Signal a remote process group (and its leader, should it have left the group). No `--`:
/// dash's `kill` (sh on Debian, where escalated commands run) takes none, and `-PID` after
/// the signal is a group for every shell.
pub fn kill_line(pid: u32, signal: &str) -> String {
    format!("kill -{signal} -{pid} 2>/dev/null; kill -{signal} {pid} 2>/dev/null; true")
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
    fn the_command_line_runs_under_sh() {
        let spec = CommandSpec {
            script: "echo \"$GREETING\" from $(pwd); echo err >&2".into(),
            env: vec![("GREETING".into(), "it's me".into())],
            cwd: Some("/tmp".into()),
            ..Default::default()
        };
        let out = baton_exec::host_command("sh")
            .arg("-c")
            .arg(command_line(&spec).unwrap())
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let mut lines = text.lines();
        assert!(lines.next().unwrap().starts_with("\u{1e}baton-pid:"));
        assert_eq!(lines.next(), Some("it's me from /tmp"));
        assert_eq!(lines.next(), Some("err"));
    }
}

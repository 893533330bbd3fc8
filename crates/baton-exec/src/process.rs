//! Killing process trees: by process group, and by an environment marker for processes that
//! left their group (`setsid`, daemons).

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// Send `signal` to every process in group `pgid`. Returns false when the group is empty.
pub fn kill_process_group(pgid: i32, signal: i32) -> bool {
    let Ok(signal) = Signal::try_from(signal) else {
        return false;
    };
    killpg(Pid::from_raw(pgid), signal).is_ok()
}

/// Whether any live (not zombie) process is left in group `pgid`. Killed processes stay
/// zombies until their new parent reaps them, so signalling the group cannot tell.
pub fn process_group_alive(pgid: i32) -> bool {
    if killpg(Pid::from_raw(pgid), None).is_err() {
        return false;
    }
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return true;
    };
    entries.flatten().any(|entry| {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            return false;
        };
        // Fields after the command name: state, ppid, pgrp, …
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
            return false;
        };
        let mut fields = rest.split_whitespace();
        let state = fields.next();
        let group = fields.nth(1).and_then(|g| g.parse::<i32>().ok());
        group == Some(pgid) && state != Some("Z")
    })
}

/// Kill (SIGKILL) every process of this user whose environment contains `KEY=VALUE`: baton
/// marks each command's environment so that even processes that escaped their process group
/// are found. Returns how many were killed.
pub fn kill_processes_with_env(key: &str, value: &str) -> usize {
    let needle = format!("{key}={value}\0").into_bytes();
    let me = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let mut killed = 0;
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if pid as u32 == me {
            continue;
        }
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        if memchr::memmem::find(&environ, &needle).is_some()
            && nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL).is_ok()
        {
            killed += 1;
        }
    }
    killed
}

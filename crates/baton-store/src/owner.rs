//! Which process owns a run or a lock, and whether it is still alive.
//!
//! A pid alone is not an identity (pids are reused), so the owner is the pid plus the process's
//! start time in clock ticks since boot, read from `/proc/PID/stat`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    pub pid: u32,
    pub start_ticks: u64,
    pub host: String,
    pub user: String,
}

impl Owner {
    /// The current process.
    pub fn current() -> Owner {
        let pid = std::process::id();
        Owner {
            pid,
            start_ticks: start_ticks(pid).unwrap_or(0),
            host: hostname(),
            user: os_user(),
        }
    }

    /// Whether this owner is still running. Owners on other hosts are assumed alive: only the
    /// machine that runs them can tell.
    pub fn alive(&self) -> bool {
        if self.host != hostname() {
            return true;
        }
        process_alive(self.pid, self.start_ticks)
    }

    /// `user@host` for messages.
    pub fn who(&self) -> String {
        format!("{}@{}", self.user, self.host)
    }
}

/// The user this process runs as: `$USER` (what people see in their shell), else the password
/// database's name for the uid (cron and systemd units set no `$USER`), else `uid N`.
pub fn os_user() -> String {
    if let Ok(user) = std::env::var("USER")
        && !user.is_empty()
    {
        return user;
    }
    let uid = nix::unistd::getuid();
    match nix::unistd::User::from_uid(uid) {
        Ok(Some(user)) => user.name,
        _ => format!("uid {uid}"),
    }
}

/// Whether process `pid` exists and started at `start_ticks` (0 = do not check the start time).
pub fn process_alive(pid: u32, start_ticks: u64) -> bool {
    match self::start_ticks(pid) {
        Some(ticks) => start_ticks == 0 || ticks == start_ticks,
        None => false,
    }
}

fn start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Field 3 is the state; a zombie has exited even though its pid still exists.
    if fields.first() == Some(&"Z") {
        return None;
    }
    // starttime is field 22 of stat, i.e. index 19 after the state field (field 3).
    fields.get(19)?.parse().ok()
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn current_process_is_alive_and_a_wrong_start_time_is_not() {
        let me = Owner::current();
        assert!(me.start_ticks > 0);
        assert!(me.alive());
        assert!(!me.user.is_empty() && me.user != "unknown");
        assert!(!process_alive(me.pid, me.start_ticks + 1));
    }
}

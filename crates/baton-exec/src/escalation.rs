//! Privilege escalation (`become`): commands and uploads run as another user through `sudo`,
//! the same shell text on every executor.
//!
//! Without a password, `sudo -n` (never prompts: "a password is required" when sudo wants
//! one). With one, the password travels as the first line of the command's stdin — never on a
//! command line — where the login shell reads it into its environment and sudo fetches it with
//! `-A` through `printenv` as its askpass helper (sudo passes the prompt, the variable's name,
//! as the helper's argument). Why not `sudo -S`: it reads the password from the stdin the
//! command and an upload's bytes also use, so a sudo that needs no password (NOPASSWD, a cached
//! credential) would hand the password line to the command, and a wrong password would make it
//! read the upload's bytes as further attempts. With askpass, sudo never touches stdin; a wrong
//! password fails after sudo's usual three attempts. sudo resets the environment, so the
//! password never reaches the command (it is unset there too, should `env_reset` be off).
//! See docs/decisions.md.

use std::sync::Arc;

use crate::shell::quote;
use crate::{
    CancellationToken, CommandSpec, ExecError, ExecFuture, Executor, OutputFn, StartedFn,
    UploadFuture, UploadSpec,
};

/// The variable the login shell holds the password in, and sudo's prompt (askpass's argument).
pub const PASSWORD_VAR: &str = "BATON_BECOME_PASSWORD";

/// Run as `user` through sudo.
#[derive(Clone, PartialEq, Eq)]
pub struct RunAs {
    pub user: String,
    /// The login user's sudo password; `None` means `sudo -n`.
    pub password: Option<String>,
}

/// Never prints the password.
impl std::fmt::Debug for RunAs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunAs")
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

impl RunAs {
    /// Refuses what sudo could not be handed: an empty user, a password with a line break (it
    /// travels as one line).
    pub fn new(user: &str, password: Option<String>) -> Result<RunAs, String> {
        if user.is_empty() {
            return Err("`become_user` is empty".into());
        }
        if password
            .as_ref()
            .is_some_and(|p| p.contains('\n') || p.contains('\r'))
        {
            return Err("the become password holds a line break, which sudo cannot take".into());
        }
        Ok(RunAs {
            user: user.to_string(),
            password,
        })
    }

    /// What goes on the command's stdin before anything else: the password line, or nothing.
    pub fn stdin_preamble(&self) -> Vec<u8> {
        match &self.password {
            Some(password) => format!("{password}\n").into_bytes(),
            None => Vec::new(),
        }
    }

    /// Shell text for the login shell: `exec sudo … -- sh -c INNER sh ARGS…`, which runs
    /// `inner` as the user with `args` as `$1`…, keeping the exported variables named in
    /// `preserve` (sudo resets the rest). With a password, first reads it from stdin.
    pub fn sudo_line(&self, preserve: &[&str], inner: &str, args: &[&str]) -> String {
        let mut line = String::new();
        match &self.password {
            None => line.push_str("exec sudo -n "),
            Some(_) => line.push_str(&format!(
                "IFS= read -r {PASSWORD_VAR} || {{ echo 'become: no password on stdin' >&2; exit 1; }}; \
                 export {PASSWORD_VAR}; SUDO_ASKPASS=$(command -v printenv); export SUDO_ASKPASS; \
                 exec sudo -A -p {PASSWORD_VAR} "
            )),
        }
        line.push_str(&format!("-u {} ", quote(&self.user)));
        if !preserve.is_empty() {
            line.push_str(&format!("--preserve-env={} ", preserve.join(",")));
        }
        let inner = format!("unset {PASSWORD_VAR}; {inner}");
        line.push_str(&format!("-- sh -c {} sh", quote(&inner)));
        for arg in args {
            line.push(' ');
            line.push_str(arg);
        }
        line
    }

    /// The shell text of `spec` run as the user: its variables exported here and preserved
    /// through sudo, then, as the user, `head` (given `$1`… = `args`), the `cd` and
    /// `exec bash -eo pipefail -c SCRIPT 2>&1` with stdin from /dev/null.
    pub fn command_line(
        &self,
        spec: &CommandSpec,
        head: &str,
        args: &[&str],
    ) -> Result<String, ExecError> {
        crate::shell::check_env(&spec.env)?;
        let mut line = crate::shell::exports(&spec.env);
        let names: Vec<&str> = spec.env.iter().map(|(name, _)| name.as_str()).collect();
        let inner = format!(
            "exec </dev/null; {head}{}{}",
            crate::shell::cd_line(spec),
            crate::shell::exec_line(spec)
        );
        line.push_str(&self.sudo_line(&names, &inner, args));
        Ok(line)
    }

    /// `script` (POSIX sh text that may read stdin, such as an upload's install script) run as
    /// the user.
    pub fn script_line(&self, script: &str) -> String {
        self.sudo_line(&[], script, &[])
    }

    /// sudo's refusal as an error naming the fix, from what it printed (`sudo: a password is
    /// required`, `sudo: 3 incorrect password attempts`, `… is not in the sudoers file`).
    pub fn refused(&self, node: &str, said: &str) -> ExecError {
        let said = said.trim();
        let said = if said.is_empty() {
            "sudo ended without a word"
        } else {
            said
        };
        let hint = if said.contains("password is required") {
            " (set `become_password_secret`, or allow the login user NOPASSWD in sudoers)"
        } else if said.contains("incorrect password") {
            " (check the secret named by `become_password_secret`)"
        } else {
            ""
        };
        let node = if node.is_empty() {
            String::new()
        } else {
            format!("{node}: ")
        };
        ExecError::Spawn(format!(
            "{node}become (sudo -u {}) failed: {said}{hint}",
            self.user
        ))
    }

    /// `text` with the password replaced by `***` (output and errors of escalated commands).
    pub fn mask(&self, text: &[u8]) -> Vec<u8> {
        match &self.password {
            Some(password) if !password.is_empty() => {
                let needle = password.as_bytes();
                let mut out = Vec::with_capacity(text.len());
                let mut rest = text;
                while let Some(at) = memchr::memmem::find(rest, needle) {
                    out.extend_from_slice(&rest[..at]);
                    out.extend_from_slice(b"***");
                    rest = &rest[at + needle.len()..];
                }
                out.extend_from_slice(rest);
                out
            }
            _ => text.to_vec(),
        }
    }

    fn mask_error(&self, error: ExecError) -> ExecError {
        let mask = |s: String| String::from_utf8_lossy(&self.mask(s.as_bytes())).into_owned();
        match error {
            ExecError::Spawn(s) => ExecError::Spawn(mask(s)),
            ExecError::Unreachable(s) => ExecError::Unreachable(mask(s)),
            ExecError::Lost(s) => ExecError::Lost(mask(s)),
            other => other,
        }
    }
}

/// An executor whose commands and uploads run as `run_as` (unless a spec says otherwise):
/// how `become:` on a node, stage, config or resource reaches the executors.
pub struct Escalated {
    inner: Arc<dyn Executor>,
    run_as: RunAs,
}

/// `executor` as is, or escalated.
pub fn escalate(executor: Arc<dyn Executor>, run_as: Option<RunAs>) -> Arc<dyn Executor> {
    match run_as {
        Some(run_as) => Arc::new(Escalated {
            inner: executor,
            run_as,
        }),
        None => executor,
    }
}

impl Executor for Escalated {
    fn run<'a>(
        &'a self,
        spec: &'a CommandSpec,
        on_start: StartedFn<'a>,
        mut on_output: OutputFn<'a>,
        cancel: &'a CancellationToken,
    ) -> ExecFuture<'a> {
        Box::pin(async move {
            let mut spec = spec.clone();
            let run_as = spec
                .run_as
                .get_or_insert_with(|| self.run_as.clone())
                .clone();
            let masked = {
                let run_as = run_as.clone();
                Box::new(move |chunk: &[u8]| on_output(&run_as.mask(chunk)))
            };
            self.inner
                .run(&spec, on_start, masked, cancel)
                .await
                .map_err(|e| run_as.mask_error(e))
        })
    }

    fn upload<'a>(&'a self, spec: &'a UploadSpec) -> UploadFuture<'a> {
        Box::pin(async move {
            let mut spec = spec.clone();
            let run_as = spec
                .run_as
                .get_or_insert_with(|| self.run_as.clone())
                .clone();
            self.inner
                .upload(&spec)
                .await
                .map_err(|e| run_as.mask_error(e))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_never_in_the_line_nor_in_debug() {
        let run_as = RunAs::new("root", Some("hunter2-pw".into())).unwrap();
        let spec = CommandSpec {
            script: "id -un".into(),
            env: vec![("A".into(), "1".into())],
            ..Default::default()
        };
        let line = run_as.command_line(&spec, "", &[]).unwrap();
        assert!(!line.contains("hunter2"), "{line}");
        assert!(line.contains("--preserve-env=A "), "{line}");
        assert!(!format!("{run_as:?}").contains("hunter2"));
        assert_eq!(run_as.stdin_preamble(), b"hunter2-pw\n");
        assert_eq!(run_as.mask(b"x hunter2-pw y"), b"x *** y");
    }

    #[test]
    fn line_breaks_in_passwords_are_refused() {
        assert!(RunAs::new("root", Some("a\nb".into())).is_err());
        assert!(RunAs::new("", None).is_err());
    }
}

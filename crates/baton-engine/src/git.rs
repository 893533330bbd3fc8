//! git for runs: the branch and commit a run records, the checkout of a triggered run's commit,
//! and [`run_git`], the one way baton runs git and waits for it (a deadline, no prompts, the
//! whole process tree killed when it is given up) — the commit poller in `baton-ops` uses it too.

use std::ffi::OsStr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use crate::workspace::Checkout;

/// Branch and commit of the project's git checkout, if it is one.
pub(crate) fn git_head(root: &Path) -> (Option<String>, Option<String>) {
    if !root.ancestors().any(|dir| dir.join(".git").exists()) {
        return (None, None);
    }
    let output = baton_exec::host_command("git")
        .arg("-C")
        .arg(root)
        .args(["rev-parse", "HEAD", "--abbrev-ref", "HEAD"])
        .stderr(std::process::Stdio::null())
        .output();
    match output {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            let mut lines = text.lines().map(str::to_string);
            // `--abbrev-ref` applies to the arguments after it: the hash comes first.
            let commit = lines.next();
            let branch = lines.next().filter(|b| b != "HEAD");
            (branch, commit)
        }
        _ => (None, None),
    }
}

/// How long a checkout's git commands may take: a clone from a local repository is quick, but
/// fetching a missing commit from the source's origin crosses the network.
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(600);

/// How many lines of git's stderr an error keeps: the first ones say what went wrong.
const STDERR_LINES: usize = 4;

/// A git command that did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GitError {
    #[error("cannot start git: {0}")]
    Spawn(String),
    #[error("git did not finish within {}s and was killed", .0.as_secs())]
    TimedOut(Duration),
    /// `status` reads as words ("exit code 128"); `stderr` is its first lines, joined by "; ".
    #[error("git failed ({status}){}", if .stderr.is_empty() { String::new() } else { format!(": {}", .stderr) })]
    Failed { status: String, stderr: String },
}

/// Run `git ARGS` (in `dir` when given) and return its stdout. Never prompts
/// (`GIT_TERMINAL_PROMPT=0`, no stdin): a server must not hang on a credential question. Runs
/// in its own process group, killed whole (helpers such as `git-remote-https` included) when
/// `timeout` passes or when the returned future is dropped — by a cancelled run, say.
pub async fn run_git<I, S>(
    dir: Option<&Path>,
    args: I,
    timeout: Duration,
) -> Result<String, GitError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut command = baton_exec::host_command_async("git");
    if let Some(dir) = dir {
        command.arg("-C").arg(dir);
    }
    command
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = command
        .spawn()
        .map_err(|e| GitError::Spawn(e.to_string()))?;
    // Declared after `child`, so dropped before it: the group is killed while its leader is
    // still unreaped (its id cannot have been reused yet).
    let mut group = GroupGuard(child.id().and_then(|pid| i32::try_from(pid).ok()));
    let (mut out, mut err) = (child.stdout.take(), child.stderr.take());
    let waited = tokio::time::timeout(timeout, async {
        let (stdout, stderr, status) =
            tokio::join!(read_all(&mut out), read_all(&mut err), child.wait());
        status.map(|status| (status, stdout, stderr))
    })
    .await;
    let (status, stdout, stderr) = match waited {
        Ok(Ok(done)) => done,
        Ok(Err(e)) => return Err(GitError::Spawn(e.to_string())),
        Err(_) => return Err(GitError::TimedOut(timeout)),
    };
    // Reaped: the group id may belong to someone else from now on.
    group.0 = None;
    if status.success() {
        return Ok(String::from_utf8_lossy(&stdout).into_owned());
    }
    Err(GitError::Failed {
        status: exit_words(&status),
        stderr: first_lines(&String::from_utf8_lossy(&stderr)),
    })
}

/// Everything a pipe gives until it closes (what was read when it fails).
async fn read_all(pipe: &mut Option<impl tokio::io::AsyncRead + Unpin>) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let mut data = Vec::new();
    if let Some(pipe) = pipe {
        let _ = pipe.read_to_end(&mut data).await;
    }
    data
}

/// Kills a git process group that is still running when its wait is given up (timeout, or the
/// future dropped).
struct GroupGuard(Option<i32>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pgid) = self.0 {
            baton_exec::kill_process_group(pgid, nix::sys::signal::Signal::SIGKILL as i32);
        }
    }
}

fn exit_words(status: &std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => match baton_exec::signal_name(signal) {
            Some(name) => format!("killed by {name}"),
            None => format!("killed by signal {signal}"),
        },
        (None, None) => "ended abnormally".into(),
    }
}

/// The first non-empty lines of `text`, joined by "; " (a reason stays on one line).
pub(crate) fn first_lines(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(STDERR_LINES)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Make `workspace` (an empty directory) a detached checkout of `checkout.commit`, cloned from
/// `checkout.source` with `--shared` (objects are borrowed, not copied: a run's checkout costs
/// only its files). A commit the source does not have is fetched from the source's `origin`
/// once. Err: why, naming the commit and git's words.
pub(crate) async fn check_out(checkout: &Checkout, workspace: &Path) -> Result<(), String> {
    let source = checkout.source.as_path();
    let commit = checkout.commit.as_str();
    let what = format!(
        "cannot check out commit {commit} from `{}`",
        source.display()
    );
    if commit.is_empty() || commit.starts_with('-') {
        // Never an option to git.
        return Err(format!("{what}: `{commit}` is not a commit"));
    }
    let clone = [
        OsStr::new("clone"),
        OsStr::new("--quiet"),
        OsStr::new("--shared"),
        OsStr::new("--no-checkout"),
        OsStr::new("--"),
        source.as_os_str(),
        workspace.as_os_str(),
    ];
    run_git(None, clone, CHECKOUT_TIMEOUT)
        .await
        .map_err(|e| format!("{what}: {e}"))?;
    let detach = ["checkout", "--quiet", "--detach", commit];
    let missing = match run_git(Some(workspace), detach, CHECKOUT_TIMEOUT).await {
        Ok(_) => return Ok(()),
        Err(e) => e,
    };
    // The clone borrows the source's objects, so fetching into the source is enough.
    if let Err(fetch) = run_git(
        Some(source),
        ["fetch", "--quiet", "origin", commit],
        CHECKOUT_TIMEOUT,
    )
    .await
    {
        return Err(format!(
            "{what}: {missing}; fetching it from the source's origin failed too: {fetch}"
        ));
    }
    run_git(Some(workspace), detach, CHECKOUT_TIMEOUT)
        .await
        .map(|_| ())
        .map_err(|e| format!("{what} (even after fetching it): {e}"))
}

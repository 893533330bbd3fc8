//! The executor conformance suite: one list of behaviours every [`Executor`] must share (local
//! processes, SSH nodes, the connection daemon), so a step, a config or a resource behaves the
//! same wherever it runs.
//!
//! Each case takes a [`Target`]: the executor under test and a scratch directory *on the
//! target* (empty, writable). Files on the target are read back through the executor itself
//! (`cat`, `stat`, `ls`), so the suite needs nothing else from the target; the invalid-UTF-8
//! case checks that this read-back is byte-exact. Local files (upload sources) go in a fresh
//! directory under the system temp dir.
//!
//! Enabled by the `conformance` feature; run it from an executor's tests with
//! [`run_all`] and assert on its result, which names every failing case.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::{CancellationToken, CommandSpec, ExecError, Executor, ExitInfo, Outcome, UploadSpec};

/// The executor under test and where it may write.
pub struct Target<'a> {
    pub executor: &'a dyn Executor,
    /// An existing, empty, writable directory on the target (absolute).
    pub scratch: String,
}

/// What a command did.
pub struct Ran {
    pub exit: ExitInfo,
    pub output: Vec<u8>,
}

impl Ran {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.output).into_owned()
    }
}

type CaseResult = Result<(), String>;

macro_rules! suite {
    ($($case:ident),* $(,)?) => {
        /// The names of every case, in the order [`run_all`] runs them.
        pub const CASES: &[&str] = &[$(stringify!($case)),*];

        /// Run every case on `target`, each in its own subdirectory of the scratch directory;
        /// `Err` lists each failing case with why.
        pub async fn run_all(target: &Target<'_>) -> Result<(), String> {
            let mut failures = Vec::new();
            $(
                let sub = Target {
                    executor: target.executor,
                    scratch: format!("{}/{}", target.scratch, stringify!($case)),
                };
                let result = match sh(&sub, &format!("mkdir -p {}", q(&sub.scratch))).await {
                    Ok(_) => $case(&sub).await,
                    Err(e) => Err(e),
                };
                if let Err(why) = result {
                    failures.push(format!("{}: {why}", stringify!($case)));
                }
            )*
            if failures.is_empty() {
                Ok(())
            } else {
                Err(format!("{} of {} cases failed:\n{}", failures.len(), CASES.len(), failures.join("\n")))
            }
        }
    };
}

suite!(
    exit_codes,
    killed_by_a_signal,
    env_values_pass_unchanged,
    invalid_env_names_are_refused,
    cwd_is_used,
    a_missing_cwd_fails_naming_it,
    stdin_is_empty,
    stdout_and_stderr_keep_their_order,
    large_output_arrives_whole,
    invalid_utf8_is_preserved,
    timeout_kills_the_whole_tree,
    cancel_kills_the_whole_tree,
    background_jobs_end_with_the_command,
    upload_creates_directories_and_sets_the_mode,
    upload_replaces_a_file_keeping_its_mode,
    upload_new_file_gets_the_umask_mode,
    upload_preserves_binary_bytes,
    upload_of_an_empty_file,
    upload_of_a_directory_onto_a_file_is_refused,
    upload_of_a_file_onto_a_directory_is_refused,
    upload_of_a_directory_syncs_the_tree,
    failed_upload_leaves_no_trace,
    upload_of_a_fifo_is_refused_before_touching_the_target,
);

// ---------------------------------------------------------------- helpers

fn q(text: &str) -> String {
    crate::shell::quote(text)
}

fn spec(script: &str) -> CommandSpec {
    CommandSpec {
        script: script.into(),
        grace: Duration::from_millis(500),
        ..Default::default()
    }
}

/// Run `spec`, collecting output; `on_line` sees the output so far after each chunk.
async fn run_with(
    target: &Target<'_>,
    spec: &CommandSpec,
    cancel: &CancellationToken,
    on_output: impl Fn(&[u8]) + Send + 'static,
) -> Result<Ran, ExecError> {
    let output = Arc::new(Mutex::new(Vec::new()));
    let sink = output.clone();
    let exit = target
        .executor
        .run(
            spec,
            Box::new(|_| {}),
            Box::new(move |chunk| {
                let mut all = sink.lock().unwrap_or_else(|p| p.into_inner());
                all.extend_from_slice(chunk);
                on_output(&all);
            }),
            cancel,
        )
        .await?;
    let output = std::mem::take(&mut *output.lock().unwrap_or_else(|p| p.into_inner()));
    Ok(Ran { exit, output })
}

async fn run(target: &Target<'_>, spec: &CommandSpec) -> Result<Ran, String> {
    run_with(target, spec, &CancellationToken::new(), |_| {})
        .await
        .map_err(|e| format!("`{}` could not run: {e}", spec.script))
}

/// Run a helper script that must succeed; its output.
async fn sh(target: &Target<'_>, script: &str) -> Result<Vec<u8>, String> {
    let ran = run(target, &spec(script)).await?;
    if !ran.exit.success() {
        return Err(format!(
            "helper `{script}` ended with {}: {}",
            ran.exit,
            ran.text().trim()
        ));
    }
    Ok(ran.output)
}

/// The bytes of a file on the target, `None` when it is absent.
async fn read(target: &Target<'_>, path: &str) -> Result<Option<Vec<u8>>, String> {
    let ran = run(
        target,
        &spec(&format!("test -f {p} || exit 44; cat {p}", p = q(path))),
    )
    .await?;
    match ran.exit.code {
        Some(0) => Ok(Some(ran.output)),
        Some(44) => Ok(None),
        _ => Err(format!("cannot read `{path}`: {}", ran.text().trim())),
    }
}

/// Names in a directory on the target (hidden ones included), sorted.
async fn list(target: &Target<'_>, dir: &str) -> Result<Vec<String>, String> {
    let out = sh(target, &format!("ls -A {}", q(dir))).await?;
    let mut names: Vec<String> = String::from_utf8_lossy(&out)
        .lines()
        .map(str::to_string)
        .collect();
    names.sort();
    Ok(names)
}

async fn mode(target: &Target<'_>, path: &str) -> Result<u32, String> {
    let out = sh(target, &format!("stat -c %a {}", q(path))).await?;
    let text = String::from_utf8_lossy(&out);
    u32::from_str_radix(text.trim(), 8).map_err(|_| format!("bad mode `{text}` of `{path}`"))
}

fn check(condition: bool, why: impl FnOnce() -> String) -> CaseResult {
    if condition { Ok(()) } else { Err(why()) }
}

/// A fresh local directory for upload sources, removed on drop.
struct LocalDir(PathBuf);

impl LocalDir {
    fn new() -> LocalDir {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "baton-conformance-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("the temp dir is writable");
        LocalDir(dir)
    }

    fn file(&self, name: &str, content: &[u8]) -> PathBuf {
        let path = self.0.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("the temp dir is writable");
        }
        std::fs::write(&path, content).expect("the temp dir is writable");
        path
    }
}

impl Drop for LocalDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn upload_spec(source: &Path, dest: &str, mode: Option<u32>) -> UploadSpec {
    UploadSpec {
        source: source.to_path_buf(),
        dest: dest.to_string(),
        mode,
        owner: None,
        run_as: None,
    }
}

/// Poll `condition` (a command on the target) until it holds: tests wait on state, with a
/// deadline instead of a fixed sleep.
async fn eventually<F, Fut>(what: &str, limit: Duration, mut condition: F) -> CaseResult
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<bool, String>>,
{
    let start = Instant::now();
    loop {
        if condition().await? {
            return Ok(());
        }
        if start.elapsed() > limit {
            return Err(format!("{what}: not within {limit:?}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Whether any process whose pid is listed in `pidfile` on the target is still alive (not a
/// zombie).
async fn any_alive(target: &Target<'_>, pidfile: &str) -> Result<bool, String> {
    let out = sh(
        target,
        &format!(
            "for p in $(cat {}); do if [ -e /proc/$p ] && [ \"$(cut -d' ' -f3 /proc/$p/stat)\" != Z ]; \
             then echo alive; fi; done; true",
            q(pidfile)
        ),
    )
    .await?;
    Ok(!out.is_empty())
}

/// The script of the tree-kill cases: a child and a grandchild that ignores TERM (so KILL after
/// the grace period is needed), their pids written to `pidfile`, then "started" printed.
fn tree_script(pidfile: &str) -> String {
    format!(
        "sleep 300 & echo $! >> {p}; (trap '' TERM; sleep 300 & echo $! >> {p}; wait) & echo $! >> {p}; \
         echo started; wait",
        p = q(pidfile)
    )
}

// ---------------------------------------------------------------- commands

async fn exit_codes(t: &Target<'_>) -> CaseResult {
    let ran = run(t, &spec("exit 3")).await?;
    check(
        ran.exit.outcome == Outcome::Exited && ran.exit.code == Some(3),
        || format!("`exit 3` gave {:?}", ran.exit),
    )?;
    check(ran.exit.to_string() == "exit code 3", || {
        format!("displayed as `{}`", ran.exit)
    })?;
    let ran = run(t, &spec("true")).await?;
    check(ran.exit.success(), || format!("`true` gave {:?}", ran.exit))?;
    // -e and pipefail: a failing command in the middle of a pipeline fails the script.
    let ran = run(t, &spec("false | cat; echo not reached")).await?;
    check(
        ran.exit.code == Some(1) && !ran.text().contains("not reached"),
        || format!("pipefail: {:?}, output {:?}", ran.exit, ran.text()),
    )
}

async fn killed_by_a_signal(t: &Target<'_>) -> CaseResult {
    let ran = run(t, &spec("kill -KILL $$")).await?;
    check(
        ran.exit.outcome == Outcome::Exited
            && ran.exit.code.is_none()
            && ran.exit.signal == Some(9),
        || format!("`kill -KILL $$` gave {:?}", ran.exit),
    )?;
    check(
        ran.exit.to_string() == "killed by signal 9 (SIGKILL)",
        || format!("displayed as `{}`", ran.exit),
    )
}

async fn env_values_pass_unchanged(t: &Target<'_>) -> CaseResult {
    let value = "it's \"quoted\" $HOME `x` \\ \n second line; *";
    let mut s = spec("printf '%s|%s' \"$ODD\" \"$EMPTY\"");
    s.env = vec![
        ("ODD".into(), value.into()),
        ("EMPTY".into(), String::new()),
    ];
    let ran = run(t, &s).await?;
    check(
        ran.exit.success() && ran.text() == format!("{value}|"),
        || format!("got {:?} ({:?})", ran.text(), ran.exit),
    )
}

async fn invalid_env_names_are_refused(t: &Target<'_>) -> CaseResult {
    let mut s = spec("echo ran");
    s.env = vec![("A;touch x".into(), "1".into())];
    match run_with(t, &s, &CancellationToken::new(), |_| {}).await {
        Err(e) if e.to_string().contains("A;touch x") => Ok(()),
        Err(e) => Err(format!("the error does not name the variable: {e}")),
        Ok(ran) => Err(format!("it ran: {:?} {:?}", ran.exit, ran.text())),
    }
}

async fn cwd_is_used(t: &Target<'_>) -> CaseResult {
    let dir = format!("{}/it's here", t.scratch);
    sh(t, &format!("mkdir -p {}", q(&dir))).await?;
    let mut s = spec("pwd");
    s.cwd = Some(dir.clone().into());
    let ran = run(t, &s).await?;
    check(ran.text() == format!("{dir}\n"), || {
        format!("pwd printed {:?}", ran.text())
    })
}

async fn a_missing_cwd_fails_naming_it(t: &Target<'_>) -> CaseResult {
    let dir = format!("{}/missing", t.scratch);
    let mut s = spec("echo ran");
    s.cwd = Some(dir.clone().into());
    // Local executors fail to spawn, shells fail the command: either way, named, and not run.
    match run_with(t, &s, &CancellationToken::new(), |_| {}).await {
        Err(e) => check(e.to_string().contains(&dir), || format!("error: {e}")),
        Ok(ran) => check(
            !ran.exit.success() && ran.text().contains(&dir) && !ran.text().contains("ran"),
            || format!("{:?}: {:?}", ran.exit, ran.text()),
        ),
    }
}

async fn stdin_is_empty(t: &Target<'_>) -> CaseResult {
    let ran = run(t, &spec("cat; echo done")).await?;
    check(ran.text() == "done\n", || format!("got {:?}", ran.text()))
}

async fn stdout_and_stderr_keep_their_order(t: &Target<'_>) -> CaseResult {
    let ran = run(
        t,
        &spec("echo 1; echo 2 >&2; echo 3; echo 4 >&2; printf 5 >&2"),
    )
    .await?;
    check(ran.text() == "1\n2\n3\n4\n5", || {
        format!("got {:?}", ran.text())
    })
}

async fn large_output_arrives_whole(t: &Target<'_>) -> CaseResult {
    let ran = run(
        t,
        &spec("seq 1 300000; head -c 600000 /dev/zero | tr '\\0' x"),
    )
    .await?;
    let mut expected = String::new();
    for i in 1..=300_000 {
        expected.push_str(&i.to_string());
        expected.push('\n');
    }
    expected.push_str(&"x".repeat(600_000));
    check(ran.output == expected.as_bytes(), || {
        format!(
            "{} bytes instead of {} (ends {:?})",
            ran.output.len(),
            expected.len(),
            String::from_utf8_lossy(&ran.output[ran.output.len().saturating_sub(40)..])
        )
    })
}

async fn invalid_utf8_is_preserved(t: &Target<'_>) -> CaseResult {
    let ran = run(t, &spec("printf '\\377\\376ok\\n\\200'")).await?;
    check(ran.output == b"\xff\xfeok\n\x80", || {
        format!("got {:?}", ran.output)
    })
}

async fn timeout_kills_the_whole_tree(t: &Target<'_>) -> CaseResult {
    let pidfile = format!("{}/pids", t.scratch);
    let mut s = spec(&tree_script(&pidfile));
    s.timeout = Some(Duration::from_secs(3));
    let started = Instant::now();
    let ran = run(t, &s).await?;
    check(ran.exit.outcome == Outcome::TimedOut, || {
        format!("outcome {:?}", ran.exit)
    })?;
    check(ran.exit.to_string() == "timed out after 3s", || {
        format!("displayed as `{}`", ran.exit)
    })?;
    check(ran.text().contains("started"), || {
        format!(
            "the script did not start within its timeout (overloaded machine?): {:?}",
            ran.text()
        )
    })?;
    // TERM is ignored by the grandchild: only KILL after the grace ends it.
    check(started.elapsed() < Duration::from_secs(20), || {
        format!("took {:?}", started.elapsed())
    })?;
    eventually(
        "the timed-out tree to be gone",
        Duration::from_secs(10),
        || async { Ok(!any_alive(t, &pidfile).await?) },
    )
    .await
}

async fn cancel_kills_the_whole_tree(t: &Target<'_>) -> CaseResult {
    let pidfile = format!("{}/pids", t.scratch);
    let cancel = CancellationToken::new();
    let on_started = cancel.clone();
    let ran = run_with(t, &spec(&tree_script(&pidfile)), &cancel, move |all| {
        if all.ends_with(b"started\n") {
            on_started.cancel();
        }
    })
    .await
    .map_err(|e| e.to_string())?;
    check(ran.exit.outcome == Outcome::Cancelled, || {
        format!("outcome {:?}", ran.exit)
    })?;
    check(ran.exit.to_string() == "cancelled", || {
        format!("displayed as `{}`", ran.exit)
    })?;
    eventually(
        "the cancelled tree to be gone",
        Duration::from_secs(10),
        || async { Ok(!any_alive(t, &pidfile).await?) },
    )
    .await
}

async fn background_jobs_end_with_the_command(t: &Target<'_>) -> CaseResult {
    let pidfile = format!("{}/pids", t.scratch);
    let ran = run(
        t,
        &spec(&format!(
            "sleep 300 >/dev/null 2>&1 & echo $! > {}; echo done",
            q(&pidfile)
        )),
    )
    .await?;
    check(ran.exit.success(), || format!("{:?}", ran.exit))?;
    eventually(
        "the background job to end",
        Duration::from_secs(10),
        || async { Ok(!any_alive(t, &pidfile).await?) },
    )
    .await
}

// ---------------------------------------------------------------- uploads

async fn upload_creates_directories_and_sets_the_mode(t: &Target<'_>) -> CaseResult {
    let local = LocalDir::new();
    let source = local.file("payload", b"hello\n");
    let dest = format!("{}/a/b/payload.txt", t.scratch);
    t.executor
        .upload(&upload_spec(&source, &dest, Some(0o640)))
        .await
        .map_err(|e| format!("upload failed: {e}"))?;
    check(read(t, &dest).await?.as_deref() == Some(b"hello\n"), || {
        "content differs".into()
    })?;
    check(mode(t, &dest).await? == 0o640, || "mode is not 640".into())?;
    let names = list(t, &format!("{}/a/b", t.scratch)).await?;
    check(names == ["payload.txt"], || {
        format!("left beside it: {names:?}")
    })
}

async fn upload_replaces_a_file_keeping_its_mode(t: &Target<'_>) -> CaseResult {
    let dest = format!("{}/conf", t.scratch);
    sh(t, &format!("printf old > {d}; chmod 604 {d}", d = q(&dest))).await?;
    let local = LocalDir::new();
    let source = local.file("conf", b"new\n");
    t.executor
        .upload(&upload_spec(&source, &dest, None))
        .await
        .map_err(|e| format!("upload failed: {e}"))?;
    check(read(t, &dest).await?.as_deref() == Some(b"new\n"), || {
        "content differs".into()
    })?;
    let m = mode(t, &dest).await?;
    check(m == 0o604, || {
        format!("mode {m:o}, not the replaced file's 604")
    })?;
    let names = list(t, &t.scratch).await?;
    check(names == ["conf"], || format!("left beside it: {names:?}"))
}

async fn upload_new_file_gets_the_umask_mode(t: &Target<'_>) -> CaseResult {
    let umask = String::from_utf8_lossy(&sh(t, "umask").await?)
        .trim()
        .to_string();
    let umask = u32::from_str_radix(&umask, 8).map_err(|_| format!("umask {umask:?}"))?;
    let local = LocalDir::new();
    let source = local.file("f", b"x");
    let dest = format!("{}/f", t.scratch);
    t.executor
        .upload(&upload_spec(&source, &dest, None))
        .await
        .map_err(|e| format!("upload failed: {e}"))?;
    let m = mode(t, &dest).await?;
    // Not the temporary file's 0600: a new file looks as if the login shell had written it.
    check(m == 0o666 & !umask, || {
        format!("mode {m:o} with umask {umask:o}")
    })
}

async fn upload_preserves_binary_bytes(t: &Target<'_>) -> CaseResult {
    let bytes: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let local = LocalDir::new();
    let source = local.file("bin", &bytes);
    let dest = format!("{}/bin", t.scratch);
    t.executor
        .upload(&upload_spec(&source, &dest, None))
        .await
        .map_err(|e| format!("upload failed: {e}"))?;
    check(read(t, &dest).await?.as_deref() == Some(&bytes[..]), || {
        "bytes differ".into()
    })
}

async fn upload_of_an_empty_file(t: &Target<'_>) -> CaseResult {
    let local = LocalDir::new();
    let source = local.file("empty", b"");
    let dest = format!("{}/empty", t.scratch);
    sh(t, &format!("printf old > {}", q(&dest))).await?;
    t.executor
        .upload(&upload_spec(&source, &dest, None))
        .await
        .map_err(|e| format!("upload failed: {e}"))?;
    check(read(t, &dest).await?.as_deref() == Some(b""), || {
        "not emptied".into()
    })
}

async fn upload_of_a_directory_onto_a_file_is_refused(t: &Target<'_>) -> CaseResult {
    let dest = format!("{}/FILE", t.scratch);
    sh(t, &format!("printf keep > {}", q(&dest))).await?;
    let local = LocalDir::new();
    local.file("tree/x", b"x");
    let result = t
        .executor
        .upload(&upload_spec(&local.0.join("tree"), &dest, None))
        .await;
    match result {
        Err(e) => check(
            e.to_string().contains(&dest) && e.to_string().contains("not a directory"),
            || format!("the error does not name the destination and why: {e}"),
        )?,
        Ok(()) => return Err("a directory was uploaded over a file".into()),
    }
    check(read(t, &dest).await?.as_deref() == Some(b"keep"), || {
        "the destination changed".into()
    })?;
    let names = list(t, &t.scratch).await?;
    check(names == ["FILE"], || format!("left beside it: {names:?}"))
}

async fn upload_of_a_file_onto_a_directory_is_refused(t: &Target<'_>) -> CaseResult {
    let dest = format!("{}/DIR", t.scratch);
    sh(
        t,
        &format!("mkdir {d}; printf keep > {d}/inside", d = q(&dest)),
    )
    .await?;
    let local = LocalDir::new();
    let source = local.file("f", b"x");
    match t.executor.upload(&upload_spec(&source, &dest, None)).await {
        Err(e) => check(
            e.to_string().contains(&dest) && e.to_string().contains("is a directory"),
            || format!("the error does not name the destination and why: {e}"),
        )?,
        Ok(()) => return Err("a file was uploaded onto a directory".into()),
    }
    let names = list(t, &t.scratch).await?;
    check(names == ["DIR"], || format!("left beside it: {names:?}"))?;
    let inside = list(t, &dest).await?;
    check(inside == ["inside"], || {
        format!("left inside it: {inside:?}")
    })
}

async fn upload_of_a_directory_syncs_the_tree(t: &Target<'_>) -> CaseResult {
    let local = LocalDir::new();
    local.file("tree/top.txt", b"top\n");
    local.file("tree/sub/deep.txt", b"deep\n");
    std::fs::create_dir_all(local.0.join("tree/empty")).map_err(|e| e.to_string())?;
    let dest = format!("{}/site", t.scratch);
    sh(
        t,
        &format!(
            "mkdir -p {d}/sub; printf old > {d}/top.txt; printf mine > {d}/extra",
            d = q(&dest)
        ),
    )
    .await?;
    t.executor
        .upload(&upload_spec(&local.0.join("tree"), &dest, Some(0o640)))
        .await
        .map_err(|e| format!("upload failed: {e}"))?;
    for (path, content) in [
        ("top.txt", &b"top\n"[..]),
        ("sub/deep.txt", b"deep\n"),
        ("extra", b"mine"),
    ] {
        let full = format!("{dest}/{path}");
        check(read(t, &full).await?.as_deref() == Some(content), || {
            format!("`{path}` differs")
        })?;
    }
    check(
        mode(t, &format!("{dest}/sub/deep.txt")).await? == 0o640,
        || "file mode not applied".into(),
    )?;
    let names = list(t, &dest).await?;
    check(names == ["empty", "extra", "sub", "top.txt"], || {
        format!("tree holds {names:?}")
    })?;
    let sub = list(t, &format!("{dest}/sub")).await?;
    check(sub == ["deep.txt"], || format!("sub holds {sub:?}"))
}

async fn failed_upload_leaves_no_trace(t: &Target<'_>) -> CaseResult {
    let local = LocalDir::new();
    let source = local.file("f", b"new");
    // An owner that does not exist: the failure comes after the bytes are on the target.
    let existing = format!("{}/kept", t.scratch);
    sh(t, &format!("printf old > {}", q(&existing))).await?;
    let mut spec = upload_spec(&source, &existing, None);
    spec.owner = Some("no-such-user-baton".into());
    let err = match t.executor.upload(&spec).await {
        Err(e) => e.to_string(),
        Ok(()) => return Err("upload with an unknown owner succeeded".into()),
    };
    check(err.contains("no-such-user-baton"), || {
        format!("the error does not name the owner: {err}")
    })?;
    check(read(t, &existing).await?.as_deref() == Some(b"old"), || {
        "the destination changed".into()
    })?;
    // Into directories that do not exist yet: they are removed again.
    let fresh = format!("{}/new/dirs/f", t.scratch);
    spec.dest = fresh.clone();
    if t.executor.upload(&spec).await.is_ok() {
        return Err("upload with an unknown owner succeeded".into());
    }
    let names = list(t, &t.scratch).await?;
    check(names == ["kept"], || format!("left behind: {names:?}"))
}

async fn upload_of_a_fifo_is_refused_before_touching_the_target(t: &Target<'_>) -> CaseResult {
    let local = LocalDir::new();
    let fifo = local.0.join("fifo");
    let made = crate::host_command("mkfifo")
        .arg(&fifo)
        .status()
        .map_err(|e| e.to_string())?;
    check(made.success(), || "mkfifo failed".into())?;
    let dest = format!("{}/d/f", t.scratch);
    match t.executor.upload(&upload_spec(&fifo, &dest, None)).await {
        Err(e) => check(e.to_string().contains("not a regular file"), || {
            format!("unclear error: {e}")
        })?,
        Ok(()) => return Err("a FIFO was uploaded".into()),
    }
    let names = list(t, &t.scratch).await?;
    check(names.is_empty(), || format!("left behind: {names:?}"))
}

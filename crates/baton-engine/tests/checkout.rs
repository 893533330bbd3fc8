//! A run with a `checkout` works in that commit's tree, whatever the project root's HEAD is;
//! a checkout that cannot be made fails the run before any stage runs.

#![allow(clippy::disallowed_methods)] // tests drive real git

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use baton_engine::{Checkout, Engine, EventSink, LocalOnly, RunRequest};
use baton_store::{Event, EventKind, SqliteStore, Status, Store};
use tokio_util::sync::CancellationToken;

/// A directory removed at the end of the test (the engine has no tempfile dependency).
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        // Plain characters only: a path may end up in a shell command.
        let dir = std::env::temp_dir().join(format!("baton-engine-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir.canonicalize().unwrap())
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "commit.gpgsign=false",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Commit `file` with `content` in `repo`; returns the commit id.
fn commit_file(repo: &Path, content: &str) -> String {
    std::fs::write(repo.join("file"), content).unwrap();
    git(repo, &["add", "file"]);
    git(repo, &["commit", "-q", "-m", content]);
    git(repo, &["rev-parse", "HEAD"])
}

#[derive(Default)]
struct Collect(Mutex<Vec<Event>>);

impl EventSink for Collect {
    fn event(&self, event: &Event) {
        self.0.lock().unwrap().push(event.clone());
    }
}

impl Collect {
    fn output(&self) -> String {
        let events = self.0.lock().unwrap();
        let mut text = String::new();
        for event in events.iter() {
            if let EventKind::Output { data, .. } = &event.kind {
                text.push_str(&String::from_utf8_lossy(data));
            }
        }
        text
    }

    fn steps_started(&self) -> usize {
        let events = self.0.lock().unwrap();
        events
            .iter()
            .filter(|e| matches!(e.kind, EventKind::StepStarted { .. }))
            .count()
    }
}

/// A project in `root` whose pipeline `show` prints `file` and the working directory.
fn engine(root: &Path) -> (Engine, Arc<dyn Store>, Arc<Collect>) {
    std::fs::write(
        root.join("baton.yaml"),
        "pipelines:\n  show: { stages: { cat: { run: \"cat file; echo; pwd\" } } }\n",
    )
    .unwrap();
    let project = baton_model::load(&root.join("baton.yaml")).unwrap();
    let state = root.join(".baton");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&state).unwrap());
    let sink = Arc::new(Collect::default());
    let engine = Engine::new(
        Arc::new(project),
        store.clone(),
        Arc::new(LocalOnly::default()),
        vec![sink.clone() as Arc<dyn EventSink>],
        state,
    );
    (engine, store, sink)
}

fn request(checkout: Option<Checkout>) -> RunRequest {
    RunRequest {
        pipeline: "show".into(),
        trigger: "commit".into(),
        branch: Some("main".into()),
        checkout,
        actor: "tester".into(),
        ..RunRequest::default()
    }
}

#[test]
fn a_checked_out_run_sees_its_commit_and_a_manual_run_the_project_root() {
    let dir = TempDir::new("checkout");
    let repo = dir.0.join("repo");
    std::fs::create_dir(&repo).unwrap();
    git(&repo, &["init", "-q"]);
    let a = commit_file(&repo, "content A");
    let b = commit_file(&repo, "content B");
    let (engine, store, sink) = engine(&repo);
    let runtime = tokio::runtime::Runtime::new().unwrap();

    let outcome = runtime
        .block_on(engine.run(
            request(Some(Checkout {
                source: repo.clone(),
                commit: a.clone(),
            })),
            CancellationToken::new(),
        ))
        .unwrap();
    assert_eq!(outcome.status, Status::Success, "{:?}", outcome.reason);
    let output = sink.output();
    assert!(output.contains("content A"), "{output}");
    assert!(!output.contains("content B"), "{output}");
    let workspace = repo.join(".baton/workspaces").join(outcome.run.to_string());
    assert!(
        output.contains(&workspace.display().to_string()),
        "{output}"
    );
    // The run records the request's branch and commit, not the project root's HEAD (B).
    let record = store.run(outcome.run).unwrap().unwrap();
    assert_eq!(record.commit.as_deref(), Some(a.as_str()));
    assert_eq!(record.branch.as_deref(), Some("main"));
    // The project's own tree is untouched.
    assert_eq!(git(&repo, &["rev-parse", "HEAD"]), b);
    assert_eq!(
        std::fs::read_to_string(repo.join("file")).unwrap(),
        "content B"
    );

    sink.0.lock().unwrap().clear();
    let manual = RunRequest {
        trigger: "manual".into(),
        branch: None,
        ..request(None)
    };
    let outcome = runtime
        .block_on(engine.run(manual, CancellationToken::new()))
        .unwrap();
    assert_eq!(outcome.status, Status::Success, "{:?}", outcome.reason);
    let output = sink.output();
    assert!(output.contains("content B"), "{output}");
    assert!(
        output.contains(&format!("{}\n", repo.display())),
        "{output}"
    );
    let record = store.run(outcome.run).unwrap().unwrap();
    assert_eq!(record.commit.as_deref(), Some(b.as_str()));
}

#[test]
fn a_commit_missing_from_the_source_is_fetched_from_its_origin() {
    let dir = TempDir::new("fetch");
    let upstream = dir.0.join("upstream");
    std::fs::create_dir(&upstream).unwrap();
    git(&upstream, &["init", "-q"]);
    commit_file(&upstream, "old");
    let source = dir.0.join("source");
    git(
        &dir.0,
        &[
            "clone",
            "-q",
            upstream.to_str().unwrap(),
            source.to_str().unwrap(),
        ],
    );
    let new = commit_file(&upstream, "new");
    let project = dir.0.join("project");
    std::fs::create_dir(&project).unwrap();
    let (engine, _store, sink) = engine(&project);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let outcome = runtime
        .block_on(engine.run(
            request(Some(Checkout {
                source,
                commit: new,
            })),
            CancellationToken::new(),
        ))
        .unwrap();
    assert_eq!(outcome.status, Status::Success, "{:?}", outcome.reason);
    assert!(sink.output().contains("new"), "{}", sink.output());
}

#[test]
fn a_commit_that_cannot_be_checked_out_fails_the_run_before_any_stage() {
    let dir = TempDir::new("bad");
    let repo = dir.0.join("repo");
    std::fs::create_dir(&repo).unwrap();
    git(&repo, &["init", "-q"]);
    commit_file(&repo, "content A");
    let (engine, store, sink) = engine(&repo);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let bad = "0123456789abcdef0123456789abcdef01234567";
    let outcome = runtime
        .block_on(engine.run(
            request(Some(Checkout {
                source: repo.clone(),
                commit: bad.into(),
            })),
            CancellationToken::new(),
        ))
        .unwrap();
    assert_eq!(outcome.status, Status::Failed);
    let reason = outcome.reason.unwrap();
    assert!(reason.contains(bad), "{reason}");
    assert!(reason.contains("cannot check out commit"), "{reason}");
    // git's own words are in it (the repository has no `origin` to fetch from).
    assert!(reason.contains("origin"), "{reason}");
    assert_eq!(sink.steps_started(), 0, "no stage runs in the wrong tree");
    let record = store.run(outcome.run).unwrap().unwrap();
    assert_eq!(record.status, Status::Failed);
    assert_eq!(record.commit.as_deref(), Some(bad));

    // A source that is not a repository at all.
    let outcome = runtime
        .block_on(engine.run(
            request(Some(Checkout {
                source: dir.0.join("nowhere"),
                commit: bad.into(),
            })),
            CancellationToken::new(),
        ))
        .unwrap();
    assert_eq!(outcome.status, Status::Failed);
    let reason = outcome.reason.unwrap();
    assert!(reason.contains("nowhere"), "{reason}");
    assert_eq!(sink.steps_started(), 0);
}

#[test]
fn git_past_its_deadline_is_killed_with_its_children() {
    let dir = TempDir::new("timeout");
    let pidfile = dir.0.join("pid");
    // An alias runs through a shell, a child of git: the whole group must go.
    let alias = format!("alias.hang=!echo $$ > {}; exec sleep 30", pidfile.display());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let started = std::time::Instant::now();
    let error = runtime
        .block_on(baton_engine::git::run_git(
            Some(&dir.0),
            ["-c", alias.as_str(), "hang"],
            std::time::Duration::from_millis(500),
        ))
        .unwrap_err();
    assert_eq!(
        error,
        baton_engine::git::GitError::TimedOut(std::time::Duration::from_millis(500))
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    let pid = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .to_string();
    let gone = (0..100).any(|_| {
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // Gone, or a zombie waiting for its new parent.
        let dead = state.is_empty()
            || state
                .rsplit(')')
                .next()
                .is_some_and(|s| s.trim_start().starts_with('Z'));
        if !dead {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        dead
    });
    assert!(gone, "the alias's `sleep` (pid {pid}) outlived the timeout");
}

#[test]
fn a_retry_of_a_checked_out_run_works_in_the_same_commit() {
    let dir = TempDir::new("retry");
    let repo = dir.0.join("repo");
    std::fs::create_dir(&repo).unwrap();
    git(&repo, &["init", "-q"]);
    let a = commit_file(&repo, "content A");
    commit_file(&repo, "content B");
    let marker = dir.0.join("ready");
    std::fs::write(
        repo.join("baton.yaml"),
        format!(
            "pipelines:\n  show: {{ stages: {{ cat: {{ run: \"cat file; echo; test -f {}\" }} }} }}\n",
            marker.display()
        ),
    )
    .unwrap();
    let project = baton_model::load(&repo.join("baton.yaml")).unwrap();
    let state = repo.join(".baton");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&state).unwrap());
    let sink = Arc::new(Collect::default());
    let engine = Engine::new(
        Arc::new(project),
        store.clone(),
        Arc::new(LocalOnly::default()),
        vec![sink.clone() as Arc<dyn EventSink>],
        state,
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let first = runtime
        .block_on(engine.run(
            request(Some(Checkout {
                source: repo.clone(),
                commit: a.clone(),
            })),
            CancellationToken::new(),
        ))
        .unwrap();
    assert_eq!(first.status, Status::Failed);

    std::fs::write(&marker, "").unwrap();
    sink.0.lock().unwrap().clear();
    let retry = runtime
        .block_on(engine.retry(first.run, "tester".into(), None, CancellationToken::new()))
        .unwrap();
    assert_eq!(retry.status, Status::Success, "{:?}", retry.reason);
    let output = sink.output();
    assert!(output.contains("content A"), "{output}");
    let record = store.run(retry.run).unwrap().unwrap();
    assert_eq!(record.commit.as_deref(), Some(a.as_str()));
}

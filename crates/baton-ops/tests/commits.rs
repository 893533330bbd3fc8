//! Commit triggers against real git repositories: a first poll is a baseline, a commit on a
//! watched branch is one new head (however many servers poll), a remote repository goes
//! through the bare cache, and an unreachable one is a clear error.

#![allow(clippy::disallowed_methods)] // tests drive real git

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use baton_engine::RunRequest;
use baton_ops::{CommitWatch, ErrorKind, NewHead, Ops};
use baton_store::Status;
use tokio_util::sync::CancellationToken;

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

/// Commit `file` with `content` on the current branch of `repo`; returns the commit id.
fn commit(repo: &Path, content: &str) -> String {
    std::fs::write(repo.join("file"), content).unwrap();
    git(repo, &["add", "file"]);
    git(repo, &["commit", "-q", "-m", content]);
    git(repo, &["rev-parse", "HEAD"])
}

/// Commit on `branch` (created from the current branch if new), then go back to `main`.
fn commit_on(repo: &Path, branch: &str, content: &str) -> String {
    let exists = std::process::Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["rev-parse", "--verify", "--quiet", branch])
        .output()
        .unwrap()
        .status
        .success();
    if exists {
        git(repo, &["checkout", "-q", branch]);
    } else {
        git(repo, &["checkout", "-q", "-b", branch]);
    }
    let sha = commit(repo, content);
    git(repo, &["checkout", "-q", "main"]);
    sha
}

fn init_repo(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    git(dir, &["init", "-q"]);
    commit(dir, "first");
}

/// A project in `root` whose pipeline `build` has commit trigger `trigger` and prints `file`.
fn project(root: &Path, trigger: &str) -> PathBuf {
    let file = root.join("baton.yaml");
    std::fs::write(
        &file,
        format!(
            "pipelines:\n  build:\n    triggers: [{trigger}]\n    stages: {{ show: {{ run: \"cat file\" }} }}\n"
        ),
    )
    .unwrap();
    file
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

fn only_watch(ops: &Ops) -> CommitWatch {
    let watches = ops.commit_watches();
    assert_eq!(watches.len(), 1, "{watches:?}");
    watches.into_iter().next().unwrap()
}

#[test]
fn a_first_poll_is_a_baseline_and_a_commit_on_a_watched_branch_is_one_new_head() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().canonicalize().unwrap().join("repo");
    init_repo(&repo);
    let file = project(
        &repo,
        "{ commit: { branches: [main, 'release/*'], interval: 5s } }",
    );
    let ops = Ops::open(&file).unwrap();
    let watch = only_watch(&ops);
    assert_eq!(
        watch,
        CommitWatch {
            pipeline: "build".into(),
            repo: ".".into(),
            branches: vec!["main".into(), "release/*".into()],
            interval: Duration::from_secs(5),
        }
    );
    let rt = runtime();
    let poll = || rt.block_on(ops.poll_commits(&watch)).unwrap();

    // A fresh server does not run the heads it finds.
    assert_eq!(poll(), vec![]);
    let sha = commit(&repo, "second");
    assert_eq!(
        poll(),
        vec![NewHead {
            pipeline: "build".into(),
            repo: ".".into(),
            branch: "main".into(),
            commit: sha.clone(),
            source: repo.clone(),
        }]
    );
    assert_eq!(poll(), vec![], "a head is acted on once");

    // Unwatched branches never count.
    commit_on(&repo, "feature/x", "feature");
    commit_on(&repo, "release/a/b", "too deep for `*`");
    assert_eq!(poll(), vec![]);

    // A new watched branch is a baseline first, then moves.
    commit_on(&repo, "release/v1", "release");
    assert_eq!(poll(), vec![]);
    let release = commit_on(&repo, "release/v1", "release fix");
    let heads = poll();
    assert_eq!(heads.len(), 1, "{heads:?}");
    assert_eq!(heads[0].branch, "release/v1");
    assert_eq!(heads[0].commit, release);
    assert_eq!(poll(), vec![]);
}

#[test]
fn two_servers_polling_one_store_get_one_new_head_per_commit() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().canonicalize().unwrap().join("repo");
    init_repo(&repo);
    let file = project(&repo, "{ commit: { branches: [main] } }");
    let first = Arc::new(Ops::open(&file).unwrap());
    let second = Arc::new(Ops::open(&file).unwrap());
    let watch = only_watch(&first);
    let rt = runtime();
    rt.block_on(async {
        let (a, b) = tokio::join!(first.poll_commits(&watch), second.poll_commits(&watch));
        assert_eq!(
            a.unwrap().len() + b.unwrap().len(),
            0,
            "both see a baseline"
        );
        for round in 0..5 {
            let sha = commit(&repo, &format!("round {round}"));
            let (a, b) = tokio::join!(first.poll_commits(&watch), second.poll_commits(&watch));
            let heads: Vec<NewHead> = a.unwrap().into_iter().chain(b.unwrap()).collect();
            assert_eq!(heads.len(), 1, "round {round}: {heads:?}");
            assert_eq!(heads[0].commit, sha);
        }
    });
}

#[test]
fn a_url_goes_through_the_bare_cache_and_a_run_checks_the_commit_out_from_it() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().canonicalize().unwrap();
    let upstream = base.join("upstream");
    init_repo(&upstream);
    let url = format!("file://{}", upstream.display());
    // The project is not a git repository at all.
    let root = base.join("project");
    std::fs::create_dir(&root).unwrap();
    let file = project(
        &root,
        &format!("{{ commit: {{ repo: '{url}', branches: [main] }} }}"),
    );
    let ops = Ops::open(&file).unwrap();
    let watch = only_watch(&ops);
    assert_eq!(watch.repo, url);
    let rt = runtime();

    assert_eq!(rt.block_on(ops.poll_commits(&watch)).unwrap(), vec![]);
    let caches: Vec<PathBuf> = std::fs::read_dir(root.join(".baton/repos"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(caches.len(), 1, "{caches:?}");
    let cache = caches[0].clone();
    let name = cache.file_name().unwrap().to_str().unwrap().to_string();
    assert_eq!(name.len(), "0123456789abcdef.git".len(), "{name}");
    assert_eq!(git(&cache, &["rev-parse", "--is-bare-repository"]), "true");

    let sha = commit(&upstream, "from upstream");
    let heads = rt.block_on(ops.poll_commits(&watch)).unwrap();
    assert_eq!(heads.len(), 1, "{heads:?}");
    let head = &heads[0];
    assert_eq!(head.commit, sha);
    assert_eq!(head.source, cache);
    // Fetched only now, and into the cache: the source holds the commit.
    git(
        &head.source,
        &["cat-file", "-e", &format!("{sha}^{{commit}}")],
    );

    // The run of the head works in that commit.
    let engine = ops.engine(ops.targets(), Vec::new());
    let outcome = rt
        .block_on(engine.run(
            RunRequest {
                pipeline: head.pipeline.clone(),
                trigger: "commit".into(),
                branch: Some(head.branch.clone()),
                checkout: Some(head.checkout()),
                actor: "commit".into(),
                ..RunRequest::default()
            },
            CancellationToken::new(),
        ))
        .unwrap();
    assert_eq!(outcome.status, Status::Success, "{:?}", outcome.reason);
    let record = ops.store.run(outcome.run).unwrap().unwrap();
    assert_eq!(record.commit.as_deref(), Some(sha.as_str()));
    let workspace = root.join(".baton/workspaces").join(outcome.run.to_string());
    assert_eq!(
        std::fs::read_to_string(workspace.join("file")).unwrap(),
        "from upstream"
    );
}

#[test]
fn an_unreachable_repository_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    for repo in ["file:///nonexistent/baton-repo.git", "../missing-repo"] {
        let file = project(&root, &format!("{{ commit: {{ repo: '{repo}' }} }}"));
        let ops = Ops::open(&file).unwrap();
        let watch = only_watch(&ops);
        let error = runtime().block_on(ops.poll_commits(&watch)).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Failed);
        assert!(error.message.contains(repo), "{}", error.message);
        assert!(
            error.message.contains("cannot list its branches"),
            "{}",
            error.message
        );
        // git's own words follow.
        assert!(error.message.contains("git failed"), "{}", error.message);
    }
}

#[test]
fn a_fetch_that_fails_gives_the_claim_back_for_the_next_poll() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().canonicalize().unwrap();
    let upstream = base.join("upstream");
    init_repo(&upstream);
    let url = format!("file://{}", upstream.display());
    let root = base.join("project");
    std::fs::create_dir(&root).unwrap();
    let file = project(&root, &format!("{{ commit: {{ repo: '{url}' }} }}"));
    let ops = Ops::open(&file).unwrap();
    let watch = only_watch(&ops);
    let rt = runtime();
    assert_eq!(rt.block_on(ops.poll_commits(&watch)).unwrap(), vec![]);
    let cache = std::fs::read_dir(root.join(".baton/repos"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();

    // The cache cannot take objects: listing works, fetching does not.
    std::fs::remove_dir_all(cache.join("objects")).unwrap();
    std::fs::write(cache.join("objects"), "").unwrap();
    let sha = commit(&upstream, "second");
    let error = rt.block_on(ops.poll_commits(&watch)).unwrap_err();
    assert_eq!(error.kind, ErrorKind::Failed);
    assert!(
        error.message.contains("cannot fetch branch `main`"),
        "{}",
        error.message
    );

    // Repaired, the next poll still sees the move.
    std::fs::remove_dir_all(&cache).ok();
    std::fs::remove_file(&cache).ok();
    let heads = rt.block_on(ops.poll_commits(&watch)).unwrap();
    assert_eq!(heads.len(), 1, "{heads:?}");
    assert_eq!(heads[0].commit, sha);
}

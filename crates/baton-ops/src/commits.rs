//! Commit triggers: which (pipeline, repository, branch filter) the server watches, and one poll
//! of a repository — `git ls-remote` (cheap, no objects), the moved heads claimed by
//! compare-and-set in the store (so several servers on one store start one run per commit), and
//! only then the new commits fetched into the repository a run's checkout clones from.
//!
//! The server calls [`Ops::poll_commits`] every `interval` per [`CommitWatch`] and starts a run
//! of each [`NewHead`] with its [`NewHead::checkout`].

use std::path::PathBuf;
use std::time::Duration;

use baton_engine::Checkout;
use baton_engine::git::{GitError, run_git};
use baton_model::{Trigger, branch_matches};
use sha2::{Digest, Sha256};

use crate::error::{OpsError, OpsResult};
use crate::open::Ops;

/// How long one git command of a poll may take before it is killed: an unreachable host must
/// not hold the poller (or a credential helper hang it).
const GIT_TIMEOUT: Duration = Duration::from_secs(60);

/// The repository a commit trigger names when it names none.
pub const PROJECT_REPO: &str = ".";

/// One commit trigger of one pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitWatch {
    pub pipeline: String,
    /// As written in the trigger (the store's key); [`PROJECT_REPO`] for the project's own.
    pub repo: String,
    /// Branch globs ([`baton_model::branch_matches`]); empty means every branch.
    pub branches: Vec<String>,
    pub interval: Duration,
}

/// A branch head that moved since the last poll, claimed by this caller: start one run of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewHead {
    pub pipeline: String,
    /// As written in the trigger (see [`CommitWatch::repo`]).
    pub repo: String,
    pub branch: String,
    /// The full commit id the branch now points at.
    pub commit: String,
    /// A local repository holding the commit: where the run's checkout clones from.
    pub source: PathBuf,
}

impl NewHead {
    /// The checkout a run of this head works in.
    pub fn checkout(&self) -> Checkout {
        Checkout {
            source: self.source.clone(),
            commit: self.commit.clone(),
        }
    }
}

/// Where a watched repository is read from.
enum Location {
    /// A repository on this machine: listed and cloned from directly.
    Local(PathBuf),
    /// A remote one, fetched into a bare cache that runs clone from.
    Remote { url: String, cache: PathBuf },
}

impl Ops {
    /// Every commit trigger of the project, in pipeline order.
    pub fn commit_watches(&self) -> Vec<CommitWatch> {
        self.project
            .pipelines
            .values()
            .flat_map(|pipeline| {
                pipeline
                    .triggers
                    .iter()
                    .filter_map(move |trigger| match &trigger.value {
                        Trigger::Commit {
                            repo,
                            branches,
                            interval,
                        } => Some(CommitWatch {
                            pipeline: pipeline.name.clone(),
                            repo: repo.clone().unwrap_or_else(|| PROJECT_REPO.into()),
                            branches: branches.clone(),
                            interval: *interval,
                        }),
                        _ => None,
                    })
            })
            .collect()
    }

    /// One poll: `git ls-remote --heads REPO` (no fetch), keep branches matching the globs,
    /// compare each head with the store's; for each moved head (compare-and-set in the store so
    /// two servers polling start one run), fetch it (only then) into the source and return it.
    /// First sighting of a branch records it as baseline and returns nothing (a fresh server
    /// does not run every branch's old head). A deleted branch is left alone (its head stays
    /// recorded: pushing it again is a move).
    pub async fn poll_commits(&self, watch: &CommitWatch) -> OpsResult<Vec<NewHead>> {
        let location = self.locate(&watch.repo).await?;
        let heads = self.list_heads(watch, &location).await?;
        // Moves this caller won: (branch, commit, previous head).
        let mut claimed: Vec<(String, String, String)> = Vec::new();
        for (branch, commit) in heads {
            if !branch_matches(&watch.branches, &branch) {
                continue;
            }
            match self.claim(watch, &branch, &commit) {
                Ok(Some(previous)) => claimed.push((branch, commit, previous)),
                Ok(None) => {}
                Err(error) => {
                    self.give_back(watch, &claimed);
                    return Err(error);
                }
            }
        }
        let mut moved = Vec::with_capacity(claimed.len());
        for (branch, commit, _) in &claimed {
            match self.fetch_head(watch, &location, branch, commit).await {
                Ok(source) => moved.push(NewHead {
                    pipeline: watch.pipeline.clone(),
                    repo: watch.repo.clone(),
                    branch: branch.clone(),
                    commit: commit.clone(),
                    source,
                }),
                Err(error) => {
                    // Every claim of this poll goes back, so the next poll (of any server)
                    // starts them, instead of commits that never run.
                    self.give_back(watch, &claimed);
                    return Err(error);
                }
            }
        }
        Ok(moved)
    }

    /// Move the stored head of `branch` to `commit` if it is not there yet. `Some(previous)`
    /// when this caller moved it from `previous` (a run is due); `None` when it was there
    /// already, was seen for the first time (recorded as a baseline), or another poller moved
    /// it first.
    fn claim(&self, watch: &CommitWatch, branch: &str, commit: &str) -> OpsResult<Option<String>> {
        let stored = self
            .store
            .commit_head(&watch.pipeline, &watch.repo, branch)?;
        if stored.as_deref() == Some(commit) {
            return Ok(None);
        }
        let won = self.store.set_commit_head(
            &watch.pipeline,
            &watch.repo,
            branch,
            commit,
            stored.as_deref(),
        )?;
        Ok(stored.filter(|_| won))
    }

    /// Undo `claimed` moves (each only if still ours). Best effort: the caller reports the
    /// error that made it give them back.
    fn give_back(&self, watch: &CommitWatch, claimed: &[(String, String, String)]) {
        for (branch, commit, previous) in claimed {
            let _ = self.store.set_commit_head(
                &watch.pipeline,
                &watch.repo,
                branch,
                previous,
                Some(commit),
            );
        }
    }

    /// Where `repo` (as written) is: the project's repository, a path (relative to the project
    /// root) or a URL, whose bare cache is created on first use.
    async fn locate(&self, repo: &str) -> OpsResult<Location> {
        if is_url(repo) {
            let cache = self
                .state_dir
                .join("repos")
                .join(format!("{}.git", cache_name(repo)));
            if !cache.join("HEAD").is_file() {
                std::fs::create_dir_all(&cache).map_err(|e| {
                    OpsError::failed(format!(
                        "cannot create the repository cache `{}` for `{}`: {e}",
                        cache.display(),
                        redact(repo)
                    ))
                })?;
                // Two servers creating it at once is harmless: `init` on a repository only
                // reinitializes it.
                let init = [
                    std::ffi::OsStr::new("init"),
                    "--quiet".as_ref(),
                    "--bare".as_ref(),
                    cache.as_os_str(),
                ];
                run_git(None, init, GIT_TIMEOUT)
                    .await
                    .map_err(|e| git_failed(repo, "cannot create its repository cache", &e))?;
            }
            return Ok(Location::Remote {
                url: repo.to_string(),
                cache,
            });
        }
        let root = &self.project.root;
        if repo == PROJECT_REPO {
            // The project may sit in a subdirectory of its repository; git wants the top.
            let top = run_git(Some(root), ["rev-parse", "--show-toplevel"], GIT_TIMEOUT)
                .await
                .map(|out| PathBuf::from(out.trim()))
                .unwrap_or_else(|_| root.clone());
            return Ok(Location::Local(top));
        }
        let path = root.join(repo);
        Ok(Location::Local(std::path::absolute(&path).unwrap_or(path)))
    }

    /// The branches of the repository and their heads (`git ls-remote --heads`).
    async fn list_heads(
        &self,
        watch: &CommitWatch,
        location: &Location,
    ) -> OpsResult<Vec<(String, String)>> {
        let target = match location {
            Location::Local(path) => path.as_os_str(),
            Location::Remote { url, .. } => url.as_ref(),
        };
        let args = [
            std::ffi::OsStr::new("ls-remote"),
            "--heads".as_ref(),
            "--".as_ref(),
            target,
        ];
        let listing = run_git(None, args, GIT_TIMEOUT)
            .await
            .map_err(|e| git_failed(&watch.repo, "cannot list its branches", &e))?;
        Ok(parse_heads(&listing))
    }

    /// Make sure the source holds `commit` of `branch`; returns the source. A local repository
    /// has it already (ls-remote read it there); a remote one's branch is fetched into the
    /// cache.
    async fn fetch_head(
        &self,
        watch: &CommitWatch,
        location: &Location,
        branch: &str,
        commit: &str,
    ) -> OpsResult<PathBuf> {
        let (url, cache) = match location {
            Location::Local(path) => return Ok(path.clone()),
            Location::Remote { url, cache } => (url, cache),
        };
        let refspec = format!("+refs/heads/{branch}:refs/heads/{branch}");
        let fetch = ["fetch", "--quiet", "--", url.as_str(), refspec.as_str()];
        run_git(Some(cache), fetch, GIT_TIMEOUT)
            .await
            .map_err(|e| git_failed(&watch.repo, &format!("cannot fetch branch `{branch}`"), &e))?;
        let object = format!("{commit}^{{commit}}");
        if run_git(
            Some(cache),
            ["cat-file", "-e", object.as_str()],
            GIT_TIMEOUT,
        )
        .await
        .is_err()
        {
            // The branch was force-pushed past it between the listing and the fetch: ask for
            // the commit itself (servers allow it while it is reachable or not yet pruned).
            run_git(
                Some(cache),
                ["fetch", "--quiet", "--", url.as_str(), commit],
                GIT_TIMEOUT,
            )
            .await
            .map_err(|e| {
                git_failed(
                    &watch.repo,
                    &format!("branch `{branch}` no longer holds commit {commit}"),
                    &e,
                )
            })?;
        }
        Ok(cache.clone())
    }
}

/// Whether `repo` names a remote repository rather than a path.
fn is_url(repo: &str) -> bool {
    repo.contains("://") || repo.contains("git@")
}

/// The cache directory's name for `url`: the first 16 hex digits of its sha256 (stable, safe
/// as a file name, and the URL — maybe holding a token — is not written out).
fn cache_name(url: &str) -> String {
    let digest = Sha256::digest(url.as_bytes());
    hex::encode(digest)[..16].to_string()
}

/// `sha\trefs/heads/BRANCH` lines as (branch, sha).
fn parse_heads(listing: &str) -> Vec<(String, String)> {
    listing
        .lines()
        .filter_map(|line| {
            let (sha, name) = line.split_once('\t')?;
            let branch = name.trim().strip_prefix("refs/heads/")?;
            Some((branch.to_string(), sha.trim().to_string()))
        })
        .collect()
}

/// A failed git command of a poll, naming the repository (without credentials).
fn git_failed(repo: &str, what: &str, error: &GitError) -> OpsError {
    let shown = redact(repo);
    // git may repeat the URL, credentials included, in its own words.
    let words = error.to_string().replace(repo, &shown);
    OpsError::failed(format!("commit trigger on `{shown}`: {what}: {words}"))
}

/// `repo` with the user part of a `scheme://user:password@host` URL hidden (a token is often
/// written as the user alone).
fn redact(repo: &str) -> String {
    let Some((scheme, rest)) = repo.split_once("://") else {
        return repo.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => repo.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_paths_are_told_apart() {
        assert!(is_url("https://github.com/o/r.git"));
        assert!(is_url("file:///srv/repo"));
        assert!(is_url("git@github.com:o/r.git"));
        assert!(!is_url("."));
        assert!(!is_url("../other"));
        assert!(!is_url("/srv/repo"));
    }

    #[test]
    fn the_cache_name_is_sixteen_hex_digits_of_the_url_hash() {
        let name = cache_name("https://example.com/r.git");
        assert_eq!(name.len(), 16);
        assert!(name.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(name, cache_name("https://example.com/s.git"));
    }

    #[test]
    fn heads_are_read_from_ls_remote_lines() {
        let listing = "aaa\trefs/heads/main\nbbb\trefs/heads/release/v1\nccc\trefs/tags/v1\n";
        assert_eq!(
            parse_heads(listing),
            vec![
                ("main".to_string(), "aaa".to_string()),
                ("release/v1".to_string(), "bbb".to_string())
            ]
        );
    }

    #[test]
    fn credentials_are_hidden() {
        assert_eq!(
            redact("https://bot:s3cret@example.com/r.git"),
            "https://***@example.com/r.git"
        );
        assert_eq!(
            redact("https://example.com/r.git"),
            "https://example.com/r.git"
        );
        assert_eq!(redact("git@github.com:o/r.git"), "git@github.com:o/r.git");
    }
}

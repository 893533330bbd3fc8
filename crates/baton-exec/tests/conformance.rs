//! The executor conformance suite against the local executor (SSH nodes and the connection
//! daemon run the same suite in `crates/baton/tests/executors.rs`).

#![allow(clippy::disallowed_methods)] // tests drive real processes: the binary, sshd, git

use baton_exec::LocalExecutor;
use baton_exec::conformance::{Target, run_all};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_executor_conforms() {
    let scratch =
        std::env::temp_dir().join(format!("baton-conformance-local-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).unwrap();
    let target = Target {
        executor: &LocalExecutor,
        scratch: scratch.display().to_string(),
    };
    let result = run_all(&target).await;
    let _ = std::fs::remove_dir_all(&scratch);
    if let Err(failures) = result {
        panic!("{failures}");
    }
}

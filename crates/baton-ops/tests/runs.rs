//! The runs operations in one process, as a server would use them: a cancel request stops the
//! run it names and no other run of the same process.

#![allow(clippy::disallowed_methods)] // tests drive real processes: the binary, sshd, git

use std::sync::Arc;
use std::time::Duration;

use baton_ops::Ops;
use baton_ops::runs::{RunAction, StartRun};
use baton_store::Status;
use tokio_util::sync::CancellationToken;

#[test]
fn cancelling_one_run_leaves_the_other_run_of_the_process_running() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("baton.yaml");
    std::fs::write(
        &file,
        r#"
pipelines:
  hang: { stages: { wait: { run: "touch hang.started; sleep 1000" } } }
  work: { stages: { wait: { run: "touch work.started; while [ ! -f release ]; do sleep 0.02; done" } } }
"#,
    )
    .unwrap();
    let ops = Arc::new(Ops::open(&file).unwrap());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let start = |pipeline: &str| {
            let ops = ops.clone();
            let plan = ops
                .plan_run(RunAction::Run(StartRun {
                    pipeline: pipeline.into(),
                    actor: "tester".into(),
                    ..StartRun::default()
                }))
                .unwrap();
            tokio::spawn(async move {
                let targets = ops.targets();
                ops.execute(plan, targets, Vec::new(), CancellationToken::new())
                    .await
            })
        };
        let hang = start("hang");
        let work = start("work");
        let root = dir.path().to_path_buf();
        wait(|| root.join("hang.started").exists() && root.join("work.started").exists()).await;
        let hang_run = ops
            .runs(&Default::default())
            .unwrap()
            .into_iter()
            .find(|r| r.name == "hang")
            .unwrap()
            .id;
        ops.store.request_cancel(hang_run, "alice").unwrap();
        let hung = hang.await.unwrap().unwrap();
        assert_eq!(hung.status, Status::Cancelled);
        assert_eq!(hung.reason.as_deref(), Some("cancelled by alice"));
        // The other run of this process still runs, and finishes normally.
        let other = ops
            .runs(&Default::default())
            .unwrap()
            .into_iter()
            .find(|r| r.name == "work")
            .unwrap();
        assert_eq!(other.status, Status::Running);
        std::fs::write(root.join("release"), "").unwrap();
        let done = work.await.unwrap().unwrap();
        assert_eq!(done.status, Status::Success);
    });
}

async fn wait(mut condition: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting");
}

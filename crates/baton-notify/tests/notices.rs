//! Notices rendered and queued against a real store: alert messages, which channels a run's
//! end notifies (`on_failure`, `on_success`, `on_change`), the failed stage and its log tail,
//! once per run; and the worker's record of a channel that is gone.

use std::sync::Arc;

use baton_notify::{AlertNotice, DeliveryWorker, SecretLookup, enqueue_alert, enqueue_run_end};
use baton_store::conformance::{new_run, record, step};
use baton_store::{
    DeliveryFilter, DeliveryStatus, EventKind, NewDelivery, NotifyStore, Owner, SqliteStore,
    Status, Store,
};

struct NoSecrets;

impl SecretLookup for NoSecrets {
    fn secret(&self, name: &str) -> Result<String, String> {
        Err(format!("no secret {name} here"))
    }
}

fn project(dir: &std::path::Path, yaml: &str) -> baton_model::Project {
    std::fs::write(dir.join("baton.yaml"), yaml).unwrap();
    baton_model::load(&dir.join("baton.yaml")).unwrap_or_else(|d| panic!("{}", d.render(false)))
}

const PROJECT: &str = r#"
project: shop
server: { url: "https://ci.example.com" }
notifications:
  mail: { smtp: { host: 127.0.0.1, port: 9, tls: none, from: a@example.com, to: [b@example.com] }, retries: 3 }
  chat: { webhook: "http://127.0.0.1:9/" }
pipelines:
  deploy:
    notify: { on_failure: [mail, chat], on_success: [chat], on_change: [mail] }
    stages: { build: { run: x } }
"#;

/// A finished run of `deploy` whose `build` step printed `lines` and ended with `status`.
fn finished_run(store: &dyn Store, status: Status, lines: usize) -> i64 {
    let run = store
        .create_run(&new_run("deploy", Owner::current()))
        .unwrap();
    assert!(store.try_start_run(run, 1).unwrap());
    record(store, run, EventKind::RunStarted);
    record(
        store,
        run,
        EventKind::StageStarted {
            stage: "build".into(),
        },
    );
    record(
        store,
        run,
        EventKind::StepStarted {
            step: step("build"),
        },
    );
    let text: String = (1..=lines).map(|i| format!("output line {i}\n")).collect();
    record(
        store,
        run,
        EventKind::Output {
            step: step("build"),
            data: text.into_bytes(),
        },
    );
    record(
        store,
        run,
        EventKind::StepFinished {
            step: step("build"),
            status,
            exit_code: Some(if status == Status::Success { 0 } else { 2 }),
            signal: None,
            reason: (status != Status::Success).then(|| "exit code 2".into()),
        },
    );
    record(
        store,
        run,
        EventKind::StageFinished {
            stage: "build".into(),
            status,
            reason: None,
        },
    );
    record(
        store,
        run,
        EventKind::RunFinished {
            status,
            reason: (status != Status::Success).then(|| "stage `build` failed".into()),
        },
    );
    run
}

fn channels_of(store: &dyn Store, run: i64) -> Vec<String> {
    let mut rows = store
        .deliveries(&DeliveryFilter {
            origin: Some(format!("run:{run}")),
            ..Default::default()
        })
        .unwrap();
    rows.reverse();
    rows.into_iter().map(|d| d.channel).collect()
}

#[test]
fn a_runs_end_notifies_each_channel_once_by_outcome_and_change() {
    let dir = tempfile::tempdir().unwrap();
    let project = project(dir.path(), PROJECT);
    let store = SqliteStore::open(&dir.path().join(".baton")).unwrap();
    // First run, a success: on_success only (nothing to differ from).
    let first = finished_run(&store, Status::Success, 1);
    enqueue_run_end(&store, &project, first).unwrap();
    assert_eq!(channels_of(&store, first), ["chat"]);
    // A failure after a success: on_failure and on_change, `mail` once although listed twice.
    let second = finished_run(&store, Status::Failed, 30);
    let ids = enqueue_run_end(&store, &project, second).unwrap();
    assert_eq!(ids.len(), 2);
    assert_eq!(channels_of(&store, second), ["mail", "chat"]);
    assert!(
        enqueue_run_end(&store, &project, second)
            .unwrap()
            .is_empty(),
        "a second call queues nothing"
    );
    let mail = store.delivery(ids[0]).unwrap().unwrap();
    assert_eq!(mail.max_retries, 3, "the channel's retries");
    assert_eq!(
        mail.subject,
        format!("[baton] deploy #{second} failed (broken: #{first} success)")
    );
    assert!(mail.body.contains("Failed stage: build\n"), "{}", mail.body);
    assert!(
        mail.body
            .contains("Failed step: run: true on local: exit code 2\n")
    );
    assert!(mail.body.contains("Last 20 lines of its log"));
    assert!(mail.body.contains("  output line 30\n") && mail.body.contains("  output line 11\n"));
    assert!(!mail.body.contains("  output line 10\n"), "{}", mail.body);
    assert!(
        mail.body
            .contains(&format!("Link: https://ci.example.com/runs/{second}\n"))
    );
    assert_eq!(mail.payload["failed_stage"], "build");
    assert_eq!(mail.payload["changed"], true);
    assert_eq!(mail.payload["previous_status"], "success");
    assert_eq!(
        mail.payload["failed_step"]["log_tail"]
            .as_array()
            .unwrap()
            .len(),
        20
    );
    // Failed again: still broken, not a change.
    let third = finished_run(&store, Status::TimedOut, 1);
    enqueue_run_end(&store, &project, third).unwrap();
    assert_eq!(channels_of(&store, third), ["mail", "chat"]);
    let change: Vec<bool> = store
        .deliveries(&DeliveryFilter {
            origin: Some(format!("run:{third}")),
            ..Default::default()
        })
        .unwrap()
        .iter()
        .map(|d| d.payload["changed"].as_bool().unwrap())
        .collect();
    assert_eq!(change, [false, false]);
    // Fixed: on_success and on_change.
    let fourth = finished_run(&store, Status::Success, 1);
    enqueue_run_end(&store, &project, fourth).unwrap();
    assert_eq!(channels_of(&store, fourth), ["chat", "mail"]);
    let fixed = &store
        .deliveries(&DeliveryFilter {
            origin: Some(format!("run:{fourth}")),
            ..Default::default()
        })
        .unwrap()[0];
    assert!(
        fixed
            .subject
            .ends_with(&format!("(fixed: #{third} timed_out)")),
        "{}",
        fixed.subject
    );
}

#[test]
fn alert_notices_say_what_where_since_when_the_value_and_link() {
    let dir = tempfile::tempdir().unwrap();
    let project = project(dir.path(), PROJECT);
    let store = SqliteStore::open(&dir.path().join(".baton")).unwrap();
    let notice = AlertNotice {
        alert: "high_cpu".into(),
        node: "web01".into(),
        firing: true,
        severity: "critical".into(),
        condition: "cpu above 80".into(),
        value: Some(93.456),
        detail: None,
        since: 1_700_000_000_000,
        at: 1_700_000_300_000,
        repeat: false,
    };
    let ids = enqueue_alert(&store, &project, &notice, &["mail".into(), "chat".into()]).unwrap();
    assert_eq!(ids.len(), 2);
    let mail = store.delivery(ids[0]).unwrap().unwrap();
    assert_eq!(mail.origin, "alert:high_cpu@web01");
    assert_eq!(mail.subject, "[baton] FIRING critical: high_cpu on web01");
    assert_eq!(
        mail.body,
        "Alert high_cpu is firing on web01 (critical).\nCondition: cpu above 80\nValue: 93.46\nSince: 2023-11-14 22:13:20 UTC\nLink: https://ci.example.com/alerts\n"
    );
    assert_eq!(mail.payload["status"], "firing");
    assert_eq!(mail.payload["value"], 93.456);

    let resolved = AlertNotice {
        firing: false,
        value: None,
        detail: Some("HTTP 200 again".into()),
        ..notice.clone()
    };
    let id = enqueue_alert(&store, &project, &resolved, &["chat".into()]).unwrap()[0];
    let row = store.delivery(id).unwrap().unwrap();
    assert_eq!(row.subject, "[baton] RESOLVED critical: high_cpu on web01");
    assert!(
        row.body.contains("is resolved") && row.body.contains("Resolved: 2023-11-14 22:18:20 UTC")
    );
    assert!(row.body.contains("Detail: HTTP 200 again"));

    let unknown = enqueue_alert(&store, &project, &notice, &["mail".into(), "chta".into()]);
    let error = unknown.unwrap_err().to_string();
    assert!(
        error.contains("`chta`") && error.contains("did you mean `chat`?"),
        "{error}"
    );
    assert_eq!(
        store.deliveries(&DeliveryFilter::default()).unwrap().len(),
        3,
        "an unknown channel queues nothing"
    );
}

#[tokio::test]
async fn a_delivery_for_a_channel_that_is_gone_fails_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let project = Arc::new(project(dir.path(), PROJECT));
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join(".baton")).unwrap());
    let id = store
        .enqueue_delivery(&NewDelivery {
            channel: "pager".into(),
            origin: "test".into(),
            subject: "s".into(),
            body: "b".into(),
            payload: serde_json::json!({}),
            max_retries: 0,
        })
        .unwrap();
    let worker = DeliveryWorker::new(project, store.clone(), Arc::new(NoSecrets));
    let attempts = worker.deliver_due(None).await.unwrap();
    assert_eq!(attempts.len(), 1);
    assert!(!attempts[0].ok && !attempts[0].will_retry);
    let row = store.delivery(id).unwrap().unwrap();
    assert_eq!(row.status, DeliveryStatus::Failed);
    assert!(
        row.last_error
            .unwrap()
            .contains("`pager` is no longer defined")
    );
    assert_eq!(
        store.delivery_attempts(id).unwrap()[0].worker,
        worker.name()
    );
}

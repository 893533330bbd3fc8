//! The plan and the apply walk against a real SQLite store and the local executor.

#![allow(clippy::disallowed_methods)] // tests drive real processes: the binary, sshd, git

use std::sync::Arc;

use baton_engine::LocalOnly;
use baton_exec::CancellationToken;
use baton_infra::{Action, ApplyEvent, Infra, Plan, PlanOptions, StateLock, apply, plan};
use baton_store::{SqliteStore, Store};

struct Fixture {
    dir: tempfile::TempDir,
    store: Arc<dyn Store>,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(&dir.path().join(".baton")).unwrap());
        Fixture { dir, store }
    }

    fn infra(&self, yaml: &str) -> Infra {
        std::fs::write(self.dir.path().join("baton.yaml"), yaml).unwrap();
        let project = baton_model::load(&self.dir.path().join("baton.yaml")).unwrap();
        Infra::new(
            Arc::new(project),
            self.store.clone(),
            Arc::new(LocalOnly::default()),
            self.dir.path().join(".baton"),
            CancellationToken::new(),
        )
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn actions(plan: &Plan) -> Vec<(String, Action)> {
    plan.changes
        .iter()
        .filter(|c| c.action != Action::NoOp)
        .map(|c| (c.id.clone(), c.action))
        .collect()
}

fn plan_and_apply(rt: &tokio::runtime::Runtime, infra: &Infra) -> (Plan, Vec<ApplyEvent>) {
    let events = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = events.clone();
    let planned = rt.block_on(plan(infra, &PlanOptions::default())).unwrap();
    let report = rt.block_on(apply(
        infra,
        &planned,
        4,
        Arc::new(move |e| sink.lock().unwrap().push(e)),
    ));
    assert!(report.ok(), "{report:?}");
    let events = events.lock().unwrap().clone();
    (planned, events)
}

#[test]
fn a_command_reruns_only_when_its_create_script_changes() {
    let f = Fixture::new();
    let rt = rt();
    let yaml = |create: &str, delete: &str| {
        format!(
            "resources:\n  c: {{ type: command, create: \"{create}\", delete: \"{delete}\" }}\n"
        )
    };
    let infra = f.infra(&yaml("echo 1 >> created.log", "echo gone >> deleted.log"));
    plan_and_apply(&rt, &infra);
    assert_eq!(f.read("created.log"), "1\n");
    // Only the delete script changes: the state is updated, nothing runs.
    let infra = f.infra(&yaml("echo 1 >> created.log", "echo bye >> deleted.log"));
    let (planned, _) = plan_and_apply(&rt, &infra);
    assert_eq!(actions(&planned), [("c".to_string(), Action::Update)]);
    assert_eq!(f.read("created.log"), "1\n");
    assert_eq!(f.read("deleted.log"), "");
    // The create script changes: the old one is deleted (with the stored delete script), the new
    // one created.
    let infra = f.infra(&yaml("echo 2 >> created.log", "echo bye >> deleted.log"));
    let (planned, _) = plan_and_apply(&rt, &infra);
    assert_eq!(actions(&planned), [("c".to_string(), Action::Replace)]);
    assert_eq!(f.read("created.log"), "1\n2\n");
    assert_eq!(f.read("deleted.log"), "bye\n");
    let state = f.store.infra_state().unwrap();
    assert_eq!(state.resources[0].attrs["output"], "");
    assert_eq!(f.store.infra_history(10).unwrap()[0].action, "replace");
}

#[test]
fn destroy_goes_in_reverse_dependency_order() {
    let f = Fixture::new();
    let rt = rt();
    let infra = f.infra(
        "resources:\n  a: { type: directory, path: a }\n  b: { type: directory, path: \"{{ resources.a.path }}/b\" }\n  c: { type: file, path: \"{{ resources.b.path }}/c.txt\", content: x }\n",
    );
    let (_, events) = plan_and_apply(&rt, &infra);
    let started: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            ApplyEvent::Started { id, .. } => Some(id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(started, ["a", "b", "c"]);
    let planned = rt
        .block_on(plan(
            &infra,
            &PlanOptions {
                targets: vec![],
                destroy: true,
            },
        ))
        .unwrap();
    assert_eq!(planned.counts(), (0, 0, 3));
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = order.clone();
    let report = rt.block_on(apply(
        &infra,
        &planned,
        10,
        Arc::new(move |e| {
            if let ApplyEvent::Finished { id, .. } = e {
                sink.lock().unwrap().push(id)
            }
        }),
    ));
    assert!(report.ok(), "{report:?}");
    assert_eq!(*order.lock().unwrap(), ["c", "b", "a"]);
    assert!(!f.dir.path().join("a").exists());
    assert!(f.store.infra_state().unwrap().resources.is_empty());
}

#[test]
fn the_lock_is_exclusive_and_released_on_drop() {
    let f = Fixture::new();
    let held = StateLock::acquire(f.store.clone(), "apply").unwrap();
    match StateLock::acquire(f.store.clone(), "apply") {
        Err(baton_infra::InfraError::Locked(info)) => {
            assert_eq!(info.owner.pid, std::process::id());
            assert!(!info.is_stale());
        }
        other => panic!("second lock: {:?}", other.err()),
    }
    drop(held);
    StateLock::acquire(f.store.clone(), "apply").unwrap();
}

//! The plan and the apply walk against a real SQLite store and the local executor.

#![allow(clippy::disallowed_methods)] // tests drive real processes: the binary, sshd, git

use std::sync::Arc;

use baton_engine::LocalOnly;
use baton_exec::CancellationToken;
use baton_infra::{
    Action, ApplyObserver, ApplyOptions, Infra, Plan, PlanOptions, StateLock, apply, plan,
};
use baton_store::{EventKind, SqliteStore, Status, Store};

/// Collects the walk's step events.
#[derive(Default)]
struct Events(std::sync::Mutex<Vec<EventKind>>);

impl ApplyObserver for Events {
    fn emit(&self, event: EventKind) {
        self.0.lock().unwrap().push(event);
    }
}

impl Events {
    fn all(&self) -> Vec<EventKind> {
        self.0.lock().unwrap().clone()
    }
    /// Resources whose step started, in order.
    fn started(&self) -> Vec<String> {
        self.all()
            .into_iter()
            .filter_map(|e| match e {
                EventKind::StepStarted { step } => Some(step.target),
                _ => None,
            })
            .collect()
    }
    /// Resources whose step succeeded, in order.
    fn succeeded(&self) -> Vec<String> {
        self.all()
            .into_iter()
            .filter_map(|e| match e {
                EventKind::StepFinished {
                    step,
                    status: Status::Success,
                    ..
                } => Some(step.target),
                _ => None,
            })
            .collect()
    }
}

fn options(parallelism: usize) -> ApplyOptions {
    ApplyOptions {
        stage: "apply".into(),
        parallelism,
        actor: "tester".into(),
    }
}

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

fn plan_and_apply(rt: &tokio::runtime::Runtime, infra: &Infra) -> (Plan, Arc<Events>) {
    let events = Arc::new(Events::default());
    let planned = rt.block_on(plan(infra, &PlanOptions::default())).unwrap();
    let report = rt.block_on(apply(infra, &planned, &options(4), events.clone()));
    assert!(report.ok(), "{report:?}");
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
    assert_eq!(events.started(), ["a", "b", "c"]);
    let planned = rt
        .block_on(plan(
            &infra,
            &PlanOptions {
                destroy: true,
                ..PlanOptions::default()
            },
        ))
        .unwrap();
    assert_eq!(planned.counts(), (0, 0, 3));
    let events = Arc::new(Events::default());
    let report = rt.block_on(apply(&infra, &planned, &options(10), events.clone()));
    assert!(report.ok(), "{report:?}");
    assert_eq!(events.succeeded(), ["c", "b", "a"]);
    assert!(!f.dir.path().join("a").exists());
    assert!(f.store.infra_state().unwrap().resources.is_empty());
}

#[test]
fn the_lock_is_exclusive_and_released_on_drop() {
    let f = Fixture::new();
    let held = StateLock::acquire(f.store.clone(), "apply", "tester").unwrap();
    match StateLock::acquire(f.store.clone(), "apply", "tester") {
        Err(baton_infra::InfraError::Locked(info)) => {
            assert_eq!(info.owner.pid, std::process::id());
            assert!(!info.is_stale());
        }
        other => panic!("second lock: {:?}", other.err()),
    }
    drop(held);
    StateLock::acquire(f.store.clone(), "apply", "tester").unwrap();
}

/// Issue 9 #4: `a` (replaced) ← `d` (unchanged, depends on `a`) ← `f` (changed, depends on
/// `d`). The unchanged `d` stays in the graph, so `f` waits for `a`. `a`'s create gives `f`
/// two seconds to show up first (it would, were the edge dropped), then marks itself done;
/// `f`'s update fails unless `a` is done.
#[test]
fn an_unchanged_resource_still_orders_what_depends_on_it() {
    let f = Fixture::new();
    let rt = rt();
    let yaml = |a_create: &str, f_create: &str| {
        format!(
            r#"
resources:
  a: {{ type: command, create: "{a_create}" }}
  d: {{ type: command, create: "true", depends_on: [a] }}
  f: {{ type: command, create: "{f_create}", update: "touch f.started; test -e a.done", depends_on: [d] }}
"#
        )
    };
    let infra = f.infra(&yaml("true", "echo v0"));
    plan_and_apply(&rt, &infra);
    let infra = f.infra(&yaml(
        "for i in $(seq 200); do test -e f.started && break; sleep 0.01; done; touch a.done",
        "echo v1",
    ));
    let planned = rt.block_on(plan(&infra, &PlanOptions::default())).unwrap();
    assert_eq!(
        actions(&planned),
        [
            ("a".to_string(), Action::Replace),
            ("f".to_string(), Action::Update)
        ]
    );
    let events = Arc::new(Events::default());
    let report = rt.block_on(apply(&infra, &planned, &options(10), events.clone()));
    assert!(report.ok(), "{report:?}");
    assert_eq!(events.succeeded(), ["a", "f"]);
    // `d` stayed unchanged: no step of its own.
    assert!(!events.started().contains(&"d".to_string()));
}

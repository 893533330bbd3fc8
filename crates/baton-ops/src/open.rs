//! Opening a project: load and validate it (before touching the store: an invalid project
//! writes nothing), open the store, recover what dead processes left, and compose the engine.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use baton_engine::{Engine, EventSink, recover_interrupted_runs};
use baton_model::Project;
use baton_store::{InterruptedRun, SqliteStore, Store};
use tokio_util::sync::CancellationToken;

use crate::error::{OpsError, OpsResult};
use crate::targets::NodeTargets;

/// An opened project: what every operation needs.
pub struct Ops {
    pub project: Arc<Project>,
    pub store: Arc<dyn Store>,
    pub state_dir: PathBuf,
    /// Runs that dead processes had left running, found (and marked) when opening.
    pub interrupted: Vec<InterruptedRun>,
    /// Recovery could not write (a full disk): reading still works; the next command with room
    /// finishes it.
    pub recovery_error: Option<String>,
}

/// The step kinds this build can run: the model reports any other at its place, so a run never
/// fails half-way on a step it cannot do.
pub const STEP_KINDS: &[&str] = &[
    "run", "http", "upload", "config", "infra", "promote", "notify",
];

/// Load and validate `file` for this build (every problem at once).
///
/// Templates may use variables no scope declares (a `--var` may supply them): only `baton
/// validate` insists on a declaration, and a run names an undefined variable when it renders.
pub fn load_project(file: &Path) -> OpsResult<Project> {
    load_project_for_run(file, &[baton_model::ANY_RUN_VAR])
}

/// [`load_project`] where only `run_vars` may be used without a declaration.
fn load_project_for_run(file: &Path, run_vars: &[&str]) -> OpsResult<Project> {
    baton_model::load_for_run(file, STEP_KINDS, run_vars).map_err(OpsError::invalid)
}

/// The project file to use: found from `dir` up.
pub fn find_project_file(dir: &Path) -> OpsResult<PathBuf> {
    baton_model::find_project_file(dir).ok_or_else(|| {
        OpsError::usage(format!(
            "no `baton.yaml` in `{}` or any parent directory",
            dir.display()
        ))
        .with_hint("run `baton init` to create one, or pass `-f PATH`")
    })
}

/// Load `file` and check everything that can be known without running: the model's own
/// checks, then resource attributes against their types' schemas (which the model does not
/// know). Every problem at once.
pub fn validate_project(file: &Path) -> OpsResult<Project> {
    let project = load_project_for_run(file, &[])?;
    baton_infra::validate(&project, &baton_infra::Registry::builtin())
        .map_err(OpsError::invalid)?;
    Ok(project)
}

/// Run the per-project SSH connection daemon (`ssh.persist`) on `socket` until it has been idle
/// for `idle`.
pub async fn serve_connection_daemon(socket: &Path, idle: std::time::Duration) -> OpsResult<()> {
    baton_ssh::mux::serve(socket, idle)
        .await
        .map_err(|e| OpsError::failed(format!("ssh-mux on `{}`: {e}", socket.display())))
}

/// The store directory of a project.
pub fn state_dir(root: &Path) -> PathBuf {
    root.join(".baton")
}

impl Ops {
    /// Load `file`, open its store and mark runs abandoned by dead processes as interrupted
    /// (killing what they left running).
    pub fn open(file: &Path) -> OpsResult<Ops> {
        Ops::with_project(load_project(file)?)
    }

    /// Open the store of an already loaded project.
    pub fn with_project(project: Project) -> OpsResult<Ops> {
        let state_dir = state_dir(&project.root);
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&state_dir)?);
        let (interrupted, recovery_error) = match recover_interrupted_runs(store.as_ref()) {
            Ok(runs) => (runs, None),
            Err(e) => (Vec::new(), Some(e.to_string())),
        };
        Ok(Ops {
            project: Arc::new(project),
            store,
            state_dir,
            interrupted,
            recovery_error,
        })
    }

    /// The same store with a newly loaded version of the project (a server picking up an edit
    /// of `baton.yaml`); runs already going keep the project they started with.
    pub fn reloaded(&self, project: Project) -> Ops {
        Ops {
            project: Arc::new(project),
            store: self.store.clone(),
            state_dir: self.state_dir.clone(),
            interrupted: Vec::new(),
            recovery_error: None,
        }
    }

    /// Scratch space for staged files (uploads, renders) inside the store directory.
    pub fn scratch_dir(&self) -> PathBuf {
        self.state_dir.join("tmp")
    }

    /// The executors of this project's nodes (local, SSH or through the connection daemon).
    pub fn targets(&self) -> Arc<NodeTargets> {
        Arc::new(NodeTargets::new(&self.project))
    }

    /// The engine with every job composed: configs, infrastructure and secrets.
    pub fn engine(&self, targets: Arc<NodeTargets>, sinks: Vec<Arc<dyn EventSink>>) -> Engine {
        let infra = crate::infra::InfraStep {
            infra: baton_infra::Infra::new(
                self.project.clone(),
                self.store.clone(),
                targets.clone(),
                self.state_dir.clone(),
                CancellationToken::new(),
            ),
            parallelism: 10,
            actor: crate::cli_actor(),
        };
        let secrets = self.secret_source();
        let configs = baton_config::StepApplier {
            project: self.project.clone(),
            store: self.store.clone(),
            targets: targets.clone(),
            scratch: self.scratch_dir(),
            secrets: Some(secrets.clone()),
        };
        Engine::new(
            self.project.clone(),
            self.store.clone(),
            targets,
            sinks,
            self.state_dir.clone(),
        )
        .with_infra(Arc::new(infra))
        .with_configs(Arc::new(configs))
        .with_secrets(secrets)
        .with_notifier(self.engine_notifier())
    }

    /// The project's secrets (`secrets/<env>.yaml`, the identity read when first needed), and
    /// the encryption of stored copies for its `secrets.recipients`.
    pub(crate) fn secret_source(&self) -> Arc<dyn baton_engine::SecretSource> {
        let recipients = self
            .project
            .secrets
            .recipients
            .iter()
            .map(|r| r.value.clone())
            .collect();
        Arc::new(baton_secrets::ProjectSecrets::new(&self.project.root).with_recipients(recipients))
    }
}

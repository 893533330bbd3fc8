//! Infrastructure as code (SPEC §4): resource types from providers, the resource graph, plan
//! (refresh, compare desired / stored / real), and the apply and destroy walks, with state in
//! the store behind [`baton_store::StateStore`] and one lock per apply.
//!
//! Architecture invariant: this crate never prints and knows nothing of the CLI; it reaches
//! nodes only through [`baton_engine::Targets`] (executors) and the store only through its
//! traits. Results and progress are data ([`Plan`], step events through [`ApplyObserver`],
//! [`ApplyReport`]), rendered by [`Progress`] for whoever shows them.

mod apply;
mod error;
mod graph;
mod lock;
mod plan;
mod progress;
mod provider;
mod render;
mod schema;

pub mod local;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use baton_engine::Targets;
use baton_exec::CancellationToken;
use baton_model::Project;
use baton_store::Store;

pub use apply::{ApplyObserver, ApplyOptions, ApplyReport, apply, resource_step};
pub use error::{InfraError, describe_lock, format_millis};
pub use graph::{closure, dot, order};
pub use lock::{LOCK_NAME, StateLock};
pub use plan::{Action, AttrChange, Change, Plan, PlanOptions, plan};
pub use progress::{Progress, ProgressKind, ProgressLine};
pub use provider::{
    AttrKind, AttrSpec, Attrs, BoxFuture, ChangeRequest, ChangeResponse, CommandObserver, Context,
    Diagnostic, Provider, ReadRequest, ReadResponse, Registry, ResourceType, Target,
};
pub use render::UNKNOWN;
pub use schema::{desired_attrs, validate};

/// Everything a plan or an apply needs.
#[derive(Clone)]
pub struct Infra {
    pub project: Arc<Project>,
    pub store: Arc<dyn Store>,
    pub targets: Arc<dyn Targets>,
    pub registry: Registry,
    pub ctx: Context,
}

impl Infra {
    /// With the built-in providers; `state_dir` is the store directory (`.baton`), whose `tmp/`
    /// holds staged uploads.
    pub fn new(
        project: Arc<Project>,
        store: Arc<dyn Store>,
        targets: Arc<dyn Targets>,
        state_dir: PathBuf,
        cancel: CancellationToken,
    ) -> Infra {
        let ctx = Context {
            root: project.root.clone(),
            scratch: state_dir.join("tmp"),
            cancel,
            timeout: Duration::from_secs(300),
            observer: None,
        };
        Infra {
            project,
            store,
            targets,
            registry: Registry::builtin(),
            ctx,
        }
    }

    /// Rendered outputs, from the state.
    pub fn outputs(&self) -> Result<indexmap::IndexMap<String, String>, InfraError> {
        let state = self.store.infra_state()?;
        let mut resources = serde_json::Map::new();
        for r in state.resources {
            resources.insert(r.id, serde_json::Value::Object(r.attrs));
        }
        let ctx = render::context(&self.project.vars, resources);
        let mut out = indexmap::IndexMap::new();
        for (name, text) in &self.project.outputs {
            let value = baton_model::template::render(&text.value, &ctx).map_err(|e| {
                InfraError::Output {
                    name: name.clone(),
                    message: e.message,
                }
            })?;
            out.insert(name.clone(), value);
        }
        Ok(out)
    }
}

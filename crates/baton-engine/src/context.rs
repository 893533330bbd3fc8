//! What a run knows about itself: the template context and the `BATON_*` environment.

use std::path::PathBuf;
use std::sync::Arc;

use baton_exec::facts::FactsCache;
use baton_model::Project;
use baton_store::RunId;
use indexmap::IndexMap;
use serde_json::{Value, json};

/// Fixed for the whole run.
#[derive(Debug, Clone)]
pub struct RunContext {
    pub project: Arc<Project>,
    pub run: RunId,
    /// This run and the runs it retries, newest first: their artifacts count as this run's.
    pub lineage: Vec<RunId>,
    pub pipeline: String,
    pub trigger: String,
    pub branch: Option<String>,
    pub commit: Option<String>,
    pub env_name: Option<String>,
    /// Project vars, then pipeline vars, then the environment's vars, then `--var`s.
    pub vars: IndexMap<String, Value>,
    pub env_vars: IndexMap<String, Value>,
    /// The run's own directory (`BATON_WORKSPACE`).
    pub workspace: PathBuf,
    /// Where local commands run: the checkout when the run has one, else the project root.
    pub workdir: PathBuf,
    /// `node.facts`, gathered once per node of the run when a template reads them.
    pub facts: Arc<FactsCache>,
}

impl RunContext {
    /// The Jinja context for templates evaluated on `node`.
    pub fn template_context(&self, node: &str) -> Value {
        json!({
            "vars": self.vars,
            "env": { "name": self.env_name.clone().unwrap_or_default(), "vars": self.env_vars },
            "node": self.node_value(node),
            "run": {
                "id": self.run,
                "pipeline": self.pipeline,
                "branch": self.branch.clone().unwrap_or_default(),
                "commit": self.commit.clone().unwrap_or_default(),
                "trigger": self.trigger,
            },
        })
    }

    fn node_value(&self, node: &str) -> Value {
        let mut value = self.project.node_context(node);
        if let Some(facts) = self.facts.template_value(node) {
            value["facts"] = facts;
        }
        value
    }

    /// `BATON_*` variables every command gets.
    pub fn command_env(&self, stage: &str, node: &str) -> Vec<(String, String)> {
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        vec![
            ("BATON_RUN_ID".into(), self.run.to_string()),
            ("BATON_PIPELINE".into(), self.pipeline.clone()),
            ("BATON_STAGE".into(), stage.to_string()),
            (
                "BATON_WORKSPACE".into(),
                self.workspace.display().to_string(),
            ),
            ("BATON_ENV".into(), opt(&self.env_name)),
            ("BATON_TRIGGER".into(), self.trigger.clone()),
            ("BATON_BRANCH".into(), opt(&self.branch)),
            ("BATON_COMMIT".into(), opt(&self.commit)),
            ("BATON_NODE".into(), node.to_string()),
        ]
    }
}

/// Merge maps left to right, later keys winning.
pub fn merge_vars<'a>(
    layers: impl IntoIterator<Item = &'a IndexMap<String, Value>>,
) -> IndexMap<String, Value> {
    let mut out = IndexMap::new();
    for layer in layers {
        for (k, v) in layer {
            out.insert(k.clone(), v.clone());
        }
    }
    out
}

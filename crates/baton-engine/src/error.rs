//! The engine's errors: what went wrong before or around a run (the run's own failures are
//! statuses and reasons in its record, not errors).

use baton_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("no pipeline named `{name}`{}", hint(.suggestion))]
    UnknownPipeline {
        name: String,
        suggestion: Option<String>,
    },
    #[error("no environment named `{name}`{}", hint(.suggestion))]
    UnknownEnvironment {
        name: String,
        suggestion: Option<String>,
    },
    #[error("no run {0}")]
    UnknownRun(i64),
    #[error("run {run} is {status}: {what}")]
    RunState {
        run: i64,
        status: String,
        what: String,
    },
    #[error("{0}")]
    Selector(String),
    #[error("invalid `--var {0}`: write `--var NAME=VALUE`")]
    BadVar(String),
    #[error("cannot prepare the run workspace `{path}`: {reason}")]
    Workspace { path: String, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn hint(suggestion: &Option<String>) -> String {
    suggestion
        .as_ref()
        .map(|s| format!(" (did you mean `{s}`?)"))
        .unwrap_or_default()
}

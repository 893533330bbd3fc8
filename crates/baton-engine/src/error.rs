//! The engine's errors: each names the thing and, where it can, the fix.

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
    /// The request conflicts with what the run history says (a second rollback, …).
    #[error("{message}")]
    Refused {
        message: String,
        hint: Option<String>,
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

//! One error type for every operation, classified once: the CLI maps a kind to an exit code,
//! the server to an HTTP status, from the same value.

use baton_model::Diagnostics;

/// What kind of failure an operation had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The project file is invalid (CLI exit 2, HTTP 422).
    Invalid,
    /// The request is wrong: unknown name, bad argument (exit 2, HTTP 400).
    Usage,
    /// The thing asked for does not exist (exit 2, HTTP 404).
    NotFound,
    /// The request conflicts with the current state: a lock held, a run still going, a
    /// rollback already done (exit 1, HTTP 409).
    Conflict,
    /// The operation was tried and failed (exit 1, HTTP 500 / a failed run record).
    Failed,
}

#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct OpsError {
    pub kind: ErrorKind,
    pub message: String,
    /// How to fix it, when there is something to say.
    pub hint: Option<String>,
    /// Every problem of an invalid project (kind `Invalid`).
    pub diagnostics: Option<Diagnostics>,
}

pub type OpsResult<T> = Result<T, OpsError>;

impl OpsError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> OpsError {
        OpsError {
            kind,
            message: message.into(),
            hint: None,
            diagnostics: None,
        }
    }

    pub fn usage(message: impl Into<String>) -> OpsError {
        OpsError::new(ErrorKind::Usage, message)
    }

    pub fn not_found(message: impl Into<String>) -> OpsError {
        OpsError::new(ErrorKind::NotFound, message)
    }

    pub fn conflict(message: impl Into<String>) -> OpsError {
        OpsError::new(ErrorKind::Conflict, message)
    }

    pub fn failed(message: impl Into<String>) -> OpsError {
        OpsError::new(ErrorKind::Failed, message)
    }

    pub fn invalid(diagnostics: Diagnostics) -> OpsError {
        OpsError {
            kind: ErrorKind::Invalid,
            message: "the project is invalid".into(),
            hint: None,
            diagnostics: Some(diagnostics),
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> OpsError {
        self.hint = Some(hint.into());
        self
    }
}

impl From<baton_store::StoreError> for OpsError {
    fn from(e: baton_store::StoreError) -> OpsError {
        let error = OpsError::failed(e.to_string());
        match e {
            baton_store::StoreError::DiskFull(_) => {
                error.with_hint("free some space; nothing was half-written")
            }
            baton_store::StoreError::NotFound(_) => OpsError::not_found(error.message),
            _ => error,
        }
    }
}

impl From<baton_engine::EngineError> for OpsError {
    fn from(e: baton_engine::EngineError) -> OpsError {
        use baton_engine::EngineError as E;
        match e {
            E::UnknownPipeline { .. } | E::UnknownEnvironment { .. } => {
                OpsError::usage(e.to_string())
            }
            E::UnknownRun(_) => {
                OpsError::not_found(e.to_string()).with_hint("`baton runs` lists them")
            }
            E::RunState { .. } => OpsError::conflict(e.to_string()),
            E::Refused { message, hint } => {
                let error = OpsError::conflict(message);
                match hint {
                    Some(hint) => error.with_hint(hint),
                    None => error,
                }
            }
            E::Selector(_) | E::BadVar(_) => OpsError::usage(e.to_string()),
            E::Store(store) => store.into(),
            other => OpsError::failed(other.to_string()),
        }
    }
}

//! The engine: runs made of steps on targets. A pipeline stage, a config apply, an infra apply
//! and an ad-hoc command all go through it, and all report through one typed event stream.
//!
//! Architecture invariant: the engine sees the store, executors and (later) providers only as
//! traits; it knows nothing of the CLI, terminals, HTTP servers or SQL.

mod admission;
mod artifacts;
mod configs;
mod context;
mod emitter;
mod error;
mod exec;
pub mod git;
mod http;
mod infra;
mod lifecycle;
mod notify;
mod pipeline;
pub mod promotion;
mod recovery;
mod replay;
mod secrets;
mod stage;
mod step;
mod targets;
mod unwind;
mod walk;
mod workspace;

pub use artifacts::DEFAULT_SHELF;
pub use configs::{ConfigApplier, ConfigFuture, ConfigStep};
pub use emitter::{Emitter, EventSink};
pub use error::EngineError;
pub use exec::{EXEC_STAGE, ExecRequest};
pub use infra::{InfraFuture, InfraRunner};
pub use lifecycle::{CancelWatch, JobRun, cancel_reason, run_cancellation};
pub use notify::{Notifier, NotifyStepRequest};
pub use pipeline::{Engine, RunCreated, RunOutcome, RunRequest};
pub use recovery::recover_interrupted_runs;
pub use secrets::{DEFAULT_SECRETS_ENV, MIN_MASKED_LEN, Mask, SecretLoadError, SecretSource};
pub use step::OUTCOME_UNKNOWN;
pub use targets::{LocalOnly, Targets};
pub use workspace::Checkout;

/// Output kept in the store per step; beyond it, bytes are counted and dropped (the limit is
/// stated at the end of the log), so a runaway command cannot fill the disk.
pub const DEFAULT_LOG_LIMIT: u64 = 64 * 1024 * 1024;

//! The `config: NAME` step. The configuration manager lives in its own crate, which builds on
//! this one (it reaches nodes through [`crate::Targets`]); so the engine sees it only through
//! this small trait, implemented there and handed over by the binary.

use std::future::Future;
use std::pin::Pin;

use baton_exec::CancellationToken;
use indexmap::IndexMap;
use serde_json::Value;

pub type ConfigFuture<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

/// One `config:` step on one stage target.
pub struct ConfigStep<'a> {
    pub config: &'a str,
    /// The run's environment.
    pub env: Option<&'a str>,
    /// The stage target the step runs on.
    pub target: &'a str,
    /// The run's vars (project, pipeline, environment, `--var`s).
    pub vars: &'a IndexMap<String, Value>,
    /// The `run` object of templates.
    pub run: Value,
    /// The run's mask: secret values the config reads are added to it, so the step's output
    /// (and anything else the run emits) never shows them.
    pub mask: &'a crate::Mask,
}

pub trait ConfigApplier: Send + Sync {
    /// Apply the config in the run's environment, writing what a terminal would show to
    /// `output`. `Err` carries the reason the step failed.
    fn apply<'a>(
        &'a self,
        step: ConfigStep<'a>,
        output: &'a mut (dyn FnMut(&[u8]) + Send),
        cancel: &'a CancellationToken,
    ) -> ConfigFuture<'a>;
}

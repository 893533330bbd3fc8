//! The `infra: plan | apply` step. The infrastructure engine lives in its own crate, which
//! builds on this one (it reaches nodes through [`crate::Targets`]); so the engine sees it only
//! through this small trait, implemented there and handed over by the binary.

use std::future::Future;
use std::pin::Pin;

use baton_exec::CancellationToken;
use baton_model::InfraAction;

pub type InfraFuture<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

pub trait InfraRunner: Send + Sync {
    /// Plan (and for `Apply`, apply without asking: the pipeline is the approval), writing what
    /// a terminal would show to `output`. `Err` carries the reason the step failed.
    fn run<'a>(
        &'a self,
        action: InfraAction,
        output: &'a mut (dyn FnMut(&[u8]) + Send),
        cancel: &'a CancellationToken,
    ) -> InfraFuture<'a>;
}

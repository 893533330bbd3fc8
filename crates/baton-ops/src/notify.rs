//! Notifications as operations: the engine's notifier (run start and end, `notify:` steps, all
//! queued through `baton-notify`), the delivery worker every long-running front end spawns,
//! a CLI run's own deliveries, `notify test` and `notify log`.
//!
//! Channel secrets (`password_secret`, a webhook's `secret`) are baton secrets of the
//! `default` environment: a channel belongs to the project, not to one run's environment.

use std::sync::Arc;
use std::time::Duration;

use baton_engine::{DEFAULT_SECRETS_ENV, Notifier, NotifyStepRequest, SecretSource};
use baton_model::Project;
use baton_notify::{DeliveryWorker, NotifyError, SecretLookup, StepNotice};
use baton_store::{DeliveryFilter, DeliveryStatus, RunId, Store};
use tokio_util::sync::CancellationToken;

use crate::api::notify::{Delivery, NotifyTest};
use crate::error::{OpsError, OpsResult};
use crate::open::Ops;

/// How long `baton run` waits for its run's notifications after the result is decided.
pub const RUN_DELIVERY_BOUND: Duration = Duration::from_secs(20);

/// `notify log`: which deliveries to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct NotifyLogQuery {
    pub limit: Option<usize>,
    pub channel: Option<String>,
    pub status: Option<DeliveryStatus>,
    pub origin: Option<String>,
}

/// Channel secrets from the project's `default` environment.
struct ProjectSecretLookup {
    secrets: baton_secrets::ProjectSecrets,
}

impl SecretLookup for ProjectSecretLookup {
    fn secret(&self, name: &str) -> Result<String, String> {
        match self.secrets.load(DEFAULT_SECRETS_ENV, &[name.to_string()]) {
            Ok(mut values) => values
                .pop()
                .map(|(_, value)| value)
                .ok_or_else(|| format!("secret `{name}` has no value")),
            Err(baton_engine::SecretLoadError::Missing(_)) => Err(format!(
                "secret `{name}` is not set in environment `{DEFAULT_SECRETS_ENV}`; set it with `baton secret set {name}`"
            )),
            Err(baton_engine::SecretLoadError::Failed(reason)) => Err(reason),
        }
    }
}

/// The engine's view of notifications: everything is queued, nothing sent here.
pub(crate) struct EngineNotifier {
    pub project: Arc<Project>,
    pub store: Arc<dyn Store>,
}

impl EngineNotifier {
    /// A run is over whatever happens here: a failure to queue is kept in the audit trail,
    /// where `baton audit` and the server show it, instead of changing the run.
    fn keep_error(&self, run: RunId, what: &str, error: NotifyError) {
        let _ = self.store.audit(
            &crate::cli_actor(),
            "notify.error",
            &format!("run:{run}"),
            &serde_json::json!({ "what": what, "error": error.to_string() }),
        );
    }
}

impl Notifier for EngineNotifier {
    fn run_started(&self, run: RunId) {
        if let Err(e) = baton_notify::enqueue_run_start(self.store.as_ref(), &self.project, run) {
            self.keep_error(run, "on_start", e);
        }
    }

    fn run_finished(&self, run: RunId) {
        if let Err(e) = baton_notify::enqueue_run_end(self.store.as_ref(), &self.project, run) {
            self.keep_error(run, "run end", e);
        }
    }

    fn step_message(&self, request: NotifyStepRequest<'_>) -> Result<String, String> {
        let notice = StepNotice {
            run: request.run,
            pipeline: request.pipeline,
            stage: request.stage,
            target: request.target,
            message: request.message,
        };
        let ids = baton_notify::enqueue_step_message(
            self.store.as_ref(),
            &self.project,
            &notice,
            request.channels,
        )
        .map_err(|e| e.to_string())?;
        let queued: Vec<String> = request
            .channels
            .iter()
            .zip(&ids)
            .map(|(channel, id)| format!("{channel} (delivery {id})"))
            .collect();
        Ok(format!(
            "[baton] queued a notification to {}",
            queued.join(", ")
        ))
    }
}

impl Ops {
    /// The engine's notifier for this project.
    pub(crate) fn engine_notifier(&self) -> Arc<EngineNotifier> {
        Arc::new(EngineNotifier {
            project: self.project.clone(),
            store: self.store.clone(),
        })
    }

    /// A delivery worker for this project's channels.
    pub fn notify_worker(&self) -> DeliveryWorker {
        DeliveryWorker::new(
            self.project.clone(),
            self.store.clone(),
            Arc::new(ProjectSecretLookup {
                secrets: baton_secrets::ProjectSecrets::new(&self.project.root),
            }),
        )
    }

    /// The delivery worker loop until `cancel`: what `baton serve` and `baton monitor` run.
    /// Attempts under way when `cancel` fires are finished first (each is bounded).
    pub async fn deliver_notifications(&self, cancel: CancellationToken) {
        self.notify_worker().run(cancel).await;
    }

    /// After `baton run` decided its result: deliver the run's own notifications (its end,
    /// its start, its `notify:` steps), waiting at most `bound`. What is left stays queued for
    /// a server or monitor. Returns the run's deliveries as they are then, oldest first.
    pub async fn deliver_run_notifications(&self, run: RunId, bound: Duration) -> Vec<Delivery> {
        // No channel, no delivery: spare every run of a project without notifications the
        // queries.
        if self.project.notifications.is_empty() {
            return Vec::new();
        }
        let own = || {
            let mut records = Vec::new();
            for origin in [
                baton_notify::run_start_origin(run),
                baton_notify::step_origin(run),
                baton_notify::run_origin(run),
            ] {
                let found = self.store.deliveries(&DeliveryFilter {
                    origin: Some(origin),
                    ..Default::default()
                });
                records.extend(found.unwrap_or_default());
            }
            records.sort_by_key(|d| d.id);
            records
        };
        let pending: Vec<_> = own()
            .iter()
            .filter(|d| !d.status.is_final())
            .map(|d| d.id)
            .collect();
        if !pending.is_empty() {
            self.notify_worker().deliver_these(&pending, bound).await;
        }
        own().iter().map(Delivery::from).collect()
    }

    /// `baton notify test CHANNEL`: send a test message now and report the server's reply.
    /// The delivery is recorded like any other (`notify log` shows it); it is not retried.
    pub async fn notify_test(&self, channel: &str) -> OpsResult<NotifyTest> {
        let (record, attempt) = self
            .notify_worker()
            .test(channel)
            .await
            .map_err(notify_error)?;
        Ok(NotifyTest {
            channel: record.channel,
            delivery: record.id,
            ok: attempt.ok,
            reply: attempt.reply,
        })
    }

    /// `baton notify log`: deliveries, newest first.
    pub fn notify_log(&self, query: &NotifyLogQuery) -> OpsResult<Vec<Delivery>> {
        let records = self.store.deliveries(&DeliveryFilter {
            limit: query.limit,
            status: query.status,
            channel: query.channel.clone(),
            origin: query.origin.clone(),
            before: None,
        })?;
        Ok(records.iter().map(Delivery::from).collect())
    }
}

fn notify_error(e: NotifyError) -> OpsError {
    match e {
        NotifyError::UnknownChannel { .. } => OpsError::usage(e.to_string())
            .with_hint("`notifications:` in baton.yaml names the channels"),
        NotifyError::Store(e) => e.into(),
        NotifyError::Template(_) | NotifyError::Send(_) => OpsError::failed(e.to_string()),
    }
}

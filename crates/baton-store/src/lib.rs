//! The store: runs, stages, per-target steps, the event log, logs, artifacts, locks and audit.
//!
//! The engine sees only the [`Store`] trait; [`SqliteStore`] is the embedded backend (WAL mode,
//! versioned migrations). A PostgreSQL backend implements the same trait.
//!
//! Architecture invariant: this crate knows nothing of the project file, executors or engines.
//! It owns the event types because it is their log: every consumer reads the same records.

mod blob;
mod config_store;
#[cfg(feature = "conformance")]
pub mod conformance;
#[cfg(feature = "conformance")]
mod conformance_notify;
mod event;
mod monitor_store;
mod notify_store;
mod owner;
mod record;
mod server_store;
mod sqlite;
mod sqlite_config;
mod sqlite_monitor;
mod sqlite_notify;
mod sqlite_server;
mod sqlite_state;
mod state_store;
mod store;

pub use blob::BlobStore;
pub use config_store::{
    ConfigAction, ConfigIntent, ConfigStore, ConfigTarget, ConfigVersionRecord, NewConfigVersion,
};
pub use event::{Event, EventKind, FailureCause, Phase, StepRef};
pub use monitor_store::{
    AlertChange, AlertPhase, AlertState, Compaction, MINUTE_SPAN, MonitorEvent, MonitorEventKind,
    MonitorStore, NewSilence, NodeChange, NodeState, NotifyStatus, RAW_KEPT, ROLLUP_SLACK,
    Resolution, Sample, SeriesPoint, SilenceRecord, Transition,
};
pub use notify_store::{
    DeliveryAttempt, DeliveryFilter, DeliveryId, DeliveryRecord, DeliveryStatus, NewDelivery,
    NotifyStore,
};
pub use owner::{Owner, os_user, process_alive};
pub use record::*;
pub use server_store::{RunCount, ServerStore, SlotOutcome, SlotRecord};
pub use sqlite::SqliteStore;
pub use state_store::{InfraState, ResourceState, StateChange, StateStore};
pub use store::{Store, StoreError, StoreResult};

/// Milliseconds since the Unix epoch: every timestamp in the store.
pub type Millis = i64;

pub fn now_millis() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as Millis)
        .unwrap_or(0)
}

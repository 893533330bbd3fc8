//! Fan-out of engine events: the store first (it is the record), then live consumers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use baton_store::{Event, EventKind, RunId, StepRef, Store, StoreError, now_millis};

/// A live consumer of events: the terminal renderer now, the dashboard's SSE stream later.
pub trait EventSink: Send + Sync {
    fn event(&self, event: &Event);
}

/// Emits the events of one run.
#[derive(Clone)]
pub struct Emitter {
    run: RunId,
    store: Arc<dyn Store>,
    sinks: Arc<Vec<Arc<dyn EventSink>>>,
    /// The first store failure (disk full, …): the run fails with it instead of losing events.
    store_error: Arc<Mutex<Option<String>>>,
    /// Secret values the run loaded: masked here, the one door to the store and every sink.
    mask: crate::secrets::Mask,
    /// Per step, output held back because a chunk ended inside a line where a secret value may
    /// continue into the next chunk (only while secrets are loaded).
    held: Arc<Mutex<HashMap<StepRef, Vec<u8>>>>,
}

impl Emitter {
    pub fn new(run: RunId, store: Arc<dyn Store>, sinks: Arc<Vec<Arc<dyn EventSink>>>) -> Self {
        Emitter {
            run,
            store,
            sinks,
            store_error: Arc::new(Mutex::new(None)),
            mask: crate::secrets::Mask::default(),
            held: Arc::default(),
        }
    }

    /// The run's secret mask (shared by every clone of this emitter).
    pub fn mask(&self) -> &crate::secrets::Mask {
        &self.mask
    }

    pub fn run(&self) -> RunId {
        self.run
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn emit(&self, kind: EventKind) {
        let kind = if self.mask.is_empty() {
            kind
        } else {
            match self.hold_split_values(kind) {
                Some(kind) => mask_event(&self.mask, kind),
                None => return,
            }
        };
        self.record(kind);
    }

    /// The store first (it is the record), then every live sink.
    fn record(&self, kind: EventKind) {
        let event = Event {
            run: self.run,
            at: now_millis(),
            kind,
        };
        if let Err(e) = self.store.record(&event) {
            self.note_store_error(e);
        }
        for sink in self.sinks.iter() {
            sink.event(&event);
        }
    }

    /// Join output held back for a step with its next chunk, hold back the end of a chunk that
    /// stops inside a line, and release what is held before the step's end. `None`: nothing
    /// to emit yet.
    fn hold_split_values(&self, kind: EventKind) -> Option<EventKind> {
        match kind {
            EventKind::Output { step, data } => {
                let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
                let mut joined = held.remove(&step).unwrap_or_default();
                joined.extend_from_slice(&data);
                if joined.ends_with(b"\n") {
                    return Some(EventKind::Output { step, data: joined });
                }
                let (now, later) = self.mask.bytes_holding_tail(&joined);
                if !later.is_empty() {
                    held.insert(step.clone(), later);
                }
                drop(held);
                if now.is_empty() {
                    return None;
                }
                // Already masked: mask_event masking it again changes nothing (`***` is
                // shorter than any value).
                Some(EventKind::Output { step, data: now })
            }
            EventKind::StepFinished { ref step, .. } => {
                let rest = self
                    .held
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(step);
                if let Some(rest) = rest {
                    self.record(EventKind::Output {
                        step: step.clone(),
                        data: self.mask.bytes(&rest),
                    });
                }
                Some(kind)
            }
            other => Some(other),
        }
    }

    pub fn message(&self, text: impl Into<String>) {
        self.emit(EventKind::Message { text: text.into() });
    }

    pub fn note_store_error(&self, e: StoreError) {
        let mut slot = self.store_error.lock().unwrap_or_else(|p| p.into_inner());
        slot.get_or_insert_with(|| e.to_string());
    }

    pub fn store_error(&self) -> Option<String> {
        self.store_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// `kind` with secret values replaced in every text it carries: output (per chunk — chunks
/// end at line boundaries, so a value split across chunks only happens inside a line longer
/// than the executor's 256 KiB line cap), failure reasons and messages.
fn mask_event(mask: &crate::secrets::Mask, kind: EventKind) -> EventKind {
    let text = |r: Option<String>| r.map(|r| mask.text(&r));
    match kind {
        EventKind::Output { step, data } => EventKind::Output {
            step,
            data: mask.bytes(&data),
        },
        EventKind::StepFinished {
            step,
            status,
            exit_code,
            signal,
            reason,
            cause,
        } => EventKind::StepFinished {
            step,
            status,
            exit_code,
            signal,
            reason: text(reason),
            cause,
        },
        EventKind::StageFinished {
            stage,
            status,
            reason,
        } => EventKind::StageFinished {
            stage,
            status,
            reason: text(reason),
        },
        EventKind::RunFinished { status, reason } => EventKind::RunFinished {
            status,
            reason: text(reason),
        },
        EventKind::Message { text: t } => EventKind::Message {
            text: mask.text(&t),
        },
        other => other,
    }
}

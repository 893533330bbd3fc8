//! Live events: one poller tails the store's event log by sequence number (so runs started by
//! any process — a `baton run` in a terminal, another server — appear) and the committed bytes
//! of running steps' logs, renders each event once as an SSE frame and broadcasts it. Each
//! client reads the broadcast through its own bounded window: one that falls behind is
//! dropped, and never slows a run or the other clients.
//!
//! Event ids are the store's sequence numbers: `Last-Event-ID` (or `?after=`) replays what was
//! missed from the store. `output` frames carry no id (they are not in the event log): each
//! names its step and byte offset, so a client that reconnects fetches a gap from
//! `GET /api/runs/ID/log?offset=`. The monitor's `alert` and `node` frames carry no id either
//! (their sequence is the monitor's own, in `seq`): they describe state, which a reconnecting
//! client reads whole from `GET /api/alerts`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use baton_store::{Event, EventKind, RunId, StepId, Store};
use bytes::Bytes;
use serde_json::json;
use tokio::sync::broadcast;

/// How often the store is polled.
pub const POLL: Duration = Duration::from_millis(100);
/// Frames a client may lag behind before it is dropped.
pub const CLIENT_WINDOW: usize = 4096;
/// Comment frames keep idle connections (and proxies) open.
pub const HEARTBEAT: Duration = Duration::from_secs(15);
/// Output frames hold at most this many bytes (split at line ends when possible).
const OUTPUT_FRAME: usize = 32 * 1024;
/// Events replayed for a resuming client, at most.
pub const REPLAY_LIMIT: usize = 10_000;

/// One rendered SSE frame; `id` is the event's sequence number when it has one.
#[derive(Debug, Clone)]
pub struct Frame {
    pub id: Option<i64>,
    pub bytes: Bytes,
}

pub struct Hub {
    tx: broadcast::Sender<Frame>,
}

impl Default for Hub {
    fn default() -> Hub {
        Hub::new()
    }
}

impl Hub {
    pub fn new() -> Hub {
        let (tx, _) = broadcast::channel(CLIENT_WINDOW);
        Hub { tx }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Frame> {
        self.tx.subscribe()
    }

    pub fn clients(&self) -> usize {
        self.tx.receiver_count()
    }

    fn send(&self, frame: Frame) {
        // No receiver is fine: nobody is watching.
        let _ = self.tx.send(frame);
    }
}

/// Render a stored event as a frame.
pub fn event_frame(seq: i64, run: RunId, event: &Event) -> Frame {
    let mut data = serde_json::to_value(event).unwrap_or_else(|_| json!({}));
    if let Some(obj) = data.as_object_mut() {
        obj.insert("seq".into(), json!(seq));
        obj.insert("run".into(), json!(run));
    }
    let text = format!(
        "id: {seq}\nevent: {}\ndata: {}\n\n",
        event.kind.name(),
        data
    );
    Frame {
        id: Some(seq),
        bytes: Bytes::from(text),
    }
}

fn output_frame(run: RunId, step: &baton_store::StepRecord, offset: i64, data: &[u8]) -> Frame {
    let data = json!({
        "run": run,
        "step": step.id,
        "stage": step.stage,
        "target": step.target,
        "offset": offset,
        "data": String::from_utf8_lossy(data),
    });
    Frame {
        id: None,
        bytes: Bytes::from(format!("event: output\ndata: {data}\n\n")),
    }
}

/// Split `data` into pieces of at most [`OUTPUT_FRAME`] bytes, at line ends when there is one.
fn pieces(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = data;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut end = rest.len().min(OUTPUT_FRAME);
        if end < rest.len()
            && let Some(nl) = rest[..end].iter().rposition(|&b| b == b'\n')
        {
            end = nl + 1;
        }
        let (piece, tail) = rest.split_at(end);
        rest = tail;
        Some(piece)
    })
}

/// What the poller knows: the last event read, the last monitor event read, and how far each
/// live step's log was sent.
struct Tail {
    seq: i64,
    monitor_seq: i64,
    offsets: HashMap<StepId, (RunId, i64)>,
}

/// An alert transition or a node going down or up, as the monitor recorded it.
fn monitor_frame(event: &baton_store::MonitorEvent) -> Frame {
    let data = baton_ops::api::monitor::Event::from(event);
    let name = if data.kind == "node" { "node" } else { "alert" };
    let json = serde_json::to_string(&data).unwrap_or_else(|_| "{}".into());
    Frame {
        id: None,
        bytes: Bytes::from(format!("event: {name}\ndata: {json}\n\n")),
    }
}

/// Hooks the poller calls for what else listens to events (metrics).
pub trait Observer: Send + Sync {
    fn observe(&self, store: &dyn Store, run: RunId, event: &Event);
}

/// Poll the store until `stop`, broadcasting every event and every new log byte.
pub async fn run_poller(
    hub: Arc<Hub>,
    store: Arc<dyn Store>,
    observer: Arc<dyn Observer>,
    stop: tokio_util::sync::CancellationToken,
) {
    let initial = store.clone();
    let mut tail = Tail {
        seq: initial.last_event_seq().unwrap_or(0),
        // Alerts and node changes from before the server started are history (`/api/alerts`).
        monitor_seq: initial
            .monitor_events_recent(1)
            .ok()
            .and_then(|e| e.first().map(|e| e.seq))
            .unwrap_or(0),
        offsets: HashMap::new(),
    };
    // Output written before the server started is history (`/api/runs/ID/log`), not news.
    if let Ok(steps) = initial.running_steps() {
        for s in steps {
            tail.offsets.insert(s.id, (s.run, s.log_bytes));
        }
    }
    drop(initial);
    loop {
        let store = store.clone();
        let hub2 = hub.clone();
        let observer2 = observer.clone();
        let moved = tokio::task::spawn_blocking(move || {
            let more = poll_once(&hub2, store.as_ref(), observer2.as_ref(), &mut tail);
            (tail, more)
        })
        .await;
        let more = match moved {
            Ok((t, more)) => {
                tail = t;
                more
            }
            Err(e) => {
                tracing::error!("the event poller failed: {e}");
                return;
            }
        };
        if more {
            continue;
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(POLL) => {}
        }
    }
}

/// One round; true when a full page of events came (poll again at once).
fn poll_once(hub: &Hub, store: &dyn Store, observer: &dyn Observer, tail: &mut Tail) -> bool {
    const PAGE: usize = 1000;
    let events = match store.events_after(tail.seq, PAGE) {
        Ok(events) => events,
        Err(e) => {
            tracing::warn!("reading the event log: {e}");
            return false;
        }
    };
    let full = events.len() == PAGE;
    for (seq, run, event) in &events {
        match &event.kind {
            EventKind::StepStarted { step } => {
                if let Ok(Some(record)) = store.step_record(*run, step) {
                    tail.offsets.entry(record.id).or_insert((*run, 0));
                }
            }
            EventKind::StepFinished { step, .. } => {
                // Its last bytes go out before the event that says it finished.
                if let Ok(Some(record)) = store.step_record(*run, step) {
                    let from = tail.offsets.remove(&record.id).map_or(0, |(_, o)| o);
                    send_output(hub, store, *run, &record, from);
                }
            }
            EventKind::RunFinished { .. } => tail.offsets.retain(|_, (r, _)| r != run),
            _ => {}
        }
        observer.observe(store, *run, event);
        hub.send(event_frame(*seq, *run, event));
        tail.seq = *seq;
    }
    // The monitor's changes (whichever process runs the monitor: this server or `baton monitor`).
    match store.monitor_events_after(tail.monitor_seq, PAGE) {
        Ok(events) => {
            for event in &events {
                hub.send(monitor_frame(event));
                tail.monitor_seq = event.seq;
            }
        }
        Err(e) => tracing::warn!("reading the monitor's events: {e}"),
    }
    match store.running_steps() {
        Ok(steps) => {
            for record in steps {
                let entry = tail.offsets.entry(record.id).or_insert((record.run, 0));
                if record.log_bytes > entry.1 {
                    let from = entry.1;
                    entry.1 = send_output(hub, store, record.run, &record, from);
                }
            }
        }
        Err(e) => tracing::warn!("reading running steps: {e}"),
    }
    full
}

/// Broadcast a step's log from `from`; returns the offset reached.
fn send_output(
    hub: &Hub,
    store: &dyn Store,
    run: RunId,
    step: &baton_store::StepRecord,
    from: i64,
) -> i64 {
    // Read in bounded pieces: a step that printed a gigabyte between two polls is never held
    // whole.
    const READ: usize = 1024 * 1024;
    let mut at = from;
    loop {
        let data = match store.log_read(step.id, at, READ) {
            Ok(data) => data,
            Err(e) => {
                tracing::warn!("reading the log of step {}: {e}", step.id);
                return at;
            }
        };
        if data.is_empty() {
            return at;
        }
        for piece in pieces(&data) {
            hub.send(output_frame(run, step, at, piece));
            at += piece.len() as i64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_split_at_line_ends_and_keep_every_byte() {
        let mut data = Vec::new();
        for i in 0..10_000 {
            data.extend_from_slice(format!("line {i}\n").as_bytes());
        }
        let parts: Vec<&[u8]> = pieces(&data).collect();
        assert!(parts.len() > 1);
        assert!(
            parts
                .iter()
                .all(|p| p.len() <= OUTPUT_FRAME && p.ends_with(b"\n"))
        );
        assert_eq!(parts.concat(), data);
        let long = vec![b'x'; OUTPUT_FRAME * 2 + 5];
        let parts: Vec<&[u8]> = pieces(&long).collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts.concat(), long);
    }
}

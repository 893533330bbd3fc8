//! `GET /api/events`: the live event stream (Server-Sent Events). A client first gets what it
//! missed (from `Last-Event-ID` or `?after=`, replayed from the store), then the live frames;
//! a comment every 15 s keeps the connection open through proxies. A client that falls more
//! than [`crate::events::CLIENT_WINDOW`] frames behind is told so and dropped.

use std::collections::VecDeque;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use bytes::Bytes;
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use super::body::Query;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::events::{Frame, HEARTBEAT, REPLAY_LIMIT, event_frame};
use crate::server::Server;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventsParams {
    /// Resume after this sequence number (as `Last-Event-ID`).
    pub after: Option<i64>,
}

struct Client {
    server: Arc<Server>,
    replay: VecDeque<Frame>,
    /// Live frames with an id at or below this were replayed already.
    replayed_to: i64,
    rx: tokio::sync::broadcast::Receiver<Frame>,
    heartbeat: tokio::time::Interval,
    done: bool,
}

impl Drop for Client {
    fn drop(&mut self) {
        // The receiver is dropped after this runs: count it out by hand.
        self.server
            .metrics
            .set_clients(self.server.hub.clients().saturating_sub(1));
    }
}

/// Bytes of waiting frames sent in one write, at most (about).
const BATCH_BYTES: usize = 256 * 1024;

fn dropped_note(behind: u64) -> String {
    format!(
        "event: dropped\ndata: {{\"reason\":\"this client fell {behind} events behind; reconnect with Last-Event-ID\"}}\n\n"
    )
}

pub async fn events(
    State(server): State<Arc<Server>>,
    _caller: Caller,
    Query(params): Query<EventsParams>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let last_id = match headers.get("last-event-id") {
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<i64>().ok())
                .ok_or_else(|| {
                    ApiError::bad_request("`Last-Event-ID` must be an event's sequence number")
                })?,
        ),
        None => params.after,
    };
    // Subscribe before reading the replay: nothing falls between the two.
    let rx = server.hub.subscribe();
    server.metrics.set_clients(server.hub.clients());
    let mut replay = VecDeque::new();
    let mut replayed_to = i64::MIN;
    if let Some(after) = last_id {
        let store = server.ops().store.clone();
        let events = super::blocking(move || Ok(store.events_after(after, REPLAY_LIMIT)?)).await?;
        replayed_to = after;
        for (seq, run, event) in &events {
            replay.push_back(event_frame(*seq, *run, event));
            replayed_to = *seq;
        }
    }
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    heartbeat.reset();
    let client = Client {
        server: server.clone(),
        replay,
        replayed_to,
        rx,
        heartbeat,
        done: false,
    };
    let stream = futures_util::stream::unfold(client, |mut c| async move {
        if c.done {
            return None;
        }
        if let Some(frame) = c.replay.pop_front() {
            return Some((Ok::<Bytes, std::io::Error>(frame.bytes), c));
        }
        loop {
            tokio::select! {
                _ = c.server.shutdown.cancelled() => {
                    c.done = true;
                    return Some((Ok(Bytes::from_static(b": the server is shutting down\n\n")), c));
                }
                _ = c.heartbeat.tick() => return Some((Ok(Bytes::from_static(b": heartbeat\n\n")), c)),
                got = c.rx.recv() => match got {
                    Ok(frame) => {
                        if frame.id.is_some_and(|id| id <= c.replayed_to) {
                            continue;
                        }
                        // Frames already waiting go out in one write: a client following a
                        // fast run costs a few large writes, not one per frame.
                        let mut batch: Option<Vec<u8>> = None;
                        while batch.as_ref().map_or(frame.bytes.len(), Vec::len) < BATCH_BYTES {
                            match c.rx.try_recv() {
                                Ok(next) => {
                                    if next.id.is_some_and(|id| id <= c.replayed_to) {
                                        continue;
                                    }
                                    batch
                                        .get_or_insert_with(|| frame.bytes.to_vec())
                                        .extend_from_slice(&next.bytes);
                                }
                                Err(tokio::sync::broadcast::error::TryRecvError::Lagged(n)) => {
                                    c.done = true;
                                    let note = dropped_note(n);
                                    return Some((Ok(Bytes::from(note)), c));
                                }
                                Err(_) => break,
                            }
                        }
                        let bytes = batch.map_or(frame.bytes, Bytes::from);
                        return Some((Ok(bytes), c));
                    }
                    Err(RecvError::Lagged(n)) => {
                        c.done = true;
                        return Some((Ok(Bytes::from(dropped_note(n))), c));
                    }
                    Err(RecvError::Closed) => return None,
                },
            }
        }
    });
    let mut response = Response::new(Body::from_stream(stream));
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // nginx buffers responses unless told not to.
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

//! `baton serve`: the REST API, live events (SSE), webhooks, schedules, commit triggers, the
//! monitor (metrics, checks, alerts), notifications and `/metrics`, all on the operations layer — a run started here is the run a terminal would
//! start, and a terminal's run shows up here live (the event stream tails the store).
//!
//! Architecture invariant: depends on `baton-ops` (and the model and store types it returns),
//! never on the engines or executors; never prints (logs go through `tracing`).

mod auth;
mod error;
mod events;
pub mod hooks;
mod http;
mod metrics;
mod monitor;
mod notify;
mod openapi;
mod routes;
mod server;
mod triggers;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use baton_ops::{OpsError, OpsResult};
use baton_store::Owner;

pub use auth::ENV_TOKEN_NAME;
pub use openapi::document as openapi_document;
pub use routes::ROUTES;

/// Where `baton serve` listens unless told otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// The store lock a server holds while it runs: one server per SQLite store.
pub const SERVER_LOCK: &str = "server";

pub struct ServeOptions {
    pub file: PathBuf,
    /// `--listen`; else `server.listen`; else [`DEFAULT_LISTEN`].
    pub listen: Option<String>,
    /// `BATON_TOKEN` from the environment.
    pub env_token: Option<String>,
}

/// Bound and ready: where, and whether requests can authenticate at all.
pub struct Ready {
    pub addr: SocketAddr,
    pub tokens: usize,
}

/// Run the server until SIGTERM or SIGINT; `ready` is called once it accepts connections.
pub async fn serve(options: ServeOptions, ready: impl FnOnce(&Ready)) -> OpsResult<()> {
    let project = baton_ops::load_project(&options.file)?;
    let listen = options
        .listen
        .clone()
        .or_else(|| project.server.listen.clone())
        .unwrap_or_else(|| DEFAULT_LISTEN.to_string());
    let addr: SocketAddr = listen.parse().map_err(|_| {
        OpsError::usage(format!("cannot listen on `{listen}`: not an address"))
            .with_hint("write IP:PORT, e.g. 127.0.0.1:8080 or 0.0.0.0:8080")
    })?;
    let grace = project.server.grace;
    let ops = baton_ops::Ops::with_project(project)?;
    let runs_runtime = RunsRuntime(Some(
        tokio::runtime::Builder::new_multi_thread()
            .thread_name("baton-runs")
            .enable_all()
            .build()
            .map_err(|e| OpsError::failed(format!("cannot start the runs' runtime: {e}")))?,
    ));
    let server = Arc::new(server::Server::new(
        options.file.clone(),
        ops,
        options.env_token.clone(),
        listen.clone(),
        runs_runtime.handle(),
    ));
    let tokens = server.tokens();
    if tokens.is_empty() && !addr.ip().is_loopback() {
        return Err(OpsError::usage(format!(
            "refusing to listen on {addr} with no token configured: anyone could run pipelines"
        ))
        .with_hint("set BATON_TOKEN, or add one with `baton token add NAME --role operator`"));
    }
    // Bind before taking the store: the lock then names the real address (`:0` picks one).
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| OpsError::failed(format!("cannot listen on {addr}: {e}")))?;
    let bound = listener
        .local_addr()
        .map_err(|e| OpsError::failed(format!("cannot listen on {addr}: {e}")))?;
    let store = server.ops().store.clone();
    let owner = Owner::current();
    match store.acquire_lock(
        SERVER_LOCK,
        &format!("baton serve on {bound}"),
        &owner,
        &baton_ops::cli_actor(),
    )? {
        Ok(_) => {}
        Err(held) => {
            return Err(OpsError::conflict(format!(
                "another server uses this store: {} (pid {} on {}, since {})",
                held.purpose,
                held.owner.pid,
                held.owner.host,
                chrono::DateTime::from_timestamp_millis(held.since)
                    .map(|d| d.to_rfc3339())
                    .unwrap_or_default(),
            ))
            .with_hint("stop it first; several servers share one store only on PostgreSQL"));
        }
    }
    let result = run(server.clone(), listener, bound, grace, ready).await;
    let _ = store.release_lock(SERVER_LOCK, &owner);
    drop(runs_runtime);
    result
}

/// The runs' runtime, shut down without blocking when dropped (it is dropped in async code;
/// by then every run has settled, drained or cancelled).
struct RunsRuntime(Option<tokio::runtime::Runtime>);

impl RunsRuntime {
    fn handle(&self) -> tokio::runtime::Handle {
        self.0.as_ref().expect("running").handle().clone()
    }
}

impl Drop for RunsRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

async fn run(
    server: Arc<server::Server>,
    listener: tokio::net::TcpListener,
    bound: SocketAddr,
    grace: Duration,
    ready: impl FnOnce(&Ready),
) -> OpsResult<()> {
    let poller = tokio::spawn(events::run_poller(
        server.hub.clone(),
        server.ops().store.clone(),
        server.metrics.clone(),
        server.shutdown.clone(),
    ));
    let mut loops = triggers::spawn(server.clone());
    let notify_stop = tokio_util::sync::CancellationToken::new();
    let notifications = tokio::spawn(notify::deliver_loop(server.clone(), notify_stop.clone()));
    let monitor_stop = tokio_util::sync::CancellationToken::new();
    let monitoring = tokio::spawn(monitor::monitor_loop(server.clone(), monitor_stop.clone()));
    let app = routes::router(server.clone());
    ready(&Ready {
        addr: bound,
        tokens: server.tokens().len(),
    });
    let shutdown = server.shutdown.clone();
    let signals = tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("stopping: no new requests; running runs have {grace:?} to finish");
        shutdown.cancel();
    });
    http::serve(listener, app, server.clone()).await;
    monitor_stop.cancel();
    server.drain_runs(grace).await;
    let _ = monitoring.await;
    // After the drain: the notices of runs that ended during it are sent too. Each attempt is
    // bounded by its channel's timeouts.
    notify_stop.cancel();
    let _ = notifications.await;
    signals.abort();
    let _ = poller.await;
    loops.abort_all();
    Ok(())
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

//! The HTTP surface (SPEC §9): `/healthz`, the REST API under `/api`, `/api/events` (SSE),
//! `/metrics` and `/hooks/PIPELINE`. Handlers only translate: each maps a request to one
//! operation of `baton-ops` and its typed result (the same types as the CLI's `--json`) to JSON.

mod body;
mod hooks;
pub(crate) mod queries;
pub(crate) mod runs;
pub(crate) mod stream;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

use crate::error::ApiError;
use crate::server::Server;

/// Largest request body accepted (webhooks included): 1 MiB.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// Every route, as (method, path in OpenAPI form): the OpenAPI document must describe exactly
/// these (a test checks it).
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/healthz"),
    ("get", "/metrics"),
    ("get", "/api/status"),
    ("get", "/api/openapi.json"),
    ("get", "/api/events"),
    ("get", "/api/pipelines"),
    ("post", "/api/pipelines/{name}/runs"),
    ("get", "/api/runs"),
    ("get", "/api/runs/{id}"),
    ("get", "/api/runs/{id}/log"),
    ("post", "/api/runs/{id}/cancel"),
    ("post", "/api/runs/{id}/retry"),
    ("post", "/api/runs/{id}/rollback"),
    ("get", "/api/nodes"),
    ("get", "/api/nodes/{name}/metrics"),
    ("get", "/api/alerts"),
    ("get", "/api/configs"),
    ("get", "/api/configs/{name}/versions"),
    ("get", "/api/resources"),
    ("get", "/api/artifacts"),
    ("post", "/api/artifacts/{name}/promote"),
    ("get", "/api/schedules"),
    ("get", "/api/audit"),
    ("post", "/hooks/{pipeline}"),
];

pub fn router(server: Arc<Server>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(queries::metrics))
        .route("/api/status", get(queries::status))
        .route("/api/openapi.json", get(queries::openapi))
        .route("/api/events", get(stream::events))
        .route("/api/pipelines", get(queries::pipelines))
        .route("/api/pipelines/{name}/runs", post(runs::start))
        .route("/api/runs", get(queries::runs))
        .route("/api/runs/{id}", get(queries::run))
        .route("/api/runs/{id}/log", get(queries::log))
        .route("/api/runs/{id}/cancel", post(runs::cancel))
        .route("/api/runs/{id}/retry", post(runs::retry))
        .route("/api/runs/{id}/rollback", post(runs::rollback))
        .route("/api/nodes", get(queries::nodes))
        .route("/api/nodes/{name}/metrics", get(queries::node_metrics))
        .route("/api/alerts", get(queries::alerts))
        .route("/api/configs", get(queries::configs))
        .route(
            "/api/configs/{name}/versions",
            get(queries::config_versions),
        )
        .route("/api/resources", get(queries::resources))
        .route("/api/artifacts", get(queries::artifacts))
        .route("/api/artifacts/{name}/promote", post(runs::promote))
        .route("/api/schedules", get(queries::schedules))
        .route("/api/audit", get(queries::audit))
        .route("/hooks/{pipeline}", post(hooks::deliver))
        .fallback(|| async { ApiError::not_found("no such route: see GET /api/openapi.json") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take that method: see GET /api/openapi.json",
            )
        })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(server)
}

/// Run a blocking operation (the store is synchronous) off the async workers.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("the request's task failed: {e}")))?
}

//! Read-only routes (any token): the same queries and types as the CLI's listings.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use baton_ops::runs::{LogQuery, RunsQuery};
use baton_store::{RunId, RunKind, Status};
use serde::{Deserialize, Serialize};

use super::blocking;
use super::body::{PathParam, Query};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::server::Server;

/// The largest page of `GET /api/runs`.
pub const MAX_RUNS_PAGE: usize = 500;
/// Bytes read from a log file at a time while streaming it.
const LOG_PIECE: usize = 256 * 1024;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StatusDoc {
    pub api: u32,
    pub version: &'static str,
    pub project: Option<String>,
    pub listen: String,
    pub started_at: String,
    /// Why the last edit of baton.yaml was not taken (the previous project still runs).
    pub reload_error: Option<String>,
    #[schema(value_type = Vec<i64>)]
    pub active_runs: Vec<RunId>,
    pub sse_clients: usize,
}

pub async fn status(State(server): State<Arc<Server>>, _caller: Caller) -> Json<StatusDoc> {
    let ops = server.ops();
    Json(StatusDoc {
        api: baton_ops::api::VERSION,
        version: env!("CARGO_PKG_VERSION"),
        project: ops.project.name.as_ref().map(|n| n.value.clone()),
        listen: server.listen.clone(),
        started_at: server.started_at.to_rfc3339(),
        reload_error: server.reload_error(),
        active_runs: server.active_runs(),
        sse_clients: server.hub.clients(),
    })
}

pub async fn openapi(_caller: Caller) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::openapi::document(),
    )
        .into_response()
}

pub async fn metrics(State(server): State<Arc<Server>>, _caller: Caller) -> ApiResult<Response> {
    let store = server.ops().store.clone();
    let s = server.clone();
    let text =
        blocking(move || s.metrics.render(store.as_ref()).map_err(ApiError::internal)).await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

pub async fn pipelines(
    State(server): State<Arc<Server>>,
    _caller: Caller,
) -> ApiResult<Json<Vec<baton_ops::api::runs::PipelineSummary>>> {
    let ops = server.ops();
    Ok(Json(blocking(move || Ok(ops.pipelines()?)).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RunsParams {
    /// Only runs of this name: a pipeline's (or a config's, an exec's selector).
    pub pipeline: Option<String>,
    /// Only runs in this status.
    #[param(value_type = Option<baton_ops::api::schema::Status>)]
    pub status: Option<String>,
    /// Only runs of this kind.
    #[param(value_type = Option<baton_ops::api::schema::RunKind>)]
    pub kind: Option<String>,
    /// At most this many runs, newest first (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<usize>,
    /// Only runs older than this id: the next page starts before the last id of this one.
    #[param(value_type = Option<i64>)]
    pub before: Option<RunId>,
}

pub async fn runs(
    State(server): State<Arc<Server>>,
    _caller: Caller,
    Query(params): Query<RunsParams>,
) -> ApiResult<Json<Vec<baton_ops::api::runs::Run>>> {
    let status = params
        .status
        .as_deref()
        .map(|s| {
            Status::parse(s).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "unknown status `{s}`: one of queued, running, success, failed, timed_out, skipped, cancelled, interrupted"
                ))
            })
        })
        .transpose()?;
    let kind = params
        .kind
        .as_deref()
        .map(|k| {
            RunKind::parse(k).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "unknown kind `{k}`: one of pipeline, exec, config, infra"
                ))
            })
        })
        .transpose()?;
    let limit = params.limit.unwrap_or(50);
    if limit == 0 || limit > MAX_RUNS_PAGE {
        return Err(ApiError::bad_request(format!(
            "`limit` must be 1 to {MAX_RUNS_PAGE}"
        )));
    }
    let ops = server.ops();
    let query = RunsQuery {
        pipeline: params.pipeline,
        kind,
        limit: Some(limit),
        status,
        before: params.before,
    };
    Ok(Json(blocking(move || Ok(ops.runs(&query)?)).await?))
}

pub async fn run(
    State(server): State<Arc<Server>>,
    _caller: Caller,
    PathParam(id): PathParam<RunId>,
) -> ApiResult<Json<baton_ops::api::runs::RunDetail>> {
    let ops = server.ops();
    Ok(Json(blocking(move || Ok(ops.run_detail(id)?)).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LogParams {
    /// Only this stage's steps.
    pub stage: Option<String>,
    /// Only the steps on this target.
    pub node: Option<String>,
    /// Start at this byte of the log (as `Range: bytes=N-`, which wins when both are sent).
    pub offset: Option<u64>,
}

/// `bytes=N-` (the only form a log reader needs); anything else is ignored, as RFC 9110 allows.
fn range_start(headers: &HeaderMap) -> Option<u64> {
    let value = headers.get(header::RANGE)?.to_str().ok()?;
    let spec = value.strip_prefix("bytes=")?;
    let (start, end) = spec.split_once('-')?;
    if !end.is_empty() {
        return None;
    }
    start.trim().parse().ok()
}

/// The run's log (the matched steps' output, concatenated in the order they started) from
/// `offset` or `Range: bytes=N-`, streamed from the files: a 1 GB log is never in memory.
pub async fn log(
    State(server): State<Arc<Server>>,
    _caller: Caller,
    PathParam(id): PathParam<RunId>,
    Query(params): Query<LogParams>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let ops = server.ops();
    let query = LogQuery {
        run: id,
        stage: params.stage,
        node: params.node,
    };
    let o = ops.clone();
    let steps = blocking(move || Ok(o.log_steps(&query)?)).await?;
    let total: u64 = steps.iter().map(|s| s.log_bytes.max(0) as u64).sum();
    let ranged = range_start(&headers);
    let start = ranged.or(params.offset).unwrap_or(0);
    if start > total {
        let mut response = ApiError::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "range_not_satisfiable",
            format!("offset {start} is past the log's end ({total} bytes)"),
        )
        .into_response();
        response.headers_mut().insert(
            header::CONTENT_RANGE,
            HeaderValue::from_str(&format!("bytes */{total}")).expect("ascii"),
        );
        return Ok(response);
    }
    // (step, from, to) pieces to send.
    let mut plan = Vec::new();
    let mut at = 0u64;
    for step in &steps {
        let len = step.log_bytes.max(0) as u64;
        if at + len > start {
            let from = start.saturating_sub(at);
            plan.push((step.id, from as i64, len as i64));
        }
        at += len;
    }
    let stream =
        futures_util::stream::unfold((ops, plan, 0usize), |(ops, mut plan, i)| async move {
            let (step, from, to) = *plan.get(i)?;
            let want = ((to - from) as usize).min(LOG_PIECE);
            let o = ops.clone();
            let read = tokio::task::spawn_blocking(move || o.log_bytes(step, from, want)).await;
            match read {
                Ok(Ok(bytes)) if !bytes.is_empty() => {
                    let next_from = from + bytes.len() as i64;
                    let next_i = if next_from >= to {
                        i + 1
                    } else {
                        plan[i].1 = next_from;
                        i
                    };
                    Some((
                        Ok::<_, std::io::Error>(bytes::Bytes::from(bytes)),
                        (ops, plan, next_i),
                    ))
                }
                // A log shorter than recorded (it cannot be, but never loop on it).
                Ok(Ok(_)) => None,
                Ok(Err(e)) => Some((
                    Err(std::io::Error::other(e.message)),
                    (ops, plan, usize::MAX),
                )),
                Err(e) => Some((
                    Err(std::io::Error::other(e.to_string())),
                    (ops, plan, usize::MAX),
                )),
            }
        });
    let mut response = Response::new(Body::from_stream(stream));
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(
        header::CONTENT_LENGTH,
        HeaderValue::from_str(&(total - start).to_string()).expect("ascii"),
    );
    h.insert(
        "x-log-length",
        HeaderValue::from_str(&total.to_string()).expect("ascii"),
    );
    if ranged.is_some() && total > 0 {
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
        response.headers_mut().insert(
            header::CONTENT_RANGE,
            HeaderValue::from_str(&format!(
                "bytes {start}-{}/{total}",
                total.saturating_sub(1)
            ))
            .expect("ascii"),
        );
    }
    Ok(response)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct NodesParams {
    /// A target selector (`role:web&label:zone=a,db01,!web02`); all nodes and `local` without it.
    pub selector: Option<String>,
}

pub async fn nodes(
    State(server): State<Arc<Server>>,
    _caller: Caller,
    Query(params): Query<NodesParams>,
) -> ApiResult<Json<Vec<baton_ops::api::nodes::NodeInfo>>> {
    let ops = server.ops();
    Ok(Json(ops.nodes(params.selector.as_deref())?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EnvParams {
    /// Only this environment.
    pub env: Option<String>,
}

pub async fn configs(
    State(server): State<Arc<Server>>,
    _caller: Caller,
    Query(params): Query<EnvParams>,
) -> ApiResult<Json<Vec<baton_ops::api::config::ListEntry>>> {
    let ops = server.ops();
    Ok(Json(ops.config_list(params.env.as_deref()).await?))
}

pub async fn config_versions(
    State(server): State<Arc<Server>>,
    _caller: Caller,
    PathParam(name): PathParam<String>,
    Query(params): Query<EnvParams>,
) -> ApiResult<Json<Vec<baton_ops::api::config::HistoryEntry>>> {
    let ops = server.ops();
    Ok(Json(
        blocking(move || Ok(ops.config_history(Some(&name), params.env.as_deref())?)).await?,
    ))
}

pub async fn resources(
    State(server): State<Arc<Server>>,
    _caller: Caller,
) -> ApiResult<Json<Vec<baton_ops::api::infra::StateEntry>>> {
    let ops = server.ops();
    Ok(Json(blocking(move || Ok(ops.state_list()?)).await?))
}

pub async fn artifacts(
    State(server): State<Arc<Server>>,
    _caller: Caller,
    Query(params): Query<EnvParams>,
) -> ApiResult<Json<Vec<baton_ops::api::artifacts::ArtifactVersion>>> {
    let ops = server.ops();
    Ok(Json(
        blocking(move || Ok(ops.artifacts(params.env.as_deref())?)).await?,
    ))
}

pub async fn schedules(
    State(server): State<Arc<Server>>,
    _caller: Caller,
) -> ApiResult<Json<Vec<baton_ops::api::schedules::Schedule>>> {
    let ops = server.ops();
    Ok(Json(
        blocking(move || Ok(ops.schedules(chrono::Utc::now(), 5)?)).await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    /// At most this many entries, newest first (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
}

pub async fn audit(
    State(server): State<Arc<Server>>,
    _caller: Caller,
    Query(params): Query<AuditParams>,
) -> ApiResult<Json<Vec<baton_ops::api::audit::AuditEntry>>> {
    let limit = params.limit.unwrap_or(100);
    if limit == 0 || limit > 1000 {
        return Err(ApiError::bad_request("`limit` must be 1 to 1000"));
    }
    let ops = server.ops();
    Ok(Json(blocking(move || Ok(ops.audit(limit)?)).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct MetricsParams {
    /// One metric (`cpu`, `memory`, `load1`, `load5`, `load15`, `disk`, `disk:/PATH`, `up`);
    /// every metric with data without it.
    pub metric: Option<String>,
    /// How far back: `90s`, `15m`, `1h`, `7d` (default `1h`).
    pub since: Option<String>,
}

/// How far back `GET /api/nodes/NAME/metrics` looks without `since`.
const METRICS_SINCE: std::time::Duration = std::time::Duration::from_secs(3600);

pub async fn node_metrics(
    State(server): State<Arc<Server>>,
    _caller: Caller,
    PathParam(name): PathParam<String>,
    Query(params): Query<MetricsParams>,
) -> ApiResult<Json<baton_ops::api::monitor::Metrics>> {
    let since = match &params.since {
        None => METRICS_SINCE,
        Some(text) => baton_model::duration::parse_duration(text)
            .map_err(|e| ApiError::bad_request(format!("`since`: {e}")))?,
    };
    let ops = server.ops();
    let metric = params.metric;
    // An unknown node is a 404 (the operations layer says not found), a bad metric a 400.
    let metrics = blocking(move || Ok(ops.metrics(&name, metric.as_deref(), since)?)).await?;
    Ok(Json(metrics))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AlertsParams {
    /// With the history of transitions (newest first).
    #[serde(default)]
    pub all: bool,
}

pub async fn alerts(
    State(server): State<Arc<Server>>,
    _caller: Caller,
    Query(params): Query<AlertsParams>,
) -> ApiResult<Json<baton_ops::api::monitor::Alerts>> {
    let ops = server.ops();
    Ok(Json(blocking(move || Ok(ops.alerts(params.all)?)).await?))
}

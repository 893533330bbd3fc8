//! Routes that change things (operator tokens only): start, cancel, retry, roll back, promote.
//! A started run answers `201 { id }` as soon as its row exists; the run goes on in this
//! server, and `/api/events` shows it.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use baton_ops::runs::{RunAction, StartRun};
use baton_store::RunId;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::blocking;
use super::body::{JsonBody, PathParam};
use crate::auth::Operator;
use crate::error::{ApiError, ApiResult};
use crate::server::Server;

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartBody {
    /// Environment to run in (overrides the pipeline's `env:`).
    pub env: Option<String>,
    /// Variables overriding `vars:`, as `--var NAME=VALUE`.
    #[serde(default)]
    pub vars: IndexMap<String, Value>,
    /// Narrow every targeted stage to the nodes this selector matches (`--limit`).
    pub limit: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Started {
    /// The run, queued: follow it on `/api/events` or `GET /api/runs/{id}`.
    #[schema(value_type = i64)]
    pub id: RunId,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackBody {
    /// Roll back again a run that was already rolled back (or whose automatic rollback ran).
    #[serde(default)]
    pub force: bool,
    /// Undo on the nodes this selector matches only (`--limit`).
    pub limit: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PromoteBody {
    /// The environment whose shelf receives it.
    pub to: String,
    /// The version (default: the newest on a shelf `to` promotes from).
    pub version: Option<i64>,
    /// Approve a promotion to an `approval: manual` environment.
    #[serde(default)]
    pub approve: bool,
}

async fn launch(server: &Arc<Server>, action: RunAction) -> ApiResult<(StatusCode, Json<Started>)> {
    let plan = server.ops().plan_run(action)?;
    let id = server.start_run(plan).await?;
    Ok((StatusCode::CREATED, Json(Started { id })))
}

pub async fn start(
    State(server): State<Arc<Server>>,
    Operator(caller): Operator,
    PathParam(name): PathParam<String>,
    JsonBody(body): JsonBody<StartBody>,
) -> ApiResult<(StatusCode, Json<Started>)> {
    let ops = server.ops();
    // An unknown pipeline is a 404 here (the CLI's usage error names it the same way).
    ops.pipeline(&name)
        .map_err(|e| ApiError::from(e).into_not_found())?;
    if let Some(env) = &body.env {
        ops.environment_named(env)?;
    }
    let action = RunAction::Run(StartRun {
        pipeline: name,
        env: body.env,
        vars: body.vars,
        trigger: "api".into(),
        actor: caller.name,
        limit: body.limit,
        ..StartRun::default()
    });
    launch(&server, action).await
}

pub async fn retry(
    State(server): State<Arc<Server>>,
    Operator(caller): Operator,
    PathParam(id): PathParam<RunId>,
) -> ApiResult<(StatusCode, Json<Started>)> {
    launch(
        &server,
        RunAction::Retry {
            run: id,
            actor: caller.name,
            limit: None,
        },
    )
    .await
}

pub async fn rollback(
    State(server): State<Arc<Server>>,
    Operator(caller): Operator,
    PathParam(id): PathParam<RunId>,
    JsonBody(body): JsonBody<RollbackBody>,
) -> ApiResult<(StatusCode, Json<Started>)> {
    launch(
        &server,
        RunAction::Rollback {
            run: id,
            actor: caller.name,
            force: body.force,
            limit: body.limit,
        },
    )
    .await
}

pub async fn cancel(
    State(server): State<Arc<Server>>,
    Operator(caller): Operator,
    PathParam(id): PathParam<RunId>,
) -> ApiResult<(StatusCode, Json<baton_ops::Cancelled>)> {
    let ops = server.ops();
    // The request is recorded at once; the answer says whether the run has stopped yet (it
    // stops at its next step boundary or kill).
    let cancelled = blocking(move || {
        ops.cancel(id, &caller.name, std::time::Duration::from_secs(2))
            .map_err(ApiError::from)
    })
    .await?;
    let status = if cancelled.stopped {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    Ok((status, Json(cancelled)))
}

pub async fn promote(
    State(server): State<Arc<Server>>,
    Operator(_caller): Operator,
    PathParam(name): PathParam<String>,
    JsonBody(body): JsonBody<PromoteBody>,
) -> ApiResult<Json<baton_ops::api::artifacts::Promoted>> {
    let ops = server.ops();
    let promoted = blocking(move || {
        ops.promote(name, body.version, &body.to, body.approve)
            .map_err(ApiError::from)
    })
    .await?;
    Ok(Json(promoted))
}

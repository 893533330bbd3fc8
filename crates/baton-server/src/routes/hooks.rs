//! `POST /hooks/PIPELINE`: a signed delivery from GitHub, GitLab or any client signing with
//! HMAC-SHA256 starts the pipeline on the pushed branch and commit. The signature is checked
//! before the body is read as JSON; a delivery id seen before is refused (409) before
//! anything starts; a body over 1 MiB is refused (413) before it is read whole.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use baton_model::Trigger;
use baton_ops::runs::{RunAction, StartRun};
use bytes::Bytes;
use serde_json::json;

use super::blocking;
use super::body::{PathParam, bytes_rejection};
use crate::error::{ApiError, ApiResult};
use crate::hooks::{self, HookEvent, HookRequest, Source};
use crate::server::Server;

pub async fn deliver(
    State(server): State<Arc<Server>>,
    PathParam(pipeline): PathParam<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let result = handle(&server, &pipeline, &headers, body).await;
    let label = match &result {
        Ok((_, label)) => *label,
        Err(e) => match e.status {
            StatusCode::UNAUTHORIZED => "unauthorized",
            StatusCode::CONFLICT => "replayed",
            StatusCode::PAYLOAD_TOO_LARGE => "too_large",
            StatusCode::NOT_FOUND => "not_found",
            _ => "rejected",
        },
    };
    server.metrics.delivery(&pipeline, label);
    result.map(|(response, _)| response)
}

async fn handle(
    server: &Arc<Server>,
    name: &str,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(Response, &'static str)> {
    let ops = server.ops();
    let pipeline = ops
        .pipeline(name)
        .map_err(|e| ApiError::from(e).into_not_found())?;
    let Some((secret_name, branches)) = pipeline.triggers.iter().find_map(|t| match &t.value {
        Trigger::Webhook { secret, branches } => Some((secret.clone(), branches.clone())),
        _ => None,
    }) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no_webhook_trigger",
            format!(
                "pipeline `{name}` has no webhook trigger: add `triggers: [{{ webhook: {{ secret: NAME }} }}]`"
            ),
        ));
    };
    let Some(secret_name) = secret_name else {
        return Err(ApiError::unauthorized(format!(
            "the webhook trigger of `{name}` names no secret, so no delivery can be verified: \
             write `{{ webhook: {{ secret: NAME }} }}` and `baton secret set NAME`"
        )));
    };
    let body = body.map_err(bytes_rejection)?;
    let env = pipeline.env.as_ref().map(|e| e.value.clone());
    let project = ops.project.clone();
    let secret = blocking(move || {
        baton_ops::get_secret(&project, env.as_deref(), &secret_name).map_err(|e| {
            // The details (paths, identities) are for the operator's log, not for whoever
            // calls an open route.
            tracing::error!("webhook secret `{secret_name}`: {}", e.message);
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "webhook_secret_unavailable",
                format!("the server cannot read the webhook secret `{secret_name}`: see its log"),
            )
        })
    })
    .await?;
    let header_list: Vec<(String, String)> = headers
        .iter()
        .filter_map(|(k, v)| {
            Some((
                k.as_str().to_ascii_lowercase(),
                v.to_str().ok()?.to_string(),
            ))
        })
        .collect();
    let request = HookRequest {
        headers: &header_list,
        body: &body,
    };
    let now = chrono::Utc::now().timestamp();
    let delivery = hooks::verify(&request, secret.as_bytes(), now).map_err(|e| match e {
        hooks::HookError::Unauthorized(m) => ApiError::unauthorized(m),
        hooks::HookError::BadRequest(m) => ApiError::bad_request(m),
    })?;
    if let Some(id) = &delivery.id {
        let store = ops.store.clone();
        let (p, d) = (name.to_string(), id.clone());
        let new = blocking(move || Ok(store.record_delivery(&p, &d)?)).await?;
        if !new {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "replayed",
                format!("delivery `{id}` was received before: nothing started"),
            ));
        }
    }
    let (branch, commit) = match delivery.event {
        HookEvent::Ping => {
            return Ok((Json(json!({ "ping": true })).into_response(), "ping"));
        }
        HookEvent::Ignored { reason } => {
            return Ok((
                (StatusCode::ACCEPTED, Json(json!({ "ignored": reason }))).into_response(),
                "ignored",
            ));
        }
        HookEvent::Push { branch, commit } => (branch, commit),
    };
    // With branch filters, a push must name a matching branch (a tag push names none).
    if !branches.is_empty() {
        let matched = branch
            .as_deref()
            .is_some_and(|b| baton_model::branch_matches(&branches, b));
        if !matched {
            let what = match &branch {
                Some(b) => format!("branch `{b}` does not match {branches:?}"),
                None => format!(
                    "the push names no branch (a tag?) and the trigger filters on {branches:?}"
                ),
            };
            return Ok((
                (StatusCode::ACCEPTED, Json(json!({ "ignored": what }))).into_response(),
                "ignored",
            ));
        }
    }
    let actor = match delivery.source {
        Source::GitHub => "github",
        Source::GitLab => "gitlab",
        Source::Plain => "webhook",
    };
    // The pushed commit's checkout, cloned from the project's repository (which fetches it
    // from its origin when it does not have it yet).
    let checkout = commit.clone().map(|commit| baton_ops::Checkout {
        source: ops.project.root.clone(),
        commit,
    });
    let action = RunAction::Run(StartRun {
        pipeline: name.to_string(),
        trigger: "webhook".into(),
        actor: actor.into(),
        branch,
        commit,
        checkout,
        ..StartRun::default()
    });
    let plan = ops.plan_run(action)?;
    let id = server.start_run(plan).await?;
    Ok((
        (StatusCode::CREATED, Json(json!({ "id": id }))).into_response(),
        "accepted",
    ))
}

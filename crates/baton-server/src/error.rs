//! API errors: one JSON shape, `{ "error": { "code", "message" } }`, and one mapping from the
//! operations layer's error kinds to HTTP statuses (the CLI maps the same kinds to exit codes).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use baton_ops::{ErrorKind, OpsError};
use serde::Serialize;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

pub type ApiResult<T> = Result<T, ApiError>;

/// The body of every error response.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub(crate) struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = ErrorDetail)]
struct Inner<'a> {
    /// Stable, for programs: `bad_request`, `unauthorized`, `forbidden`, `not_found`,
    /// `conflict`, `too_large`, `invalid_project`, `replayed`, ….
    code: &'a str,
    /// For people: what went wrong, and often what to do.
    message: &'a str,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn too_large(limit: usize) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("the body is over {} KiB", limit / 1024),
        )
    }

    /// The same message as a 404: a name in the path that does not exist (the operations
    /// layer calls an unknown pipeline a usage error, which it is on a command line).
    pub fn into_not_found(mut self) -> ApiError {
        self.status = StatusCode::NOT_FOUND;
        self.code = "not_found";
        self
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

impl From<OpsError> for ApiError {
    fn from(e: OpsError) -> ApiError {
        let (status, code) = match e.kind {
            ErrorKind::Usage => (StatusCode::BAD_REQUEST, "bad_request"),
            ErrorKind::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            ErrorKind::Conflict => (StatusCode::CONFLICT, "conflict"),
            // The server's project is invalid (a reload keeps the last good one, so this is a
            // request that names something the project cannot do).
            ErrorKind::Invalid => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_project"),
            ErrorKind::Failed => (StatusCode::INTERNAL_SERVER_ERROR, "failed"),
        };
        let message = match &e.hint {
            Some(hint) => format!("{} ({hint})", e.message),
            None => e.message.clone(),
        };
        ApiError::new(status, code, message)
    }
}

impl From<baton_store::StoreError> for ApiError {
    fn from(e: baton_store::StoreError) -> ApiError {
        ApiError::internal(format!("store: {e}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            error: Inner {
                code: self.code,
                message: &self.message,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

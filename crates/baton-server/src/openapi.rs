//! The OpenAPI document of the REST API (`GET /api/openapi.json`).

/// The document, as JSON text.
pub fn document() -> String {
    "{}".to_string()
}

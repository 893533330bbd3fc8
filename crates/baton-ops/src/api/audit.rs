//! The audit trail (`GET /api/audit`): who did what to which thing, newest first.

use baton_store::{AuditRecord, Millis};
use serde::Serialize;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    #[schema(value_type = i64)]
    pub at: Millis,
    /// An OS user or an API token's name.
    pub who: String,
    pub action: String,
    pub subject: String,
    pub detail: serde_json::Value,
}

impl From<&AuditRecord> for AuditEntry {
    fn from(r: &AuditRecord) -> AuditEntry {
        AuditEntry {
            id: r.id,
            at: r.at,
            who: r.who.clone(),
            action: r.action.clone(),
            subject: r.subject.clone(),
            detail: r.detail.clone(),
        }
    }
}

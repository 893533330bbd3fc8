//! Artifacts as front ends see them: each version with every shelf it is on.

use baton_store::{ArtifactRecord, Millis, PromotionRecord, RunId};
use serde::Serialize;

/// One artifact version (`baton artifact list`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ArtifactVersion {
    pub id: i64,
    pub name: String,
    pub version: i64,
    pub sha256: String,
    pub size: u64,
    /// The run that built it.
    #[schema(value_type = i64)]
    pub run: RunId,
    pub pipeline: String,
    pub stage: String,
    pub commit: Option<String>,
    pub branch: Option<String>,
    /// The shelf it was published to, if its branch maps to an environment.
    pub shelf: Option<String>,
    #[schema(value_type = i64)]
    pub created_at: Millis,
    /// Every shelf it is on: published first, then promoted, in order.
    pub shelves: Vec<String>,
    /// How it reached each shelf after the first.
    pub promotions: Vec<Promotion>,
}

/// An artifact version put on another environment's shelf.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Promotion {
    pub id: i64,
    pub artifact_id: i64,
    pub name: String,
    pub version: i64,
    /// The shelf it is on now.
    pub env: String,
    /// The shelf it came from.
    pub from: String,
    pub by: String,
    /// The run whose `promote:` step promoted it.
    #[schema(value_type = Option<i64>)]
    pub run: Option<RunId>,
    pub tag: Option<String>,
    #[schema(value_type = i64)]
    pub promoted_at: Millis,
}

/// What `artifact promote` did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Promoted {
    Recorded(Promotion),
    /// It was on that shelf already: nothing recorded.
    AlreadyThere {
        name: String,
        version: i64,
        env: String,
        already: bool,
    },
}

impl From<&PromotionRecord> for Promotion {
    fn from(p: &PromotionRecord) -> Promotion {
        Promotion {
            id: p.id,
            artifact_id: p.artifact_id,
            name: p.name.clone(),
            version: p.version,
            env: p.env.clone(),
            from: p.from.clone(),
            by: p.by.clone(),
            run: p.run,
            tag: p.tag.clone(),
            promoted_at: p.promoted_at,
        }
    }
}

impl ArtifactVersion {
    pub(crate) fn new(a: ArtifactRecord, shelves: Vec<String>, promotions: Vec<Promotion>) -> Self {
        ArtifactVersion {
            id: a.id,
            name: a.name,
            version: a.version,
            sha256: a.sha256,
            size: a.size,
            run: a.run,
            pipeline: a.pipeline,
            stage: a.stage,
            commit: a.commit,
            branch: a.branch,
            shelf: a.shelf,
            created_at: a.created_at,
            shelves,
            promotions,
        }
    }
}

//! API tokens as front ends see them: names, roles and the start of each hash. The token itself
//! appears once, in what `token add` returns, and never again (baton.yaml keeps its SHA-256).

use serde::Serialize;

/// What a token may do on `baton serve`: a viewer reads, an operator also starts and stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Operator,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
        }
    }
}

// The model's enum stays the model's: this one is the API's, so the two can change apart.
impl From<baton_model::TokenRole> for Role {
    fn from(role: baton_model::TokenRole) -> Role {
        match role {
            baton_model::TokenRole::Viewer => Role::Viewer,
            baton_model::TokenRole::Operator => Role::Operator,
        }
    }
}

impl From<Role> for baton_model::TokenRole {
    fn from(role: Role) -> baton_model::TokenRole {
        match role {
            Role::Viewer => baton_model::TokenRole::Viewer,
            Role::Operator => baton_model::TokenRole::Operator,
        }
    }
}

/// A new token (`token add`): the only document that carries a token.
#[derive(Clone, Serialize)]
pub struct TokenAdded {
    /// [`crate::api::VERSION`].
    pub api: u32,
    pub name: String,
    pub role: Role,
    /// `baton_` and 64 lower-case hex digits; send it as `Authorization: Bearer TOKEN`.
    pub token: String,
    /// Lower-case hex SHA-256 of `token`, as written to baton.yaml.
    pub sha256: String,
}

// By hand so that a `{:?}` in a log or a panic message never shows the token.
impl std::fmt::Debug for TokenAdded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenAdded")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("token", &"<redacted>")
            .field("sha256", &self.sha256)
            .finish()
    }
}

/// Where a token the server accepts is configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenSource {
    /// `server.tokens` in baton.yaml.
    Project,
    /// `BATON_TOKEN` in the environment (an operator token, named after the variable).
    Env,
}

/// One token of `token list`.
#[derive(Debug, Clone, Serialize)]
pub struct TokenInfo {
    pub name: String,
    pub role: Role,
    /// The first 12 hex digits of the SHA-256: enough to tell tokens apart and to match one
    /// you hold, without printing a whole hash of `BATON_TOKEN` (which may be a weak secret).
    pub sha256_prefix: String,
    pub source: TokenSource,
}

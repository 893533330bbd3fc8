//! Bearer tokens and roles. A presented token is hashed (SHA-256) and compared in constant time
//! with every configured hash — `server.tokens` holds hashes only — and with `BATON_TOKEN`, the
//! operator token of the server's environment. The token's name is the actor of what it starts.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use baton_model::TokenRole;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::server::Server;

/// The actor name of `BATON_TOKEN` (the variable's own name, as `baton token list` shows it).
pub use baton_ops::tokens::ENV_TOKEN as ENV_TOKEN_NAME;

/// Who is calling, once authenticated.
#[derive(Debug, Clone)]
pub struct Caller {
    pub name: String,
    pub role: TokenRole,
}

/// A caller allowed to change things (start, cancel, retry, roll back, apply, approve).
#[derive(Debug, Clone)]
pub struct Operator(pub Caller);

/// The tokens a server accepts: names, roles and hashes (never the tokens themselves).
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    entries: Vec<(String, TokenRole, [u8; 32])>,
}

impl Tokens {
    pub fn new(project: &baton_model::Project, env_token: Option<&str>) -> Tokens {
        let mut entries = Vec::new();
        if let Some(token) = env_token.filter(|t| !t.is_empty()) {
            entries.push((
                ENV_TOKEN_NAME.to_string(),
                TokenRole::Operator,
                Sha256::digest(token.as_bytes()).into(),
            ));
        }
        for token in project.server.tokens.values() {
            let mut hash = [0u8; 32];
            if hex::decode_to_slice(&token.sha256, &mut hash).is_ok() {
                entries.push((token.name.clone(), token.role, hash));
            }
        }
        Tokens { entries }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The caller a token belongs to. Every entry is compared, so the time taken does not say
    /// which one (or whether any) matched.
    pub fn check(&self, token: &str) -> Option<Caller> {
        let presented: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found = None;
        for (name, role, hash) in &self.entries {
            if bool::from(presented.ct_eq(hash)) && found.is_none() {
                found = Some(Caller {
                    name: name.clone(),
                    role: *role,
                });
            }
        }
        found
    }
}

fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(axum::http::header::AUTHORIZATION)?;
    let value = value.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

impl FromRequestParts<Arc<Server>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        server: &Arc<Server>,
    ) -> Result<Caller, ApiError> {
        let Some(token) = bearer(parts) else {
            return Err(ApiError::unauthorized(
                "no token: send `Authorization: Bearer TOKEN` (`baton token add NAME --role viewer` makes one)",
            ));
        };
        server
            .tokens()
            .check(token)
            .ok_or_else(|| ApiError::unauthorized("unknown token"))
    }
}

impl FromRequestParts<Arc<Server>> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        server: &Arc<Server>,
    ) -> Result<Operator, ApiError> {
        let caller = Caller::from_request_parts(parts, server).await?;
        if caller.role != TokenRole::Operator {
            return Err(ApiError::forbidden(format!(
                "token `{}` is a viewer: this needs an operator token",
                caller.name
            )));
        }
        Ok(Operator(caller))
    }
}

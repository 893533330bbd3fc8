//! Secrets as front ends see them: names and recipients, never values (except `get`).

use serde::Serialize;

/// One secret of an environment (`baton secret list`).
#[derive(Debug, Clone, Serialize)]
pub struct SecretInfo {
    pub name: String,
    /// Who the value was encrypted for.
    pub recipients: Vec<String>,
    /// Encrypted for exactly the recipients baton.yaml lists now (else: set it again).
    pub current: bool,
}

/// What `secret set` stored.
#[derive(Debug, Clone, Serialize)]
pub struct SecretSet {
    pub name: String,
    pub env: String,
    /// The file it is in, relative to the project root.
    pub file: String,
    pub recipients: usize,
    /// False when the value is too short to be masked in logs.
    pub masked: bool,
}

/// A new identity (`secret keygen`).
#[derive(Debug, Clone, Serialize)]
pub struct Keygen {
    pub public_key: String,
    pub path: String,
}

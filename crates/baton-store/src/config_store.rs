//! Storage of configuration versions (SPEC §3): per (config, environment), each version keeps the
//! rendered content per target, when, who and the action.
//!
//! Filled in by the configuration-manager work; implemented for SQLite in `sqlite_config.rs`.

/// Configuration versions. Part of [`crate::Store`].
pub trait ConfigStore {}

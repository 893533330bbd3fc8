//! Storage of infrastructure state (SPEC §4): resources with a serial per change and history.
//!
//! Filled in by the infrastructure work; implemented for SQLite in `sqlite_state.rs`.

/// Infrastructure state. Part of [`crate::Store`].
pub trait StateStore {}

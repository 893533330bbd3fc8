//! The versioned types front ends exchange with the operations layer: the CLI's `--json`
//! output and the REST bodies are these same types. They are converted from store records at
//! this edge, so the store's schema can change without changing what users parse.
//!
//! Compatibility rule: within [`VERSION`], fields are only ever added (never renamed, retyped
//! or removed); a breaking change bumps it.

/// The version of every type in this module, carried as `"api": 1` by top-level documents.
pub const VERSION: u32 = 1;

pub mod artifacts;
pub mod audit;
pub mod config;
pub mod exec;
pub mod infra;
pub mod monitor;
pub mod nodes;
pub mod notify;
pub mod runs;
pub mod schedules;
pub mod schema;
pub mod secrets;
pub mod tokens;

//! Starter project.
pub const STARTER_YAML: &str = "";

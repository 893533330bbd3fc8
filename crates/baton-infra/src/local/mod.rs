//! The built-in local provider: `file`, `directory`, `symlink`, `user`, `group`, `service`,
//! `cron` and `command`. Every type acts on `local` or, with `node:`, on a node over SSH, through
//! the same executor interface as pipeline steps.

mod command;
pub(crate) mod docs;
mod fs;
pub mod shell;
mod system;

use std::sync::Arc;

use crate::provider::{Attrs, Provider, ResourceType};

pub struct LocalProvider;

impl Provider for LocalProvider {
    fn name(&self) -> &'static str {
        "local"
    }
    fn types(&self) -> Vec<Arc<dyn ResourceType>> {
        vec![
            Arc::new(fs::File),
            Arc::new(fs::Directory),
            Arc::new(fs::Symlink),
            Arc::new(system::User),
            Arc::new(system::Group),
            Arc::new(system::Service),
            Arc::new(system::Cron),
            Arc::new(command::Command),
        ]
    }
}

/// A string attribute, or `""` when absent (validation guarantees required ones are there).
pub(crate) fn str_attr<'a>(attrs: &'a Attrs, name: &str) -> &'a str {
    attrs.get(name).and_then(|v| v.as_str()).unwrap_or("")
}

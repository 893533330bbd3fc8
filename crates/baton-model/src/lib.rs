//! baton's project model: `baton.yaml` (and its includes) → a typed [`Project`] whose values keep
//! their source locations, with every problem reported at once as [`Diagnostics`].
//!
//! Architecture invariant: this crate knows nothing of the store, executors, engines or the CLI.
//! It reads files and returns data; it never runs anything.

pub mod branches;
pub mod diagnostic;
pub mod duration;
pub mod inventory;
pub mod schema;
pub mod selector;
pub mod span;
pub mod starter;
pub mod template;
pub mod types;

mod decode;
mod files;
mod node_context;
mod validate;
mod yaml;

use std::path::{Path, PathBuf};

pub use branches::branch_matches;
pub use diagnostic::{Diagnostic, Diagnostics};
pub use selector::{Atom, Inventory, Selector, SelectorError};
pub use span::{FileId, Sources, Span, Spanned};
pub use types::*;
pub use validate::ANY_RUN_VAR;

/// The project file's name, looked for from the current directory upwards.
pub const PROJECT_FILE: &str = "baton.yaml";

/// Walk up from `start` to the first directory holding `baton.yaml`, as git finds `.git`.
pub fn find_project_file(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .map(|dir| dir.join(PROJECT_FILE))
        .find(|candidate| candidate.is_file())
}

/// Check that `text` is one well-formed YAML document under baton's own rules (duplicate keys
/// and alias bombs are errors), for validating YAML config files. The first problem: 1-based
/// line, column and message.
pub fn check_yaml(text: &str) -> Result<(), (u32, u32, String)> {
    match yaml::parse(text, FileId(0)) {
        Ok(_) => Ok(()),
        Err(problems) => {
            let first = problems.into_iter().next();
            let (line, col) = first
                .as_ref()
                .and_then(|d| d.span)
                .map(|s| (s.line, s.col))
                .unwrap_or((1, 1));
            Err((line, col, first.map(|d| d.message).unwrap_or_default()))
        }
    }
}

/// Read, decode and validate a project. Every problem found is returned, not just the first.
/// Every step kind counts as available; see [`load_for`].
pub fn load(path: &Path) -> Result<Project, Diagnostics> {
    load_for(path, STEP_KINDS)
}

/// Every step kind the model knows (`run:`, `http:`, `upload:`, …).
pub const STEP_KINDS: &[&str] = &[
    "run", "http", "upload", "config", "infra", "promote", "notify",
];

/// [`load`] for a build of baton that can run only the step kinds in `available`: a step of
/// another kind is reported at its place, rather than failing a run half-way.
pub fn load_for(path: &Path, available: &[&str]) -> Result<Project, Diagnostics> {
    load_for_run(path, available, &[])
}

/// [`load_for`] for a run whose command line supplies variables `run_vars` (`--var NAME=…`),
/// so templates may use them without a declaration.
pub fn load_for_run(
    path: &Path,
    available: &[&str],
    run_vars: &[&str],
) -> Result<Project, Diagnostics> {
    let decode::Decoded {
        mut project,
        problems,
        declared,
    } = decode::load_files(path)?;
    if problems.is_empty() {
        validate::validate(&mut project, None, available, run_vars)?;
        return Ok(project);
    }
    // Shape problems and reference problems are reported together.
    let mut items = problems;
    if let Err(more) = validate::validate(&mut project, Some(&declared), available, run_vars) {
        items.extend(more.items);
    }
    Err(Diagnostics {
        items: decode::in_file_order(items),
        sources: project.sources,
    })
}

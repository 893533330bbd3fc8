//! Cross-references between sections.
use crate::diagnostic::Diagnostics;
use crate::types::Project;

pub(crate) fn validate(_project: &mut Project) -> Result<(), Diagnostics> {
    Ok(())
}

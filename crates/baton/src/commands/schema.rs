//! `baton schema`: the JSON Schema of `baton.yaml`, for editors.

use crate::app::{CommandResult, EXIT_OK};

pub fn run() -> CommandResult {
    crate::output::print_json(&baton_model::schema::json_schema());
    Ok(EXIT_OK)
}

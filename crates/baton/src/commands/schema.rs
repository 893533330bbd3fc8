//! `baton schema`: the JSON Schema of `baton.yaml`, for editors; `--reference DIR` writes the
//! reference pages generated from the same schemas.

use crate::app::{CommandResult, EXIT_OK, Failure};
use crate::cli::SchemaArgs;

pub fn run(args: &SchemaArgs) -> CommandResult {
    let Some(dir) = &args.reference else {
        crate::output::print_json(&baton_model::schema::json_schema());
        return Ok(EXIT_OK);
    };
    let failed = |e: std::io::Error, path: &std::path::Path| {
        Failure::from(baton_ops::OpsError::failed(format!(
            "cannot write `{}`: {e}",
            path.display()
        )))
    };
    std::fs::create_dir_all(dir).map_err(|e| failed(e, dir))?;
    let pages = baton_ops::reference::reference_pages();
    for page in &pages {
        let path = dir.join(&page.file);
        std::fs::write(&path, &page.text).map_err(|e| failed(e, &path))?;
    }
    println!("{} pages written to {}", pages.len(), dir.display());
    Ok(EXIT_OK)
}

//! `baton init`: a commented starter `baton.yaml` (and `.baton/` in `.gitignore`).

use crate::app::{CommandResult, EXIT_OK, Failure, Style, Ui};
use crate::cli::InitArgs;

pub fn run(args: &InitArgs, ui: &Ui) -> CommandResult {
    let file = args.dir.join(baton_model::PROJECT_FILE);
    if file.exists() {
        return Err(Failure::usage(format!(
            "`{}` already exists; not overwriting it",
            file.display()
        )));
    }
    std::fs::create_dir_all(&args.dir)
        .map_err(|e| Failure::failed(format!("cannot create `{}`: {e}", args.dir.display())))?;
    write_new(&file, baton_model::starter::STARTER_YAML)?;
    // The store lives in the project but is not part of it.
    let ignore = args.dir.join(".gitignore");
    let existing = std::fs::read_to_string(&ignore).unwrap_or_default();
    if !existing
        .lines()
        .any(|l| l.trim() == ".baton/" || l.trim() == ".baton")
    {
        let mut text = existing;
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(".baton/\n");
        std::fs::write(&ignore, text)
            .map_err(|e| Failure::failed(format!("cannot write `{}`: {e}", ignore.display())))?;
    }
    println!("{} created {}", ui.paint(Style::Ok, "✓"), file.display());
    println!("  next: `baton validate`, then `baton run ci`");
    Ok(EXIT_OK)
}

/// Create `path` with `text`, failing if it appeared meanwhile.
fn write_new(path: &std::path::Path, text: &str) -> Result<(), Failure> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| Failure::failed(format!("cannot create `{}`: {e}", path.display())))?;
    file.write_all(text.as_bytes())
        .map_err(|e| Failure::failed(format!("cannot write `{}`: {e}", path.display())))
}

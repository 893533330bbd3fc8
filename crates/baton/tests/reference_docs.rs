//! `docs/reference/` is generated from the schemas `validate` uses: the committed pages must be
//! exactly what `baton schema --reference` writes now (regenerate with
//! `cargo run -p baton -- schema --reference docs/reference`).

#![allow(clippy::disallowed_methods)] // tests drive real processes: the binary

mod common;

use std::collections::BTreeMap;
use std::path::Path;

fn pages(dir: &Path) -> BTreeMap<String, String> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect()
}

#[test]
fn the_reference_pages_are_up_to_date() {
    let out = tempfile::tempdir().unwrap();
    let status = std::process::Command::new(common::baton_bin())
        .args(["schema", "--reference"])
        .arg(out.path())
        .status()
        .unwrap();
    assert!(status.success());
    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/reference");
    let (fresh, committed) = (pages(out.path()), pages(&committed));
    assert_eq!(
        fresh.keys().collect::<Vec<_>>(),
        committed.keys().collect::<Vec<_>>(),
        "docs/reference has other pages than baton generates: run `cargo run -p baton -- schema --reference docs/reference`"
    );
    for (file, text) in &fresh {
        assert_eq!(
            text, &committed[file],
            "docs/reference/{file} is stale: run `cargo run -p baton -- schema --reference docs/reference`"
        );
    }
    assert!(fresh["README.md"].contains("resource-file.md"));
    assert!(fresh["step-upload.md"].contains("| `from` |"));
}

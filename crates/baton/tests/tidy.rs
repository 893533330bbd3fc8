//! Rules of the code base that the compiler does not check: every source file says what it
//! is (`//!`), crates depend on each other only as ARCHITECTURE.md's "Crate edges" list says,
//! and only the binary prints.

#![allow(clippy::disallowed_methods)] // tests drive real processes: the binary, sshd, git

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/baton is two levels below the workspace")
        .to_path_buf()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == "target") {
                continue;
            }
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn crates() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(workspace().join("crates"))
        .expect("crates/")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("Cargo.toml").is_file())
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn every_source_file_starts_with_a_module_doc() {
    let mut files = Vec::new();
    for krate in crates() {
        rust_files(&krate.join("src"), &mut files);
        rust_files(&krate.join("tests"), &mut files);
    }
    assert!(files.len() > 50, "found the sources ({})", files.len());
    let missing: Vec<String> = files
        .iter()
        .filter(|f| {
            let text = std::fs::read_to_string(f).unwrap_or_default();
            !text.trim_start().starts_with("//!")
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "files without a `//!` line saying what they are:\n{}",
        missing.join("\n")
    );
}

/// `name → baton-* crates it depends on` from each Cargo.toml's `[dependencies]`.
fn actual_edges() -> BTreeMap<String, BTreeSet<String>> {
    crates()
        .into_iter()
        .map(|dir| {
            let toml = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
            let name = dir.file_name().unwrap().to_string_lossy().into_owned();
            let mut in_deps = false;
            let mut deps = BTreeSet::new();
            for line in toml.lines() {
                let line = line.trim();
                if line.starts_with('[') {
                    in_deps = line == "[dependencies]";
                } else if in_deps && line.starts_with("baton") {
                    let dep = line.split(['=', '.', ' ']).next().unwrap_or_default();
                    deps.insert(dep.to_string());
                }
            }
            (name, deps)
        })
        .collect()
}

/// The "Crate edges" list of ARCHITECTURE.md: lines `- \`crate\` → a, b` (or `→ —`).
fn documented_edges() -> BTreeMap<String, BTreeSet<String>> {
    let text = std::fs::read_to_string(workspace().join("ARCHITECTURE.md")).unwrap();
    let section = text
        .split("## Crate edges")
        .nth(1)
        .expect("ARCHITECTURE.md has a `## Crate edges` section");
    let section = section.split("\n## ").next().unwrap_or_default();
    section
        .lines()
        .filter_map(|line| {
            let rest = line.trim().strip_prefix("- `")?;
            let (name, deps) = rest.split_once("` →")?;
            let deps = deps
                .split(',')
                .map(|d| d.trim().trim_matches('`').to_string())
                .filter(|d| !d.is_empty() && d != "—")
                .collect();
            Some((name.to_string(), deps))
        })
        .collect()
}

#[test]
fn crate_edges_are_the_documented_ones() {
    let actual = actual_edges();
    let documented = documented_edges();
    assert!(actual.len() >= 9, "read the crates: {actual:?}");
    let mut problems = Vec::new();
    for (name, deps) in &actual {
        match documented.get(name) {
            None => problems.push(format!("`{name}` is not in ARCHITECTURE.md's crate edges")),
            Some(allowed) if allowed != deps => problems.push(format!(
                "`{name}` depends on {deps:?}; ARCHITECTURE.md says {allowed:?}"
            )),
            _ => {}
        }
    }
    for name in documented.keys() {
        if !actual.contains_key(name) {
            problems.push(format!(
                "ARCHITECTURE.md lists `{name}`, which is not a crate"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn only_the_binary_prints() {
    let mut offenders = Vec::new();
    for krate in crates() {
        if krate.file_name().is_some_and(|n| n == "baton") {
            continue;
        }
        let mut files = Vec::new();
        rust_files(&krate.join("src"), &mut files);
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            // Unit tests at the end of a file may print while debugging; library code may not.
            let library = text.split("#[cfg(test)]").next().unwrap_or_default();
            for (n, line) in library.lines().enumerate() {
                let code = line.split("//").next().unwrap_or_default();
                if ["println!", "eprintln!", "print!(", "eprint!(", "dbg!("]
                    .iter()
                    .any(|m| code.contains(m))
                {
                    offenders.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "libraries never print (return data; the CLI prints):\n{}",
        offenders.join("\n")
    );
}

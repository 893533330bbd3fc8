//! A project directory on disk for loading tests.

#![allow(dead_code)] // each test binary uses part of it

use std::path::PathBuf;

pub struct Fixture {
    pub dir: tempfile::TempDir,
    /// The main `baton.yaml`.
    pub main: PathBuf,
}

/// A temporary directory holding `baton.yaml` (`main`) and further files (`others`).
pub fn project(main: &str, others: &[(&str, &str)]) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let main_path = dir.path().join("baton.yaml");
    std::fs::write(&main_path, main).unwrap();
    for (name, text) in others {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    Fixture {
        dir,
        main: main_path,
    }
}

//! Reading project files safely: regular files only, a size cap, UTF-8 checked with a location,
//! and `include:` globs expanded without following symlink loops.
//!
//! `validate` must finish on any input: a FIFO or a device (`/dev/urandom`) named as a project
//! file would block or never end, and a directory symlink pointing at its parent makes a
//! recursive glob walk forever. Everything the loader reads goes through here.

use std::collections::HashSet;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// The largest project, include or inventory file read. Real ones are kilobytes; this bounds
/// memory and time for a wrong path (a log, a disk image) while leaving room for generated
/// inventories of many thousand hosts.
pub(crate) const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// How deep a `**` include glob descends; far deeper than any project layout, it only stops
/// pathological trees.
const MAX_GLOB_DEPTH: usize = 32;

/// Why a file could not be used, with the place of the problem inside it when there is one.
#[derive(Debug)]
pub(crate) struct ReadError {
    pub message: String,
    /// 1-based line and column (in characters) of the offending byte, for encoding problems.
    pub at: Option<(u32, u32)>,
    /// The file's text, decoded lossily, so a located problem can be shown with its line.
    pub text: Option<String>,
}

impl ReadError {
    fn plain(message: String) -> Self {
        ReadError {
            message,
            at: None,
            text: None,
        }
    }
}

/// Read a regular text file of at most [`MAX_FILE_BYTES`], as UTF-8 without NUL bytes.
pub(crate) fn read_text(path: &Path) -> Result<String, ReadError> {
    // Checked before opening: opening a FIFO blocks until a writer appears.
    let meta = std::fs::metadata(path).map_err(|e| ReadError::plain(e.to_string()))?;
    if !meta.is_file() {
        return Err(ReadError::plain(format!(
            "it is {}, not a regular file",
            describe_type(&meta.file_type())
        )));
    }
    let file = std::fs::File::open(path).map_err(|e| ReadError::plain(e.to_string()))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| ReadError::plain(e.to_string()))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(ReadError::plain(format!(
            "it is larger than {} MiB, the most baton reads from one file",
            MAX_FILE_BYTES / (1024 * 1024)
        )));
    }
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(err) => {
            let offset = err.utf8_error().valid_up_to();
            let bytes = err.into_bytes();
            let (line, col) = line_col(&bytes[..offset]);
            return Err(ReadError {
                message: format!("invalid UTF-8 at byte offset {offset}"),
                at: Some((line, col)),
                text: Some(String::from_utf8_lossy(&bytes).into_owned()),
            });
        }
    };
    if let Some(offset) = text.find('\0') {
        let (line, col) = line_col(&text.as_bytes()[..offset]);
        return Err(ReadError {
            message: format!("a NUL byte at byte offset {offset}; this is not a text file"),
            at: Some((line, col)),
            text: Some(text),
        });
    }
    Ok(text)
}

/// The 1-based line and character column just after `before`.
fn line_col(before: &[u8]) -> (u32, u32) {
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let start = before
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i + 1);
    let col = String::from_utf8_lossy(&before[start..]).chars().count() + 1;
    (line as u32, col as u32)
}

fn describe_type(t: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a named pipe (FIFO)"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "a special file"
    }
}

/// The regular files matching `pattern` (relative to `dir`), sorted, each real file once.
///
/// Walks the directories itself rather than with `glob::glob`, which follows directory symlinks
/// without bound: a directory symlink is entered only if its target was not visited already, so
/// loops end, and a file reached by two paths is listed once (by its first path).
pub(crate) fn glob_files(dir: &Path, pattern: &str) -> Result<Vec<PathBuf>, String> {
    let full = dir.join(pattern);
    let matcher = glob::Pattern::new(&full.to_string_lossy()).map_err(|e| e.msg.to_string())?;
    let options = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: false,
    };
    // The walk starts at the deepest directory without glob characters.
    let mut base = PathBuf::new();
    let mut rest = Vec::new();
    for component in full.components() {
        let text = component.as_os_str().to_string_lossy();
        if rest.is_empty() && !text.contains(['*', '?', '[']) {
            base.push(component);
        } else {
            rest.push(text.into_owned());
        }
    }
    if rest.is_empty() {
        return Ok(if base.is_file() {
            vec![base]
        } else {
            Vec::new()
        });
    }
    let depth = if rest.iter().any(|c| c.contains("**")) {
        MAX_GLOB_DEPTH
    } else {
        rest.len()
    };
    let mut walk = Walk {
        matcher: &matcher,
        options,
        visited_dirs: HashSet::new(),
        seen_files: HashSet::new(),
        found: Vec::new(),
    };
    if let Ok(canonical) = std::fs::canonicalize(&base) {
        walk.visited_dirs.insert(canonical);
    }
    walk.dir(&base, depth);
    let mut found = walk.found;
    found.sort();
    Ok(found)
}

struct Walk<'a> {
    matcher: &'a glob::Pattern,
    options: glob::MatchOptions,
    visited_dirs: HashSet<PathBuf>,
    seen_files: HashSet<PathBuf>,
    found: Vec<PathBuf>,
}

impl Walk<'_> {
    fn dir(&mut self, dir: &Path, depth: usize) {
        if depth == 0 {
            return;
        }
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        entries.sort();
        for path in entries {
            // `metadata` follows symlinks: a link to a file is a file, to a directory a directory.
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            if meta.is_dir() {
                let Ok(canonical) = std::fs::canonicalize(&path) else {
                    continue;
                };
                if self.visited_dirs.insert(canonical) {
                    self.dir(&path, depth - 1);
                }
            } else if meta.is_file() && self.matcher.matches_path_with(&path, self.options) {
                let canonical = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
                if self.seen_files.insert(canonical) {
                    self.found.push(clean(&path));
                }
            }
        }
    }
}

/// `dir/./x` → `dir/x`, so listed paths read as written.
fn clean(path: &Path) -> PathBuf {
    path.components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    // The model starts no process; this test makes a FIFO with the system's `mkfifo`.
    #[allow(clippy::disallowed_methods)]
    fn fifos_and_devices_are_refused_without_blocking() {
        let err = read_text(Path::new("/dev/urandom")).unwrap_err();
        assert!(err.message.contains("character device"), "{}", err.message);
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        let err = read_text(&fifo).unwrap_err();
        assert!(err.message.contains("named pipe"), "{}", err.message);
    }

    #[test]
    fn large_files_are_refused_with_the_cap_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.yaml");
        let file = std::fs::File::create(&path).unwrap();
        file.set_len(MAX_FILE_BYTES + 1).unwrap();
        let err = read_text(&path).unwrap_err();
        assert!(err.message.contains("16 MiB"), "{}", err.message);
    }

    #[test]
    fn invalid_utf8_and_nul_bytes_are_located() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.yaml");
        std::fs::write(&path, b"a: 1\nb: \xe9t\xe9\n").unwrap();
        let err = read_text(&path).unwrap_err();
        assert_eq!(err.at, Some((2, 4)));
        assert!(err.message.contains("byte offset 8"), "{}", err.message);
        std::fs::write(&path, b"\0\0\0\0").unwrap();
        let err = read_text(&path).unwrap_err();
        assert_eq!(err.at, Some((1, 1)));
        assert!(err.message.contains("NUL"), "{}", err.message);
    }

    #[test]
    fn symlink_loops_end_and_each_file_is_listed_once() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("conf");
        std::fs::create_dir(&sub).unwrap();
        std::fs::write(sub.join("a.yaml"), "vars: {}\n").unwrap();
        std::os::unix::fs::symlink(dir.path(), sub.join("loop")).unwrap();
        std::os::unix::fs::symlink(&sub, sub.join("self")).unwrap();
        std::os::unix::fs::symlink(sub.join("a.yaml"), sub.join("b.yaml")).unwrap();
        let found = glob_files(dir.path(), "**/*.yaml").unwrap();
        assert_eq!(found, vec![sub.join("a.yaml")]);
        let found = glob_files(dir.path(), "conf/*.yaml").unwrap();
        assert_eq!(found, vec![sub.join("a.yaml")]);
        assert_eq!(
            glob_files(dir.path(), "conf/a.yaml").unwrap(),
            vec![sub.join("a.yaml")]
        );
    }
}

//! Uploads that never damage the destination, the same on every executor.
//!
//! An upload is first *planned* on this machine ([`plan_upload`]): the source is walked, every
//! file's size and sha256 computed, and anything that cannot be copied (a FIFO, a device, a
//! symlink loop, an unreadable file) refused before the target is touched. Each file is then
//! installed on its own: written to a temporary file created 0600 beside its destination,
//! checked for size and sha256 *on the target*, given its mode and owner, and renamed over the
//! destination. When anything fails (the connection drops, the bytes differ, `chown` is
//! refused) the temporary file is removed, and directories created for it are removed again,
//! so the destination and its directory are as they were.
//!
//! A directory source syncs its tree into a directory destination (see `docs/decisions.md`):
//! directories are created, files are installed one by one as above, files on the target that
//! the source lacks are kept. Each file is atomic; the tree as a whole is not.
//!
//! [`install_file_script`] and [`prepare_tree_script`] are the POSIX shell text of the same
//! steps for targets reached through a shell (SSH); the local executor does them natively.

use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::shell::quote;
use crate::{ExecError, Executor, UploadSpec};

/// One file to install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFile {
    /// The local file (symlinks followed).
    pub source: PathBuf,
    /// Where it goes on the target.
    pub dest: String,
    pub size: u64,
    /// Lowercase hex.
    pub sha256: String,
}

/// What an upload will do, decided on this machine before the target is touched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadPlan {
    /// The source is a directory: `dest` must be (or become) a directory.
    pub tree: bool,
    /// Directories to create on the target, parents first (tree uploads only; the first is
    /// `dest` itself).
    pub dirs: Vec<String>,
    pub files: Vec<PlannedFile>,
}

fn failed(message: String) -> ExecError {
    ExecError::Spawn(message)
}

/// Walk and hash the source of `spec`. Blocking (it reads every byte): call it from
/// `spawn_blocking` in async code.
pub fn plan_upload(spec: &UploadSpec) -> Result<UploadPlan, ExecError> {
    if spec.dest.is_empty() {
        return Err(failed(format!(
            "upload of `{}` has an empty destination: give the path on the target",
            spec.source.display()
        )));
    }
    let meta = std::fs::metadata(&spec.source).map_err(|e| {
        failed(format!(
            "cannot read upload source `{}`: {e}",
            spec.source.display()
        ))
    })?;
    if meta.is_dir() {
        let mut plan = UploadPlan {
            tree: true,
            dirs: vec![spec.dest.clone()],
            files: Vec::new(),
        };
        let mut seen = vec![(meta.dev(), meta.ino())];
        walk(&spec.source, &spec.dest, &mut seen, &mut plan)?;
        return Ok(plan);
    }
    check_regular(&spec.source, &meta)?;
    if spec.dest.ends_with('/') {
        return Err(failed(format!(
            "upload destination `{}` ends with `/` but `{}` is a file: give the file's full \
             path on the target",
            spec.dest,
            spec.source.display()
        )));
    }
    let (size, sha256) = hash_file(&spec.source)?;
    Ok(UploadPlan {
        tree: false,
        dirs: Vec::new(),
        files: vec![PlannedFile {
            source: spec.source.clone(),
            dest: spec.dest.clone(),
            size,
            sha256,
        }],
    })
}

fn check_regular(path: &Path, meta: &std::fs::Metadata) -> Result<(), ExecError> {
    if meta.is_file() {
        return Ok(());
    }
    Err(failed(format!(
        "cannot upload `{}`: it is not a regular file or directory (a FIFO, socket or device); \
         copy it with a command instead",
        path.display()
    )))
}

fn walk(
    dir: &Path,
    dest: &str,
    seen: &mut Vec<(u64, u64)>,
    plan: &mut UploadPlan,
) -> Result<(), ExecError> {
    let unreadable = |e: std::io::Error| {
        failed(format!(
            "cannot read upload source directory `{}`: {e}",
            dir.display()
        ))
    };
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(unreadable)?
        .collect::<Result<_, _>>()
        .map_err(unreadable)?;
    // Sorted: the same tree always uploads in the same order (reproducible logs and failures).
    entries.sort_by_key(|e| e.file_name());
    let base = dest.trim_end_matches('/');
    for entry in entries {
        let path = entry.path();
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            return Err(failed(format!(
                "cannot upload `{}`: its name is not UTF-8",
                path.display()
            )));
        };
        let target = format!("{base}/{name}");
        // Symlinks are followed, as `cp -L` and Ansible's `copy` do: the target gets content.
        let meta = std::fs::metadata(&path).map_err(|e| {
            failed(format!(
                "cannot upload `{}`: {e} (a dangling symlink?)",
                path.display()
            ))
        })?;
        if meta.is_dir() {
            let id = (meta.dev(), meta.ino());
            if seen.contains(&id) {
                return Err(failed(format!(
                    "cannot upload `{}`: a symlink loop leads back to one of its parents",
                    path.display()
                )));
            }
            seen.push(id);
            plan.dirs.push(target.clone());
            walk(&path, &target, seen, plan)?;
            seen.pop();
        } else {
            check_regular(&path, &meta)?;
            let (size, sha256) = hash_file(&path)?;
            plan.files.push(PlannedFile {
                source: path,
                dest: target,
                size,
                sha256,
            });
        }
    }
    Ok(())
}

/// Size and sha256 (lowercase hex) of a file's bytes.
/// A read buffer fitting the file: zeroing 256 KiB twice per small file was half the CPU of a
/// 1,000-file apply.
fn read_buffer(size: u64) -> usize {
    (size as usize).saturating_add(1).clamp(4096, 256 * 1024)
}

pub fn hash_file(path: &Path) -> Result<(u64, String), ExecError> {
    let mut file = std::fs::File::open(path)
        .map_err(|e| failed(format!("cannot read `{}`: {e}", path.display())))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; read_buffer(file.metadata().map(|m| m.len()).unwrap_or(0))];
    let mut size = 0u64;
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| failed(format!("cannot read `{}`: {e}", path.display())))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((size, hex::encode(hasher.finalize())))
}

// ---------------------------------------------------------------- shell text for nodes

/// Exit status of the install and prepare scripts when they refuse or fail on purpose (their
/// stderr says why); anything else means they were interrupted.
pub const SCRIPT_REFUSED: i32 = 3;

/// POSIX `sh` text that installs one file whose bytes arrive on stdin: a 0600 temporary file
/// beside `file.dest`, size and sha256 checked, mode and owner set (given ones, else those of
/// the replaced file, else the umask default), renamed over the destination. On any failure,
/// including stdin ending early (the connection dropped) and HUP/TERM/PIPE, the temporary file
/// and the parent directories it created are removed. Needs GNU coreutils (`stat -c`,
/// `sha256sum`, `mv -T`).
pub fn install_file_script(file: &PlannedFile, mode: Option<u32>, owner: Option<&str>) -> String {
    let mode = match mode {
        Some(mode) => format!("chmod {mode:o} -- \"$t\" || fail \"cannot set mode {mode:o}\"; "),
        None => "if [ -e \"$d\" ]; then chmod --reference=\"$d\" -- \"$t\"; \
                 else chmod \"$(printf %o $((0666 & ~0$u)))\" -- \"$t\"; fi || fail 'cannot set the mode'; "
            .to_string(),
    };
    let owner = match owner {
        Some(owner) => format!(
            "chown -- {o} \"$t\" 2>/dev/null || fail \"cannot give it to \"{o}\" (does the user exist, \
             and is the login user root?)\"; ",
            o = quote(owner)
        ),
        // Keep the replaced file's owner; only root can give files away, so this may not work.
        None => {
            "if [ -e \"$d\" ]; then chown --reference=\"$d\" -- \"$t\" 2>/dev/null || true; fi; "
                .to_string()
        }
    };
    format!(
        "d={d}; n={n}; h={h}; u=$(umask); t=; top=; \
         fail() {{ printf 'upload to `%s`: %s\\n' \"$d\" \"$1\" >&2; exit {refused}; }}; \
         command -v sha256sum >/dev/null 2>&1 || fail 'sha256sum is missing on the node (install coreutils)'; \
         [ -d \"$d\" ] && fail 'it is a directory; give the full path of the file to write'; \
         [ -e \"$d\" ] && [ ! -f \"$d\" ] && fail 'it exists and is not a regular file'; \
         dir=$(dirname -- \"$d\"); base=$(basename -- \"$d\"); \
         p=$dir; while [ ! -d \"$p\" ]; do \
           [ -e \"$p\" ] && fail \"$p exists and is not a directory\"; top=$p; p=$(dirname -- \"$p\"); done; \
         cleanup() {{ [ -n \"$t\" ] && rm -f -- \"$t\"; \
           if [ -n \"$top\" ]; then p=$dir; while rmdir -- \"$p\" 2>/dev/null && [ \"$p\" != \"$top\" ]; do p=$(dirname -- \"$p\"); done; fi; }}; \
         trap cleanup EXIT; trap 'exit 129' HUP; trap 'exit 130' INT; trap 'exit 141' PIPE; trap 'exit 143' TERM; \
         if [ -n \"$top\" ]; then mkdir -p -- \"$dir\" || fail \"cannot create $dir\"; fi; \
         t=$(mktemp -- \"$dir/.$base.baton-XXXXXX\") || {{ t=; fail \"cannot create a temporary file in $dir\"; }}; \
         cat > \"$t\" || fail 'cannot write the temporary file (disk full?)'; \
         s=$(stat -c %s -- \"$t\"); [ \"$s\" = \"$n\" ] || fail \"received $s of $n bytes (connection lost?); left unchanged\"; \
         set -- $(sha256sum < \"$t\"); [ \"$1\" = \"$h\" ] || fail 'the sha256 of the received bytes differs; left unchanged'; \
         {mode}{owner}\
         mv -fT -- \"$t\" \"$d\" || fail 'cannot rename the temporary file over it'; \
         t=; top=; exit 0",
        d = quote(&file.dest),
        n = file.size,
        h = file.sha256,
        refused = SCRIPT_REFUSED,
    )
}

/// POSIX `sh` text (send it on stdin to `sh -s`: a large tree does not fit a command line)
/// that checks a tree upload can proceed — every directory of the plan is a directory or
/// absent, no file of the plan is a directory — and only then creates the missing directories,
/// giving them to `owner`.
pub fn prepare_tree_script(plan: &UploadPlan, owner: Option<&str>) -> String {
    let mut script = format!(
        "fail() {{ printf 'upload to `%s`: %s\\n' \"$1\" \"$2\" >&2; exit {SCRIPT_REFUSED}; }}\n"
    );
    for dir in &plan.dirs {
        script.push_str(&format!(
            "d={}; [ -e \"$d\" ] && [ ! -d \"$d\" ] && fail \"$d\" 'it exists and is not a \
             directory, and the source is a directory'\n",
            quote(dir)
        ));
    }
    for file in &plan.files {
        script.push_str(&format!(
            "d={}; [ -d \"$d\" ] && fail \"$d\" 'it is a directory, and the source has a file there'\n",
            quote(&file.dest)
        ));
    }
    for dir in &plan.dirs {
        script.push_str(&format!(
            "d={}; if [ ! -d \"$d\" ]; then mkdir -p -- \"$d\" || fail \"$d\" 'cannot create it'; ",
            quote(dir)
        ));
        if let Some(owner) = owner {
            script.push_str(&format!(
                "chown -- {o} \"$d\" || fail \"$d\" \"cannot give it to \"{o}\"\"; ",
                o = quote(owner)
            ));
        }
        script.push_str("fi\n");
    }
    script
}

// ---------------------------------------------------------------- the local node

/// The local executor's upload: the plan, then each file installed natively.
pub(crate) fn upload_locally(spec: &UploadSpec) -> Result<(), ExecError> {
    let plan = plan_upload(spec)?;
    if plan.tree {
        for dir in &plan.dirs {
            if let Ok(meta) = std::fs::metadata(dir)
                && !meta.is_dir()
            {
                return Err(failed(format!(
                    "upload to `{dir}`: it exists and is not a directory, and the source is a \
                     directory"
                )));
            }
        }
        for file in &plan.files {
            if Path::new(&file.dest).is_dir() {
                return Err(failed(format!(
                    "upload to `{}`: it is a directory, and the source has a file there",
                    file.dest
                )));
            }
        }
        for dir in &plan.dirs {
            if !Path::new(dir).is_dir() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| failed(format!("upload to `{dir}`: cannot create it: {e}")))?;
                if let Some(owner) = &spec.owner {
                    chown(owner, Path::new(dir))
                        .map_err(|e| failed(format!("upload to `{dir}`: {e}")))?;
                }
            }
        }
    }
    for file in &plan.files {
        install_locally(file, spec.mode, spec.owner.as_deref())
            .map_err(|e| failed(format!("upload to `{}`: {e}", file.dest)))?;
    }
    Ok(())
}

fn install_locally(
    file: &PlannedFile,
    mode: Option<u32>,
    owner: Option<&str>,
) -> Result<(), String> {
    let dest = Path::new(&file.dest);
    let existing = std::fs::metadata(dest).ok();
    match &existing {
        Some(meta) if meta.is_dir() => {
            return Err("it is a directory; give the full path of the file to write".into());
        }
        Some(meta) if !meta.is_file() => return Err("it exists and is not a regular file".into()),
        _ => {}
    }
    let parent = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    // The topmost missing parent, to remove what we created should the install fail.
    let mut top = None;
    let mut p = parent;
    while !p.is_dir() {
        if p.exists() {
            return Err(format!("`{}` exists and is not a directory", p.display()));
        }
        top = Some(p.to_path_buf());
        match p.parent() {
            Some(up) if !up.as_os_str().is_empty() => p = up,
            _ => break,
        }
    }
    if top.is_some() {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create `{}`: {e}", parent.display()))?;
    }
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let mut tmp = None;
    let result = (|| {
        let (path, handle) = create_temp(parent, &name)?;
        tmp = Some(path.clone());
        copy_checked(file, handle)?;
        let mode = mode
            .or(existing.as_ref().map(|m| m.permissions().mode() & 0o7777))
            .unwrap_or(0o666 & !umask());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| format!("cannot set mode {mode:o}: {e}"))?;
        match (owner, &existing) {
            (Some(owner), _) => chown(owner, &path)?,
            (None, Some(meta)) => {
                // Keep the replaced file's owner; only root can give files away.
                let _ = std::os::unix::fs::chown(&path, Some(meta.uid()), Some(meta.gid()));
            }
            (None, None) => {}
        }
        std::fs::rename(&path, dest)
            .map_err(|e| format!("cannot rename the temporary file over it: {e}"))
    })();
    if result.is_err() {
        if let Some(path) = tmp {
            let _ = std::fs::remove_file(path);
        }
        if let Some(top) = top {
            let mut p = parent;
            // rmdir only removes empty directories: never anything another writer put there.
            while std::fs::remove_dir(p).is_ok() && p != top {
                match p.parent() {
                    Some(up) => p = up,
                    None => break,
                }
            }
        }
    }
    result
}

/// A new 0600 file `.NAME.baton-RANDOM` in `dir` (never an existing one: `create_new`).
fn create_temp(dir: &Path, name: &str) -> Result<(PathBuf, std::fs::File), String> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    remove_stale_temps(dir);
    loop {
        let nonce = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!(".{name}.baton-{}-{nonce}", std::process::id()));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(file) => return Ok((path, file)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(format!(
                    "cannot create a temporary file in `{}`: {e}",
                    dir.display()
                ));
            }
        }
    }
}

/// Remove the temporary files a killed baton left in `dir` (`.NAME.baton-PID-N` whose process
/// is gone): a kill -9 between creating one and its rename or removal leaves it behind. Each
/// directory is looked at once per process, so a 10,000-file apply reads it once.
fn remove_stale_temps(dir: &Path) {
    use std::collections::HashSet;
    use std::sync::Mutex;
    static SEEN: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);
    {
        let mut seen = SEEN.lock().unwrap_or_else(|p| p.into_inner());
        if !seen
            .get_or_insert_with(HashSet::new)
            .insert(dir.to_path_buf())
        {
            return;
        }
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = stale_temp_pid(&name.to_string_lossy()) else {
            continue;
        };
        if pid != std::process::id() && !Path::new("/proc").join(pid.to_string()).exists() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// The pid in a temporary file's name `.NAME.baton-PID-N`.
fn stale_temp_pid(name: &str) -> Option<u32> {
    if !name.starts_with('.') {
        return None;
    }
    let (_, tail) = name.rsplit_once(".baton-")?;
    let (pid, nonce) = tail.split_once('-')?;
    nonce.parse::<u64>().ok()?;
    pid.parse().ok()
}

/// Copy the planned file into `out`, then check what was written against the plan.
fn copy_checked(file: &PlannedFile, mut out: std::fs::File) -> Result<(), String> {
    let mut source = std::fs::File::open(&file.source)
        .map_err(|e| format!("cannot read `{}`: {e}", file.source.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; read_buffer(file.size)];
    let mut size = 0u64;
    loop {
        let n = source
            .read(&mut buf)
            .map_err(|e| format!("cannot read `{}`: {e}", file.source.display()))?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n])
            .map_err(|e| format!("cannot write the temporary file: {e}"))?;
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    out.sync_all()
        .map_err(|e| format!("cannot write the temporary file: {e}"))?;
    if size != file.size || hex::encode(hasher.finalize()) != file.sha256 {
        return Err(format!(
            "`{}` changed while it was uploaded ({size} bytes, {} planned); left unchanged",
            file.source.display(),
            file.size
        ));
    }
    Ok(())
}

fn chown(owner: &str, path: &Path) -> Result<(), String> {
    let out = crate::host_command("chown")
        .arg("--")
        .arg(owner)
        .arg(path)
        .output()
        .map_err(|e| format!("cannot run chown: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cannot give it to `{owner}`: {} (does the user exist, and is baton root?)",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

/// This process's umask, read without changing it (`umask(2)` would race other threads).
fn umask() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Umask:"))
                .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
        })
        .unwrap_or(0o022)
}

// ---------------------------------------------------------------- bytes

/// Bytes staged in a 0600 file under a scratch directory (they may hold secrets), removed
/// when dropped. A kill -9 before the drop leaves it behind; the next staging in the same
/// directory by another process removes it (its name carries the dead pid).
pub struct StagedBytes {
    path: PathBuf,
}

impl StagedBytes {
    pub fn new(scratch: &Path, content: &[u8]) -> Result<StagedBytes, ExecError> {
        std::fs::create_dir_all(scratch).map_err(|e| {
            failed(format!(
                "cannot create the scratch directory `{}`: {e}",
                scratch.display()
            ))
        })?;
        let (path, mut file) = create_temp(scratch, "staged").map_err(failed)?;
        let staged = StagedBytes { path };
        // No fsync: the copy is read back by this machine and removed, never kept.
        file.write_all(content).map_err(|e| {
            failed(format!(
                "cannot stage {} bytes in `{}`: {e}",
                content.len(),
                scratch.display()
            ))
        })?;
        Ok(staged)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for StagedBytes {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Upload `content` (a rendered config, a generated file) to `dest` through any executor: the
/// bytes are staged under `scratch` ([`StagedBytes`]), uploaded with the same guarantees as a
/// file, and the staged copy removed.
pub async fn upload_bytes(
    executor: &dyn Executor,
    scratch: &Path,
    content: &[u8],
    dest: &str,
    mode: Option<u32>,
    owner: Option<&str>,
) -> Result<(), ExecError> {
    let staged = StagedBytes::new(scratch, content)?;
    executor
        .upload(&UploadSpec {
            source: staged.path().to_path_buf(),
            dest: dest.to_string(),
            mode,
            owner: owner.map(str::to_string),
            run_as: None,
        })
        .await
}

#[cfg(test)]
mod stale_tests {
    use super::*;

    #[test]
    fn temps_of_dead_processes_are_removed_before_the_next_install() {
        let dir = tempfile::tempdir().unwrap();
        // pid 0 never names a process in /proc; our own pid is alive.
        let dead = dir.path().join(".f.txt.baton-0-3");
        let alive = dir
            .path()
            .join(format!(".f.txt.baton-{}-9", std::process::id()));
        let other = dir.path().join(".notes.baton-draft");
        for p in [&dead, &alive, &other] {
            std::fs::write(p, "x").unwrap();
        }
        let source = dir.path().join("source");
        std::fs::write(&source, "new").unwrap();
        upload_locally(&crate::UploadSpec {
            source,
            dest: dir.path().join("f.txt").display().to_string(),
            mode: None,
            owner: None,
            run_as: None,
        })
        .unwrap();
        assert!(!dead.exists(), "a dead process's temp is removed");
        assert!(alive.exists() && other.exists(), "nothing else is touched");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("f.txt")).unwrap(),
            "new"
        );
    }

    #[test]
    fn staged_bytes_are_private_removed_on_drop_and_a_dead_stage_is_swept() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let dead = dir.path().join(".staged.baton-0-7");
        std::fs::write(&dead, "secret of a killed run").unwrap();
        let staged = StagedBytes::new(dir.path(), b"password=hunter2").unwrap();
        assert!(!dead.exists(), "a killed process's staged copy is removed");
        let meta = std::fs::metadata(staged.path()).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read(staged.path()).unwrap(), b"password=hunter2");
        let path = staged.path().to_path_buf();
        drop(staged);
        assert!(!path.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scratch dir holding `dest` (old content), and the planned file for `content`.
    fn setup(name: &str, content: &[u8]) -> (PathBuf, PlannedFile) {
        let dir = std::env::temp_dir().join(format!("baton-install-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("dest"), b"old").unwrap();
        let source = dir.join("source");
        std::fs::write(&source, content).unwrap();
        let (size, sha256) = hash_file(&source).unwrap();
        std::fs::remove_file(&source).unwrap();
        let file = PlannedFile {
            source,
            dest: dir.join("dest").display().to_string(),
            size,
            sha256,
        };
        (dir, file)
    }

    /// Run the install script under `sh` with `stdin` as the received bytes.
    fn install(file: &PlannedFile, stdin: &[u8]) -> std::process::Output {
        let mut child = crate::host_command("sh")
            .arg("-c")
            .arg(install_file_script(file, None, None))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        child.wait_with_output().unwrap()
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn the_install_script_installs_verified_bytes() {
        let (dir, file) = setup("ok", b"new bytes\n");
        let out = install(&file, b"new bytes\n");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(std::fs::read(dir.join("dest")).unwrap(), b"new bytes\n");
        assert_eq!(names(&dir), ["dest"]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// What a dropped connection looks like to the script: stdin ends early.
    #[test]
    fn the_install_script_leaves_nothing_when_the_bytes_stop_early() {
        let (dir, file) = setup("short", b"new bytes\n");
        let out = install(&file, b"new");
        assert_eq!(out.status.code(), Some(SCRIPT_REFUSED));
        assert!(String::from_utf8_lossy(&out.stderr).contains("received 3 of 10 bytes"));
        assert_eq!(std::fs::read(dir.join("dest")).unwrap(), b"old");
        assert_eq!(names(&dir), ["dest"]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_install_script_leaves_nothing_when_the_checksum_differs() {
        let (dir, file) = setup("sum", b"new bytes\n");
        let out = install(&file, b"NEW BYTES\n");
        assert_eq!(out.status.code(), Some(SCRIPT_REFUSED));
        assert!(String::from_utf8_lossy(&out.stderr).contains("sha256"));
        assert_eq!(std::fs::read(dir.join("dest")).unwrap(), b"old");
        assert_eq!(names(&dir), ["dest"]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_install_script_removes_the_directories_it_created_on_failure() {
        let (dir, mut file) = setup("dirs", b"x");
        file.dest = dir.join("a/b/dest").display().to_string();
        let out = install(&file, b"");
        assert_eq!(out.status.code(), Some(SCRIPT_REFUSED));
        assert_eq!(names(&dir), ["dest"]);
        std::fs::remove_dir_all(dir).unwrap();
    }
}

//! The shell text that reads and changes a config's file on a target, and the parsing of what it
//! prints. Everything goes through `Executor::run` / `Executor::upload`, so the local node and
//! SSH nodes behave the same. Few round trips per node: one probe, then (only when the content
//! differs) one upload of a staged copy and one command that verifies and renames it.

use std::sync::{Arc, Mutex};

use baton_exec::{CancellationToken, CommandSpec, ExecError, Executor};

/// First line of a probe's output; what follows it is the file's bytes.
const PROBE_MARK: &str = "\x1ebaton-probe";

/// The one shell quoting, from the executor layer.
pub use baton_exec::quote;

/// What a target path holds now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Current {
    Absent,
    File {
        content: Vec<u8>,
        mode: u32,
        /// `user:group`
        owner: String,
    },
    /// A symbolic link (to this), refused: see [`crate`] docs.
    Symlink(String),
    /// A directory or a device: never replaced.
    NotAFile(String),
}

#[derive(Debug, Clone)]
pub struct Probe {
    pub current: Current,
    /// systemd is the init system (`systemctl` exists and `/run/systemd/system` is there).
    pub systemd: bool,
}

/// Print the state of `path`: a header line, then the file's bytes. Owner as names (`stat %U:%G`)
/// so that `chown` on rollback gives them back by name.
pub fn probe_script(path: &str) -> String {
    format!(
        "p={p}; s=0; if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then s=1; fi; \
         if [ -L \"$p\" ]; then printf '{m} %s link %s\\n' \"$s\" \"$(readlink -- \"$p\")\"; \
         elif [ -f \"$p\" ]; then set -- $(stat -c '%a %U:%G %s' -- \"$p\"); printf '{m} %s file %s %s %s\\n' \"$s\" \"$1\" \"$2\" \"$3\"; cat -- \"$p\"; \
         elif [ -e \"$p\" ]; then printf '{m} %s other %s\\n' \"$s\" \"$(stat -c %F -- \"$p\")\"; \
         else printf '{m} %s absent\\n' \"$s\"; fi",
        p = quote(path),
        m = PROBE_MARK,
    )
}

pub fn parse_probe(output: &[u8]) -> Result<Probe, String> {
    let mark = PROBE_MARK.as_bytes();
    let start = output
        .windows(mark.len())
        .position(|w| w == mark)
        .ok_or_else(|| {
            format!(
                "unexpected probe output: {}",
                String::from_utf8_lossy(output).trim()
            )
        })?;
    let rest = &output[start + mark.len()..];
    let end = rest
        .iter()
        .position(|b| *b == b'\n')
        .ok_or("truncated probe output")?;
    let header = String::from_utf8_lossy(&rest[..end]).to_string();
    let body = &rest[end + 1..];
    let fields: Vec<&str> = header.split_whitespace().collect();
    let systemd = fields.first() == Some(&"1");
    let current = match fields.get(1..).unwrap_or_default() {
        ["absent"] => Current::Absent,
        ["link", ..] => Current::Symlink(header.splitn(4, ' ').nth(3).unwrap_or("").to_string()),
        ["other", kind @ ..] => Current::NotAFile(kind.join(" ")),
        ["file", mode, owner, size] => {
            let mode = u32::from_str_radix(mode, 8).map_err(|_| format!("bad mode `{mode}`"))?;
            let size: usize = size.parse().map_err(|_| format!("bad size `{size}`"))?;
            if body.len() < size {
                return Err(format!(
                    "could read only {} of {size} bytes of the file",
                    body.len()
                ));
            }
            Current::File {
                content: body[..size].to_vec(),
                mode,
                owner: owner.to_string(),
            }
        }
        _ => return Err(format!("unexpected probe header `{header}`")),
    };
    Ok(Probe { current, systemd })
}

/// Move a verified staged copy over `dest`: the copy must hash to `sha256` (a killed upload
/// leaves a short one, which is never installed); mode and owner as asked, else those of the
/// file replaced, else the umask default and the login user. Prints `mode user:group` after.
pub fn install_script(
    stage: &str,
    dest: &str,
    sha256: &str,
    mode: Option<u32>,
    owner: Option<&str>,
) -> String {
    let mut s = format!(
        "s={s}; d={d}; \
         if [ \"$(sha256sum < \"$s\" | cut -d' ' -f1)\" != {h} ]; then rm -f -- \"$s\"; echo \"the staged copy of $d is damaged; nothing was changed\"; exit 3; fi; \
         if [ -L \"$d\" ]; then rm -f -- \"$s\"; echo \"$d became a symbolic link; nothing was changed\"; exit 3; fi; ",
        s = quote(stage),
        d = quote(dest),
        h = sha256,
    );
    match mode {
        Some(m) => s.push_str(&format!("chmod {m:o} \"$s\"; ")),
        None => s.push_str(
            "if [ -e \"$d\" ]; then chmod --reference=\"$d\" \"$s\"; \
             else chmod \"$(printf '%o' $((0666 & ~$(umask))))\" \"$s\"; fi; ",
        ),
    }
    match owner {
        Some(o) => s.push_str(&format!("chown {} \"$s\"; ", quote(o))),
        None => s.push_str("if [ -e \"$d\" ]; then chown --reference=\"$d\" \"$s\"; fi; "),
    }
    s.push_str("mv -f -- \"$s\" \"$d\"; stat -c '%a %U:%G' -- \"$d\"");
    s
}

/// Remove `dest` (a rollback to "absent"); a symbolic link there is left alone and reported.
pub fn remove_script(dest: &str) -> String {
    format!(
        "d={d}; if [ -L \"$d\" ]; then echo \"$d is a symbolic link; not removed\"; exit 3; fi; rm -f -- \"$d\"",
        d = quote(dest)
    )
}

/// Where the staged copy goes: beside the destination, so the final `mv` is a rename on one
/// filesystem, and hidden so that directories read whole (`interfaces.d/`, `conf.d/`) skip it
/// only if they skip dot files — it lives for one round trip.
pub fn stage_path(dest: &str) -> String {
    match dest.rsplit_once('/') {
        Some((dir, name)) => format!("{dir}/.{name}.baton-new"),
        None => format!(".{dest}.baton-new"),
    }
}

/// `mode user:group` printed by [`install_script`].
pub fn parse_installed(output: &[u8]) -> Option<(u32, String)> {
    let text = String::from_utf8_lossy(output);
    let last = text.lines().rev().find(|l| !l.trim().is_empty())?;
    let (mode, owner) = last.trim().split_once(' ')?;
    Some((u32::from_str_radix(mode, 8).ok()?, owner.to_string()))
}

/// Run `script` on a target and collect its output (stdout and stderr together).
pub async fn run(
    executor: &Arc<dyn Executor>,
    script: String,
    env: Vec<(String, String)>,
    cancel: &CancellationToken,
) -> Result<(bool, Vec<u8>), ExecError> {
    run_watched(executor, script, env, cancel, &|_| {}).await
}

/// [`run`], telling `started` the local process group of the command (none on SSH nodes).
pub async fn run_watched(
    executor: &Arc<dyn Executor>,
    script: String,
    env: Vec<(String, String)>,
    cancel: &CancellationToken,
    started: &(dyn Fn(i32) + Sync),
) -> Result<(bool, Vec<u8>), ExecError> {
    let spec = CommandSpec {
        script,
        env,
        cwd: None,
        timeout: Some(std::time::Duration::from_secs(300)),
        grace: std::time::Duration::from_secs(2),
        run_as: None,
    };
    let collected = Mutex::new(Vec::new());
    let exit = executor
        .run(
            &spec,
            Box::new(|pgid| {
                if let Some(pgid) = pgid {
                    started(pgid);
                }
            }),
            Box::new(|chunk: &[u8]| {
                collected
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .extend_from_slice(chunk)
            }),
            cancel,
        )
        .await?;
    let output = collected.into_inner().unwrap_or_else(|p| p.into_inner());
    Ok((exit.success(), output))
}

/// Upload `content` to `dest` on a target, through a 0600 scratch copy.
pub async fn upload(
    executor: &Arc<dyn Executor>,
    scratch: &std::path::Path,
    content: &[u8],
    dest: &str,
    mode: Option<u32>,
) -> Result<(), ExecError> {
    baton_exec::upload_bytes(executor.as_ref(), scratch, content, dest, mode, None).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Vec<u8> {
        baton_exec::host_command("bash")
            .arg("-c")
            .arg(script)
            .output()
            .unwrap()
            .stdout
    }

    #[test]
    fn probe_reads_files_links_and_absence() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a b.conf");
        std::fs::write(&file, b"x\ny\n\x00z").unwrap();
        let probe = parse_probe(&sh(&probe_script(&file.display().to_string()))).unwrap();
        match probe.current {
            Current::File { content, .. } => assert_eq!(content, b"x\ny\n\x00z"),
            other => panic!("{other:?}"),
        }
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        let probe = parse_probe(&sh(&probe_script(&link.display().to_string()))).unwrap();
        assert_eq!(probe.current, Current::Symlink(file.display().to_string()));
        let probe = parse_probe(&sh(&probe_script(
            &dir.path().join("none").display().to_string(),
        )))
        .unwrap();
        assert_eq!(probe.current, Current::Absent);
        let probe = parse_probe(&sh(&probe_script(&dir.path().display().to_string()))).unwrap();
        assert!(matches!(probe.current, Current::NotAFile(_)));
    }

    #[test]
    fn install_refuses_a_damaged_stage() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("f").display().to_string();
        let stage = stage_path(&dest);
        std::fs::write(&stage, b"partial").unwrap();
        let out = sh(&install_script(&stage, &dest, &"0".repeat(64), None, None));
        assert!(String::from_utf8_lossy(&out).contains("damaged"));
        assert!(!std::path::Path::new(&dest).exists());
        assert!(!std::path::Path::new(&stage).exists());
    }
}

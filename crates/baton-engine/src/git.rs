//! The branch and commit a run records, from the project's git checkout.

use std::path::Path;

/// Branch and commit of the project's git checkout, if it is one.
pub(crate) fn git_head(root: &Path) -> (Option<String>, Option<String>) {
    if !root.ancestors().any(|dir| dir.join(".git").exists()) {
        return (None, None);
    }
    let output = baton_exec::host_command("git")
        .arg("-C")
        .arg(root)
        .args(["rev-parse", "HEAD", "--abbrev-ref", "HEAD"])
        .stderr(std::process::Stdio::null())
        .output();
    match output {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            let mut lines = text.lines().map(str::to_string);
            // `--abbrev-ref` applies to the arguments after it: the hash comes first.
            let commit = lines.next();
            let branch = lines.next().filter(|b| b != "HEAD");
            (branch, commit)
        }
        _ => (None, None),
    }
}

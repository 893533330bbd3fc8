//! Unified diffs of what a target holds against what it should hold.

use similar::TextDiff;

/// A unified diff (3 lines of context) from `old` to `new`, labelled like `diff -u`; `None`
/// stands for an absent file. Binary content is summarised, not dumped on a terminal.
pub fn unified(label: &str, old: Option<&[u8]>, new: Option<&[u8]>) -> String {
    let (old_label, new_label) = (
        if old.is_some() {
            format!("{label} (now)")
        } else {
            "/dev/null".to_string()
        },
        if new.is_some() {
            format!("{label} (desired)")
        } else {
            "/dev/null".to_string()
        },
    );
    let (Ok(a), Ok(b)) = (
        std::str::from_utf8(old.unwrap_or_default()),
        std::str::from_utf8(new.unwrap_or_default()),
    ) else {
        return format!(
            "Binary {label} differs ({} → {} bytes)\n",
            old.map_or(0, <[u8]>::len),
            new.map_or(0, <[u8]>::len)
        );
    };
    let mut text = TextDiff::from_lines(a, b)
        .unified_diff()
        .context_radius(3)
        .header(&old_label, &new_label)
        .to_string();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diffs_show_changed_lines_and_absence() {
        let d = unified("n1:/etc/a", Some(b"a\nb\n"), Some(b"a\nc\n"));
        assert!(d.contains("--- n1:/etc/a (now)"), "{d}");
        assert!(d.contains("-b\n+c\n"), "{d}");
        let d = unified("n1:/etc/a", None, Some(b"x\n"));
        assert!(d.contains("--- /dev/null") && d.contains("+x"), "{d}");
        assert!(unified("x", Some(b"\xff"), Some(b"a")).starts_with("Binary"));
    }
}

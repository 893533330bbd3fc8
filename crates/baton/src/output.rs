//! Formatting shared by commands: durations, times, statuses and aligned tables.

use baton_store::{Millis, Status};
use chrono::{Local, TimeZone};

use crate::app::{Style, Ui};

/// `412ms`, `3.4s`, `2m05s`, `1h02m`.
pub fn duration(ms: i64) -> String {
    let ms = ms.max(0);
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else if ms < 3_600_000 {
        format!("{}m{:02}s", ms / 60_000, (ms / 1000) % 60)
    } else {
        format!("{}h{:02}m", ms / 3_600_000, (ms / 60_000) % 60)
    }
}

/// Local wall-clock time, `2026-11-23 05:30:12`.
pub fn time(at: Millis) -> String {
    Local
        .timestamp_millis_opt(at)
        .single()
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

pub fn status_style(status: Status) -> Style {
    match status {
        Status::Success => Style::Ok,
        Status::Failed | Status::TimedOut | Status::Interrupted => Style::Bad,
        Status::Cancelled | Status::Skipped => Style::Warn,
        Status::Queued | Status::Running => Style::Accent,
    }
}

/// A status word, coloured on terminals.
pub fn status(ui: &Ui, status: Status) -> String {
    ui.paint(status_style(status), status.as_str())
}

/// A one-character mark for a status.
pub fn mark(status: Status) -> &'static str {
    match status {
        Status::Success => "✓",
        Status::Failed | Status::TimedOut | Status::Interrupted => "✗",
        Status::Skipped => "-",
        Status::Cancelled => "⊘",
        Status::Queued | Status::Running => "…",
    }
}

/// Columns padded to their widest cell; colour codes do not count towards width.
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Table {
        Table {
            header: header.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn render(&self, ui: &Ui) -> String {
        let mut widths: Vec<usize> = self.header.iter().map(|h| visible_width(h)).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                if i < widths.len() {
                    widths[i] = widths[i].max(visible_width(cell));
                }
            }
        }
        let mut out = String::new();
        let line = |cells: &[String], out: &mut String| {
            let last = cells.len().saturating_sub(1);
            for (i, cell) in cells.iter().enumerate() {
                out.push_str(cell);
                if i < last {
                    let pad = widths
                        .get(i)
                        .copied()
                        .unwrap_or(0)
                        .saturating_sub(visible_width(cell));
                    out.push_str(&" ".repeat(pad + 2));
                }
            }
            let trimmed = out.trim_end_matches(' ').len();
            out.truncate(trimmed);
            out.push('\n');
        };
        let header: Vec<String> = self
            .header
            .iter()
            .map(|h| ui.paint(Style::Dim, h))
            .collect();
        line(&header, &mut out);
        for row in &self.rows {
            line(row, &mut out);
        }
        out
    }
}

/// Width as shown on a terminal: ANSI colour sequences take no room.
pub fn visible_width(text: &str) -> usize {
    let mut width = 0;
    let mut in_escape = false;
    for c in text.chars() {
        match (in_escape, c) {
            (false, '\x1b') => in_escape = true,
            (true, 'm') => in_escape = false,
            (true, _) => {}
            (false, _) => width += 1,
        }
    }
    width
}

/// Print JSON for `--json` listings.
pub fn print_json<T: serde::Serialize>(value: &T) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("listings serialize")
    );
}

/// The per-node recap at the end of a run, config apply or apply (as Ansible's PLAY RECAP),
/// aligned; nothing when only this machine was involved.
pub fn print_recap(ui: &Ui, recap: &[baton_ops::api::runs::NodeRecap]) {
    if recap.iter().all(|r| r.node == baton_model::LOCAL_NODE) {
        return;
    }
    let width = recap
        .iter()
        .map(|r| r.node.chars().count())
        .max()
        .unwrap_or(0);
    let count = |label: &str, n: u32, style: Style| {
        let text = format!("{label}={n}");
        if n > 0 { ui.paint(style, &text) } else { text }
    };
    for r in recap {
        println!(
            "  {:<width$}  {}  {}  {}  {}  {}",
            r.node,
            count("ok", r.ok, Style::Ok),
            count("changed", r.changed, Style::Warn),
            count("failed", r.failed, Style::Bad),
            count("skipped", r.skipped, Style::Dim),
            count("unreachable", r.unreachable, Style::Bad),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(412), "412ms");
        assert_eq!(duration(3_400), "3.4s");
        assert_eq!(duration(125_000), "2m05s");
        assert_eq!(duration(3_720_000), "1h02m");
    }

    #[test]
    fn colour_codes_take_no_width() {
        assert_eq!(visible_width("\x1b[32msuccess\x1b[0m"), 7);
    }
}

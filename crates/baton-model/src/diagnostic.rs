//! Problems found in a project, rendered with file:line:column, a caret excerpt and a hint.

use std::fmt;

use crate::span::{Sources, Span};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub message: String,
    pub span: Option<Span>,
    /// A `help:` line, e.g. "did you mean `needs`?".
    pub help: Option<String>,
    /// Secondary places, e.g. "first defined here".
    pub notes: Vec<(Span, String)>,
}

impl Diagnostic {
    pub fn new(message: impl Into<String>, span: Span) -> Self {
        Diagnostic {
            message: message.into(),
            span: Some(span),
            help: None,
            notes: Vec::new(),
        }
    }

    /// A problem with no place in a file (e.g. the project file cannot be read).
    pub fn global(message: impl Into<String>) -> Self {
        Diagnostic {
            message: message.into(),
            span: None,
            help: None,
            notes: Vec::new(),
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn with_note(mut self, span: Span, note: impl Into<String>) -> Self {
        self.notes.push((span, note.into()));
        self
    }
}

/// Every problem found in one load, with the sources needed to show them.
#[derive(Debug, Clone, Default)]
pub struct Diagnostics {
    pub items: Vec<Diagnostic>,
    pub sources: Sources,
}

impl Diagnostics {
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// `path:line:col` of a span, as editors and terminals link it.
    pub fn location(&self, span: Span) -> String {
        format!(
            "{}:{}:{}",
            self.sources.path(span.file).display(),
            span.line,
            span.col
        )
    }

    /// Render every diagnostic, rustc-style; `color` adds ANSI colours for terminals.
    pub fn render(&self, color: bool) -> String {
        let (red, blue, bold, reset) = if color {
            ("\x1b[1;31m", "\x1b[1;34m", "\x1b[1m", "\x1b[0m")
        } else {
            ("", "", "", "")
        };
        let mut out = String::new();
        for d in &self.items {
            out.push_str(&format!("{red}error{reset}{bold}: {}{reset}\n", d.message));
            if let Some(span) = d.span {
                self.excerpt(&mut out, span, None, (blue, red, reset));
            }
            for (span, note) in &d.notes {
                self.excerpt(&mut out, *span, Some(note), (blue, blue, reset));
            }
            if let Some(help) = &d.help {
                out.push_str(&format!("   {blue}={reset} {bold}help{reset}: {help}\n"));
            }
            out.push('\n');
        }
        let n = self.items.len();
        out.push_str(&format!(
            "{red}error{reset}{bold}: {n} problem{} found{reset}\n",
            if n == 1 { "" } else { "s" }
        ));
        out
    }

    fn excerpt(
        &self,
        out: &mut String,
        span: Span,
        label: Option<&str>,
        colors: (&str, &str, &str),
    ) {
        let (gutter, mark, reset) = colors;
        out.push_str(&format!("  {gutter}-->{reset} {}\n", self.location(span)));
        let Some(line) = self.sources.line(span.file, span.line) else {
            return;
        };
        let number = span.line.to_string();
        let pad = " ".repeat(number.len());
        // Columns count characters; tabs are kept so the caret lines up under them.
        let lead: String = line
            .chars()
            .take(span.col.saturating_sub(1) as usize)
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        let carets = "^".repeat(span.len.max(1) as usize);
        out.push_str(&format!(" {pad} {gutter}|{reset}\n"));
        out.push_str(&format!(" {gutter}{number} |{reset} {line}\n"));
        out.push_str(&format!(
            " {pad} {gutter}|{reset} {lead}{mark}{carets}{}{reset}\n",
            label.map(|l| format!(" {l}")).unwrap_or_default()
        ));
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(false))
    }
}

impl std::error::Error for Diagnostics {}

/// The closest candidate to `word`, when close enough to be a likely typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// An error with its causes, each once (`error sending request: … : Connection refused`):
/// HTTP and SMTP clients keep the telling part (a refused connection, an unknown CA) in the
/// source.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
}

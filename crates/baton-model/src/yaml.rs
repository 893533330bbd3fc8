//! A YAML tree whose every node keeps its source span, built from `saphyr_parser` events.
//!
//! serde-based YAML loaders lose locations; diagnostics need `file:line:col` for every value, so
//! the tree is built here by hand. Plain scalars resolve with the YAML 1.2 core schema (so `no`
//! stays a string and `0644` is the integer 644).

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle};

use crate::diagnostic::Diagnostic;
use crate::span::{FileId, Span};

/// Aliases are expanded by copying; this bounds the copies so a "billion laughs" file cannot
/// exhaust memory.
const MAX_NODES: usize = 100_000;
/// Values written out in a file cost their own bytes; this only guards against absurd files
/// (10,000 resources with a few attributes each are well under it).
const MAX_WRITTEN: usize = 5_000_000;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub kind: Kind,
    pub span: Span,
    /// The scalar's text as written (after unquoting), so a number can be read back as a string
    /// without reformatting (`1.10` stays `1.10`).
    pub raw: Option<String>,
    /// A plain (unquoted, untagged) scalar: YAML 1.1 readers (Ansible inventories) resolve
    /// those differently (`yes`, `0644`).
    pub plain: bool,
}

impl Node {
    pub fn map(entries: Vec<(Node, Node)>, span: Span) -> Node {
        Node {
            kind: Kind::Map(entries),
            span,
            raw: None,
            plain: false,
        }
    }

    /// What the node is, for "expected …, found …" messages.
    pub fn describe(&self) -> &'static str {
        match self.kind {
            Kind::Null => "nothing",
            Kind::Bool(_) => "a boolean",
            Kind::Int(_) => "an integer",
            Kind::Float(_) => "a number",
            Kind::Str(_) => "a string",
            Kind::Seq(_) => "a list",
            Kind::Map(_) => "a mapping",
        }
    }

    /// The text of a scalar (strings, numbers and booleans as written); `None` for null and
    /// collections.
    pub fn scalar_text(&self) -> Option<&str> {
        match &self.kind {
            Kind::Str(s) => Some(s),
            Kind::Bool(_) | Kind::Int(_) | Kind::Float(_) => self.raw.as_deref(),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.kind, Kind::Null)
    }

    fn count(&self) -> usize {
        1 + match &self.kind {
            Kind::Seq(items) => items.iter().map(Node::count).sum(),
            Kind::Map(entries) => entries.iter().map(|(k, v)| k.count() + v.count()).sum(),
            _ => 0,
        }
    }
}

/// Parse one YAML document. An empty file is an empty mapping.
pub(crate) fn parse(text: &str, file: FileId) -> Result<Node, Vec<Diagnostic>> {
    Builder {
        file,
        stack: Vec::new(),
        anchors: HashMap::new(),
        nodes: 0,
        expanded: 0,
        errors: Vec::new(),
    }
    .run(text)
}

enum Frame {
    Seq(Vec<Node>, Span, usize),
    Map(Vec<(Node, Node)>, Option<Node>, Span, usize),
}

struct Builder {
    file: FileId,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    nodes: usize,
    /// Values created by alias expansion, bounded by [`MAX_NODES`].
    expanded: usize,
    errors: Vec<Diagnostic>,
}

impl Builder {
    fn span(&self, s: saphyr_parser::Span) -> Span {
        let len = if s.end.line() == s.start.line() {
            s.end.col().saturating_sub(s.start.col())
        } else {
            1
        };
        Span {
            file: self.file,
            line: s.start.line() as u32,
            col: s.start.col() as u32 + 1,
            len: len.max(1) as u32,
        }
    }

    fn run(mut self, text: &str) -> Result<Node, Vec<Diagnostic>> {
        let mut parser = Parser::new_from_str(text);
        let mut root: Option<Node> = None;
        let mut documents = 0;
        while let Some(event) = parser.next_event() {
            let (event, raw_span) = match event {
                Ok(e) => e,
                Err(err) => {
                    let m = err.marker();
                    let at = (m.line().max(1) as u32, m.col() as u32 + 1);
                    self.errors
                        .push(syntax_error(text, self.file, err.info(), at));
                    return Err(self.errors);
                }
            };
            let span = self.span(raw_span);
            let finished = match event {
                Event::DocumentStart(_) => {
                    documents += 1;
                    if documents > 1 {
                        self.errors.push(
                            Diagnostic::new("a second YAML document in one file", span)
                                .with_help("baton files hold one document; remove the `---`"),
                        );
                        return Err(self.errors);
                    }
                    None
                }
                Event::Scalar(value, style, anchor, tag) => {
                    let tag = tag.map(|t| t.suffix.clone());
                    let node = resolve_scalar(&value, style, tag.as_deref(), span);
                    self.leaf(node, anchor)
                }
                Event::Alias(id) => match self.anchors.get(&id).cloned() {
                    Some(mut node) => {
                        node.span = span;
                        self.expanded += node.count();
                        if self.expanded > MAX_NODES {
                            self.errors.push(Diagnostic::new(
                                format!("aliases expand to more than {MAX_NODES} values"),
                                span,
                            ).with_help("this looks like a \"billion laughs\" expansion; use fewer nested aliases"));
                            return Err(self.errors);
                        }
                        self.complete(node)
                    }
                    None => {
                        self.errors.push(Diagnostic::new("unknown alias", span));
                        self.complete(Node {
                            kind: Kind::Null,
                            span,
                            raw: None,
                            plain: false,
                        })
                    }
                },
                Event::SequenceStart(anchor, _) => {
                    self.stack.push(Frame::Seq(Vec::new(), span, anchor));
                    None
                }
                Event::MappingStart(anchor, _) => {
                    self.stack.push(Frame::Map(Vec::new(), None, span, anchor));
                    None
                }
                Event::SequenceEnd | Event::MappingEnd => {
                    let node = match self.stack.pop() {
                        Some(Frame::Seq(items, span, anchor)) => self.anchored(
                            Node {
                                kind: Kind::Seq(items),
                                span,
                                raw: None,
                                plain: false,
                            },
                            anchor,
                        ),
                        Some(Frame::Map(entries, _, span, anchor)) => {
                            self.check_duplicates(&entries);
                            self.anchored(Node::map(merge_keys(entries), span), anchor)
                        }
                        None => continue,
                    };
                    self.complete(node)
                }
                _ => None,
            };
            if let Some(node) = finished {
                root = Some(node);
            }
            if self.nodes > MAX_WRITTEN {
                self.errors.push(Diagnostic::new(
                    format!("the file holds more than {MAX_WRITTEN} values"),
                    span,
                ));
                return Err(self.errors);
            }
        }
        if !self.errors.is_empty() {
            return Err(self.errors);
        }
        Ok(match root {
            Some(node) if !node.is_null() => node,
            _ => Node::map(
                Vec::new(),
                Span {
                    file: self.file,
                    line: 1,
                    col: 1,
                    len: 1,
                },
            ),
        })
    }

    fn leaf(&mut self, node: Node, anchor: usize) -> Option<Node> {
        let node = self.anchored(node, anchor);
        self.complete(node)
    }

    fn anchored(&mut self, node: Node, anchor: usize) -> Node {
        self.nodes += 1;
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        node
    }

    /// Attach a finished node to its parent; returns it when it is the document root.
    fn complete(&mut self, node: Node) -> Option<Node> {
        match self.stack.last_mut() {
            None => Some(node),
            Some(Frame::Seq(items, ..)) => {
                items.push(node);
                None
            }
            Some(Frame::Map(entries, pending, ..)) => {
                match pending.take() {
                    None => *pending = Some(node),
                    Some(key) => entries.push((key, node)),
                }
                None
            }
        }
    }

    fn check_duplicates(&mut self, entries: &[(Node, Node)]) {
        let mut seen: HashMap<&str, Span> = HashMap::new();
        for (key, _) in entries {
            let Some(text) = key.scalar_text() else {
                continue;
            };
            if let Some(first) = seen.get(text) {
                self.errors.push(
                    Diagnostic::new(format!("duplicate key `{text}`"), key.span)
                        .with_note(*first, "first defined here"),
                );
            } else {
                seen.insert(text, key.span);
            }
        }
    }
}

/// The diagnostic for a parser error at 1-based `(line, col)`, corrected where the parser's
/// own report misleads: a tab in indentation is often reported at the end of the line before
/// it, and every quoted scalar is called "double-quoted".
fn syntax_error(text: &str, file: FileId, info: &str, (line, col): (u32, u32)) -> Diagnostic {
    let span = |line: u32, col: u32| Span {
        file,
        line,
        col,
        len: 1,
    };
    if info.contains("tab")
        && let Some((tab_line, tab_col)) = indentation_tab(text, line)
    {
        return Diagnostic::new(
            "invalid YAML: a tab in indentation",
            span(tab_line, tab_col),
        )
        .with_help("YAML indents with spaces only; replace the tab with spaces");
    }
    if info.contains("quoted scalar") {
        // The parser points just past the closing quote (trailing content) or at the opening
        // one (unterminated); either way the quote character says which style it was.
        let quote = if info.contains("trailing content") {
            char_before(text, line, col)
        } else {
            char_at(text, line, col)
        };
        let style = match quote {
            Some('\'') => "single-quoted",
            Some('"') => "double-quoted",
            _ => "quoted",
        };
        let info = info
            .replace("double-quoted", style)
            .replace("a quoted scalar", &format!("a {style} string"));
        let help = match quote {
            Some('\'') => {
                "inside single quotes write a quote as `''`; the string ends at the first lone `'`"
            }
            Some('"') => {
                "inside double quotes write a quote as `\\\"`; the string ends at the first unescaped `\"`"
            }
            _ => "close the quote, or quote the whole value",
        };
        return Diagnostic::new(format!("invalid YAML: {info}"), span(line, col)).with_help(help);
    }
    Diagnostic::new(format!("invalid YAML: {info}"), span(line, col))
}

/// The first tab in the leading whitespace of a line at or after `from` (1-based).
fn indentation_tab(text: &str, from: u32) -> Option<(u32, u32)> {
    text.lines()
        .enumerate()
        .skip(from.saturating_sub(1) as usize)
        .find_map(|(i, line)| {
            let indent = line.len() - line.trim_start_matches([' ', '\t']).len();
            line[..indent]
                .find('\t')
                .map(|pos| (i as u32 + 1, line[..pos].chars().count() as u32 + 1))
        })
}

fn char_at(text: &str, line: u32, col: u32) -> Option<char> {
    text.lines()
        .nth(line.checked_sub(1)? as usize)?
        .chars()
        .nth(col.checked_sub(1)? as usize)
}

/// The last non-blank character before `(line, col)` on that line.
fn char_before(text: &str, line: u32, col: u32) -> Option<char> {
    let line = text.lines().nth(line.checked_sub(1)? as usize)?;
    line.chars()
        .take(col.checked_sub(1)? as usize)
        .filter(|c| !c.is_whitespace())
        .last()
}

/// `<<: *defaults` (YAML 1.1 merge keys, as GitLab CI and Ansible users write them): the
/// mapping takes the merged mappings' entries it does not define itself; earlier merged mappings
/// win over later ones.
fn merge_keys(entries: Vec<(Node, Node)>) -> Vec<(Node, Node)> {
    if !entries.iter().any(|(k, _)| is_merge_key(k)) {
        return entries;
    }
    let mut own = Vec::new();
    let mut inherited = Vec::new();
    for (key, value) in entries {
        if !is_merge_key(&key) {
            own.push((key, value));
            continue;
        }
        match value.kind {
            Kind::Map(merged) => inherited.extend(merged),
            Kind::Seq(items) if items.iter().all(|i| matches!(i.kind, Kind::Map(_))) => {
                for item in items {
                    if let Kind::Map(merged) = item.kind {
                        inherited.extend(merged);
                    }
                }
            }
            // Not mergeable: left as a key for the decoder to report.
            kind => own.push((key, Node { kind, ..value })),
        }
    }
    // A set of the keys present keeps a merge of large mappings linear.
    let mut present: std::collections::HashSet<Option<String>> = own
        .iter()
        .map(|(k, _)| k.scalar_text().map(str::to_string))
        .collect();
    for (key, value) in inherited {
        if present.insert(key.scalar_text().map(str::to_string)) {
            own.push((key, value));
        }
    }
    own
}

fn is_merge_key(key: &Node) -> bool {
    matches!(&key.kind, Kind::Str(s) if s == "<<")
}

fn resolve_scalar(value: &str, style: ScalarStyle, tag: Option<&str>, span: Span) -> Node {
    let raw = Some(value.to_string());
    let string = |raw| Node {
        kind: Kind::Str(value.to_string()),
        span,
        raw,
        plain: false,
    };
    if style != ScalarStyle::Plain || tag == Some("str") {
        return string(raw);
    }
    let kind = match value {
        "" | "~" | "null" | "Null" | "NULL" => Kind::Null,
        "true" | "True" | "TRUE" => Kind::Bool(true),
        "false" | "False" | "FALSE" => Kind::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => Kind::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => Kind::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => Kind::Float(f64::NAN),
        _ => match parse_int(value) {
            Some(n) => Kind::Int(n),
            None if is_float(value) => match value.parse::<f64>() {
                Ok(f) => Kind::Float(f),
                Err(_) => Kind::Str(value.to_string()),
            },
            None => Kind::Str(value.to_string()),
        },
    };
    Node {
        kind,
        span,
        raw,
        plain: true,
    }
}

fn parse_int(text: &str) -> Option<i64> {
    if let Some(hex) = text.strip_prefix("0x") {
        return i64::from_str_radix(hex, 16)
            .ok()
            .filter(|_| !hex.starts_with(['+', '-']));
    }
    if let Some(oct) = text.strip_prefix("0o") {
        return i64::from_str_radix(oct, 8)
            .ok()
            .filter(|_| !oct.starts_with(['+', '-']));
    }
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// The core schema's float form: `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`.
fn is_float(text: &str) -> bool {
    let body = text.strip_prefix(['+', '-']).unwrap_or(text);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some((int, frac)) => {
            (!int.is_empty() || !frac.is_empty())
                && digits(int)
                && digits(frac)
                && !(int.is_empty() && frac.is_empty())
        }
        None => !mantissa.is_empty() && digits(mantissa),
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    mantissa_ok && exponent_ok && !(mantissa.starts_with('.') && mantissa.len() == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(text: &str) -> Node {
        parse(text, FileId(0)).unwrap_or_else(|e| panic!("{text:?}: {e:?}"))
    }

    fn value_of(text: &str) -> Kind {
        let root = parse_ok(&format!("k: {text}\n"));
        let Kind::Map(mut entries) = root.kind else {
            panic!("not a map")
        };
        entries.remove(0).1.kind
    }

    #[test]
    fn resolves_core_schema_scalars() {
        let cases: &[(&str, Kind)] = &[
            ("~", Kind::Null),
            ("", Kind::Null),
            ("null", Kind::Null),
            ("true", Kind::Bool(true)),
            ("False", Kind::Bool(false)),
            ("no", Kind::Str("no".into())),
            ("42", Kind::Int(42)),
            ("-7", Kind::Int(-7)),
            ("0644", Kind::Int(644)),
            ("0x1F", Kind::Int(31)),
            ("0o17", Kind::Int(15)),
            ("1.5", Kind::Float(1.5)),
            ("1e3", Kind::Float(1000.0)),
            ("'42'", Kind::Str("42".into())),
            ("\"true\"", Kind::Str("true".into())),
            ("!!str 12", Kind::Str("12".into())),
            ("127.0.0.1", Kind::Str("127.0.0.1".into())),
            ("90s", Kind::Str("90s".into())),
            ("1.2.3", Kind::Str("1.2.3".into())),
            (".", Kind::Str(".".into())),
        ];
        for (text, expected) in cases {
            assert_eq!(&value_of(text), expected, "{text}");
        }
    }

    #[test]
    fn spans_are_one_based() {
        let root = parse_ok("a: 1\nbb:\n  - xyz\n");
        let Kind::Map(entries) = root.kind else {
            panic!()
        };
        assert_eq!(
            (
                entries[1].0.span.line,
                entries[1].0.span.col,
                entries[1].0.span.len
            ),
            (2, 1, 2)
        );
        let Kind::Seq(items) = &entries[1].1.kind else {
            panic!()
        };
        assert_eq!(
            (items[0].span.line, items[0].span.col, items[0].span.len),
            (3, 5, 3)
        );
    }

    #[test]
    fn empty_file_is_an_empty_map() {
        assert_eq!(parse_ok("").kind, Kind::Map(vec![]));
        assert_eq!(parse_ok("# just a comment\n").kind, Kind::Map(vec![]));
    }

    #[test]
    fn duplicate_keys_name_both_places() {
        let errors = parse("a: 1\nb: 2\na: 3\n", FileId(0)).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].message, "duplicate key `a`");
        assert_eq!(errors[0].span.unwrap().line, 3);
        assert_eq!(errors[0].notes[0].0.line, 1);
    }

    #[test]
    fn aliases_copy_the_anchored_node() {
        let root = parse_ok("a: &x {b: 1}\nc: *x\n");
        let Kind::Map(entries) = root.kind else {
            panic!()
        };
        assert_eq!(entries[0].1.kind, entries[1].1.kind);
        assert_eq!(entries[1].1.span.line, 2);
    }

    #[test]
    fn merge_keys_fill_in_missing_entries() {
        let root = parse_ok("d: &d {a: 1, b: 2}\ne: &e {c: 3}\nx: {<<: [*d, *e], b: 9}\n");
        let Kind::Map(entries) = root.kind else {
            panic!()
        };
        let Kind::Map(x) = &entries[2].1.kind else {
            panic!()
        };
        let got: Vec<(&str, &Kind)> = x
            .iter()
            .map(|(k, v)| (k.scalar_text().unwrap(), &v.kind))
            .collect();
        assert_eq!(
            got,
            [
                ("b", &Kind::Int(9)),
                ("a", &Kind::Int(1)),
                ("c", &Kind::Int(3))
            ]
        );
    }

    #[test]
    fn large_files_without_aliases_are_fine() {
        // Resources with several attributes each: more values than the alias cap allows copies.
        let mut text = String::from("resources:\n");
        for i in 0..12_000 {
            text.push_str(&format!(
                "  r{i}: {{ type: file, path: /tmp/x{i}, content: c, mode: '0644' }}\n"
            ));
        }
        assert!(matches!(parse_ok(&text).kind, Kind::Map(_)));
    }

    #[test]
    fn billion_laughs_is_rejected() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..9 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let errors = parse(&text, FileId(0)).unwrap_err();
        assert!(errors[0].message.contains("more than"), "{:?}", errors[0]);
    }

    fn first_error(text: &str) -> Diagnostic {
        parse(text, FileId(0)).unwrap_err().remove(0)
    }

    #[test]
    fn a_tab_is_reported_on_its_own_line_and_column() {
        for (text, at) in [
            ("a:\n  b: 1\n\tc: 2\n", (3, 1)),
            ("a:\n  - x\n  \t- y\n", (3, 3)),
            ("a:\n\tb: 1\n", (2, 1)),
        ] {
            let e = first_error(text);
            let span = e.span.unwrap();
            assert_eq!((span.line, span.col), at, "{text:?}: {e:?}");
            assert!(e.message.contains("tab"), "{e:?}");
        }
    }

    #[test]
    fn quoted_scalar_errors_name_the_right_quote() {
        let e = first_error("a: 'x\n  b: 'y'\n");
        assert!(e.message.contains("single-quoted"), "{e:?}");
        assert!(!e.message.contains("double"), "{e:?}");
        let e = first_error("a: \"x\n  b: \"y\"\n");
        assert!(e.message.contains("double-quoted"), "{e:?}");
        let e = first_error("a: 'abc\n");
        assert!(e.message.contains("single-quoted"), "{e:?}");
        assert_eq!(e.span.unwrap().col, 4);
    }

    #[test]
    fn merging_large_mappings_is_linear() {
        // 30,000 own keys and as many inherited: quadratic merging took many seconds.
        let mut text = String::from("base: &b\n");
        for i in 0..30_000 {
            text.push_str(&format!("  k{i}: 1\n"));
        }
        text.push_str("x:\n  <<: *b\n");
        for i in 0..30_000 {
            text.push_str(&format!("  o{i}: 1\n"));
        }
        let started = std::time::Instant::now();
        let root = parse_ok(&text);
        let Kind::Map(entries) = root.kind else {
            panic!()
        };
        let Kind::Map(x) = &entries[1].1.kind else {
            panic!()
        };
        assert_eq!(x.len(), 60_000);
        assert!(started.elapsed() < std::time::Duration::from_secs(3));
    }

    #[test]
    fn syntax_errors_and_second_documents_are_reported() {
        let errors = parse("a: [1,\n", FileId(0)).unwrap_err();
        assert!(
            errors[0].message.starts_with("invalid YAML"),
            "{:?}",
            errors[0]
        );
        assert_eq!(errors[0].span.unwrap().line, 2);
        let errors = parse("a: 1\n---\nb: 2\n", FileId(0)).unwrap_err();
        assert!(errors[0].message.contains("second YAML document"));
        assert_eq!(errors[0].span.unwrap().line, 2);
    }
}

//! Reading typed values out of the spanned YAML tree. Every reader records a diagnostic and
//! returns `None` on a problem, so decoding carries on and reports everything at once.

use std::time::Duration;

use indexmap::IndexMap;
use serde_json::Value;

use super::keys::{self, Key};
use crate::diagnostic::{Diagnostic, did_you_mean};
use crate::selector::Selector;
use crate::span::{Span, Spanned};
use crate::template;
use crate::types::Amount;
use crate::yaml::{Kind, Node};

#[derive(Default)]
pub(crate) struct Decoder {
    pub diags: Vec<Diagnostic>,
}

/// The entries of a mapping whose keys were checked against a known list.
pub(crate) struct Fields<'a> {
    entries: Vec<(&'a str, &'a Node, &'a Node)>,
    pub span: Span,
    /// "stage `test`", for messages.
    pub what: String,
}

impl<'a> Fields<'a> {
    /// The value of `key`; an explicit null counts as absent.
    pub fn get(&self, key: &str) -> Option<&'a Node> {
        self.entries
            .iter()
            .find(|(k, _, v)| *k == key && !v.is_null())
            .map(|(_, _, v)| *v)
    }

    pub fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Entries whose key is not in `known`, for sections that keep free-form attributes.
    pub fn others(&self, known: &[Key]) -> impl Iterator<Item = (&'a str, &'a Node, &'a Node)> {
        self.entries
            .iter()
            .copied()
            .filter(move |(k, _, _)| !keys::contains(known, k))
    }

    /// The key node of `key`, for pointing at it.
    pub fn key_span(&self, key: &str) -> Option<Span> {
        self.entries
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, k, _)| k.span)
    }
}

pub(crate) fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

impl Decoder {
    pub fn error(&mut self, diagnostic: Diagnostic) {
        self.diags.push(diagnostic);
    }

    pub fn mismatch(&mut self, node: &Node, expected: &str) {
        self.error(Diagnostic::new(
            format!("expected {expected}, found {}", node.describe()),
            node.span,
        ));
    }

    /// The entries of a mapping; keys outside `known` are reported with a suggestion.
    /// `known = None` accepts any key.
    pub fn fields<'a>(
        &mut self,
        node: &'a Node,
        known: Option<&[Key]>,
        what: &str,
    ) -> Option<Fields<'a>> {
        let Kind::Map(entries) = &node.kind else {
            self.mismatch(node, &format!("a mapping for {what}"));
            return None;
        };
        let mut fields = Fields {
            entries: Vec::new(),
            span: node.span,
            what: what.to_string(),
        };
        for (key, value) in entries {
            let Some(name) = key.scalar_text() else {
                self.mismatch(key, "a string key");
                continue;
            };
            if let Some(known) = known
                && !keys::contains(known, name)
            {
                self.unknown_key(name, key.span, known, what);
                continue;
            }
            fields.entries.push((name, key, value));
        }
        Some(fields)
    }

    pub fn unknown_key(&mut self, name: &str, span: Span, known: &[Key], what: &str) {
        let help = match did_you_mean(name, keys::names(known)) {
            Some(suggestion) => format!("did you mean `{suggestion}`?"),
            None => format!(
                "expected one of: {}",
                keys::names(known).collect::<Vec<_>>().join(", ")
            ),
        };
        self.error(
            Diagnostic::new(format!("unknown key `{name}` in {what}"), span).with_help(help),
        );
    }

    /// The key of a named entry (a stage, a node, …), checked against the naming rule.
    pub fn name(&mut self, key: &Node, what: &str) -> Option<String> {
        let Some(text) = key.scalar_text() else {
            self.mismatch(key, &format!("a {what} name"));
            return None;
        };
        if !is_valid_name(text) {
            self.error(
                Diagnostic::new(format!("`{text}` is not a valid {what} name"), key.span)
                    .with_help("names use letters, digits, `_`, `.` and `-`, and do not start with `.` or `-`"),
            );
            return None;
        }
        Some(text.to_string())
    }

    pub fn require<'a>(&mut self, fields: &Fields<'a>, key: &str) -> Option<&'a Node> {
        let node = fields.get(key);
        if node.is_none() {
            self.error(Diagnostic::new(
                format!("{} needs `{key}`", fields.what),
                fields.span,
            ));
        }
        node
    }

    /// A string; numbers and booleans are taken as written (`port: 8080` → `"8080"`).
    pub fn string(&mut self, node: &Node) -> Option<Spanned<String>> {
        match node.scalar_text() {
            Some(text) => Some(Spanned::new(text.to_string(), node.span)),
            None => {
                self.mismatch(node, "a string");
                None
            }
        }
    }

    /// A string whose template syntax is checked.
    pub fn template(&mut self, node: &Node) -> Option<Spanned<String>> {
        let text = self.string(node)?;
        self.check_template(&text.value, text.span);
        Some(text)
    }

    pub fn check_template(&mut self, text: &str, span: Span) {
        if let Err(err) = template::check_syntax(text) {
            self.error(Diagnostic::new(
                format!("invalid template: {}", err.message),
                span,
            ));
        }
    }

    /// One string or a list of strings.
    pub fn strings(&mut self, node: &Node) -> Vec<Spanned<String>> {
        match &node.kind {
            Kind::Seq(items) => items.iter().filter_map(|item| self.string(item)).collect(),
            Kind::Null => Vec::new(),
            _ => self.string(node).into_iter().collect(),
        }
    }

    /// One template or a list of them (`run:`, `rollback:`).
    pub fn templates(&mut self, node: &Node) -> Vec<Spanned<String>> {
        let list = self.strings(node);
        for item in &list {
            self.check_template(&item.value, item.span);
        }
        list
    }

    pub fn bool(&mut self, node: &Node) -> Option<bool> {
        match node.kind {
            Kind::Bool(b) => Some(b),
            _ => {
                self.mismatch(node, "`true` or `false`");
                None
            }
        }
    }

    pub fn int<T: TryFrom<i64>>(&mut self, node: &Node, range: &str) -> Option<T> {
        let Kind::Int(n) = node.kind else {
            self.mismatch(node, &format!("an integer ({range})"));
            return None;
        };
        match T::try_from(n) {
            Ok(v) => Some(v),
            Err(_) => {
                self.error(Diagnostic::new(
                    format!("{n} is out of range ({range})"),
                    node.span,
                ));
                None
            }
        }
    }

    pub fn u32(&mut self, node: &Node) -> Option<u32> {
        self.int(node, "0 to 4294967295")
    }

    pub fn port(&mut self, node: &Node) -> Option<u16> {
        self.int(node, "a port, 1 to 65535")
            .filter(|p| *p > 0)
            .or_else(|| {
                if matches!(node.kind, Kind::Int(0)) {
                    self.error(Diagnostic::new("port 0 is not usable", node.span));
                }
                None
            })
    }

    pub fn float(&mut self, node: &Node) -> Option<f64> {
        match node.kind {
            Kind::Int(n) => Some(n as f64),
            Kind::Float(f) => Some(f),
            _ => {
                self.mismatch(node, "a number");
                None
            }
        }
    }

    pub fn duration(&mut self, node: &Node) -> Option<Duration> {
        let parsed = match &node.kind {
            Kind::Int(n) if *n >= 0 => crate::duration::check_bounds(
                Duration::from_secs(*n as u64),
                node.scalar_text().unwrap_or_default(),
            ),
            Kind::Str(text) => crate::duration::parse_duration(text),
            _ => {
                self.mismatch(node, "a duration like `90s`");
                return None;
            }
        };
        match parsed {
            Ok(d) => Some(d),
            Err(message) => {
                self.error(
                    Diagnostic::new(format!("invalid duration: {message}"), node.span).with_help(
                        "durations look like `90s`, `5m`, `1h30m` or a number of seconds, at most 366d",
                    ),
                );
                None
            }
        }
    }

    /// `targets:` — a selector string, or a list of items joined with `,`.
    pub fn selector(&mut self, node: &Node) -> Option<Spanned<Selector>> {
        let text = match &node.kind {
            Kind::Seq(_) => {
                let parts = self.strings(node);
                if parts.is_empty() {
                    self.error(Diagnostic::new("empty list of targets", node.span));
                    return None;
                }
                parts
                    .into_iter()
                    .map(|p| p.value)
                    .collect::<Vec<_>>()
                    .join(",")
            }
            _ => self.string(node)?.value,
        };
        match Selector::parse(&text) {
            Ok(selector) => Some(Spanned::new(selector, node.span)),
            Err(err) => {
                self.error(
                    Diagnostic::new(format!("invalid selector: {err}"), node.span).with_help(
                        "selectors look like `all`, `web01`, `web*`, `role:web`, `label:zone=a`, combined with `,` `&` `!`",
                    ),
                );
                None
            }
        }
    }

    /// File permission bits written in octal: `"0644"`, `"644"`, or unquoted `0644` (which YAML
    /// 1.2 reads as the decimal 644, whose digits are the same).
    pub fn mode(&mut self, node: &Node) -> Option<u32> {
        let text = match &node.kind {
            Kind::Int(n) if *n >= 0 => n.to_string(),
            Kind::Str(s) => s.trim_start_matches("0o").to_string(),
            _ => {
                self.mismatch(node, "a file mode like \"0644\"");
                return None;
            }
        };
        match u32::from_str_radix(&text, 8) {
            Ok(mode) if mode <= 0o7777 => Some(mode),
            _ => {
                self.error(Diagnostic::new(
                    format!(
                        "`{}` is not an octal file mode like \"0644\"",
                        node.scalar_text().unwrap_or(&text)
                    ),
                    node.span,
                ));
                None
            }
        }
    }

    /// One of fixed words.
    pub fn choice<T: Copy>(&mut self, node: &Node, options: &[(&str, T)]) -> Option<T> {
        let text = self.string(node)?;
        if let Some((_, v)) = options.iter().find(|(word, _)| *word == text.value) {
            return Some(*v);
        }
        let words: Vec<&str> = options.iter().map(|(w, _)| *w).collect();
        let help = match did_you_mean(&text.value, words.iter().copied()) {
            Some(s) => format!("did you mean `{s}`?"),
            None => format!("expected one of: {}", words.join(", ")),
        };
        self.error(
            Diagnostic::new(format!("unknown value `{}`", text.value), node.span).with_help(help),
        );
        None
    }

    /// A count or a percentage (`3`, `"30%"`).
    pub fn amount(&mut self, node: &Node) -> Option<Amount> {
        if let Kind::Int(_) = node.kind {
            return self.u32(node).map(Amount::Count);
        }
        let text = self.string(node)?;
        let bad = |this: &mut Self| {
            this.error(Diagnostic::new(
                format!(
                    "`{}` is neither a count nor a percentage like \"30%\"",
                    text.value
                ),
                node.span,
            ));
            None
        };
        match text.value.trim().strip_suffix('%') {
            Some(p) => match p.trim().parse::<u32>() {
                Ok(p) if (1..=100).contains(&p) => Some(Amount::Percent(p)),
                _ => bad(self),
            },
            None => match text.value.trim().parse::<u32>() {
                Ok(n) => Some(Amount::Count(n)),
                Err(_) => bad(self),
            },
        }
    }

    /// A mapping of string to string (headers, labels).
    pub fn string_map(&mut self, node: &Node, what: &str) -> IndexMap<String, String> {
        let mut out = IndexMap::new();
        if let Some(fields) = self.fields(node, None, what) {
            for (key, _, value) in fields.entries {
                if let Some(v) = self.string(value) {
                    out.insert(key.to_string(), v.value);
                }
            }
        }
        out
    }

    /// Environment variables: names as shells accept them, values templates.
    pub fn env_vars(&mut self, node: &Node, what: &str) -> IndexMap<String, Spanned<String>> {
        let mut out = IndexMap::new();
        if let Some(fields) = self.fields(node, None, what) {
            for (key, key_node, value) in fields.entries {
                let valid = key
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                    && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if !valid {
                    self.error(
                        Diagnostic::new(
                            format!("`{key}` is not a valid environment variable name in {what}"),
                            key_node.span,
                        )
                        .with_help("use letters, digits and `_`, not starting with a digit"),
                    );
                    continue;
                }
                if let Some(v) = self.template(value) {
                    out.insert(key.to_string(), v);
                }
            }
        }
        out
    }

    /// `vars:` — any YAML values, kept as JSON for template contexts.
    pub fn vars(&mut self, node: &Node, what: &str) -> IndexMap<String, Value> {
        let mut out = IndexMap::new();
        if let Some(fields) = self.fields(node, None, what) {
            for (key, _, value) in fields.entries {
                out.insert(key.to_string(), to_json(value));
            }
        }
        out
    }
}

pub(crate) fn to_json(node: &Node) -> Value {
    match &node.kind {
        Kind::Null => Value::Null,
        Kind::Bool(b) => Value::Bool(*b),
        Kind::Int(n) => Value::from(*n),
        Kind::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
        Kind::Str(s) => Value::String(s.clone()),
        Kind::Seq(items) => Value::Array(items.iter().map(to_json).collect()),
        Kind::Map(entries) => Value::Object(
            entries
                .iter()
                .map(|(k, v)| (k.scalar_text().unwrap_or_default().to_string(), to_json(v)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_rule() {
        for ok in ["a", "build_app", "web01", "_x", "v1.2-rc", "0day"] {
            assert!(is_valid_name(ok), "{ok}");
        }
        for bad in ["", "-a", ".a", "a b", "a/b", "é", "a:b"] {
            assert!(!is_valid_name(bad), "{bad}");
        }
    }

    fn node(text: &str) -> Node {
        let root = crate::yaml::parse(&format!("k: {text}\n"), crate::span::FileId(0)).unwrap();
        let Kind::Map(mut entries) = root.kind else {
            panic!()
        };
        entries.remove(0).1
    }

    #[test]
    fn modes_are_octal() {
        let cases: &[(&str, Option<u32>)] = &[
            ("\"0644\"", Some(0o644)),
            ("0644", Some(0o644)),
            ("'755'", Some(0o755)),
            ("\"0o600\"", Some(0o600)),
            ("\"0968\"", None),
            ("[1]", None),
        ];
        for (text, expected) in cases {
            let mut d = Decoder::default();
            assert_eq!(d.mode(&node(text)), *expected, "{text}");
            assert_eq!(d.diags.is_empty(), expected.is_some(), "{text}");
        }
    }

    #[test]
    fn amounts_are_counts_or_percentages() {
        let cases: &[(&str, Option<Amount>)] = &[
            ("3", Some(Amount::Count(3))),
            ("\"30%\"", Some(Amount::Percent(30))),
            ("100%", Some(Amount::Percent(100))),
            ("0%", None),
            ("lots", None),
        ];
        for (text, expected) in cases {
            let mut d = Decoder::default();
            assert_eq!(d.amount(&node(text)), *expected, "{text}");
        }
    }

    #[test]
    fn wrong_types_say_what_was_found() {
        let mut d = Decoder::default();
        assert_eq!(d.duration(&node("[1, 2]")), None);
        assert_eq!(
            d.diags[0].message,
            "expected a duration like `90s`, found a list"
        );
    }
}

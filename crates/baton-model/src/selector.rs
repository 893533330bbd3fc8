//! Target selectors, as Ansible host patterns: `all`, `local`, names, globs, `role:x`,
//! `label:k=v`; `,` union, `&` intersection, `!` exclusion.
//!
//! `role:web&label:zone=a,db01,!web02` is (role:web ∩ label:zone=a) ∪ db01, minus web02.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Selector {
    /// The text as written.
    pub source: String,
    /// Union of these intersections.
    pub include: Vec<Vec<Atom>>,
    /// Items written `&x`: the whole union is intersected with each.
    pub require: Vec<Atom>,
    /// Items written `!x`: removed at the end.
    pub exclude: Vec<Atom>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum Atom {
    /// Every inventory node (not `local`).
    All,
    /// A node name, `local` included.
    Name(String),
    /// A node-name glob (`web*`, `db0?`).
    Glob(String),
    Role(String),
    Label {
        key: String,
        value: String,
    },
    /// `!x` inside an intersection: `role:web&!label:zone=b`.
    Not(Box<Atom>),
}

/// What a selector is resolved against: one entry per node, `local` included.
pub trait Inventory {
    /// Every node name in inventory order, `local` last.
    fn node_names(&self) -> Vec<&str>;
    fn has_role(&self, node: &str, role: &str) -> bool;
    fn label(&self, node: &str, key: &str) -> Option<&str>;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    #[error("empty selector")]
    Empty,
    #[error("empty item in selector `{0}`")]
    EmptyItem(String),
    #[error("`{0}` is not a valid selector item: {1}")]
    BadAtom(String, &'static str),
    #[error("selector `{0}` matches no node")]
    NoMatch(String),
}

impl Selector {
    pub fn parse(text: &str) -> Result<Selector, SelectorError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(SelectorError::Empty);
        }
        let mut selector = Selector {
            source: text.to_string(),
            include: Vec::new(),
            require: Vec::new(),
            exclude: Vec::new(),
        };
        for item in text.split(',').map(str::trim) {
            if item.is_empty() {
                return Err(SelectorError::EmptyItem(text.to_string()));
            }
            if let Some(rest) = item.strip_prefix('!') {
                selector.exclude.push(Atom::parse(rest.trim())?);
            } else if let Some(rest) = item.strip_prefix('&') {
                selector.require.push(Atom::parse(rest.trim())?);
            } else {
                let atoms = item
                    .split('&')
                    .map(|a| Atom::parse(a.trim()))
                    .collect::<Result<Vec<_>, _>>()?;
                selector.include.push(atoms);
            }
        }
        if selector.include.is_empty() {
            // `!web02` alone means "all but web02", as in Ansible.
            selector.include.push(vec![Atom::All]);
        }
        Ok(selector)
    }

    /// Every atom (negated ones unwrapped), for validation against the inventory.
    pub fn atoms(&self) -> impl Iterator<Item = &Atom> {
        self.include
            .iter()
            .flatten()
            .chain(&self.require)
            .chain(&self.exclude)
            .map(|atom| match atom {
                Atom::Not(inner) => inner.as_ref(),
                other => other,
            })
    }

    /// The matching node names, in inventory order. Matching nothing is an error.
    pub fn resolve(&self, inventory: &dyn Inventory) -> Result<Vec<String>, SelectorError> {
        let names = inventory.node_names();
        let matched: Vec<String> = names
            .iter()
            .filter(|n| {
                self.include
                    .iter()
                    .any(|all| all.iter().all(|a| a.matches(n, inventory)))
                    && self.require.iter().all(|a| a.matches(n, inventory))
                    && !self.exclude.iter().any(|a| a.matches(n, inventory))
            })
            .map(|n| n.to_string())
            .collect();
        if matched.is_empty() {
            return Err(SelectorError::NoMatch(self.source.clone()));
        }
        Ok(matched)
    }
}

impl Atom {
    fn parse(text: &str) -> Result<Atom, SelectorError> {
        if text.is_empty() {
            return Err(SelectorError::BadAtom(text.to_string(), "it is empty"));
        }
        if let Some(rest) = text.strip_prefix('!') {
            return Ok(Atom::Not(Box::new(Atom::parse(rest.trim())?)));
        }
        if text == "all" || text == "*" {
            return Ok(Atom::All);
        }
        if let Some(role) = text.strip_prefix("role:") {
            if role.is_empty() {
                return Err(SelectorError::BadAtom(
                    text.into(),
                    "`role:` needs a role name",
                ));
            }
            return Ok(Atom::Role(role.to_string()));
        }
        if let Some(label) = text.strip_prefix("label:") {
            let Some((key, value)) = label.split_once('=') else {
                return Err(SelectorError::BadAtom(
                    text.into(),
                    "write `label:KEY=VALUE`",
                ));
            };
            if key.is_empty() {
                return Err(SelectorError::BadAtom(
                    text.into(),
                    "the label key is empty",
                ));
            }
            return Ok(Atom::Label {
                key: key.to_string(),
                value: value.to_string(),
            });
        }
        if text.contains(['*', '?', '[']) {
            if glob::Pattern::new(text).is_err() {
                return Err(SelectorError::BadAtom(text.into(), "invalid glob"));
            }
            return Ok(Atom::Glob(text.to_string()));
        }
        if text.chars().any(|c| c.is_whitespace() || c == ':') {
            return Err(SelectorError::BadAtom(
                text.into(),
                "use a node name, a glob, `role:NAME` or `label:KEY=VALUE`",
            ));
        }
        Ok(Atom::Name(text.to_string()))
    }

    pub fn matches(&self, node: &str, inventory: &dyn Inventory) -> bool {
        match self {
            Atom::All => node != crate::types::LOCAL_NODE,
            Atom::Name(name) => name == node,
            Atom::Glob(pattern) => {
                node != crate::types::LOCAL_NODE
                    && glob::Pattern::new(pattern).is_ok_and(|p| p.matches(node))
            }
            Atom::Role(role) => inventory.has_role(node, role),
            Atom::Label { key, value } => inventory.label(node, key) == Some(value.as_str()),
            Atom::Not(inner) => !inner.matches(node, inventory),
        }
    }
}

impl crate::types::Project {
    /// Resolve a selector against this project's nodes (and `local`).
    pub fn select(&self, selector: &Selector) -> Result<Vec<String>, SelectorError> {
        selector.resolve(self)
    }

    /// `--limit SELECTOR` (run, retry, rollback, config, plan, apply): the nodes it matches.
    /// Malformed or matching no node, the error says so and names it.
    pub fn limit_nodes(&self, text: &str) -> Result<Vec<String>, String> {
        let nodes = Selector::parse(text)
            .and_then(|selector| self.select(&selector))
            .map_err(|e| format!("--limit `{text}`: {e}"))?;
        if nodes.is_empty() {
            return Err(format!("--limit `{text}` matches no node"));
        }
        Ok(nodes)
    }
}

impl Inventory for crate::types::Project {
    fn node_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.nodes.keys().map(String::as_str).collect();
        names.push(crate::types::LOCAL_NODE);
        names
    }

    fn has_role(&self, node: &str, role: &str) -> bool {
        let roles = match self.nodes.get(node) {
            Some(n) => &n.roles,
            None if node == crate::types::LOCAL_NODE => &self.local.roles,
            None => return false,
        };
        roles.iter().any(|r| r == role)
    }

    fn label(&self, node: &str, key: &str) -> Option<&str> {
        let labels = match self.nodes.get(node) {
            Some(n) => &n.labels,
            None if node == crate::types::LOCAL_NODE => &self.local.labels,
            None => return None,
        };
        labels.get(key).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fake;
    impl Inventory for Fake {
        fn node_names(&self) -> Vec<&str> {
            vec!["web01", "web02", "db01", "local"]
        }
        fn has_role(&self, node: &str, role: &str) -> bool {
            matches!(
                (node, role),
                ("web01" | "web02", "web") | ("db01", "database")
            )
        }
        fn label(&self, node: &str, key: &str) -> Option<&str> {
            match (node, key) {
                ("web01", "zone") => Some("a"),
                ("web02", "zone") => Some("b"),
                _ => None,
            }
        }
    }

    #[track_caller]
    fn case(selector: &str, expected: &[&str]) {
        let got = Selector::parse(selector).unwrap().resolve(&Fake).unwrap();
        assert_eq!(got, expected, "selector {selector}");
    }

    #[test]
    fn resolves_like_ansible_patterns() {
        case("all", &["web01", "web02", "db01"]);
        case("local", &["local"]);
        case("web*", &["web01", "web02"]);
        case("role:web&label:zone=a,db01,!web02", &["web01", "db01"]);
        case("role:web,&label:zone=b", &["web02"]);
        case("!db01", &["web01", "web02"]);
        case("all,local", &["web01", "web02", "db01", "local"]);
        case("role:web&!label:zone=b", &["web01"]);
        case("all&!web*", &["db01"]);
    }

    #[test]
    fn matching_nothing_is_an_error() {
        let err = Selector::parse("role:cache")
            .unwrap()
            .resolve(&Fake)
            .unwrap_err();
        assert_eq!(err, SelectorError::NoMatch("role:cache".into()));
    }

    #[test]
    fn rejects_malformed_items() {
        assert!(Selector::parse("").is_err());
        assert!(Selector::parse("web01,,db01").is_err());
        assert!(Selector::parse("label:zone").is_err());
        assert!(Selector::parse("role:").is_err());
        assert!(Selector::parse("foo:bar").is_err());
    }
}

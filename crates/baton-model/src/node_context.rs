//! `node` in templates: the one description of a node every renderer uses (stage commands,
//! config files, conditions), so a node looks the same in all of them.

use serde_json::{Value, json};

use crate::types::{LOCAL_NODE, Project};

impl Project {
    /// The template value `node` for `name` (an inventory node or `local`).
    pub fn node_context(&self, name: &str) -> Value {
        match self.nodes.get(name) {
            Some(n) => json!({
                "name": n.name,
                "host": n.host,
                "roles": n.roles,
                "labels": n.labels,
                "vars": n.vars,
                "facts": {},
            }),
            None => json!({
                "name": LOCAL_NODE,
                "host": "127.0.0.1",
                "roles": self.local.roles,
                "labels": self.local.labels,
                "vars": self.local.vars,
                "facts": {},
            }),
        }
    }
}

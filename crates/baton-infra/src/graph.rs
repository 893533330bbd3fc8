//! The resource graph: dependency order, `--target` closures, and DOT output.
//! Cycles are rejected by the model's validation before any of this runs.

use std::collections::HashSet;

use baton_model::Project;

/// Resource ids of the project in dependency order (each after everything it depends on),
/// keeping file order among independent ones.
pub fn order(project: &Project) -> Vec<String> {
    let mut done: HashSet<&str> = HashSet::new();
    let mut out = Vec::new();
    fn visit<'a>(
        id: &'a str,
        project: &'a Project,
        done: &mut HashSet<&'a str>,
        out: &mut Vec<String>,
    ) {
        if !done.insert(id) {
            return;
        }
        if let Some((key, resource)) = project.resources.get_key_value(id) {
            for dep in resource.dependencies() {
                if let Some((dep_key, _)) = project.resources.get_key_value(&dep) {
                    visit(dep_key, project, done, out);
                }
            }
            out.push(key.clone());
        }
    }
    for id in project.resources.keys() {
        visit(id, project, &mut done, &mut out);
    }
    out
}

/// The given resources and everything they depend on, transitively.
pub fn closure(project: &Project, roots: &[String]) -> HashSet<String> {
    let mut seen = HashSet::new();
    let mut stack: Vec<String> = roots.to_vec();
    while let Some(id) = stack.pop() {
        if !seen.insert(id.clone()) {
            continue;
        }
        if let Some(resource) = project.resources.get(&id) {
            stack.extend(resource.dependencies());
        }
    }
    seen
}

/// Graphviz DOT: one box per resource (`id (type)`), an edge from each resource to what it
/// depends on, as `terraform graph` draws them.
pub fn dot(project: &Project) -> String {
    let mut out = String::from("digraph baton {\n  rankdir = \"RL\";\n  node [shape = box];\n");
    let escape = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    let quote = |s: &str| format!("\"{}\"", escape(s));
    for (id, resource) in &project.resources {
        let node = resource
            .node
            .as_ref()
            .map(|n| format!(" @{}", n.value))
            .unwrap_or_default();
        // `\n` is DOT's line break inside a label: written after escaping the parts, so it
        // is not escaped itself (`\\n` would print a backslash and an `n`).
        let label = format!(
            "\"{}\\n{}\"",
            escape(id),
            escape(&format!("{}{node}", resource.kind.value))
        );
        out.push_str(&format!("  {} [label = {label}];\n", quote(id)));
    }
    for (id, resource) in &project.resources {
        for dep in resource.dependencies() {
            out.push_str(&format!("  {} -> {};\n", quote(id), quote(&dep)));
        }
    }
    out.push_str("}\n");
    out
}

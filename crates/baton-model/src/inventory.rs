//! Ansible inventories (`inventory: hosts.ini` in `baton.yaml`) → baton [`Node`]s.
//!
//! Both of Ansible's file formats are read, with Ansible's semantics:
//!
//! - **Format.** `.yml`, `.yaml` and `.json` files are YAML (read with the crate's spanned YAML
//!   tree, so errors point at the value) and `.ini` files INI; any other file (`hosts`) is INI
//!   unless its first significant line is `---` or ends with `:` (a YAML mapping key — no valid
//!   INI line looks like that).
//! - **INI.** `[group]` sections of host lines `name key=value key2="quoted value"`,
//!   `[group:children]` of child group names, `[group:vars]` of `key=value`; hosts before any
//!   section are ungrouped; `#` and `;` start comment lines, `#` outside quotes ends a host
//!   line, and ` #` outside quotes ends a header or child line. A `:vars` value is a Python
//!   literal when it reads as one (its ` # comment` is Python's), else the whole text, comment
//!   included, as Ansible keeps it. A group may be named (as a child or in `:vars`) before its
//!   own section, but a child or `[g:vars]` naming a group no section declares is an error, as
//!   in Ansible. Host lines are split like a POSIX shell (as
//!   Ansible's `shlex`); `name:2222` sets the port; ranges `web[01:03]`, `db-[a:c]`,
//!   `n[0:10:2]` expand as Ansible does (leading zeros keep the width, which both ends must
//!   share). Values are read as Python literals, as Ansible's `literal_eval`: integers, floats,
//!   `True`/`False`, `None`, quoted strings, lists and dicts; anything else stays a string — so
//!   `true` and `yes` are strings, and shell quotes on a host line do not make `port="22"` a
//!   string (Ansible's behaviour, kept).
//! - **YAML.** `all: { hosts: {NAME: {vars} | null}, vars: {…}, children: {GROUP: {hosts, vars,
//!   children}} }`; other top-level groups are children of `all`. Host names may hold ranges and
//!   `:port` there too; `hosts: NAME` (a string) is one host. Plain scalars resolve as PyYAML's
//!   YAML 1.1 (`yes`/`on` are booleans, `0644` is octal, `1_000` and `1:30` are numbers, a
//!   float needs a dot), as Ansible reads them. Keys other than `hosts`, `vars` and `children` in a group are errors
//!   (Ansible only warns; baton rejects unknown keys everywhere).
//! - **Roles.** A host's groups and every ancestor group through `children` become its roles, in
//!   order: each group the host was listed in, then that group's ancestors (`web` ⊂ `prod` gives
//!   `[web, prod]`). The implicit `all` and `ungrouped` are not roles.
//! - **Vars.** Groups' vars merge in Ansible's order — by depth from `all`, then
//!   `ansible_group_priority` (default 1, higher wins; not kept as a var), then name — so `all`
//!   is lowest and a child overrides its parent; host vars override group vars. `ansible_host`,
//!   `ansible_port`, `ansible_user` and `ansible_ssh_private_key_file` (and the older
//!   `ansible_ssh_host`, `ansible_ssh_port`, `ansible_ssh_user` — when both names are set the
//!   old one wins, as in Ansible's ssh connection plugin, whatever their levels) become the
//!   node's `host`, `port`, `user` and `key` and leave `vars`. A relative key resolves against
//!   the inventory's directory; `~/` expands with `$HOME`. Without `ansible_host` a host is
//!   reached by its name. Every other variable (other `ansible_*` included) stays in `vars`.
//! - **Special hosts.** A host with `ansible_connection=local` (set at any level) is skipped:
//!   baton's own `local` node is this machine, and groups holding only such hosts give no role.
//!   A host named `local` is an error (that name is baton's). A host named `localhost` without
//!   `ansible_connection=local` is an ordinary SSH host. A host name baton cannot use as a node
//!   name (non-ASCII, a raw IPv6 address) becomes a valid one (`2001:db8::1` → `2001-db8--1`)
//!   with a warning, the original kept as its address.
//! - **Errors** (unreadable file, malformed line, bad port, range syntax, a cycle in `children`)
//!   are [`Diagnostic`]s at the inventory's file, line and column; all are collected.
//!
//! Merging with `nodes:` happens in the loader: inventory hosts come first, in inventory order;
//! fields written in a `nodes:` entry of the same name override the inventory's, roles are the
//! union (the inventory's first), labels and vars merge with `baton.yaml` winning, and the
//! node's span is its `nodes:` entry.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde_json::Value;

use crate::decode::{is_valid_name, to_json};
use crate::diagnostic::{Diagnostic, did_you_mean};
use crate::span::{FileId, Span};
use crate::types::{LOCAL_NODE, Node};
use crate::yaml::{self, Kind};

const ALL: &str = "all";
const UNGROUPED: &str = "ungrouped";

/// How an inventory file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Ini,
    Yaml,
}

impl Format {
    /// YAML for `.yml`/`.yaml`/`.json`, INI for `.ini`; otherwise YAML when the first
    /// significant line is `---` or a mapping key (`all:`), else INI.
    pub fn detect(path: &Path, text: &str) -> Format {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("yml" | "yaml" | "json") => return Format::Yaml,
            Some("ini") => return Format::Ini,
            _ => {}
        }
        let first = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with(['#', ';']));
        match first {
            Some(line) if line == "---" || line.ends_with(':') => Format::Yaml,
            _ => Format::Ini,
        }
    }
}

/// The hosts of an inventory file as nodes, in inventory order. `file` is the id `text` was
/// added under in the project's `Sources`; `path` chooses the format and anchors relative key
/// paths. Every problem is returned, not just the first.
pub fn parse(text: &str, file: FileId, path: &Path) -> Result<Vec<Node>, Vec<Diagnostic>> {
    parse_with_warnings(text, file, path).map(|(nodes, _)| nodes)
}

/// As [`parse`], with the warnings (hosts renamed to valid node names) beside the nodes.
pub fn parse_with_warnings(
    text: &str,
    file: FileId,
    path: &Path,
) -> Result<(Vec<Node>, Vec<Diagnostic>), Vec<Diagnostic>> {
    let mut inv = Raw::new(file);
    match Format::detect(path, text) {
        Format::Ini => inv.ini(text),
        Format::Yaml => match yaml::parse(text, file) {
            Ok(root) => inv.yaml(&root),
            Err(diags) => return Err(diags),
        },
    }
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let nodes = inv.resolve(&dir);
    if inv.diags.is_empty() {
        Ok((nodes, inv.warnings))
    } else {
        Err(crate::decode::in_file_order(inv.diags))
    }
}

/// A variable with the place its value was written.
#[derive(Debug, Clone)]
struct Var {
    value: Value,
    span: Span,
}

#[derive(Debug, Default)]
struct Group {
    vars: IndexMap<String, Var>,
    /// Child groups, with where each was named.
    children: Vec<(String, Span)>,
}

#[derive(Debug)]
struct Host {
    span: Span,
    /// Groups the host was listed in, in order.
    groups: Vec<String>,
    vars: IndexMap<String, Var>,
}

/// An inventory as read, before groups are flattened into roles and vars.
struct Raw {
    file: FileId,
    groups: IndexMap<String, Group>,
    hosts: IndexMap<String, Host>,
    diags: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
}

impl Raw {
    fn new(file: FileId) -> Raw {
        let mut groups = IndexMap::new();
        groups.insert(ALL.to_string(), Group::default());
        groups.insert(UNGROUPED.to_string(), Group::default());
        Raw {
            file,
            groups,
            hosts: IndexMap::new(),
            diags: Vec::new(),
            warnings: Vec::new(),
        }
    }

    fn span(&self, line: usize, col: usize, len: usize) -> Span {
        Span {
            file: self.file,
            line: line as u32,
            col: col as u32,
            len: len.max(1) as u32,
        }
    }

    fn group(&mut self, name: &str) -> &mut Group {
        self.groups.entry(name.to_string()).or_default()
    }

    fn add_child(&mut self, parent: &str, child: &str, span: Span) {
        self.group(child);
        let group = self.group(parent);
        if !group.children.iter().any(|(c, _)| c == child) {
            group.children.push((child.to_string(), span));
        }
    }

    /// Add a host to `group` with `vars` (later values win, as Ansible's `set_variable`).
    fn add_host(&mut self, name: String, group: &str, span: Span, vars: Vec<(String, Var)>) {
        self.group(group);
        let host = self.hosts.entry(name).or_insert_with(|| Host {
            span,
            groups: Vec::new(),
            vars: IndexMap::new(),
        });
        if !host.groups.iter().any(|g| g == group) {
            host.groups.push(group.to_string());
        }
        host.vars.extend(vars);
    }

    // ---------------------------------------------------------------------------------- INI

    fn ini(&mut self, text: &str) {
        #[derive(Clone, Copy, PartialEq)]
        enum State {
            Hosts,
            Children,
            Vars,
        }
        let mut group = UNGROUPED.to_string();
        let mut state = State::Hosts;
        // Groups a `[g]` or `[g:children]` section declares, anywhere in the file: a child or a
        // `[g:vars]` naming any other group is an error, as in Ansible.
        let mut declared: std::collections::HashSet<String> =
            [ALL, UNGROUPED].into_iter().map(str::to_string).collect();
        let mut child_refs: Vec<(String, String, Span)> = Vec::new();
        let mut vars_sections: Vec<(String, Span)> = Vec::new();
        for (index, raw_line) in text.lines().enumerate() {
            let number = index + 1;
            let indent = raw_line.chars().take_while(|c| c.is_whitespace()).count();
            let line = raw_line.trim();
            let col = indent + 1;
            let whole = self.span(number, col, line.chars().count());
            if line.is_empty() || line.starts_with(['#', ';']) {
                continue;
            }
            if line.starts_with('[') {
                let content = strip_comment(line);
                if let Some(inner) = content.strip_prefix('[').and_then(|c| c.strip_suffix(']')) {
                    let (name, kind) = match inner.split_once(':') {
                        Some((name, kind)) => (name, Some(kind)),
                        None => (inner, None),
                    };
                    if name.is_empty() || name.contains([']', ' ', '\t', '[']) {
                        self.diags.push(
                            Diagnostic::new(format!("invalid section header `{content}`"), whole)
                                .with_help("write `[group]`, `[group:children]` or `[group:vars]`, with no spaces"),
                        );
                        continue;
                    }
                    state = match kind {
                        None | Some("hosts") => State::Hosts,
                        Some("children") => State::Children,
                        Some("vars") => State::Vars,
                        Some(other) => {
                            let mut d = Diagnostic::new(
                                format!("section `[{inner}]` has unknown type `{other}`"),
                                whole,
                            );
                            if let Some(s) = did_you_mean(other, ["children", "vars"]) {
                                d = d.with_help(format!("did you mean `{s}`?"));
                            }
                            self.diags.push(d);
                            continue;
                        }
                    };
                    match state {
                        State::Vars => vars_sections.push((name.to_string(), whole)),
                        State::Hosts | State::Children => {
                            declared.insert(name.to_string());
                        }
                    }
                    group = name.to_string();
                    self.group(&group);
                    continue;
                }
                // `[::1]:22` and other host lines that start with `[` fall through.
            }
            match state {
                State::Hosts => self.ini_host_line(line, &group, number, col),
                State::Children => {
                    let name = strip_comment(line);
                    if name.is_empty() || name.contains([' ', '\t', ':', ']']) || name.contains('=')
                    {
                        self.diags.push(Diagnostic::new(
                            format!(
                                "expected a group name in `[{group}:children]`, found `{name}`"
                            ),
                            whole,
                        ));
                        continue;
                    }
                    let span = self.span(number, col, name.chars().count());
                    child_refs.push((group.clone(), name.to_string(), span));
                    self.add_child(&group.clone(), name, span);
                }
                State::Vars => {
                    let Some((key, value)) = line.split_once('=') else {
                        self.diags.push(Diagnostic::new(
                            format!("expected `key=value` in `[{group}:vars]`, found `{line}`"),
                            whole,
                        ));
                        continue;
                    };
                    let key = key.trim();
                    // As Ansible: the text after `=` is a Python literal when it reads as one
                    // (a `# comment` after it is Python's own), else the whole text, comment
                    // included, is the string.
                    let whole_value = value.trim();
                    let stripped = strip_comment(whole_value);
                    let literal = python_literal(stripped, self.file);
                    let (value, text) = if literal == Value::String(stripped.to_string()) {
                        (Value::String(whole_value.to_string()), whole_value)
                    } else {
                        (literal, stripped)
                    };
                    let at = line.find('=').unwrap_or(0) + 1;
                    let lead = line[at..].chars().take_while(|c| c.is_whitespace()).count();
                    let value_col = col + line[..at].chars().count() + lead;
                    let span = self.span(number, value_col, text.chars().count());
                    let var = Var { value, span };
                    self.group(&group).vars.insert(key.to_string(), var);
                }
            }
        }
        for (parent, child, span) in child_refs {
            if !declared.contains(&child) {
                self.diags.push(
                    Diagnostic::new(
                        format!("`[{parent}:children]` includes undefined group `{child}`"),
                        span,
                    )
                    .with_help(format!(
                        "declare it with a `[{child}]` section of hosts or a `[{child}:children]` section (Ansible refuses this inventory too)"
                    )),
                );
            }
        }
        for (name, span) in vars_sections {
            if !declared.contains(&name) {
                self.diags.push(
                    Diagnostic::new(
                        format!("`[{name}:vars]` is for group `{name}`, which no section declares"),
                        span,
                    )
                    .with_help(format!(
                        "add a `[{name}]` section with its hosts, or fix the group's name"
                    )),
                );
            }
        }
    }

    fn ini_host_line(&mut self, line: &str, group: &str, number: usize, col: usize) {
        let tokens = match shell_split(line) {
            Ok(tokens) => tokens,
            Err((message, at)) => {
                let span = self.span(number, col + at, 1);
                self.diags.push(Diagnostic::new(message, span));
                return;
            }
        };
        let Some((pattern, pattern_at)) = tokens.first() else {
            return;
        };
        let pattern_span = self.span(number, col + pattern_at, pattern.chars().count());
        let mut vars = Vec::new();
        for (token, at) in &tokens[1..] {
            let span = self.span(number, col + at, token.chars().count());
            match token.split_once('=') {
                Some((key, value)) if !key.is_empty() => {
                    let value_span = Span {
                        col: span.col + key.chars().count() as u32 + 1,
                        len: value.chars().count().max(1) as u32,
                        ..span
                    };
                    vars.push((
                        key.to_string(),
                        Var {
                            value: python_literal(value, self.file),
                            span: value_span,
                        },
                    ));
                }
                _ => self.diags.push(
                    Diagnostic::new(
                        format!("expected `key=value` after the host name, found `{token}`"),
                        span,
                    )
                    .with_help("host variables are written `name key=value key2=\"a value\"`"),
                ),
            }
        }
        self.add_pattern(pattern, pattern_span, group, vars);
    }

    /// Expand `pattern` (ranges, `:port`) and add every host it names.
    fn add_pattern(&mut self, pattern: &str, span: Span, group: &str, vars: Vec<(String, Var)>) {
        let (pattern, port) = split_port(pattern);
        let names = match expand_ranges(pattern) {
            Ok(names) => names,
            Err(message) => {
                self.diags.push(
                    Diagnostic::new(
                        format!("invalid host range in `{pattern}`: {message}"),
                        span,
                    )
                    .with_help("ranges are written `web[01:03]`, `db-[a:c]` or `n[0:10:2]`"),
                );
                return;
            }
        };
        let mut all_vars = Vec::new();
        if let Some(port) = port {
            all_vars.push((
                "ansible_port".to_string(),
                Var {
                    value: Value::from(port),
                    span,
                },
            ));
        }
        all_vars.extend(vars);
        for name in names {
            self.add_host(name, group, span, all_vars.clone());
        }
    }

    // --------------------------------------------------------------------------------- YAML

    fn yaml(&mut self, root: &yaml::Node) {
        let Kind::Map(entries) = &root.kind else {
            self.diags.push(Diagnostic::new(
                format!(
                    "expected a mapping of inventory groups (`all:`), found {}",
                    root.describe()
                ),
                root.span,
            ));
            return;
        };
        for (key, value) in entries {
            let Some(name) = self.yaml_name(key, "group") else {
                continue;
            };
            self.group(&name);
            if name != ALL {
                self.add_child(ALL, &name, key.span);
            }
            self.yaml_group(&name, value);
        }
    }

    fn yaml_name(&mut self, key: &yaml::Node, what: &str) -> Option<String> {
        match key.scalar_text() {
            Some(text) if !text.is_empty() => Some(text.to_string()),
            _ => {
                self.diags.push(Diagnostic::new(
                    format!("expected a {what} name, found {}", key.describe()),
                    key.span,
                ));
                None
            }
        }
    }

    fn yaml_map<'a>(
        &mut self,
        node: &'a yaml::Node,
        what: &str,
    ) -> Option<&'a [(yaml::Node, yaml::Node)]> {
        match &node.kind {
            Kind::Map(entries) => Some(entries),
            Kind::Null => None,
            _ => {
                self.diags.push(Diagnostic::new(
                    format!("expected {what}, found {}", node.describe()),
                    node.span,
                ));
                None
            }
        }
    }

    fn yaml_vars(&mut self, node: &yaml::Node, what: &str) -> Vec<(String, Var)> {
        let Some(entries) = self.yaml_map(node, what) else {
            return Vec::new();
        };
        let mut vars = Vec::new();
        for (key, value) in entries {
            if let Some(name) = self.yaml_name(key, "variable") {
                vars.push((
                    name,
                    Var {
                        value: yaml11(value),
                        span: value.span,
                    },
                ));
            }
        }
        vars
    }

    fn yaml_group(&mut self, name: &str, node: &yaml::Node) {
        let what = format!("group `{name}` to be a mapping of `hosts`, `vars` and `children`");
        let Some(entries) = self.yaml_map(node, &what) else {
            return;
        };
        for (key, value) in entries {
            match key.scalar_text() {
                // `hosts: web.example.com`: one host, as Ansible reads it.
                Some("hosts") if matches!(value.kind, Kind::Str(_)) => {
                    if let Some(pattern) = self.yaml_name(value, "host") {
                        self.add_pattern(&pattern, value.span, name, Vec::new());
                    }
                }
                Some("hosts") => {
                    let what = format!("a mapping of hosts in group `{name}`");
                    let Some(hosts) = self.yaml_map(value, &what) else {
                        continue;
                    };
                    for (host, host_vars) in hosts {
                        let Some(pattern) = self.yaml_name(host, "host") else {
                            continue;
                        };
                        let vars = self.yaml_vars(host_vars, "a mapping of host variables");
                        self.add_pattern(&pattern, host.span, name, vars);
                    }
                }
                Some("vars") => {
                    let vars = self.yaml_vars(value, "a mapping of group variables");
                    self.group(name).vars.extend(vars);
                }
                Some("children") => {
                    let what = format!("a mapping of child groups of `{name}`");
                    let Some(children) = self.yaml_map(value, &what) else {
                        continue;
                    };
                    for (child, child_node) in children {
                        let Some(child_name) = self.yaml_name(child, "group") else {
                            continue;
                        };
                        self.add_child(name, &child_name, child.span);
                        self.yaml_group(&child_name, child_node);
                    }
                }
                other => {
                    let word = other.unwrap_or_default();
                    let mut d = Diagnostic::new(
                        format!("unknown key `{word}` in inventory group `{name}`"),
                        key.span,
                    );
                    if let Some(s) = did_you_mean(word, ["hosts", "vars", "children"]) {
                        d = d.with_help(format!("did you mean `{s}`?"));
                    } else {
                        d = d.with_help("a group holds `hosts`, `vars` and `children`");
                    }
                    self.diags.push(d);
                }
            }
        }
    }

    // ------------------------------------------------------------------------------ resolve

    /// Each group's parents, `all` for top-level groups.
    fn parents(&self) -> IndexMap<&str, Vec<&str>> {
        let mut parents: IndexMap<&str, Vec<&str>> = self
            .groups
            .keys()
            .map(|g| (g.as_str(), Vec::new()))
            .collect();
        for (name, group) in &self.groups {
            for (child, _) in &group.children {
                let list = parents.entry(child.as_str()).or_default();
                if !list.contains(&name.as_str()) {
                    list.push(name.as_str());
                }
            }
        }
        for (name, list) in parents.iter_mut() {
            if *name != ALL && list.is_empty() {
                list.push(ALL);
            }
        }
        parents
    }

    /// Report each cycle among `children` once, as `a → b → a`, at the edge closing it.
    fn cycles(&mut self) -> bool {
        fn visit<'a>(
            group: &'a str,
            groups: &'a IndexMap<String, Group>,
            done: &mut Vec<&'a str>,
            stack: &mut Vec<&'a str>,
            found: &mut Vec<(String, Span)>,
        ) {
            stack.push(group);
            if let Some(g) = groups.get(group) {
                for (child, span) in &g.children {
                    if let Some(start) = stack.iter().position(|s| s == child) {
                        let mut cycle: Vec<&str> = stack[start..].to_vec();
                        cycle.push(child);
                        found.push((cycle.join(" → "), *span));
                    } else if !done.contains(&child.as_str()) {
                        visit(child, groups, done, stack, found);
                    }
                }
            }
            stack.pop();
            done.push(group);
        }
        let mut done = Vec::new();
        let mut found = Vec::new();
        for name in self.groups.keys() {
            if !done.contains(&name.as_str()) {
                visit(name, &self.groups, &mut done, &mut Vec::new(), &mut found);
            }
        }
        let any = !found.is_empty();
        for (cycle, span) in found {
            self.diags.push(Diagnostic::new(
                format!("cycle in inventory group `children`: {cycle}"),
                span,
            ));
        }
        any
    }

    fn resolve(&mut self, dir: &Path) -> Vec<Node> {
        if self.cycles() {
            return Vec::new();
        }
        let parents = self.parents();
        let mut depth: IndexMap<&str, usize> = IndexMap::new();
        for name in self.groups.keys() {
            group_depth(name, &parents, &mut depth);
        }
        let mut nodes = Vec::new();
        let mut diags = Vec::new();
        let mut warnings = Vec::new();
        let mut taken: std::collections::HashSet<String> = self
            .hosts
            .keys()
            .filter(|n| is_valid_name(n))
            .cloned()
            .collect();
        let priority = |group: &str| -> i64 {
            self.groups
                .get(group)
                .and_then(|g| g.vars.get("ansible_group_priority"))
                .and_then(|v| match &v.value {
                    Value::Number(n) => n.as_i64(),
                    Value::String(s) => s.trim().parse().ok(),
                    _ => None,
                })
                .unwrap_or(1)
        };
        for (name, host) in &self.hosts {
            // Roles: each listed group, then its ancestors.
            let mut groups: Vec<&str> = Vec::new();
            for g in &host.groups {
                ancestors(g, &parents, &mut groups);
            }
            let roles: Vec<String> = groups
                .iter()
                .filter(|g| **g != ALL && **g != UNGROUPED)
                .map(|g| g.to_string())
                .collect();
            if !groups.contains(&ALL) {
                groups.push(ALL);
            }
            // Ansible's order: depth, then `ansible_group_priority` (default 1; higher is
            // applied later, so wins), then name.
            let mut ordered = groups.clone();
            ordered.sort_by_key(|g| (depth.get(g).copied().unwrap_or(1), priority(g), *g));
            let mut vars: IndexMap<String, Var> = IndexMap::new();
            for g in ordered {
                if let Some(group) = self.groups.get(g) {
                    for (k, v) in &group.vars {
                        if k != "ansible_group_priority" {
                            vars.insert(k.clone(), v.clone());
                        }
                    }
                }
            }
            for (k, v) in &host.vars {
                vars.insert(k.clone(), v.clone());
            }
            if vars
                .get("ansible_connection")
                .is_some_and(|v| v.value == "local")
            {
                continue;
            }
            if name == LOCAL_NODE {
                diags.push(
                    Diagnostic::new("an inventory host cannot be named `local`", host.span)
                        .with_help(
                            "`local` is baton's node for this machine and always exists; rename the host (and keep its address in `ansible_host`)",
                        ),
                );
                continue;
            }
            // A host name baton cannot use as a node name (non-ASCII, a raw IPv6 address) is
            // mapped to one, the original kept as its address, with a warning.
            let node_name = if is_valid_name(name) {
                name.clone()
            } else {
                let mapped = valid_node_name(name, &taken);
                warnings.push(
                    Diagnostic::new(
                        format!("inventory host `{name}` is not a valid node name: it is node `{mapped}`"),
                        host.span,
                    )
                    .with_help(format!(
                        "select it as `{mapped}`; its address stays `{name}` unless `ansible_host` says otherwise"
                    )),
                );
                mapped
            };
            taken.insert(node_name.clone());
            let mut take = |keys: &[&str]| -> Option<Var> {
                let mut found = None;
                for key in keys {
                    if let Some(v) = vars.shift_remove(*key)
                        && found.is_none()
                        && !v.value.is_null()
                    {
                        found = Some(v);
                    }
                }
                found
            };
            // Both names set: the old one wins, as Ansible's ssh plugin reads its variable list
            // (`ansible_user`, then `ansible_ssh_user`; the last one defined wins).
            let host_var = take(&["ansible_ssh_host", "ansible_host"]);
            let port_var = take(&["ansible_ssh_port", "ansible_port"]);
            let user_var = take(&["ansible_ssh_user", "ansible_user"]);
            let key_var = take(&["ansible_ssh_private_key_file"]);
            let become_var = take(&["ansible_become"]);
            let become_user_var = take(&["ansible_become_user"]);
            let port = port_var.and_then(|v| match port(&v.value) {
                Ok(p) => Some(p),
                Err(message) => {
                    diags.push(Diagnostic::new(message, v.span));
                    None
                }
            });
            nodes.push(Node {
                name: node_name,
                span: host.span,
                host: host_var
                    .map(|v| text(&v.value))
                    .unwrap_or_else(|| name.clone()),
                port,
                user: user_var.map(|v| text(&v.value)),
                key: key_var.map(|v| key_path(&text(&v.value), dir)),
                proxy_jump: None,
                r#become: crate::types::Become {
                    enabled: become_var.map(|v| {
                        matches!(
                            text(&v.value).to_ascii_lowercase().as_str(),
                            "true" | "yes" | "on" | "1"
                        )
                    }),
                    user: become_user_var.map(|v| text(&v.value)),
                    password_secret: None,
                },
                roles,
                labels: IndexMap::new(),
                vars: vars.into_iter().map(|(k, v)| (k, v.value)).collect(),
            });
        }
        self.diags.extend(diags);
        self.warnings.extend(warnings);
        nodes
    }
}

/// A valid node name for an inventory host name: each character a name cannot hold becomes
/// `-` (`2001:db8::1` → `2001-db8--1`, `wéb1` → `w-b1`), never starting with `-` or `.`, made
/// unique among `taken` with a `-2`, `-3`… suffix.
fn valid_node_name(name: &str, taken: &std::collections::HashSet<String>) -> String {
    let mapped: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let mapped = mapped.trim_start_matches(['-', '.']);
    let base = if mapped.is_empty() { "host" } else { mapped };
    let base = if is_valid_name(base) {
        base.to_string()
    } else {
        format!("host-{base}")
    };
    let mut candidate = base.clone();
    let mut n = 2;
    while taken.contains(&candidate) {
        candidate = format!("{base}-{n}");
        n += 1;
    }
    candidate
}

/// `group` and its ancestors, depth first, each once, appended to `out`.
fn ancestors<'a>(
    group: &'a str,
    parents: &IndexMap<&'a str, Vec<&'a str>>,
    out: &mut Vec<&'a str>,
) {
    if out.contains(&group) {
        return;
    }
    out.push(group);
    for parent in parents.get(group).map(Vec::as_slice).unwrap_or_default() {
        ancestors(parent, parents, out);
    }
}

/// Distance from `all` along the longest chain of parents, as Ansible's `Group.depth`. The
/// graph is acyclic here (cycles were reported first).
fn group_depth<'a>(
    group: &'a str,
    parents: &IndexMap<&'a str, Vec<&'a str>>,
    memo: &mut IndexMap<&'a str, usize>,
) -> usize {
    if group == ALL {
        return 0;
    }
    if let Some(d) = memo.get(group) {
        return *d;
    }
    let d = parents
        .get(group)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|p| group_depth(p, parents, memo) + 1)
        .max()
        .unwrap_or(1);
    memo.insert(group, d);
    d
}

/// A scalar as text: strings as they are, other values as JSON.
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn port(value: &Value) -> Result<u16, String> {
    let n = match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    match n {
        Some(n) if (1..=65535).contains(&n) => Ok(n as u16),
        Some(n) => Err(format!("port {n} is out of range (1 to 65535)")),
        None => Err(format!("`{}` is not a port (1 to 65535)", text(value))),
    }
}

/// `~/x` → `$HOME/x`; relative paths → under the inventory's directory.
fn key_path(path: &str, dir: &Path) -> PathBuf {
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty());
    let expanded = match (path.strip_prefix("~/"), path == "~", home) {
        (Some(rest), _, Some(home)) => PathBuf::from(home).join(rest),
        (None, true, Some(home)) => PathBuf::from(home),
        _ => PathBuf::from(path),
    };
    if expanded.is_absolute() {
        expanded
    } else {
        dir.join(expanded)
    }
}

/// `text` up to a `#` that starts a comment (at the start or after whitespace, outside quotes),
/// trimmed.
fn strip_comment(text: &str) -> &str {
    let mut quote = None;
    let mut prev_space = true;
    for (i, c) in text.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '#' && prev_space => return text[..i].trim_end(),
            None => {}
        }
        prev_space = c.is_whitespace();
    }
    text.trim_end()
}

/// Split a host line as POSIX `shlex.split(line, comments=True)`: whitespace separates words,
/// quotes group and are removed, `\` escapes, `#` outside quotes ends the line. Each word comes
/// with the 0-based character column where it starts. An unclosed quote is an error at the quote.
fn shell_split(line: &str) -> Result<Vec<(String, usize)>, (String, usize)> {
    let mut words = Vec::new();
    let mut word: Option<(String, usize)> = None;
    let mut chars = line.chars().enumerate().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if let Some(w) = word.take() {
                    words.push(w);
                }
            }
            '#' => break,
            '\'' | '"' => {
                let w = word.get_or_insert_with(|| (String::new(), i));
                let mut closed = false;
                while let Some((_, d)) = chars.next() {
                    if d == c {
                        closed = true;
                        break;
                    }
                    if c == '"'
                        && d == '\\'
                        && let Some((_, e @ ('"' | '\\'))) = chars.peek()
                    {
                        w.0.push(*e);
                        chars.next();
                        continue;
                    }
                    w.0.push(d);
                }
                if !closed {
                    return Err(("no closing quotation".to_string(), i));
                }
            }
            '\\' => {
                let w = word.get_or_insert_with(|| (String::new(), i));
                if let Some((_, next)) = chars.next() {
                    w.0.push(next);
                }
            }
            c => word.get_or_insert_with(|| (String::new(), i)).0.push(c),
        }
    }
    words.extend(word);
    Ok(words)
}

/// `name:port` → (`name`, port), as Ansible's `parse_address`; `[::1]:22` is an IPv6 address
/// with a port. A `:` inside a `[…]` range is not a port separator.
fn split_port(pattern: &str) -> (&str, Option<u16>) {
    if let Some((head, tail)) = pattern.rsplit_once(':')
        && !tail.is_empty()
        && tail.bytes().all(|b| b.is_ascii_digit())
        && let Ok(port) = tail.parse::<u16>()
    {
        let mut depth = 0i32;
        let colon_outside = head.chars().any(|c| {
            match c {
                '[' => depth += 1,
                ']' => depth -= 1,
                _ => {}
            }
            c == ':' && depth == 0
        });
        if let Some(v6) = head.strip_prefix('[').and_then(|h| h.strip_suffix(']'))
            && v6.matches(':').count() >= 2
        {
            return (v6, Some(port));
        }
        if !colon_outside {
            return (head, Some(port));
        }
    }
    (pattern, None)
}

/// Expand every `[beg:end]` / `[beg:end:step]` range of a host pattern, as Ansible's
/// `expand_hostname_range`: numeric ranges keep leading zeros as a width (both ends must share
/// it); single letters form alphabetic ranges. A pattern without a range is itself.
pub fn expand_ranges(pattern: &str) -> Result<Vec<String>, String> {
    let Some(open) = pattern.find('[') else {
        return Ok(vec![pattern.to_string()]);
    };
    let Some(close) = pattern[open..].find(']').map(|c| open + c) else {
        return Err("`[` without `]`".to_string());
    };
    let (head, range, tail) = (
        &pattern[..open],
        &pattern[open + 1..close],
        &pattern[close + 1..],
    );
    if !range.contains(':') {
        return Err(format!("`[{range}]` is not a range `[begin:end]`"));
    }
    let bounds: Vec<&str> = range.split(':').collect();
    if bounds.len() > 3 {
        return Err("a range is begin:end or begin:end:step".to_string());
    }
    let beg = if bounds[0].is_empty() { "0" } else { bounds[0] };
    let end = bounds[1];
    if end.is_empty() {
        return Err("a range needs an end value".to_string());
    }
    let step: usize = match bounds.get(2) {
        None => 1,
        Some(s) => match s.parse() {
            Ok(n) if n > 0 => n,
            _ => return Err(format!("step `{s}` is not a positive integer")),
        },
    };
    let items: Vec<String> = if let (Some(b), Some(e)) = (letter(beg), letter(end)) {
        if b > e {
            return Err(format!("begin `{beg}` comes after end `{end}`"));
        }
        LETTERS[b..=e]
            .chars()
            .step_by(step)
            .map(String::from)
            .collect()
    } else {
        let (Ok(b), Ok(e)) = (beg.parse::<u64>(), end.parse::<u64>()) else {
            return Err(format!(
                "`{beg}:{end}` is neither a numeric nor a single-letter range"
            ));
        };
        let width = if beg.len() > 1 && beg.starts_with('0') {
            if beg.len() != end.len() {
                return Err("begin and end must have the same width".to_string());
            }
            beg.len()
        } else {
            0
        };
        if b > e {
            return Err(format!("begin {b} is greater than end {e}"));
        }
        if (e - b) / step as u64 > 100_000 {
            return Err("the range names more than 100000 hosts".to_string());
        }
        (b..=e)
            .step_by(step)
            .map(|n| format!("{n:0width$}"))
            .collect()
    };
    let mut out = Vec::new();
    for item in items {
        out.extend(expand_ranges(&format!("{head}{item}{tail}"))?);
    }
    Ok(out)
}

/// Python's `string.ascii_letters`, the alphabet of Ansible's letter ranges.
const LETTERS: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

fn letter(text: &str) -> Option<usize> {
    let mut chars = text.chars();
    let c = chars.next()?;
    if chars.next().is_some() {
        return None;
    }
    LETTERS.find(c)
}

/// A YAML value as Ansible reads inventories: PyYAML's YAML 1.1 resolution of plain scalars
/// (`yes`/`on` are booleans, `0644` is octal, `1_000` is a thousand, `1:30` is ninety, a float
/// needs a dot); quoted scalars stay strings; collections recurse.
fn yaml11(node: &yaml::Node) -> Value {
    match &node.kind {
        Kind::Seq(items) => Value::Array(items.iter().map(yaml11).collect()),
        Kind::Map(entries) => Value::Object(
            entries
                .iter()
                .map(|(k, v)| (k.scalar_text().unwrap_or_default().to_string(), yaml11(v)))
                .collect(),
        ),
        // What YAML 1.1 does not resolve is a string (`08`, `1e3`), even where YAML 1.2 reads
        // a number; only the infinities and NaN keep the core reading.
        _ if node.plain && !matches!(node.kind, Kind::Float(f) if !f.is_finite()) => {
            match node.raw.as_deref() {
                Some(raw) => yaml11_scalar(raw).unwrap_or_else(|| Value::String(raw.to_string())),
                None => to_json(node),
            }
        }
        _ => to_json(node),
    }
}

/// YAML 1.1's resolution of a plain scalar, when it differs from a string.
fn yaml11_scalar(text: &str) -> Option<Value> {
    match text {
        "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "true" | "True" | "TRUE" => {
            return Some(Value::Bool(true));
        }
        "no" | "No" | "NO" | "off" | "Off" | "OFF" | "false" | "False" | "FALSE" => {
            return Some(Value::Bool(false));
        }
        "" | "~" | "null" | "Null" | "NULL" => return Some(Value::Null),
        _ => {}
    }
    let (negative, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let sign = |n: i64| if negative { -n } else { n };
    let clean = body.replace('_', "");
    let radix = |digits: &str, radix: u32| {
        (!digits.is_empty())
            .then(|| i64::from_str_radix(digits, radix).ok())
            .flatten()
    };
    if body.is_empty() || body.starts_with('_') {
        return None;
    }
    if let Some(bits) = clean.strip_prefix("0b") {
        return radix(bits, 2).map(|n| Value::from(sign(n)));
    }
    if let Some(hex) = clean.strip_prefix("0x") {
        return radix(hex, 16).map(|n| Value::from(sign(n)));
    }
    if clean.len() > 1 && clean.starts_with('0') && clean.bytes().all(|b| b.is_ascii_digit()) {
        return radix(&clean[1..], 8).map(|n| Value::from(sign(n)));
    }
    if clean.bytes().all(|b| b.is_ascii_digit()) {
        return clean.parse::<i64>().ok().map(|n| Value::from(sign(n)));
    }
    // Sexagesimal: `1:30` = 90 (base 60, each part after the first below 60).
    if clean.contains(':') && !clean.starts_with('0') {
        let parts: Vec<&str> = clean.split(':').collect();
        let valid = parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            && parts[1..]
                .iter()
                .all(|p| p.len() <= 2 && p.parse::<u8>().is_ok_and(|v| v < 60));
        if valid {
            let n = parts.iter().try_fold(0i64, |acc, p| {
                acc.checked_mul(60)?.checked_add(p.parse().ok()?)
            });
            return n.map(|n| Value::from(sign(n)));
        }
        return None;
    }
    // A float needs a dot in YAML 1.1 (`1e3` is a string), and an exponent needs its sign.
    let (mantissa, exponent) = match clean.find(['e', 'E']) {
        Some(i) => (&clean[..i], Some(&clean[i + 1..])),
        None => (clean.as_str(), None),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = mantissa.split_once('.').is_some_and(|(int, frac)| {
        digits(int) && digits(frac) && !(int.is_empty() && frac.is_empty())
    });
    let exponent_ok = exponent.is_none_or(|e| {
        e.strip_prefix(['+', '-'])
            .is_some_and(|d| !d.is_empty() && digits(d))
    });
    if mantissa_ok && exponent_ok {
        let f: f64 = clean.parse().ok()?;
        let f = if negative { -f } else { f };
        return serde_json::Number::from_f64(f).map(Value::Number);
    }
    None
}

/// An INI value read as Ansible's `ast.literal_eval` would, else the string itself.
pub(crate) fn python_literal(text: &str, file: FileId) -> Value {
    let t = text.trim();
    match t {
        "True" => return Value::Bool(true),
        "False" => return Value::Bool(false),
        "None" => return Value::Null,
        _ => {}
    }
    if let Some(n) = python_int(t) {
        return Value::from(n);
    }
    if is_python_float(t)
        && let Ok(f) = t.replace('_', "").parse::<f64>()
        && let Some(n) = serde_json::Number::from_f64(f)
    {
        return Value::Number(n);
    }
    if t.len() >= 2
        && ((t.starts_with('"') && t.ends_with('"')) || (t.starts_with('\'') && t.ends_with('\'')))
    {
        return Value::String(unescape(&t[1..t.len() - 1]));
    }
    if (t.starts_with('[') && t.ends_with(']')) || (t.starts_with('{') && t.ends_with('}')) {
        // Python list and dict literals are YAML flow collections.
        if let Ok(root) = yaml::parse(&format!("v: {t}\n"), file)
            && let Kind::Map(entries) = &root.kind
            && let Some((_, value)) = entries.first()
        {
            return to_json(value);
        }
    }
    Value::String(text.to_string())
}

fn python_int(t: &str) -> Option<i64> {
    let (negative, body) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let underscores_ok =
        |s: &str| !s.is_empty() && !s.starts_with('_') && !s.ends_with('_') && !s.contains("__");
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d.strip_prefix('_').unwrap_or(d))
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d.strip_prefix('_').unwrap_or(d))
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d.strip_prefix('_').unwrap_or(d))
    } else {
        // Python rejects leading zeros in decimal literals (`0644` stays a string).
        if body.len() > 1
            && body.starts_with('0')
            && !body.trim_start_matches(['0', '_']).is_empty()
        {
            return None;
        }
        if !body.bytes().all(|b| b.is_ascii_digit() || b == b'_') {
            return None;
        }
        (10, body)
    };
    if !underscores_ok(digits) {
        return None;
    }
    let n = i64::from_str_radix(&digits.replace('_', ""), radix).ok()?;
    Some(if negative { -n } else { n })
}

fn is_python_float(t: &str) -> bool {
    let body = t.strip_prefix(['+', '-']).unwrap_or(t);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let digits = |s: &str| {
        s.bytes().all(|b| b.is_ascii_digit() || b == b'_')
            && !s.starts_with('_')
            && !s.ends_with('_')
    };
    let mantissa_ok = match mantissa.split_once('.') {
        Some((int, frac)) => !(int.is_empty() && frac.is_empty()) && digits(int) && digits(frac),
        None => exponent.is_some() && !mantissa.is_empty() && digits(mantissa),
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    mantissa_ok && exponent_ok
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('0') => out.push('\0'),
            Some(other @ ('\\' | '\'' | '"')) => out.push(other),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_expand_as_ansible() {
        let cases: &[(&str, &[&str])] = &[
            ("web", &["web"]),
            ("web[01:03]", &["web01", "web02", "web03"]),
            ("web[1:3]", &["web1", "web2", "web3"]),
            ("db-[a:c]", &["db-a", "db-b", "db-c"]),
            ("n[0:6:2].x", &["n0.x", "n2.x", "n4.x", "n6.x"]),
            ("[:2]h", &["0h", "1h", "2h"]),
            ("r[1:2]c[a:b]", &["r1ca", "r1cb", "r2ca", "r2cb"]),
            ("w[8:11]", &["w8", "w9", "w10", "w11"]),
            ("w[08:11]", &["w08", "w09", "w10", "w11"]),
        ];
        for (pattern, expected) in cases {
            assert_eq!(expand_ranges(pattern).unwrap(), *expected, "{pattern}");
        }
        for bad in [
            "web[01:3]",
            "web[3:1]",
            "web[1:]",
            "web[1:2:0]",
            "web[1:2",
            "web[a:1]",
            "web[x]",
            "w[1:2:3:4]",
        ] {
            assert!(expand_ranges(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn values_are_python_literals() {
        let cases: &[(&str, Value)] = &[
            ("42", Value::from(42)),
            ("-7", Value::from(-7)),
            ("1_000", Value::from(1000)),
            ("0x1F", Value::from(31)),
            ("0644", Value::from("0644")),
            ("0", Value::from(0)),
            ("1.5", Value::from(1.5)),
            ("1e3", Value::from(1000.0)),
            ("True", Value::Bool(true)),
            ("False", Value::Bool(false)),
            ("true", Value::from("true")),
            ("yes", Value::from("yes")),
            ("None", Value::Null),
            ("'42'", Value::from("42")),
            ("\"a b\"", Value::from("a b")),
            ("[1, 'a']", serde_json::json!([1, "a"])),
            ("{'k': 1}", serde_json::json!({"k": 1})),
            ("10.0.0.1", Value::from("10.0.0.1")),
            ("hello world", Value::from("hello world")),
            ("[oops", Value::from("[oops")),
        ];
        for (text, expected) in cases {
            assert_eq!(&python_literal(text, FileId(0)), expected, "{text}");
        }
    }

    #[test]
    fn host_lines_split_like_a_shell() {
        let cases: &[(&str, &[(&str, usize)])] = &[
            ("web01 a=1", &[("web01", 0), ("a=1", 6)]),
            (
                "h  k=\"quoted value\" j='x y'",
                &[("h", 0), ("k=quoted value", 3), ("j=x y", 20)],
            ),
            ("h a=1 # comment", &[("h", 0), ("a=1", 2)]),
            ("h a=\"x\\\"y\"", &[("h", 0), ("a=x\"y", 2)]),
        ];
        for (line, expected) in cases {
            let got = shell_split(line).unwrap();
            let got: Vec<(&str, usize)> = got.iter().map(|(w, i)| (w.as_str(), *i)).collect();
            assert_eq!(got, *expected, "{line}");
        }
        assert_eq!(shell_split("h a=\"open").unwrap_err().1, 4);
    }

    #[test]
    fn ports_split_off_host_patterns() {
        let cases: &[(&str, (&str, Option<u16>))] = &[
            ("web01", ("web01", None)),
            ("web01:2222", ("web01", Some(2222))),
            ("web[01:03]", ("web[01:03]", None)),
            ("web[01:03]:22", ("web[01:03]", Some(22))),
            ("[::1]:22", ("::1", Some(22))),
            ("web:99999", ("web:99999", None)),
        ];
        for (pattern, expected) in cases {
            assert_eq!(split_port(pattern), *expected, "{pattern}");
        }
    }

    #[test]
    fn format_is_chosen_by_extension_then_content() {
        let cases: &[(&str, &str, Format)] = &[
            ("hosts.yml", "[web]\n", Format::Yaml),
            ("hosts.YAML", "", Format::Yaml),
            ("hosts.ini", "all:\n", Format::Ini),
            ("hosts", "# c\n\nall:\n  hosts: {}\n", Format::Yaml),
            ("hosts", "---\nall: {}\n", Format::Yaml),
            ("hosts", "[web]\nweb01\n", Format::Ini),
            ("hosts", "web01:2222\n", Format::Ini),
        ];
        for (path, text, expected) in cases {
            assert_eq!(Format::detect(Path::new(path), text), *expected, "{path}");
        }
    }

    #[test]
    fn key_paths_resolve_against_the_inventory() {
        let dir = Path::new("/srv/inv");
        assert_eq!(key_path("keys/id", dir), PathBuf::from("/srv/inv/keys/id"));
        assert_eq!(key_path("/k/id", dir), PathBuf::from("/k/id"));
        if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
            assert_eq!(
                key_path("~/.ssh/id", dir),
                PathBuf::from(home).join(".ssh/id")
            );
        }
    }
}

//! baton.yaml (and its includes) → [`Project`]: file reading, include merging and dispatch to
//! the per-section decoders. Every problem is collected; decoding never stops at the first.

pub(crate) mod keys;
mod pipeline;
mod sections;
mod values;

use std::path::{Path, PathBuf};

pub(crate) use values::{is_valid_name, to_json};

use indexmap::IndexMap;

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::span::{Sources, Span};
use crate::types::Project;
use crate::yaml::{self, Kind, Node};

use values::Decoder;

/// Top-level sections that map names to definitions, with the word for one definition. They
/// merge across included files; the same name in two places is an error.
const NAMED_SECTIONS: &[(&str, &str)] = &[
    ("vars", "var"),
    ("nodes", "node"),
    ("environments", "environment"),
    ("pipelines", "pipeline"),
    ("configs", "config"),
    ("resources", "resource"),
    ("outputs", "output"),
    ("checks", "check"),
    ("alerts", "alert"),
    ("notifications", "notification"),
];

/// What the error for an empty project file suggests writing.
const MINIMAL_PROJECT_HELP: &str = "a minimal project is:\n\n    project: NAME\n    pipelines:\n      build:\n        stages:\n          test: { run: make test }\n\n  (`baton init` writes a starter file)";

/// The diagnostic for a file that cannot be used, placed at the offending byte when the problem
/// is inside the file (bad UTF-8, a NUL byte), else at `referenced_at` (the `include:` or
/// `inventory:` naming it).
fn unreadable(
    sources: &mut Sources,
    path: &Path,
    what: &str,
    err: crate::files::ReadError,
    referenced_at: Option<Span>,
) -> Diagnostic {
    let message = format!("{what} {}: {}", path.display(), err.message);
    match (err.at, err.text) {
        (Some((line, col)), Some(text)) => {
            let id = sources.add(path.to_path_buf(), text);
            Diagnostic::new(
                message,
                Span {
                    file: id,
                    line,
                    col,
                    len: 1,
                },
            )
            .with_help("save the file as UTF-8 text")
        }
        _ => match referenced_at {
            Some(span) => Diagnostic::new(message, span),
            None => Diagnostic::global(message),
        },
    }
}

/// Sections only the main file may hold.
const MAIN_ONLY: &[&str] = &["project", "include"];

/// What decoding produced: the project (possibly partial), the problems found, and every
/// mapping key written anywhere, so that reference checks on a partial project do not report a
/// thing as missing when it is written but failed to decode.
pub(crate) struct Decoded {
    pub project: Project,
    pub problems: Vec<Diagnostic>,
    pub declared: std::collections::HashSet<String>,
}

/// Read and decode. `Err` only when nothing could be decoded at all (unreadable or unparsable
/// main file); otherwise every problem is in `Decoded::problems`.
pub(crate) fn load_files(path: &Path) -> Result<Decoded, Diagnostics> {
    let mut sources = Sources::default();
    let text = match crate::files::read_text(path) {
        Ok(text) => text,
        Err(err) => {
            let item = unreadable(&mut sources, path, "cannot read", err, None);
            return Err(Diagnostics {
                items: vec![item],
                sources,
            });
        }
    };
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let main_id = sources.add(path.to_path_buf(), text);
    let mut dec = Decoder::default();
    let main = match yaml::parse(sources.text(main_id), main_id) {
        Ok(node) => node,
        Err(items) => return Err(Diagnostics { items, sources }),
    };
    if matches!(&main.kind, Kind::Map(entries) if entries.is_empty()) {
        return Err(Diagnostics {
            items: vec![
                Diagnostic::global(format!(
                    "{} is empty: a project file needs at least `project:`",
                    path.display()
                ))
                .with_help(MINIMAL_PROJECT_HELP),
            ],
            sources,
        });
    }

    let mut documents = vec![main];
    for file in include_files(&mut dec, &documents[0], &dir, path) {
        let text = match crate::files::read_text(&file.value) {
            Ok(text) => text,
            Err(err) => {
                let item = unreadable(
                    &mut sources,
                    &file.value,
                    "cannot read included file",
                    err,
                    Some(file.span),
                );
                dec.error(item);
                continue;
            }
        };
        let id = sources.add(file.value, text);
        match yaml::parse(sources.text(id), id) {
            Ok(node) => documents.push(node),
            Err(items) => dec.diags.extend(items),
        }
    }

    let mut project = Project {
        root: std::fs::canonicalize(&dir).unwrap_or_else(|_| dir.clone()),
        file: std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()),
        ..Project::default()
    };
    let sections = merge(&mut dec, &documents);
    let written = decode_sections(&mut dec, &sections, &mut project);
    if let Some(inventory) = project.inventory.clone() {
        merge_inventory(
            &mut dec,
            &mut sources,
            &dir,
            &inventory,
            &mut project,
            &written,
        );
    }

    let mut declared = std::collections::HashSet::new();
    for document in &documents {
        collect_keys(document, &mut declared);
    }
    project.sources = sources;
    Ok(Decoded {
        project,
        problems: dec.diags,
        declared,
    })
}

fn collect_keys(node: &Node, keys: &mut std::collections::HashSet<String>) {
    match &node.kind {
        Kind::Map(entries) => {
            for (key, value) in entries {
                if let Some(text) = key.scalar_text() {
                    keys.insert(text.to_string());
                }
                collect_keys(value, keys);
            }
        }
        Kind::Seq(items) => items.iter().for_each(|item| collect_keys(item, keys)),
        _ => {}
    }
}

/// The files named by the main file's `include:` globs, in glob order, relative to its directory.
fn include_files(
    dec: &mut Decoder,
    main: &Node,
    dir: &Path,
    main_path: &Path,
) -> Vec<crate::span::Spanned<PathBuf>> {
    let Kind::Map(entries) = &main.kind else {
        return Vec::new();
    };
    let Some((_, include)) = entries
        .iter()
        .find(|(k, _)| k.scalar_text() == Some("include"))
    else {
        return Vec::new();
    };
    let main_canonical = std::fs::canonicalize(main_path).ok();
    let mut files = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for pattern in dec.strings(include) {
        let mut matched = match crate::files::glob_files(dir, &pattern.value) {
            Ok(paths) => paths,
            Err(err) => {
                dec.error(Diagnostic::new(
                    format!("invalid include glob: {err}"),
                    pattern.span,
                ));
                continue;
            }
        };
        matched.retain(|p| std::fs::canonicalize(p).ok() != main_canonical);
        if matched.is_empty() {
            dec.error(Diagnostic::new(
                format!("include `{}` matches no file", pattern.value),
                pattern.span,
            ));
        }
        for path in matched {
            // Two globs (or two paths) naming one real file include it once.
            let canonical = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
            if seen.insert(canonical) {
                files.push(crate::span::Spanned::new(path, pattern.span));
            }
        }
    }
    files
}

/// One top-level section gathered from every file: for named sections the entries of all files
/// (duplicates reported), for the others the single value.
pub(crate) struct Sections<'a> {
    pub named: IndexMap<&'static str, Vec<(&'a Node, &'a Node)>>,
    pub single: IndexMap<&'static str, &'a Node>,
}

fn merge<'a>(dec: &mut Decoder, documents: &'a [Node]) -> Sections<'a> {
    let mut sections = Sections {
        named: IndexMap::new(),
        single: IndexMap::new(),
    };
    let mut single_keys: IndexMap<&'static str, Span> = IndexMap::new();
    // Per named section, where each name was first written: a hash lookup per entry keeps
    // merging linear in the number of entries (a generated `vars:` may hold 100,000).
    let mut first_keys: IndexMap<&'static str, std::collections::HashMap<&'a str, Span>> =
        IndexMap::new();
    for (index, document) in documents.iter().enumerate() {
        let Some(fields) = dec.fields(document, Some(keys::TOP_KEYS), "the top level") else {
            continue;
        };
        for &keys::Key(section, _) in keys::TOP_KEYS {
            let Some(value) = fields.get(section) else {
                continue;
            };
            let key_span = fields.key_span(section).unwrap_or(value.span);
            if index > 0 && MAIN_ONLY.contains(&section) {
                dec.error(Diagnostic::new(
                    format!("`{section}` may only appear in the main project file"),
                    key_span,
                ));
                continue;
            }
            if let Some((_, word)) = NAMED_SECTIONS.iter().find(|(s, _)| *s == section) {
                let Kind::Map(entries) = &value.kind else {
                    dec.mismatch(value, &format!("a mapping of {section}"));
                    continue;
                };
                let merged = sections.named.entry(section).or_default();
                let firsts = first_keys.entry(section).or_default();
                for (key, value) in entries {
                    // Keys repeated inside one file are the YAML layer's duplicate-key error.
                    let first = key.scalar_text().and_then(|text| match firsts.get(text) {
                        Some(first) if first.file != key.span.file => Some(*first),
                        Some(_) => None,
                        None => {
                            firsts.insert(text, key.span);
                            None
                        }
                    });
                    if let Some(first) = first {
                        dec.error(
                            Diagnostic::new(
                                format!(
                                    "{word} `{}` is defined twice",
                                    key.scalar_text().unwrap_or_default()
                                ),
                                key.span,
                            )
                            .with_note(first, "first defined here"),
                        );
                        continue;
                    }
                    merged.push((key, value));
                }
            } else if let Some(first) = single_keys.get(section) {
                dec.error(
                    Diagnostic::new(format!("`{section}` is defined in two files"), key_span)
                        .with_note(*first, "first defined here"),
                );
            } else {
                single_keys.insert(section, key_span);
                sections.single.insert(section, value);
            }
        }
    }
    sections
}

/// The keys written (non-null) in each `nodes:` entry, so an inventory host of the same name
/// keeps the fields baton.yaml does not set.
type WrittenKeys = IndexMap<String, Vec<String>>;

fn decode_sections(dec: &mut Decoder, s: &Sections, project: &mut Project) -> WrittenKeys {
    let mut written = WrittenKeys::new();
    let named = |section: &str| s.named.get(section).map(Vec::as_slice).unwrap_or_default();
    if let Some(node) = s.single.get("project") {
        project.name = dec.string(node);
    }
    if let Some(node) = s.single.get("inventory") {
        project.inventory = dec.string(node);
    }
    for (key, value) in named("vars") {
        if let Some(name) = key.scalar_text() {
            project
                .vars
                .insert(name.to_string(), values::to_json(value));
        }
    }
    if let Some(node) = s.single.get("ssh") {
        project.ssh = sections::ssh(dec, node);
    }
    if let Some(node) = s.single.get("monitoring") {
        project.monitoring = sections::monitoring(dec, node);
    }
    if let Some(node) = s.single.get("secrets") {
        project.secrets = sections::secrets(dec, node);
    }
    if let Some(node) = s.single.get("server") {
        project.server = sections::server(dec, node);
    }
    let check_interval = project.monitoring.interval;
    for (key, value) in named("nodes") {
        if key.scalar_text() == Some(crate::types::LOCAL_NODE) {
            project.local = sections::local_node(dec, value);
            continue;
        }
        if let Some(node) = sections::node(dec, key, value) {
            let keys = match &value.kind {
                Kind::Map(entries) => entries
                    .iter()
                    .filter(|(_, v)| !v.is_null())
                    .filter_map(|(k, _)| k.scalar_text().map(str::to_string))
                    .collect(),
                _ => Vec::new(),
            };
            written.insert(node.name.clone(), keys);
            project.nodes.insert(node.name.clone(), node);
        }
    }
    for (key, value) in named("environments") {
        if let Some(env) = sections::environment(dec, key, value) {
            project.environments.insert(env.name.clone(), env);
        }
    }
    for (key, value) in named("pipelines") {
        if let Some(p) = pipeline::pipeline(dec, key, value) {
            project.pipelines.insert(p.name.clone(), p);
        }
    }
    for (key, value) in named("configs") {
        if let Some(c) = sections::config(dec, key, value) {
            project.configs.insert(c.name.clone(), c);
        }
    }
    for (key, value) in named("resources") {
        if let Some(r) = sections::resource(dec, key, value) {
            project.resources.insert(r.id.clone(), r);
        }
    }
    for (key, value) in named("outputs") {
        let name = dec.name(key, "output");
        let text = dec.template(value);
        if let (Some(name), Some(text)) = (name, text) {
            project.outputs.insert(name, text);
        }
    }
    for (key, value) in named("checks") {
        if let Some(c) = sections::check(dec, key, value, check_interval) {
            project.checks.insert(c.name.clone(), c);
        }
    }
    for (key, value) in named("alerts") {
        if let Some(a) = sections::alert(dec, key, value) {
            project.alerts.insert(a.name.clone(), a);
        }
    }
    for (key, value) in named("notifications") {
        if let Some(n) = sections::notification(dec, key, value) {
            project.notifications.insert(n.name.clone(), n);
        }
    }
    written
}

/// Read the `inventory:` file (relative to the project directory) and merge its hosts into
/// `project.nodes`: inventory hosts first, in inventory order, then the other `nodes:` entries.
/// For a name in both, the fields written in `nodes:` win, roles are the union (inventory's
/// first), and labels and vars merge with baton.yaml's values winning.
fn merge_inventory(
    dec: &mut Decoder,
    sources: &mut Sources,
    dir: &Path,
    inventory: &crate::span::Spanned<String>,
    project: &mut Project,
    written: &WrittenKeys,
) {
    let path = dir.join(&inventory.value);
    let text = match crate::files::read_text(&path) {
        Ok(text) => text,
        Err(err) => {
            let item = unreadable(
                sources,
                &path,
                "cannot read inventory file",
                err,
                Some(inventory.span),
            );
            dec.error(item);
            return;
        }
    };
    let id = sources.add(path.clone(), text);
    // Key paths resolve against the inventory's real directory, whatever the current one.
    let anchored = project.root.join(&inventory.value);
    let hosts = match crate::inventory::parse_with_warnings(sources.text(id), id, &anchored) {
        Ok((hosts, warnings)) => {
            project.warnings.extend(warnings);
            hosts
        }
        Err(items) => {
            dec.diags.extend(items);
            return;
        }
    };
    let mut declared = std::mem::take(&mut project.nodes);
    for mut node in hosts {
        if let Some(own) = declared.shift_remove(&node.name) {
            let keys = written
                .get(&node.name)
                .map(Vec::as_slice)
                .unwrap_or_default();
            let has = |key: &str| keys.iter().any(|k| k == key);
            if has("host") {
                node.host = own.host;
            }
            if has("port") {
                node.port = own.port;
            }
            if has("user") {
                node.user = own.user;
            }
            if has("key") {
                node.key = own.key;
            }
            for role in own.roles {
                if !node.roles.contains(&role) {
                    node.roles.push(role);
                }
            }
            node.labels.extend(own.labels);
            node.vars.extend(own.vars);
            node.span = own.span;
        }
        project.nodes.insert(node.name.clone(), node);
    }
    project.nodes.extend(declared);
}

/// Problems sorted by place, so the output reads top to bottom through each file; problems with
/// no place come first.
pub(crate) fn in_file_order(mut items: Vec<Diagnostic>) -> Vec<Diagnostic> {
    items.sort_by_key(|d| d.span.map(|s| (s.file, s.line, s.col)));
    items
}

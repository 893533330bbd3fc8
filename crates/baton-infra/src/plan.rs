//! The plan: render the desired attributes, refresh the real state of what the state knows,
//! and compare desired, stored and real, per resource.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use baton_model::diagnostic::did_you_mean;
use baton_model::{Diagnostic as ModelDiagnostic, Diagnostics};
use baton_store::ResourceState;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::Infra;
use crate::error::InfraError;
use crate::provider::{Attrs, ReadRequest, ResourceType, Target};
use crate::render::{self, is_unknown};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    NoOp,
    Create,
    Update,
    Replace,
    Destroy,
}

impl Action {
    /// The plan grammar Terraform users read: `+`, `~`, `-/+`, `-`.
    pub fn symbol(self) -> &'static str {
        match self {
            Action::NoOp => " ",
            Action::Create => "+",
            Action::Update => "~",
            Action::Replace => "-/+",
            Action::Destroy => "-",
        }
    }
    pub fn verb(self) -> &'static str {
        match self {
            Action::NoOp => "unchanged",
            Action::Create => "create",
            Action::Update => "update",
            Action::Replace => "replace",
            Action::Destroy => "destroy",
        }
    }
    /// The action named by [`Action::verb`] (a resource step's label).
    pub fn from_verb(verb: &str) -> Option<Action> {
        [
            Action::NoOp,
            Action::Create,
            Action::Update,
            Action::Replace,
            Action::Destroy,
        ]
        .into_iter()
        .find(|a| a.verb() == verb)
    }
}

/// One attribute's change, with sensitive values already hidden.
#[derive(Debug, Clone, Serialize)]
pub struct AttrChange {
    pub name: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub sensitive: bool,
    /// This change is why the resource is replaced.
    pub forces_replace: bool,
    /// Set by the provider (e.g. a file's `sha256`); shown only when nothing else explains
    /// the change (a large or remote file edited by hand).
    pub computed: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub node: String,
    pub action: Action,
    /// Why, when not obvious from the attributes (drift, type or node changed).
    pub reason: Option<String>,
    pub attributes: Vec<AttrChange>,
    pub depends_on: Vec<String>,
    /// Stored record (for update, replace and destroy).
    #[serde(skip)]
    pub stored: Option<ResourceState>,
    /// Real attributes: stored overlaid with what was read.
    #[serde(skip)]
    pub prior: Option<Attrs>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub lineage: Option<String>,
    pub serial: i64,
    /// Every resource considered, no-ops included, in dependency order; destroys last.
    pub changes: Vec<Change>,
    /// `--target` was given: the plan covers only part of the project.
    pub partial: bool,
}

impl Plan {
    /// (to add, to change, to destroy), counting a replace as one add and one destroy.
    pub fn counts(&self) -> (usize, usize, usize) {
        let (mut add, mut change, mut destroy) = (0, 0, 0);
        for c in &self.changes {
            match c.action {
                Action::Create => add += 1,
                Action::Update => change += 1,
                Action::Replace => {
                    add += 1;
                    destroy += 1
                }
                Action::Destroy => destroy += 1,
                Action::NoOp => {}
            }
        }
        (add, change, destroy)
    }

    pub fn has_changes(&self) -> bool {
        self.changes.iter().any(|c| c.action != Action::NoOp)
    }
}

#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// `--target`: only these resources and what they depend on.
    pub targets: Vec<String>,
    /// Plan the destruction of everything in the state.
    pub destroy: bool,
    /// `--limit`: only resources on these nodes (what they depend on elsewhere is read from
    /// the state, never changed).
    pub nodes: Option<Vec<String>>,
}

/// Make the plan. Reads only: nothing is changed, locally or on nodes.
pub async fn plan(infra: &Infra, options: &PlanOptions) -> Result<Plan, InfraError> {
    let project = &infra.project;
    crate::schema::validate(project, &infra.registry).map_err(InfraError::Invalid)?;
    let state = infra.store.infra_state()?;
    let stored: HashMap<&str, &ResourceState> =
        state.resources.iter().map(|r| (r.id.as_str(), r)).collect();

    for id in &options.targets {
        if !project.resources.contains_key(id) && !stored.contains_key(id.as_str()) {
            let names = project
                .resources
                .keys()
                .map(String::as_str)
                .chain(stored.keys().copied());
            return Err(InfraError::UnknownTarget {
                id: id.clone(),
                suggestion: did_you_mean(id, names).map(str::to_string),
            });
        }
    }
    let selected: Option<HashSet<String>> =
        (!options.targets.is_empty()).then(|| crate::graph::closure(project, &options.targets));
    let on_limited_node = |node: &str| {
        options
            .nodes
            .as_ref()
            .is_none_or(|nodes| nodes.iter().any(|n| n == node))
    };
    let wanted = |id: &str| {
        selected.as_ref().is_none_or(|s| s.contains(id))
            && project
                .resources
                .get(id)
                .is_none_or(|r| on_limited_node(&node_of(r)))
    };
    // A resource inside the limit may depend on one outside it only if that one was applied
    // already: its attributes then come from the state, and it is left alone.
    if options.nodes.is_some() {
        for (id, resource) in &project.resources {
            if !wanted(id) {
                continue;
            }
            for dep in resource.dependencies() {
                let Some(dep_resource) = project.resources.get(&dep) else {
                    continue;
                };
                if !wanted(&dep) && !stored.contains_key(dep.as_str()) {
                    return Err(InfraError::OutsideLimit {
                        id: id.clone(),
                        dependency: dep.clone(),
                        node: node_of(dep_resource),
                    });
                }
            }
        }
    }

    // Render desired attributes in dependency order.
    let mut desired: HashMap<String, Attrs> = HashMap::new();
    let mut problems = Vec::new();
    let order = if options.destroy {
        Vec::new()
    } else {
        crate::graph::order(project)
    };
    let order: Vec<String> = order.into_iter().filter(|id| wanted(id)).collect();
    for id in &order {
        let resource = &project.resources[id];
        let rtype = type_of(infra, &resource.kind.value);
        let raw = crate::schema::desired_attrs(resource, rtype.as_ref());
        let rendered = if render::has_templates(&raw) {
            let mut resources = serde_json::Map::new();
            for dep in resource.dependencies() {
                let Some(dep_resource) = project.resources.get(&dep) else {
                    continue;
                };
                let dep_type = type_of(infra, &dep_resource.kind.value);
                // What is known of a dependency: its stored attributes, overlaid with its
                // desired ones; computed values it has never had are unknown until apply.
                let mut known = stored
                    .get(dep.as_str())
                    .map(|r| r.attrs.clone())
                    .unwrap_or_default();
                if let Some(d) = desired.get(&dep) {
                    known.extend(d.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
                resources.insert(
                    dep.clone(),
                    render::visible(dep_type.as_ref(), Some(&known)),
                );
            }
            let ctx = render::context(&project.vars, resources);
            match render::render_attrs(rtype.as_ref(), &raw, &ctx) {
                Ok(r) => r,
                Err((attr, message)) => {
                    let span = resource
                        .attrs
                        .get(&attr)
                        .map(|a| a.span)
                        .unwrap_or(resource.span);
                    problems.push(ModelDiagnostic::new(
                        format!("resource `{id}`: `{attr}`: {message}"),
                        span,
                    ));
                    continue;
                }
            }
        } else {
            raw
        };
        desired.insert(id.clone(), rendered);
    }
    if !problems.is_empty() {
        return Err(InfraError::Invalid(Diagnostics {
            items: problems,
            sources: project.sources.clone(),
        }));
    }

    // Refresh what the state knows and the file still wants with the same type and node,
    // grouped by (type, node) so each group is one batched read.
    // Resources that `become` differently are read apart: the key holds the `become` as text.
    let mut groups: HashMap<(String, String, String), Vec<(String, Attrs)>> = HashMap::new();
    for id in &order {
        let resource = &project.resources[id];
        let node = node_of(resource);
        let Some(record) = stored.get(id.as_str()) else {
            continue;
        };
        if record.kind != resource.kind.value || record.node != node {
            continue;
        }
        let rtype = type_of(infra, &record.kind);
        // Look for the object the state knows, with the desired values of attributes that can
        // change in place (a changed immutable one means a replace anyway).
        let mut look = record.attrs.clone();
        for (k, v) in &desired[id] {
            if !is_unknown(v) && !rtype.needs_replace(k, &desired[id]) {
                look.insert(k.clone(), v.clone());
            }
        }
        let escalation = format!("{:?}", resource.r#become);
        groups
            .entry((record.kind.clone(), node, escalation))
            .or_default()
            .push((id.clone(), look));
    }
    // One batched read per (type, node), at most `ssh.forks` at once like every fan-out.
    let forks = infra.project.ssh.forks.max(1) as usize;
    let shared = infra.clone();
    let groups: Vec<_> = groups.into_iter().collect();
    let reads =
        baton_exec::fan_out(groups, forks, move |((kind, node, _), items)| {
            let infra = shared.clone();
            async move {
                let rtype = type_of(&infra, &kind);
                let first = items.first().map(|(id, _)| id.clone()).unwrap_or_default();
                let over = infra
                    .project
                    .resources
                    .get(&first)
                    .map(|r| r.r#become.clone())
                    .unwrap_or_default();
                let executor = infra.targets.executor_as(&node, &over, None).map_err(|e| {
                    InfraError::Refresh {
                        id: first.clone(),
                        message: e.to_string(),
                    }
                })?;
                let target = Target { node, executor };
                let response = rtype
                    .read(
                        &infra.ctx,
                        ReadRequest {
                            target: &target,
                            items: &items,
                        },
                    )
                    .await;
                if let Some(d) = response.diagnostics.first() {
                    return Err(InfraError::Refresh {
                        id: first,
                        message: d.to_string(),
                    });
                }
                Ok(items
                    .into_iter()
                    .map(|(id, _)| id)
                    .zip(response.states)
                    .collect::<Vec<_>>())
            }
        })
        .await;
    let mut real: HashMap<String, Option<Attrs>> = HashMap::new();
    for read in reads {
        let pairs = read.map_err(|panic| InfraError::Refresh {
            id: String::new(),
            message: panic.to_string(),
        })??;
        real.extend(pairs);
    }

    let mut changes = Vec::new();
    for id in &order {
        let resource = &project.resources[id];
        let rtype = type_of(infra, &resource.kind.value);
        let node = node_of(resource);
        let mut want = desired.remove(id).expect("rendered above");
        let mut expected = want.clone();
        if let Err(message) = rtype.expected(&infra.ctx, &mut expected) {
            let span = resource.span;
            return Err(InfraError::Invalid(Diagnostics {
                items: vec![ModelDiagnostic::new(
                    format!("resource `{id}`: {message}"),
                    span,
                )],
                sources: project.sources.clone(),
            }));
        }
        want = expected;
        let record = stored.get(id.as_str()).copied();
        let mut change = Change {
            id: id.clone(),
            kind: resource.kind.value.clone(),
            node: node.clone(),
            action: Action::NoOp,
            reason: None,
            attributes: Vec::new(),
            depends_on: resource.dependencies(),
            stored: record.cloned(),
            prior: None,
        };
        match record {
            None => {
                change.action = Action::Create;
                change.attributes = all_attrs(rtype.as_ref(), &want, false);
            }
            Some(r) if r.kind != change.kind || r.node != node => {
                change.action = Action::Replace;
                change.reason = Some(if r.kind != change.kind {
                    format!("type changes from `{}`", r.kind)
                } else {
                    format!("node changes from `{}`", r.node)
                });
                change.attributes = all_attrs(rtype.as_ref(), &want, false);
            }
            Some(r) => match real.get(id).cloned().flatten() {
                None => {
                    change.action = Action::Create;
                    change.reason =
                        Some("it no longer exists: it was deleted outside baton".into());
                    change.attributes = all_attrs(rtype.as_ref(), &want, false);
                }
                Some(seen) => {
                    let mut prior = r.attrs.clone();
                    prior.extend(seen);
                    let diffs = compare(rtype.as_ref(), &want, &prior);
                    if !diffs.is_empty() {
                        let replace = diffs.iter().any(|d| d.forces_replace);
                        change.action = if replace {
                            Action::Replace
                        } else {
                            Action::Update
                        };
                        change.attributes = diffs;
                    }
                    change.prior = Some(prior);
                }
            },
        }
        changes.push(change);
    }

    // In the state, gone from the file (or everything, for destroy): destroy, dependents first.
    let mut gone: Vec<&ResourceState> = state
        .resources
        .iter()
        .filter(|r| options.destroy || !project.resources.contains_key(&r.id))
        .filter(|r| {
            options.destroy
                || selected
                    .as_ref()
                    .is_none_or(|_| options.targets.contains(&r.id))
        })
        .filter(|r| on_limited_node(&r.node))
        .collect();
    gone.sort_by_key(|r| std::cmp::Reverse(depth(&r.id, &stored)));
    for r in gone {
        changes.push(Change {
            id: r.id.clone(),
            kind: r.kind.clone(),
            node: r.node.clone(),
            action: Action::Destroy,
            reason: (!options.destroy).then(|| "it is no longer in the project file".to_string()),
            attributes: Vec::new(),
            depends_on: r.depends_on.clone(),
            stored: Some(r.clone()),
            prior: Some(r.attrs.clone()),
        });
    }

    Ok(Plan {
        lineage: state.lineage.clone(),
        serial: state.serial,
        changes,
        partial: selected.is_some(),
    })
}

/// Length of the longest stored dependency chain below `id` (for destroy order).
fn depth(id: &str, stored: &HashMap<&str, &ResourceState>) -> usize {
    fn walk(id: &str, stored: &HashMap<&str, &ResourceState>, seen: &mut HashSet<String>) -> usize {
        if !seen.insert(id.to_string()) {
            return 0;
        }
        stored
            .get(id)
            .map(|r| {
                r.depends_on
                    .iter()
                    .map(|d| 1 + walk(d, stored, seen))
                    .max()
                    .unwrap_or(0)
            })
            .unwrap_or(0)
    }
    walk(id, stored, &mut HashSet::new())
}

pub(crate) fn type_of(infra: &Infra, kind: &str) -> Arc<dyn ResourceType> {
    infra
        .registry
        .get(kind)
        .cloned()
        .expect("types were validated")
}

pub(crate) fn node_of(resource: &baton_model::Resource) -> String {
    resource
        .node
        .as_ref()
        .map(|n| n.value.clone())
        .unwrap_or_else(|| baton_model::LOCAL_NODE.to_string())
}

fn is_computed(rtype: &dyn ResourceType, name: &str) -> bool {
    rtype
        .attributes()
        .iter()
        .any(|a| a.name == name && a.computed)
}

fn is_sensitive(rtype: &dyn ResourceType, name: &str) -> bool {
    rtype
        .attributes()
        .iter()
        .any(|a| a.name == name && a.sensitive)
}

/// `sha256:HEX` of a sensitive value: what the state keeps instead of the value.
pub(crate) fn conceal(value: &Value) -> Value {
    match value {
        Value::String(s) if s.starts_with("sha256:") => value.clone(),
        other => {
            let text = match other {
                Value::String(s) => s.clone(),
                v => v.to_string(),
            };
            Value::String(format!(
                "sha256:{}",
                hex::encode(Sha256::digest(text.as_bytes()))
            ))
        }
    }
}

fn shown(rtype: &dyn ResourceType, name: &str, value: Option<&Value>) -> Option<Value> {
    let value = value?;
    Some(if is_sensitive(rtype, name) {
        Value::String("(sensitive value)".into())
    } else {
        value.clone()
    })
}

fn all_attrs(rtype: &dyn ResourceType, want: &Attrs, _replace: bool) -> Vec<AttrChange> {
    want.iter()
        .map(|(name, value)| AttrChange {
            name: name.clone(),
            before: None,
            after: shown(rtype, name, Some(value)),
            sensitive: is_sensitive(rtype, name),
            forces_replace: false,
            computed: is_computed(rtype, name),
        })
        .collect()
}

/// Attributes whose desired value differs from the real one (sensitive ones compared by hash).
fn compare(rtype: &dyn ResourceType, want: &Attrs, prior: &Attrs) -> Vec<AttrChange> {
    let mut out = Vec::new();
    for (name, value) in want {
        let before = prior.get(name);
        let same = match (is_sensitive(rtype, name), before) {
            (_, None) => false,
            (true, Some(b)) => conceal(value) == conceal(b),
            (false, Some(b)) => !is_unknown(value) && value == b,
        };
        if !same {
            out.push(AttrChange {
                name: name.clone(),
                before: shown(rtype, name, before),
                after: shown(rtype, name, Some(value)),
                sensitive: is_sensitive(rtype, name),
                forces_replace: rtype.needs_replace(name, want),
                computed: is_computed(rtype, name),
            });
        }
    }
    out
}

//! Attribute validation per resource type: unknown attributes (with a "did you mean"), missing
//! required ones, wrong types, values outside an enumeration, references to attributes a type
//! does not have. Every problem is reported at once, at its place in the file.

use baton_model::diagnostic::did_you_mean;
use baton_model::{Diagnostic, Diagnostics, Project, Resource, Span};
use serde_json::Value;

use crate::provider::{AttrKind, AttrSpec, Attrs, Registry, ResourceType};

/// Check every resource of `project` against its type's schema.
pub fn validate(project: &Project, registry: &Registry) -> Result<(), Diagnostics> {
    let mut items = Vec::new();
    for resource in project.resources.values() {
        let Some(rtype) = registry.get(&resource.kind.value) else {
            let mut d = Diagnostic::new(
                format!(
                    "resource `{}`: unknown type `{}`",
                    resource.id, resource.kind.value
                ),
                resource.kind.span,
            );
            let names = registry.names();
            if let Some(s) = did_you_mean(&resource.kind.value, names.iter().copied()) {
                d = d.with_help(format!("did you mean `{s}`?"));
            } else {
                d = d.with_help(format!("known types: {}", names.join(", ")));
            }
            items.push(d);
            continue;
        };
        check_resource(resource, rtype.as_ref(), &mut items);
    }
    // References `resources.X.attr` must name an attribute X's type has.
    let check_refs = |text: &str, span: Span, items: &mut Vec<Diagnostic>| {
        for (id, attr) in attribute_references(text) {
            let Some(target) = project.resources.get(&id) else {
                continue; // the model reports unknown resources
            };
            let Some(rtype) = registry.get(&target.kind.value) else {
                continue;
            };
            let names: Vec<&str> = rtype.attributes().iter().map(|a| a.name).collect();
            if !names.contains(&attr.as_str()) {
                let mut d = Diagnostic::new(
                    format!(
                        "`resources.{id}.{attr}`: a `{}` has no attribute `{attr}`",
                        target.kind.value
                    ),
                    span,
                );
                if let Some(s) = did_you_mean(&attr, names.iter().copied()) {
                    d = d.with_help(format!("did you mean `{s}`?"));
                }
                items.push(d);
            }
        }
    };
    for resource in project.resources.values() {
        for attr in resource.attrs.values() {
            for text in strings_in(&attr.value) {
                check_refs(text, attr.span, &mut items);
            }
        }
    }
    for output in project.outputs.values() {
        check_refs(&output.value, output.span, &mut items);
    }
    if items.is_empty() {
        Ok(())
    } else {
        Err(Diagnostics {
            items,
            sources: project.sources.clone(),
        })
    }
}

fn check_resource(resource: &Resource, rtype: &dyn ResourceType, items: &mut Vec<Diagnostic>) {
    let specs = rtype.attributes();
    let writable = || specs.iter().filter(|a| !a.computed).map(|a| a.name);
    let before = items.len();
    for (name, value) in &resource.attrs {
        let Some(spec) = specs.iter().find(|a| a.name == name) else {
            let mut d = Diagnostic::new(
                format!(
                    "resource `{}`: a `{}` has no attribute `{name}`",
                    resource.id,
                    rtype.name()
                ),
                // The caret goes under the key that is wrong, not its value.
                resource.key_span(name).unwrap_or(value.span),
            );
            d = match did_you_mean(name, writable()) {
                Some(s) => d.with_help(format!("did you mean `{s}`?")),
                None => d.with_help(format!(
                    "`{}` takes: {}",
                    rtype.name(),
                    writable().collect::<Vec<_>>().join(", ")
                )),
            };
            items.push(d);
            continue;
        };
        if spec.computed {
            items.push(Diagnostic::new(
                format!(
                    "resource `{}`: `{name}` is computed by the provider and cannot be set",
                    resource.id
                ),
                resource.key_span(name).unwrap_or(value.span),
            ));
            continue;
        }
        if let Err(why) = normalize(spec, &value.value) {
            items.push(Diagnostic::new(
                format!("resource `{}`: `{name}` {why}", resource.id),
                value.span,
            ));
        }
    }
    for spec in specs.iter().filter(|s| s.required) {
        if !resource.attrs.contains_key(spec.name) {
            items.push(Diagnostic::new(
                format!(
                    "resource `{}`: a `{}` needs `{}`",
                    resource.id,
                    rtype.name(),
                    spec.name
                ),
                resource.span,
            ));
        }
    }
    if items.len() == before {
        let attrs = desired_attrs(resource, rtype);
        for problem in rtype.check(&attrs) {
            items.push(Diagnostic::new(
                format!("resource `{}`: {problem}", resource.id),
                resource.span,
            ));
        }
    }
}

/// The attributes as written plus defaults, each normalised (modes as `"0644"`). Templates are
/// left unrendered. Call after [`validate`].
pub fn desired_attrs(resource: &Resource, rtype: &dyn ResourceType) -> Attrs {
    let mut attrs = Attrs::new();
    for spec in rtype.attributes() {
        let value = match resource.attrs.get(spec.name) {
            Some(v) => normalize(spec, &v.value).unwrap_or_else(|_| v.value.clone()),
            None => match spec.default {
                Some(json) => serde_json::from_str(json).expect("defaults are valid JSON"),
                None => continue,
            },
        };
        attrs.insert(spec.name.to_string(), value);
    }
    attrs
}

/// Check a written value against its spec; return it in canonical form.
pub fn normalize(spec: &AttrSpec, value: &Value) -> Result<Value, String> {
    let wrong = || format!("must be {}", spec.kind.describe());
    let out = match (spec.kind, value) {
        (AttrKind::String, Value::String(_)) => value.clone(),
        // Numbers written for strings (a uid in a name field…) are taken as their text.
        (AttrKind::String, Value::Number(n)) => Value::String(n.to_string()),
        (AttrKind::Int, Value::Number(n)) if n.is_i64() => value.clone(),
        (AttrKind::Int, Value::String(s)) if baton_model::template::is_template(s) => value.clone(),
        (AttrKind::Bool, Value::Bool(_)) => value.clone(),
        (AttrKind::StringList, Value::Array(items)) => {
            let mut out = Vec::new();
            for item in items {
                match item {
                    Value::String(_) => out.push(item.clone()),
                    Value::Number(n) => out.push(Value::String(n.to_string())),
                    _ => return Err(wrong()),
                }
            }
            Value::Array(out)
        }
        (AttrKind::Mode, Value::String(s)) if baton_model::template::is_template(s) => {
            value.clone()
        }
        (AttrKind::Mode, Value::String(s)) => Value::String(mode(s).ok_or_else(wrong)?),
        (AttrKind::Mode, Value::Number(n)) => {
            Value::String(mode(&n.to_string()).ok_or_else(wrong)?)
        }
        _ => return Err(wrong()),
    };
    if !spec.one_of.is_empty()
        && let Value::String(s) = &out
        && !baton_model::template::is_template(s)
        && !spec.one_of.contains(&s.as_str())
    {
        return Err(format!("must be one of: {}", spec.one_of.join(", ")));
    }
    Ok(out)
}

/// `"644"`, `"0644"`, `"1777"` → `"0644"`…; anything but 3–4 octal digits is refused.
pub fn mode(text: &str) -> Option<String> {
    let digits = text.trim().trim_start_matches("0o");
    if !(3..=4).contains(&digits.len()) || !digits.chars().all(|c| ('0'..='7').contains(&c)) {
        return None;
    }
    Some(format!("{:0>4}", digits))
}

fn strings_in(value: &Value) -> Vec<&str> {
    match value {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items.iter().flat_map(strings_in).collect(),
        Value::Object(map) => map.values().flat_map(strings_in).collect(),
        _ => Vec::new(),
    }
}

/// `(X, attr)` for each `resources.X.attr` inside `{{ }}` / `{% %}` blocks of `text`.
pub fn attribute_references(text: &str) -> Vec<(String, String)> {
    baton_model::template::resource_references(text)
        .into_iter()
        .filter_map(|(id, attr)| Some((id, attr?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_are_normalised_and_bad_ones_refused() {
        for (input, expected) in [
            ("644", Some("0644")),
            ("0755", Some("0755")),
            ("1777", Some("1777")),
            ("0o600", Some("0600")),
            ("9", None),
            ("0888", None),
            ("rw", None),
        ] {
            assert_eq!(mode(input).as_deref(), expected, "{input}");
        }
        let spec = AttrSpec::optional("mode", AttrKind::Mode);
        assert_eq!(normalize(&spec, &serde_json::json!(644)).unwrap(), "0644");
        assert!(normalize(&spec, &serde_json::json!(true)).is_err());
    }

    #[test]
    fn finds_attribute_references() {
        assert_eq!(
            attribute_references(
                "{{ resources.dir.path }}/x {{ resources.b.id|upper }} resources.c.d"
            ),
            [
                ("dir".to_string(), "path".to_string()),
                ("b".into(), "id".into())
            ]
        );
        assert!(attribute_references("{{ resources.dir }}").is_empty());
    }
}

//! Templates in attributes: `{{ resources.X.attr }}` rendered from the state and from what this
//! apply has produced so far, plus project `vars`.

use baton_model::template;
use serde_json::{Value, json};

use crate::provider::{AttrKind, Attrs, ResourceType};

/// Stands for a computed value a plan cannot know yet (a resource still to be created).
pub const UNKNOWN: &str = "(known after apply)";

/// Whether any string inside `attrs` is a template.
pub fn has_templates(attrs: &Attrs) -> bool {
    fn any(v: &Value) -> bool {
        match v {
            Value::String(s) => template::is_template(s),
            Value::Array(items) => items.iter().any(any),
            Value::Object(map) => map.values().any(any),
            _ => false,
        }
    }
    attrs.values().any(any)
}

/// The template context: project vars and the given resources' attributes.
pub fn context(
    vars: &indexmap::IndexMap<String, Value>,
    resources: serde_json::Map<String, Value>,
) -> Value {
    json!({ "vars": vars, "resources": resources })
}

/// A resource's attributes as seen by templates of others: known values, and [`UNKNOWN`] for
/// every attribute of its type not known yet, so a reference to it renders instead of failing.
pub fn visible(rtype: &dyn ResourceType, known: Option<&Attrs>) -> Value {
    let mut out = known.cloned().unwrap_or_default();
    for spec in rtype.attributes() {
        out.entry(spec.name.to_string())
            .or_insert_with(|| Value::String(UNKNOWN.to_string()));
    }
    Value::Object(out)
}

/// Render every template in `attrs`; typed attributes written as templates (`uid: "{{ … }}"`)
/// are converted after rendering. On error: the attribute's name and the message.
pub fn render_attrs(
    rtype: &dyn ResourceType,
    attrs: &Attrs,
    ctx: &Value,
) -> Result<Attrs, (String, String)> {
    let mut out = Attrs::new();
    for (name, value) in attrs {
        let rendered = render_value(value, ctx).map_err(|e| (name.clone(), e))?;
        let rendered = match (
            rtype.attributes().iter().find(|a| a.name == name),
            &rendered,
        ) {
            (Some(spec), Value::String(s))
                if s != value.as_str().unwrap_or_default() && !s.contains(UNKNOWN) =>
            {
                match spec.kind {
                    AttrKind::Int => s.trim().parse::<i64>().map(Value::from).map_err(|_| {
                        (name.clone(), format!("rendered to `{s}`, not an integer"))
                    })?,
                    _ => crate::schema::normalize(spec, &rendered)
                        .map_err(|e| (name.clone(), format!("rendered to `{s}`, which {e}")))?,
                }
            }
            _ => rendered,
        };
        out.insert(name.clone(), rendered);
    }
    Ok(out)
}

fn render_value(value: &Value, ctx: &Value) -> Result<Value, String> {
    Ok(match value {
        Value::String(s) if template::is_template(s) => {
            Value::String(template::render(s, ctx).map_err(|e| e.message)?)
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|i| render_value(i, ctx))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), render_value(v, ctx)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

/// Whether a value still holds an unknown part.
pub fn is_unknown(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains(UNKNOWN),
        Value::Array(items) => items.iter().any(is_unknown),
        Value::Object(map) => map.values().any(is_unknown),
        _ => false,
    }
}

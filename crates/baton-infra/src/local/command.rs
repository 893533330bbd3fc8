//! `command`: the escape hatch. `create` makes the thing, `delete` removes it, the optional
//! `read` exits 0 when it exists (so a deletion outside baton shows as drift), the optional
//! `update` changes it in place. Without `update`, a changed `create` script means re-creating.

use serde_json::{Value, json};

use super::shell;
use super::str_attr;
use crate::provider::*;

pub struct Command;

static ATTRS: [AttrSpec; 5] = [
    AttrSpec::required("create", AttrKind::String).immutable(),
    AttrSpec::optional("delete", AttrKind::String),
    AttrSpec::optional("read", AttrKind::String),
    AttrSpec::optional("update", AttrKind::String),
    AttrSpec::computed("output", AttrKind::String),
];

impl ResourceType for Command {
    fn name(&self) -> &'static str {
        "command"
    }
    fn attributes(&self) -> &'static [AttrSpec] {
        &ATTRS
    }
    fn needs_replace(&self, attr: &str, desired: &Attrs) -> bool {
        attr == "create" && !desired.contains_key("update")
    }
    fn read<'a>(&'a self, ctx: &'a Context, req: ReadRequest<'a>) -> BoxFuture<'a, ReadResponse> {
        Box::pin(async move {
            let mut states = Vec::new();
            let mut diagnostics = Vec::new();
            for (id, attrs) in req.items {
                let Some(script) = attrs.get("read").and_then(Value::as_str) else {
                    // Nothing to ask: it exists as long as the state says so.
                    states.push(Some(Attrs::new()));
                    continue;
                };
                match shell::run(ctx, req.target, script, env(id)).await {
                    Ok(out) => states.push(out.ok().then(Attrs::new)),
                    Err(d) => {
                        diagnostics.push(d);
                        states.push(Some(Attrs::new()));
                    }
                }
            }
            ReadResponse {
                states,
                diagnostics,
            }
        })
    }
    fn create<'a>(
        &'a self,
        ctx: &'a Context,
        req: ChangeRequest<'a>,
    ) -> BoxFuture<'a, ChangeResponse> {
        Box::pin(run_script(ctx, req, "create"))
    }
    fn update<'a>(
        &'a self,
        ctx: &'a Context,
        req: ChangeRequest<'a>,
    ) -> BoxFuture<'a, ChangeResponse> {
        let changed_create = req.prior.map(|p| p.get("create")) != Some(req.attrs.get("create"));
        if req.attrs.contains_key("update") && changed_create {
            Box::pin(run_script(ctx, req, "update"))
        } else {
            // Only the scripts for later changed: nothing to run now.
            let output = req.prior.and_then(|p| p.get("output")).cloned();
            Box::pin(async move {
                let mut computed = Attrs::new();
                if let Some(output) = output {
                    computed.insert("output".into(), output);
                }
                ChangeResponse {
                    computed,
                    diagnostics: Vec::new(),
                }
            })
        }
    }
    fn delete<'a>(
        &'a self,
        ctx: &'a Context,
        req: ChangeRequest<'a>,
    ) -> BoxFuture<'a, ChangeResponse> {
        Box::pin(async move {
            if req.attrs.contains_key("delete") {
                run_script(ctx, req, "delete").await
            } else {
                ChangeResponse::default()
            }
        })
    }
}

fn env(id: &str) -> Vec<(String, String)> {
    vec![("BATON_RESOURCE".to_string(), id.to_string())]
}

async fn run_script(ctx: &Context, req: ChangeRequest<'_>, which: &str) -> ChangeResponse {
    let script = str_attr(req.attrs, which);
    match shell::run(ctx, req.target, script, env(req.id)).await {
        Ok(out) if out.ok() => {
            let mut computed = Attrs::new();
            computed.insert("output".into(), json!(out.output.trim_end()));
            ChangeResponse {
                computed,
                diagnostics: Vec::new(),
            }
        }
        Ok(out) => ChangeResponse::failed(
            Diagnostic::error(format!(
                "`{which}` exited with {} on `{}`",
                out.code
                    .map_or("a signal".to_string(), |c| format!("code {c}")),
                req.target.node
            ))
            .with_detail(out.output),
        ),
        Err(d) => ChangeResponse::failed(d),
    }
}

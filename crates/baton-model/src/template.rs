//! Jinja templates (`{{ }}`) rendered with a strict context: an unknown variable is an error,
//! never an empty string, so a typo cannot silently deploy a broken file.

use minijinja::syntax::SyntaxConfig;
use minijinja::value::Serde;
use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TemplateError {
    pub message: String,
    /// 1-based line inside the template text, when known.
    pub line: Option<usize>,
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    let syntax = SyntaxConfig::builder()
        .keep_trailing_newline(true)
        .build()
        .expect("default delimiters are valid");
    env.set_syntax(syntax);
    // Booleans print as `true`/`false`, as shells, YAML, JSON and GitHub Actions write them,
    // not Python's `True`/`False`.
    env.set_formatter(|out, state, value| match value.is_true() {
        _ if value.kind() != minijinja::value::ValueKind::Bool => {
            minijinja::escape_formatter(out, state, value)
        }
        true => out.write_str("true").map_err(minijinja::Error::from),
        false => out.write_str("false").map_err(minijinja::Error::from),
    });
    env
}

/// Whether `text` contains template syntax at all; plain strings skip the engine.
pub fn is_template(text: &str) -> bool {
    let text = protect_shell(text);
    text.contains("{{") || text.contains("{%") || text.contains("{#")
}

/// Shell's `${#var}` (length of a variable) would open a Jinja comment: it is hidden from the
/// template engine and put back after rendering. Nothing in Jinja starts with `${#`.
const SHELL_LENGTH: &str = "${#";
const SHELL_LENGTH_HIDDEN: &str = "$\u{1}baton-length\u{1}";

fn protect_shell(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains(SHELL_LENGTH) {
        std::borrow::Cow::Owned(text.replace(SHELL_LENGTH, SHELL_LENGTH_HIDDEN))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

/// Render `text` with `context` (an object with `vars`, `env`, `node`, `run`, …).
pub fn render<C: Serialize>(text: &str, context: &C) -> Result<String, TemplateError> {
    if !is_template(text) {
        return Ok(text.to_string());
    }
    let env = environment();
    env.render_str(&protect_shell(text), Serde(context))
        .map(|out| out.replace(SHELL_LENGTH_HIDDEN, SHELL_LENGTH))
        .map_err(to_error)
        .map_err(|e| explain_undefined(e, context))
}

/// An undefined `env.vars.X` says why: no environment was selected, or the selected one does
/// not define it (the context's `env.name` tells which).
fn explain_undefined<C: Serialize>(mut error: TemplateError, context: &C) -> TemplateError {
    let Some(start) = error.message.find("`env.vars.") else {
        return error;
    };
    if !error.message.contains("is undefined") {
        return error;
    }
    let name: String = error.message[start + "`env.vars.".len()..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
        .collect();
    let env = serde_json::to_value(context)
        .ok()
        .and_then(|c| c["env"]["name"].as_str().map(str::to_string))
        .unwrap_or_default();
    if env.is_empty() {
        error.message.push_str(
            ": no environment is selected, so `env.vars` is empty; pass `--env NAME` or set the pipeline's `env:`",
        );
    } else {
        error
            .message
            .push_str(&format!(": environment `{env}` has no var `{name}`"));
    }
    error
}

/// GitHub Actions' status functions, usable in a stage's `if:`: `success()` (the default: every
/// stage it needs, transitively, succeeded), `failure()` (one of them failed), `always()`,
/// `cancelled()` (the run was cancelled).
pub const STATUS_FUNCTIONS: [&str; 4] = ["success", "failure", "always", "cancelled"];

/// What the stages a stage needs (transitively) ended as, for the status functions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NeedsStatus {
    pub failure: bool,
    pub cancelled: bool,
}

/// The status functions `text` calls inside its template blocks (`failure()`, …), in order.
/// A condition that calls none has an implicit `success()`, as in GitHub Actions.
pub fn status_functions(text: &str) -> Vec<&'static str> {
    let mut out = Vec::new();
    for block in template_blocks(text) {
        for name in STATUS_FUNCTIONS {
            let mut from = 0;
            while let Some(i) = block[from..].find(name) {
                let at = from + i;
                let preceded = block[..at]
                    .chars()
                    .next_back()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.'));
                let called = block[at + name.len()..].trim_start().starts_with('(');
                if !preceded && called && !out.contains(&name) {
                    out.push(name);
                }
                from = at + name.len();
            }
        }
    }
    out
}

/// Render a stage's `if:` with the status functions bound to `status`.
pub fn render_condition<C: Serialize>(
    text: &str,
    context: &C,
    status: NeedsStatus,
) -> Result<String, TemplateError> {
    if !is_template(text) {
        return Ok(text.to_string());
    }
    let mut env = environment();
    let ok = !status.failure && !status.cancelled;
    env.add_function("success", move || ok);
    env.add_function("failure", move || status.failure);
    env.add_function("always", || true);
    env.add_function("cancelled", move || status.cancelled);
    env.render_str(&protect_shell(text), Serde(context))
        .map(|out| out.replace(SHELL_LENGTH_HIDDEN, SHELL_LENGTH))
        .map_err(to_error)
}

/// The inside of each `{{ }}` / `{% %}` block of `text`.
fn template_blocks(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = [rest.find("{{"), rest.find("{%")]
        .into_iter()
        .flatten()
        .min()
    {
        let inner = &rest[open + 2..];
        let close = [inner.find("}}"), inner.find("%}")]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(inner.len());
        out.push(&inner[..close]);
        rest = &inner[close..];
    }
    out
}

/// Check the syntax of a template without rendering it.
pub fn check_syntax(text: &str) -> Result<(), TemplateError> {
    if !is_template(text) {
        return Ok(());
    }
    let env = environment();
    env.template_from_str(&protect_shell(text))
        .map(|_| ())
        .map_err(to_error)
}

/// Each `resources.X` written inside `{{ }}` / `{% %}` blocks of `text`, in order, with the
/// attribute when one follows (`resources.X.attr`). The one scanner behind dependency ordering
/// (the model) and attribute checks (the infrastructure engine).
pub fn resource_references(text: &str) -> Vec<(String, Option<String>)> {
    dotted_references(text, "resources.")
}

/// Whether `text` reads `node.facts` inside a template block (the facts are then gathered
/// before it is rendered).
pub fn uses_facts(text: &str) -> bool {
    dotted_references(text, "node.")
        .iter()
        .any(|(name, _)| name == "facts")
}

/// Each `vars.X` written inside `{{ }}` / `{% %}` blocks of `text`, in order (`env.vars.X` and
/// `node.vars.X` are other scopes and not listed).
pub fn var_references(text: &str) -> Vec<String> {
    dotted_references(text, "vars.")
        .into_iter()
        .map(|(name, _)| name)
        .collect()
}

/// Each `secrets.X` written inside `{{ }}` / `{% %}` blocks of `text`, in order (a config's
/// content reads the secrets its `secrets:` lists).
pub fn secret_references(text: &str) -> Vec<String> {
    dotted_references(text, "secrets.")
        .into_iter()
        .map(|(name, _)| name)
        .collect()
}

/// `PREFIX` + a name (+ `.attr`) inside template blocks, not preceded by a name or a dot.
fn dotted_references(text: &str, prefix: &str) -> Vec<(String, Option<String>)> {
    let is_name = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-');
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = [rest.find("{{"), rest.find("{%")]
        .into_iter()
        .flatten()
        .min()
    {
        let inner = &rest[open + 2..];
        let close = [inner.find("}}"), inner.find("%}")]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(inner.len());
        let block = &inner[..close];
        let mut from = 0;
        while let Some(i) = block[from..].find(prefix) {
            let at = from + i;
            // `myresources.x` or `a.resources.x` are other things.
            let preceded = block[..at]
                .chars()
                .next_back()
                .is_some_and(|c| is_name(c) || c == '.');
            let tail = &block[at + prefix.len()..];
            let id: String = tail.chars().take_while(|c| is_name(*c)).collect();
            if !preceded && !id.is_empty() {
                let attr = tail[id.len()..]
                    .strip_prefix('.')
                    .map(|a| a.chars().take_while(|c| is_name(*c)).collect::<String>())
                    .filter(|a| !a.is_empty());
                out.push((id, attr));
            }
            from = at + prefix.len();
        }
        rest = &inner[close..];
    }
    out
}

/// Jinja truthiness of a rendered `if:` condition: empty, `false`, `0`, `no`, `none` are false.
pub fn is_truthy(rendered: &str) -> bool {
    !matches!(
        rendered.trim().to_ascii_lowercase().as_str(),
        "" | "false" | "0" | "no" | "none" | "null" | "off"
    )
}

fn to_error(err: minijinja::Error) -> TemplateError {
    let mut message = err.to_string();
    // minijinja appends "(in <string>:N)"; the line is reported separately.
    if let Some(i) = message.find(" (in <string>") {
        message.truncate(i);
    }
    TemplateError {
        message,
        line: err.line(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_nested_context() {
        let ctx = json!({ "node": { "host": "127.0.0.2" }, "vars": { "port": 8000 } });
        let out = render("http://{{ node.host }}:{{ vars.port }}/", &ctx).unwrap();
        assert_eq!(out, "http://127.0.0.2:8000/");
    }

    #[test]
    fn status_functions_are_found_and_bound() {
        assert_eq!(status_functions("{{ failure() }}"), vec!["failure"]);
        assert_eq!(
            status_functions("{{ always() and vars.x }} {{ success () }}"),
            vec!["always", "success"]
        );
        assert!(status_functions("{{ vars.failure }} {{ my_failure() }} failure()").is_empty());
        let ctx = json!({});
        let failed = NeedsStatus {
            failure: true,
            cancelled: false,
        };
        let render = |t: &str, s| render_condition(t, &ctx, s).unwrap();
        assert_eq!(render("{{ failure() }}", failed), "true");
        assert_eq!(render("{{ success() }}", failed), "false");
        assert_eq!(render("{{ always() }}", failed), "true");
        assert_eq!(render("{{ failure() }}", NeedsStatus::default()), "false");
        assert_eq!(render("{{ success() }}", NeedsStatus::default()), "true");
    }

    #[test]
    fn an_undefined_env_var_says_why() {
        let none = json!({ "env": { "name": "", "vars": {} } });
        let err = render("{{ env.vars.debug }}", &none).unwrap_err();
        assert!(
            err.message.contains("no environment is selected"),
            "{}",
            err.message
        );
        let dev = json!({ "env": { "name": "dev", "vars": {} } });
        let err = render("x {{ env.vars.debug }}", &dev).unwrap_err();
        assert!(
            err.message.contains("environment `dev` has no var `debug`"),
            "{}",
            err.message
        );
    }

    #[test]
    fn unknown_variables_are_errors() {
        let err = render("{{ vars.nope }}", &json!({ "vars": {} })).unwrap_err();
        assert!(err.message.contains("undefined"), "{}", err.message);
    }

    #[test]
    fn shell_variable_lengths_are_not_jinja_comments() {
        let ctx = json!({ "vars": { "x": "hi" } });
        assert!(!is_template("echo ${#PATH}"));
        assert_eq!(render("echo ${#PATH}", &ctx).unwrap(), "echo ${#PATH}");
        assert_eq!(
            render("echo ${#A[@]} {{ vars.x }}", &ctx).unwrap(),
            "echo ${#A[@]} hi"
        );
        assert!(check_syntax("n=${#1}; echo {{ vars.x }}").is_ok());
    }

    #[test]
    fn booleans_render_as_shells_and_yaml_write_them() {
        let ctx = json!({ "env": { "vars": { "debug": false, "on": true } } });
        assert_eq!(
            render("{{ env.vars.debug }} {{ env.vars.on }}", &ctx).unwrap(),
            "false true"
        );
        assert_eq!(render("{{ env.vars.on | tojson }}", &ctx).unwrap(), "true");
    }

    #[test]
    fn var_references_skip_other_scopes() {
        assert_eq!(
            var_references(
                "{{ vars.a }} {{ env.vars.b }} {{ node.vars.c }} vars.d {% if vars.e %}"
            ),
            ["a", "e"]
        );
    }

    #[test]
    fn truthiness() {
        assert!(is_truthy("true"));
        assert!(is_truthy("yes please"));
        assert!(!is_truthy(" False "));
        assert!(!is_truthy(""));
    }
}

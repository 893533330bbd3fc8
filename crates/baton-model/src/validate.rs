//! Cross-references between sections: every name used somewhere must be defined somewhere, and
//! dependency graphs (stage `needs`, resource references) must be acyclic. All problems are
//! collected.

use indexmap::IndexMap;

use crate::diagnostic::{Diagnostic, Diagnostics, did_you_mean};
use crate::selector::{Atom, Selector};
use crate::span::{Span, Spanned};
use crate::types::*;

/// Cross-reference checks. `declared` (given when decoding had problems) holds every name
/// written in the files: a reference to one of those is not reported missing, since the thing
/// exists but failed to decode and has its own diagnostic.
pub(crate) fn validate(
    project: &mut Project,
    declared: Option<&std::collections::HashSet<String>>,
    available: &[&str],
    run_vars: &[&str],
) -> Result<(), Diagnostics> {
    let mut v = Validator {
        project,
        diags: Vec::new(),
        declared,
        available,
        run_vars,
    };
    v.pipelines();
    v.environments();
    v.configs_checks_alerts();
    v.notifications();
    v.resources();
    if v.diags.is_empty() {
        Ok(())
    } else {
        Err(Diagnostics {
            items: crate::decode::in_file_order(v.diags),
            sources: project.sources.clone(),
        })
    }
}

/// In `run_vars`: every variable may come from the command line (a retry or rollback, whose
/// variables are the earlier run's).
pub const ANY_RUN_VAR: &str = "*";

struct Validator<'p> {
    project: &'p Project,
    declared: Option<&'p std::collections::HashSet<String>>,
    /// The step kinds this build of baton can run.
    available: &'p [&'p str],
    /// Variables the command line supplies (`run --var NAME=…`): defined for this run.
    run_vars: &'p [&'p str],
    diags: Vec<Diagnostic>,
}

impl Validator<'_> {
    /// Report `name` unless `candidates` holds it; `kind` is what it should name.
    fn exists<'c>(
        &mut self,
        name: &Spanned<String>,
        kind: &str,
        candidates: impl IntoIterator<Item = &'c String> + Clone,
        context: &str,
    ) {
        if candidates.clone().into_iter().any(|c| *c == name.value) {
            return;
        }
        if self.declared.is_some_and(|d| d.contains(&name.value)) {
            return;
        }
        let mut d = Diagnostic::new(format!("no {kind} `{}`{context}", name.value), name.span);
        if let Some(s) = did_you_mean(&name.value, candidates.into_iter().map(String::as_str)) {
            d = d.with_help(format!("did you mean `{s}`?"));
        }
        self.diags.push(d);
    }

    fn environment(&mut self, name: &Spanned<String>) {
        self.exists(name, "environment", self.project.environments.keys(), "");
    }

    fn notification(&mut self, name: &Spanned<String>) {
        self.exists(name, "notification", self.project.notifications.keys(), "");
    }

    fn pipelines(&mut self) {
        let project = self.project;
        for pipeline in project.pipelines.values() {
            if let Some(env) = &pipeline.env {
                self.environment(env);
            }
            let notify = &pipeline.notify;
            for channel in notify
                .on_failure
                .iter()
                .chain(&notify.on_success)
                .chain(&notify.on_change)
                .chain(&notify.on_start)
            {
                self.notification(channel);
            }
            let context = format!(" in pipeline `{}`", pipeline.name);
            let scope: std::collections::HashSet<&str> = project
                .vars
                .keys()
                .chain(pipeline.vars.keys())
                .chain(project.environments.values().flat_map(|e| e.vars.keys()))
                .map(String::as_str)
                .chain(self.run_vars.iter().copied())
                .collect();
            for stage in pipeline.stages.values() {
                for text in stage_templates(stage) {
                    self.vars_defined(text, &scope, &pipeline.name);
                }
                for need in &stage.needs {
                    if need.value == stage.name {
                        self.diags.push(Diagnostic::new(
                            format!("stage `{}` needs itself", stage.name),
                            need.span,
                        ));
                    } else {
                        self.exists(need, "stage", pipeline.stages.keys(), &context);
                    }
                }
                if let Some(targets) = &stage.targets {
                    self.selector(targets);
                }
                self.status_condition(stage);
                if let StageAction::Steps(steps) = &stage.action {
                    for step in steps {
                        self.step(&step.value);
                        self.available(step);
                    }
                }
            }
            let graph: IndexMap<&str, (Span, Vec<&str>)> = pipeline
                .stages
                .values()
                .map(|s| {
                    let needs = s
                        .needs
                        .iter()
                        .map(|n| n.value.as_str())
                        .filter(|n| *n != s.name);
                    (s.name.as_str(), (s.span, needs.collect()))
                })
                .collect();
            for (cycle, span) in cycles(&graph) {
                self.diags.push(Diagnostic::new(
                    format!("cycle in `needs`: {}", cycle.join(" → ")),
                    span,
                ));
            }
        }
    }

    /// `{{ vars.X }}` must name a variable some scope defines: the project's, the pipeline's or
    /// an environment's `vars:`, or the command line's `--var`s. `validate` (which has none)
    /// reports a variable only `--var` supplies, so declaring it with a default documents it.
    fn vars_defined(
        &mut self,
        text: &Spanned<String>,
        scope: &std::collections::HashSet<&str>,
        pipeline: &str,
    ) {
        // A retry or rollback takes its variables from the run it repeats: any may be defined.
        if self.run_vars.contains(&ANY_RUN_VAR) {
            return;
        }
        for name in crate::template::var_references(&text.value) {
            if scope.contains(name.as_str()) || self.declared.is_some_and(|d| d.contains(&name)) {
                continue;
            }
            let mut d = Diagnostic::new(
                format!("undefined variable `vars.{name}` in pipeline `{pipeline}`"),
                text.span,
            );
            d = match did_you_mean(&name, scope.iter().copied()) {
                Some(s) => d.with_help(format!("did you mean `vars.{s}`?")),
                None => d.with_help(format!(
                    "define it under `vars:` (the project's, pipeline `{pipeline}`'s or an environment's), e.g. `vars: {{ {name}: \"\" }}`; or pass `--var {name}=…` to `baton run`"
                )),
            };
            self.diags.push(d);
        }
    }

    fn available(&mut self, step: &Spanned<Step>) {
        let kind = step.value.kind();
        if self.available.contains(&kind) {
            return;
        }
        self.diags.push(
            Diagnostic::new(
                format!("the `{kind}` step is not available in this build of baton"),
                step.span,
            )
            .with_help(format!(
                "this build runs these step kinds: {}; remove the step or do its work in a `run:` step",
                self.available.join(", ")
            )),
        );
    }

    fn step(&mut self, step: &Step) {
        match step {
            Step::Config(name) => self.exists(name, "config", self.project.configs.keys(), ""),
            Step::Promote(promote) => self.environment(&promote.to),
            Step::Notify(notify) => {
                for channel in &notify.channels {
                    self.notification(channel);
                }
            }
            Step::Upload(Upload {
                source:
                    UploadSource::Artifact {
                        from: Some(pipeline),
                        ..
                    },
                ..
            }) => self.exists(pipeline, "pipeline", self.project.pipelines.keys(), ""),
            Step::Run(_) | Step::Http(_) | Step::Upload(_) | Step::Infra(_) => {}
        }
    }

    fn environments(&mut self) {
        let project = self.project;
        for env in project.environments.values() {
            for from in &env.promote_from {
                if from.value == env.name {
                    self.diags.push(Diagnostic::new(
                        format!("environment `{}` promotes from itself", env.name),
                        from.span,
                    ));
                } else {
                    self.environment(from);
                }
            }
            for gate in &env.gate {
                self.exists(gate, "pipeline", project.pipelines.keys(), "");
            }
        }
    }

    fn configs_checks_alerts(&mut self) {
        let project = self.project;
        let selectors = project
            .configs
            .values()
            .filter_map(|c| c.targets.as_ref())
            .chain(project.checks.values().filter_map(|c| c.targets.as_ref()))
            .chain(project.alerts.values().filter_map(|a| a.targets.as_ref()))
            .chain(project.monitoring.targets.as_ref());
        for selector in selectors {
            self.selector(selector);
        }
        for config in project.configs.values() {
            self.config_secrets(config);
        }
        for alert in project.alerts.values() {
            let context = format!(" (alert `{}`)", alert.name);
            if let AlertCondition::Check(check) = &alert.condition {
                self.exists(check, "check", project.checks.keys(), &context);
                if let Some(c) = project.checks.get(&check.value) {
                    self.alert_within_check(alert, c);
                }
            }
            for channel in &alert.notify {
                self.exists(
                    channel,
                    "notification",
                    project.notifications.keys(),
                    &context,
                );
            }
        }
    }

    /// A config's `secrets:` are secret names, its content reads only those it lists, and its
    /// `path` and `on_change` read none (they are shown and stored as they are); its stored
    /// versions are encrypted to `secrets.recipients`, so there must be some. A template file's
    /// references are checked when it is rendered.
    fn config_secrets(&mut self, config: &Config) {
        let listed: Vec<&str> = config.secrets.iter().map(|n| n.value.as_str()).collect();
        for name in &config.secrets {
            if !is_secret_name(&name.value) {
                self.diags.push(
                    Diagnostic::new(
                        format!(
                            "`{}` is not a secret name (config `{}`)",
                            name.value, config.name
                        ),
                        name.span,
                    )
                    .with_help(
                        "upper-case letters, digits and `_`, as `baton secret set NAME` takes",
                    ),
                );
            }
        }
        if let Some(first) = config.secrets.first()
            && self.project.secrets.recipients.is_empty()
        {
            self.diags.push(
                Diagnostic::new(
                    format!(
                        "config `{}` reads secrets, but the project lists no `secrets.recipients` to encrypt its stored versions to",
                        config.name
                    ),
                    first.span,
                )
                .with_help("add `secrets: { recipients: [age1…] }` with the key `baton secret keygen` prints"),
            );
        }
        let content: Vec<&Spanned<String>> = match &config.source {
            ConfigSource::Content(text) => vec![text],
            ConfigSource::Vars(vars) => vars.values().collect(),
            ConfigSource::Template(_) => Vec::new(),
        };
        for text in content {
            for name in crate::template::secret_references(&text.value) {
                if !listed.contains(&name.as_str()) {
                    self.diags.push(
                        Diagnostic::new(
                            format!(
                                "config `{}` reads `secrets.{name}`, which its `secrets:` does not list",
                                config.name
                            ),
                            text.span,
                        )
                        .with_help(format!("add it: `secrets: [{name}]`")),
                    );
                }
            }
        }
        for (key, text) in [("path", &config.path), ("on_change", &config.on_change)] {
            if let Some(text) = text
                && !crate::template::secret_references(&text.value).is_empty()
            {
                self.diags.push(
                    Diagnostic::new(
                        format!("config `{}`: `{key}` cannot read secrets", config.name),
                        text.span,
                    )
                    .with_help(
                        "secrets are for the content only (its stored copies are encrypted); `on_change` runs with BATON_CONFIG_PATH to read the file",
                    ),
                );
            }
        }
    }

    /// `failure()` / `cancelled()` look at the stages a stage `needs`: without any, they can
    /// never be true, which is a mistake worth saying before the run.
    fn status_condition(&mut self, stage: &Stage) {
        let Some(condition) = &stage.condition else {
            return;
        };
        let calls = crate::template::status_functions(&condition.value);
        if let Some(name) = calls
            .iter()
            .find(|f| matches!(**f, "failure" | "cancelled"))
            && stage.needs.is_empty()
        {
            self.diags.push(
                Diagnostic::new(
                    format!(
                        "stage `{}`: `{name}()` is never true for a stage that needs nothing",
                        stage.name
                    ),
                    condition.span,
                )
                .with_help(
                    "`failure()` is true when a stage this one `needs` (directly or not) failed: add `needs: [STAGE, ...]`",
                ),
            );
        }
    }

    /// A check's alert sees results only from the check's own targets: a node outside them
    /// would never fire.
    fn alert_within_check(&mut self, alert: &Alert, check: &Check) {
        let (Some(targets), None) = (&alert.targets, self.declared) else {
            return;
        };
        let project = self.project;
        let checked = match &check.targets {
            Some(s) => project.select(&s.value).unwrap_or_default(),
            None => vec![LOCAL_NODE.to_string()],
        };
        let watched = project.select(&targets.value).unwrap_or_default();
        let outside: Vec<&String> = watched.iter().filter(|n| !checked.contains(n)).collect();
        if let Some(first) = outside.first() {
            self.diags.push(
                Diagnostic::new(
                    format!(
                        "alert `{}` watches node `{first}`, which check `{}` does not target",
                        alert.name, check.name
                    ),
                    targets.span,
                )
                .with_help(format!(
                    "leave the alert's `targets` out to watch every target of the check ({})",
                    checked.join(", ")
                )),
            );
        }
    }

    /// Channel secrets are baton secret names (environment-variable shaped), and a private CA
    /// file must exist: both would otherwise fail every delivery, long after validate.
    fn notifications(&mut self) {
        let project = self.project;
        for notification in project.notifications.values() {
            let (secret, key) = match &notification.channel {
                Channel::Smtp(smtp) => {
                    if let Some(ca) = &smtp.ca_file
                        && !project.root.join(&ca.value).is_file()
                    {
                        self.diags.push(
                            Diagnostic::new(
                                format!(
                                    "no CA file `{}` (ca_file of `{}`)",
                                    ca.value, notification.name
                                ),
                                ca.span,
                            )
                            .with_help(
                                "a PEM file of CA certificates, relative to the project root",
                            ),
                        );
                    }
                    (smtp.password_secret.as_ref(), "password_secret")
                }
                Channel::Webhook(hook) => {
                    // Rendered at send time with the project's `vars` only.
                    for name in crate::template::var_references(&hook.url.value) {
                        if !project.vars.contains_key(&name) {
                            self.diags.push(
                                Diagnostic::new(
                                    format!(
                                        "undefined variable `vars.{name}` in the url of `{}`",
                                        notification.name
                                    ),
                                    hook.url.span,
                                )
                                .with_help("a webhook url may use the project's `vars:`"),
                            );
                        }
                    }
                    (hook.secret.as_ref(), "secret")
                }
            };
            if let Some(name) = secret
                && !is_secret_name(&name.value)
            {
                self.diags.push(
                    Diagnostic::new(
                        format!("`{}` is not a secret name ({key} of `{}`)", name.value, notification.name),
                        name.span,
                    )
                    .with_help(
                        "name a baton secret (`baton secret set NAME`): upper-case letters, digits and `_`, not the value itself",
                    ),
                );
            }
        }
    }

    /// Every atom of a selector must be able to match some node (`nodes:` and the `inventory:`
    /// file's hosts, merged by the loader).
    fn selector(&mut self, selector: &Spanned<Selector>) {
        let before = self.diags.len();
        self.selector_atoms(selector);
        // Each part may match some node while the whole matches none (`role:web & role:db`);
        // only meaningful when the parts are fine and every node decoded.
        if self.diags.len() == before
            && self.declared.is_none()
            && self.project.select(&selector.value).is_err()
        {
            self.diags.push(
                Diagnostic::new(
                    format!("selector `{}` matches no node", selector.source),
                    selector.span,
                )
                .with_help("each part matches some node, but no node satisfies the whole: `&` needs every part, `!` excludes; `baton nodes` lists the nodes with their roles and labels"),
            );
        }
    }

    fn selector_atoms(&mut self, selector: &Spanned<Selector>) {
        let project = self.project;
        let span = selector.span;
        let names: Vec<&str> = project.nodes.keys().map(String::as_str).collect();
        for atom in selector.atoms() {
            let problem = match atom {
                Atom::All if names.is_empty() => Some((
                    "`all` matches no node: no nodes are defined".to_string(),
                    None,
                )),
                Atom::All => None,
                Atom::Name(name) if name == LOCAL_NODE || project.nodes.contains_key(name) => None,
                Atom::Name(name) => Some((
                    format!("no node `{name}`"),
                    did_you_mean(name, names.iter().copied().chain([LOCAL_NODE])),
                )),
                Atom::Glob(pattern) => {
                    let matches = glob::Pattern::new(pattern)
                        .is_ok_and(|p| names.iter().any(|n| p.matches(n)));
                    (!matches).then(|| (format!("glob `{pattern}` matches no node"), None))
                }
                Atom::Role(role) => {
                    let roles: Vec<&str> = project
                        .nodes
                        .values()
                        .flat_map(|n| n.roles.iter().map(String::as_str))
                        .chain(project.local.roles.iter().map(String::as_str))
                        .collect();
                    (!roles.contains(&role.as_str())).then(|| {
                        (
                            format!("no role `{role}` on any node"),
                            did_you_mean(role, roles),
                        )
                    })
                }
                Atom::Label { key, value } => {
                    let has = project
                        .nodes
                        .values()
                        .map(|n| &n.labels)
                        .chain([&project.local.labels])
                        .any(|labels| labels.get(key) == Some(value));
                    (!has).then(|| (format!("no node has label `{key}={value}`"), None))
                }
                // `atoms()` unwraps one negation; a double one checks nothing more.
                Atom::Not(_) => None,
            };
            if let Some((message, suggestion)) = problem {
                let mut d = Diagnostic::new(
                    format!("{message} (in selector `{}`)", selector.source),
                    span,
                );
                if let Some(s) = suggestion {
                    d = d.with_help(format!("did you mean `{s}`?"));
                }
                self.diags.push(d);
            }
        }
    }

    fn resources(&mut self) {
        let project = self.project;
        let ids = || project.resources.keys();
        for resource in project.resources.values() {
            if let Some(node) = &resource.node
                && node.value != LOCAL_NODE
            {
                self.exists(node, "node", project.nodes.keys(), "");
            }
            for dep in &resource.depends_on {
                self.exists(dep, "resource", ids(), "");
            }
            for (attr, reference) in resource.template_references() {
                self.exists(&Spanned::new(reference, attr), "resource", ids(), "");
            }
        }
        for output in project.outputs.values() {
            for reference in resource_references(&output.value) {
                self.exists(&Spanned::new(reference, output.span), "resource", ids(), "");
            }
        }
        let graph: IndexMap<&str, (Span, Vec<&str>)> = project
            .resources
            .values()
            .map(|r| {
                let deps = r
                    .dependencies()
                    .into_iter()
                    .filter_map(|d| project.resources.get_key_value(&d).map(|(k, _)| k.as_str()));
                (r.id.as_str(), (r.span, deps.collect()))
            })
            .collect();
        for (cycle, span) in cycles(&graph) {
            self.diags.push(Diagnostic::new(
                format!("cycle among resources: {}", cycle.join(" → ")),
                span,
            ));
        }
    }
}

/// `^[A-Z_][A-Z0-9_]*$`, as `baton secret set` accepts (secrets are environment variables).
fn is_secret_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('A'..='Z' | '_'))
        && chars.all(|c| matches!(c, 'A'..='Z' | '0'..='9' | '_'))
}

/// The templates of a stage that are rendered with `vars`, each with its place.
fn stage_templates(stage: &Stage) -> Vec<&Spanned<String>> {
    let mut out: Vec<&Spanned<String>> = Vec::new();
    out.extend(stage.condition.iter());
    out.extend(stage.rollback.iter());
    out.extend(stage.env.values());
    match &stage.action {
        StageAction::Run(commands) => out.extend(commands.iter()),
        StageAction::Http(request) => out.push(&request.url),
        StageAction::Steps(steps) => {
            for step in steps {
                match &step.value {
                    Step::Run(commands) => out.extend(commands.iter()),
                    Step::Http(request) => out.push(&request.url),
                    Step::Upload(upload) => {
                        out.push(&upload.dest);
                        if let UploadSource::Src(src) = &upload.source {
                            out.push(src);
                        }
                    }
                    Step::Notify(notify) => out.extend(notify.message.iter()),
                    Step::Config(_) | Step::Infra(_) | Step::Promote(_) => {}
                }
            }
        }
    }
    out
}

impl Resource {
    /// `resources.X` references inside the attributes' templates, with the attribute's span.
    pub fn template_references(&self) -> Vec<(Span, String)> {
        fn walk(value: &serde_json::Value, span: Span, out: &mut Vec<(Span, String)>) {
            match value {
                serde_json::Value::String(s) => {
                    out.extend(resource_references(s).into_iter().map(|r| (span, r)));
                }
                serde_json::Value::Array(items) => items.iter().for_each(|i| walk(i, span, out)),
                serde_json::Value::Object(map) => map.values().for_each(|v| walk(v, span, out)),
                _ => {}
            }
        }
        let mut out = Vec::new();
        for attr in self.attrs.values() {
            walk(&attr.value, attr.span, &mut out);
        }
        out
    }

    /// Every resource this one must come after: `depends_on` plus template references, each once,
    /// itself excluded.
    pub fn dependencies(&self) -> Vec<String> {
        let mut deps: Vec<String> = Vec::new();
        let all = self
            .depends_on
            .iter()
            .map(|d| d.value.clone())
            .chain(self.template_references().into_iter().map(|(_, r)| r));
        for dep in all {
            if dep != self.id && !deps.contains(&dep) {
                deps.push(dep);
            }
        }
        deps
    }
}

/// Names `X` of `resources.X` written inside `{{ }}` / `{% %}` blocks of a template, once each.
pub(crate) fn resource_references(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (name, _) in crate::template::resource_references(text) {
        if !out.contains(&name) {
            out.push(name);
        }
    }
    out
}

/// Each cycle of a dependency graph once, as `a → b → … → a`, with the span of its first node.
fn cycles(graph: &IndexMap<&str, (Span, Vec<&str>)>) -> Vec<(Vec<String>, Span)> {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        New,
        OnStack,
        Done,
    }
    fn visit<'a>(
        node: &'a str,
        graph: &IndexMap<&'a str, (Span, Vec<&'a str>)>,
        state: &mut IndexMap<&'a str, State>,
        stack: &mut Vec<&'a str>,
        found: &mut Vec<(Vec<String>, Span)>,
    ) {
        state.insert(node, State::OnStack);
        stack.push(node);
        for &next in graph
            .get(node)
            .map(|(_, deps)| deps.as_slice())
            .unwrap_or_default()
        {
            match state.get(next).copied().unwrap_or(State::New) {
                State::New if graph.contains_key(next) => visit(next, graph, state, stack, found),
                State::OnStack => {
                    let start = stack.iter().position(|n| *n == next).unwrap_or(0);
                    let mut cycle: Vec<String> =
                        stack[start..].iter().map(|s| s.to_string()).collect();
                    cycle.push(next.to_string());
                    found.push((cycle, graph[next].0));
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(node, State::Done);
    }
    let mut state: IndexMap<&str, State> = graph.keys().map(|k| (*k, State::New)).collect();
    let mut found = Vec::new();
    for &node in graph.keys() {
        if state[node] == State::New {
            visit(node, graph, &mut state, &mut Vec::new(), &mut found);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_resource_references_in_templates_only() {
        let cases: &[(&str, &[&str])] = &[
            ("{{ resources.app_dir.path }}/x", &["app_dir"]),
            ("{{resources.a.path}}-{{ resources.b-c.id }}", &["a", "b-c"]),
            ("/tmp/resources.txt", &[]),
            ("{{ my_resources.x }}", &[]),
            ("{% if resources.db.ready %}x{% endif %}", &["db"]),
            ("{{ resources.a.x ~ resources.a.y }}", &["a"]),
        ];
        for (text, expected) in cases {
            assert_eq!(resource_references(text), *expected, "{text}");
        }
    }

    #[test]
    fn the_public_step_kinds_are_the_decoders() {
        let decoder: Vec<&str> =
            crate::decode::keys::names(crate::decode::keys::STEP_KINDS).collect();
        assert_eq!(decoder, crate::STEP_KINDS);
    }

    #[test]
    fn cycles_are_found_once_each() {
        let span = Span::default();
        let graph: IndexMap<&str, (Span, Vec<&str>)> = [
            ("a", (span, vec!["b"])),
            ("b", (span, vec!["c"])),
            ("c", (span, vec!["a"])),
            ("d", (span, vec!["a", "e"])),
            ("e", (span, vec![])),
        ]
        .into_iter()
        .collect();
        let found: Vec<Vec<String>> = cycles(&graph).into_iter().map(|(c, _)| c).collect();
        assert_eq!(found, vec![vec!["a", "b", "c", "a"]]);
    }
}

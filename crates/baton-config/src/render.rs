//! Rendering: one template context (project vars, environment, node, run) for every action,
//! the text of a config per node, and the checks run here before anything is written.

use crate::*;

impl ConfigManager {
    /// Render and validate (here) the config for every target; every problem is returned.
    pub(crate) fn render_all(
        &self,
        config: &Config,
        scope: &Scope,
    ) -> Result<Vec<Desired>, ConfigError> {
        let env_vars = self.env_vars(scope)?;
        let mut nodes = self.target_nodes(config)?;
        if let Some(only) = &scope.only {
            nodes.retain(|n| only.contains(n));
        }
        let template_text = match &config.source {
            ConfigSource::Template(path) => {
                let file = self.project.root.join(&path.value);
                match std::fs::read_to_string(&file) {
                    Ok(text) => Some(text),
                    Err(e) => {
                        return Err(ConfigError::Invalid {
                            config: config.name.clone(),
                            problems: vec![Problem {
                                node: "*".into(),
                                path: path.value.clone(),
                                message: format!(
                                    "cannot read the template `{}`: {e}",
                                    file.display()
                                ),
                            }],
                        });
                    }
                }
            }
            _ => None,
        };
        let secrets = self.load_secrets(config, scope, template_text.as_deref())?;
        let mut desired = Vec::new();
        let mut problems = Vec::new();
        for node in nodes {
            let ctx = self.context(scope, &env_vars, &node);
            let path_template = config.path.as_ref().map(|p| p.value.as_str()).unwrap_or("");
            let path = match template::render(path_template, &ctx) {
                Ok(p) => p,
                Err(e) => {
                    problems.push(Problem {
                        node: node.clone(),
                        path: path_template.to_string(),
                        message: format!("in `path`: {}", e.message),
                    });
                    continue;
                }
            };
            if !path.starts_with('/') {
                problems.push(Problem {
                    node: node.clone(),
                    path: path.clone(),
                    message: "`path` must be absolute".into(),
                });
                continue;
            }
            let content_ctx = secrets::with_secrets(&ctx, &secrets);
            let rendered = match render_content(config, template_text.as_deref(), &content_ctx) {
                Ok(text) => text.into_bytes(),
                Err(message) => {
                    problems.push(Problem {
                        node: node.clone(),
                        path,
                        message,
                    });
                    continue;
                }
            };
            let checked = if config.kind == ConfigKind::Env {
                validate::check_env(&rendered)
            } else {
                Ok(())
            }
            .and_then(|()| {
                validate::check(&validate::effective(&config.validate, &path), &rendered)
            });
            if let Err(invalid) = checked {
                problems.push(Problem {
                    node: node.clone(),
                    path,
                    message: format!("{} ({})", invalid, validator_name(&config.validate, config)),
                });
                continue;
            }
            let on_change = match &config.on_change {
                None => None,
                Some(text) => match template::render(&text.value, &ctx) {
                    Ok(t) => Some(t),
                    Err(e) => {
                        problems.push(Problem {
                            node: node.clone(),
                            path,
                            message: format!("in `on_change`: {}", e.message),
                        });
                        continue;
                    }
                },
            };
            desired.push(Desired {
                node,
                path,
                content: Some(rendered),
                mode: config.mode,
                owner: asked_owner(config),
                on_change,
                secrets: secrets
                    .as_ref()
                    .map(|s| s.iter().map(|(_, v)| v.clone()).collect()),
            });
        }
        if !problems.is_empty() {
            return Err(ConfigError::Invalid {
                config: config.name.clone(),
                problems,
            });
        }
        Ok(desired)
    }

    /// The environment's vars (none without an environment).
    pub(crate) fn env_vars(&self, scope: &Scope) -> Result<IndexMap<String, Value>, ConfigError> {
        match &scope.env {
            None => Ok(IndexMap::new()),
            Some(name) => self
                .project
                .environments
                .get(name)
                .map(|e| e.vars.clone())
                .ok_or_else(|| ConfigError::UnknownEnvironment(name.clone())),
        }
    }

    /// The one template context of configs — for paths, contents and `on_change`, in apply
    /// and rollback alike: `vars` (project, environment, then the scope's), `env`, `node`, `run`.
    pub(crate) fn context(
        &self,
        scope: &Scope,
        env_vars: &IndexMap<String, Value>,
        node: &str,
    ) -> Value {
        let mut vars = self.project.vars.clone();
        for (k, v) in env_vars.iter().chain(scope.vars.iter()) {
            vars.insert(k.clone(), v.clone());
        }
        json!({
            "vars": vars,
            "env": { "name": scope.env.clone().unwrap_or_default(), "vars": env_vars },
            "node": self.node_value(node),
            "run": scope.run.clone().unwrap_or_else(|| json!({
                "id": scope.run_id.unwrap_or(0), "pipeline": "", "branch": "", "commit": "",
                "trigger": "manual"
            })),
        })
    }

    fn node_value(&self, node: &str) -> Value {
        let mut value = self.project.node_context(node);
        if let Some(facts) = self.facts.template_value(node) {
            value["facts"] = facts;
        }
        value
    }
}

pub(crate) fn validator_name(v: &Validator, config: &Config) -> String {
    let path = config.path.as_ref().map(|p| p.value.as_str()).unwrap_or("");
    match validate::effective(v, path) {
        Validator::Json => "json".into(),
        Validator::Yaml => "yaml".into(),
        Validator::Toml => "toml".into(),
        Validator::Ini => "ini".into(),
        Validator::Sh => "bash -n".into(),
        _ if config.kind == ConfigKind::Env => "env file".into(),
        _ => "validator".into(),
    }
}

/// The text of a config for one node.
pub(crate) fn render_content(
    config: &Config,
    template_text: Option<&str>,
    ctx: &Value,
) -> Result<String, String> {
    let located = |what: &str, e: template::TemplateError| match e.line {
        Some(line) => format!("{what} line {line}: {}", e.message),
        None => format!("{what}: {}", e.message),
    };
    match &config.source {
        ConfigSource::Content(text) => {
            template::render(&text.value, ctx).map_err(|e| located("in `content`", e))
        }
        ConfigSource::Template(path) => template::render(template_text.unwrap_or(""), ctx)
            .map_err(|e| located(&format!("in template `{}`", path.value), e)),
        ConfigSource::Vars(vars) => {
            let mut out = String::new();
            for (name, value) in vars {
                let value = template::render(&value.value, ctx)
                    .map_err(|e| located(&format!("in `vars.{name}`"), e))?;
                if value.contains('\0') {
                    return Err(format!("`vars.{name}` contains a NUL byte"));
                }
                out.push_str(&format!("{name}={}\n", validate::quote_env_value(&value)));
            }
            Ok(out)
        }
    }
}

pub(crate) fn asked_owner(config: &Config) -> Option<String> {
    match (&config.owner, &config.group) {
        (Some(o), Some(g)) => Some(format!("{o}:{g}")),
        (Some(o), None) => Some(o.clone()),
        (None, Some(g)) => Some(format!(":{g}")),
        (None, None) => None,
    }
}

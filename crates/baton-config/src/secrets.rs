//! Secrets in configs (SPEC §3: "in rendered configs, never in plaintext in the store, logs or
//! diffs"). A config lists the secrets its content reads (`secrets: [DB_PASSWORD]` →
//! `{{ secrets.DB_PASSWORD }}`), as a stage lists the ones it gets; they are loaded for the
//! environment (`default` without one) only then, and their values are masked in every report,
//! error and event from then on.
//!
//! Every stored copy of a content of such a config (version, original, intent) is an age file
//! for the project's recipients holding the bytes *and the secret values they were rendered
//! with*: a later diff masks those too, so rotating a secret does not show the old value on
//! the `-` lines. A rollback decrypts it and restores the exact bytes.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use baton_engine::{DEFAULT_SECRETS_ENV, SecretLoadError};
use baton_model::Span;
use serde::Deserialize;

use crate::*;

/// The plaintext of an encrypted stored copy.
#[derive(Serialize, Deserialize)]
struct Sealed {
    /// The content, base64.
    content: String,
    /// The secret values the content holds.
    secrets: Vec<String>,
}

impl ConfigManager {
    /// The values of `config`'s `secrets:` in the scope's environment (masked from now on), by
    /// name; `None` when it lists none. `template` is the text of its template file, whose
    /// `secrets.X` must all be listed.
    pub(crate) fn load_secrets(
        &self,
        config: &Config,
        scope: &Scope,
        template: Option<&str>,
    ) -> Result<Option<Vec<(String, String)>>, ConfigError> {
        let listed: Vec<String> = config.secrets.iter().map(|n| n.value.clone()).collect();
        if let Some(name) = template
            .map(template::secret_references)
            .unwrap_or_default()
            .into_iter()
            .find(|n| !listed.contains(n))
        {
            return Err(ConfigError::Invalid {
                config: config.name.clone(),
                problems: vec![Problem {
                    node: "*".into(),
                    path: template_path(config),
                    message: format!(
                        "reads `secrets.{name}`, which the config's `secrets:` does not list; add it: `secrets: [{name}]`"
                    ),
                }],
            });
        }
        if listed.is_empty() {
            return Ok(None);
        }
        let env = scope.env.as_deref().unwrap_or(DEFAULT_SECRETS_ENV);
        let source = self.secret_source(config)?;
        let values = match source.load(env, &listed) {
            Ok(values) => values,
            Err(SecretLoadError::Missing(missing)) => {
                let each: Vec<String> = config
                    .secrets
                    .iter()
                    .filter(|n| missing.contains(&n.value))
                    .map(|n| {
                        format!(
                            "secret `{}` ({}) is not set in environment `{env}`; set it with `baton secret set {} --env {env}`",
                            n.value,
                            self.location(n.span),
                            n.value
                        )
                    })
                    .collect();
                return Err(ConfigError::MissingSecret {
                    config: config.name.clone(),
                    message: each.join("; "),
                });
            }
            Err(SecretLoadError::Failed(reason)) => {
                return Err(ConfigError::Secrets {
                    config: config.name.clone(),
                    message: format!(
                        "cannot read its secrets ({}) in environment `{env}`: {reason}",
                        listed.join(", ")
                    ),
                });
            }
        };
        for (_, value) in &values {
            self.mask.add(value);
            if config.kind == ConfigKind::Env {
                // How an env file writes it when it needs quoting.
                self.mask.add(&validate::quote_env_value(value));
            }
        }
        Ok(Some(values))
    }

    /// Mask the secret values the nodes hold now: those of the newest version's encrypted
    /// copies (a rotated secret's old value is on the `-` lines of a diff).
    pub(crate) fn mask_stored(&self, config: &Config, env: &str) -> Result<(), ConfigError> {
        let current = self.store.config_current_version(&config.name, env)?;
        if current == 0 {
            return Ok(());
        }
        let Some(version) = self.store.config_version(&config.name, env, current)? else {
            return Ok(());
        };
        let mut seen = std::collections::HashSet::new();
        for t in version.targets {
            if t.encrypted && seen.insert(t.content.clone()) {
                self.opened(config, current, t)?;
            }
        }
        Ok(())
    }

    /// `t` as the store keeps it: encrypted, with the secret values it holds, when `secrets`
    /// is `Some` (a content of a config that reads secrets), else as it is.
    pub(crate) fn stored(
        &self,
        config: &Config,
        mut t: ConfigTarget,
        secrets: Option<&[String]>,
    ) -> Result<ConfigTarget, ConfigError> {
        let (Some(values), Some(content)) = (secrets, &t.content) else {
            return Ok(t);
        };
        if t.encrypted {
            return Ok(t);
        }
        let plain = serde_json::to_vec(&Sealed {
            content: BASE64.encode(content),
            secrets: values.to_vec(),
        })
        .expect("strings serialize");
        let key = sha256_hex(&plain);
        let mut sealed = self.sealed.lock().unwrap_or_else(|p| p.into_inner());
        let bytes = match sealed.get(&key) {
            Some(bytes) => bytes.clone(),
            None => {
                let bytes = self.secret_source(config)?.encrypt(&plain).map_err(|e| {
                    ConfigError::Secrets {
                        config: config.name.clone(),
                        message: format!(
                            "cannot encrypt the stored copy of its content (it holds secrets): {e}"
                        ),
                    }
                })?;
                sealed.insert(key, bytes.clone());
                bytes
            }
        };
        t.content = Some(bytes);
        t.encrypted = true;
        Ok(t)
    }

    /// `t` (of `version`) with its content decrypted when it is encrypted, and the secret
    /// values it holds (masked from now on); `None` when it was stored as it is.
    pub(crate) fn opened(
        &self,
        config: &Config,
        version: i64,
        mut t: ConfigTarget,
    ) -> Result<(ConfigTarget, Option<Vec<String>>), ConfigError> {
        if !t.encrypted {
            return Ok((t, None));
        }
        let failed = |reason: String| ConfigError::Secrets {
            config: config.name.clone(),
            message: format!(
                "version {version} of {} is encrypted (it holds secrets) and cannot be decrypted: {reason}",
                t.node
            ),
        };
        let sealed = t.content.as_deref().unwrap_or_default();
        let plain = self
            .secret_source(config)?
            .decrypt(sealed)
            .map_err(failed)?;
        let opened: Sealed = serde_json::from_slice(&plain).map_err(|e| failed(e.to_string()))?;
        let content = BASE64
            .decode(opened.content.as_bytes())
            .map_err(|e| failed(e.to_string()))?;
        for value in &opened.secrets {
            self.mask.add(value);
        }
        t.content = Some(content);
        t.encrypted = false;
        Ok((t, Some(opened.secrets)))
    }

    /// What a report or an error shows, with every secret value known so far masked.
    pub(crate) fn masked<T: Masked>(
        &self,
        result: Result<T, ConfigError>,
    ) -> Result<T, ConfigError> {
        if self.mask.is_empty() {
            return result;
        }
        let mask = |text: String| self.mask.text(&text);
        let problems = |problems: Vec<Problem>| {
            problems
                .into_iter()
                .map(|p| Problem {
                    message: mask(p.message),
                    ..p
                })
                .collect()
        };
        match result {
            Ok(value) => Ok(value.masked(&self.mask)),
            Err(ConfigError::Invalid {
                config,
                problems: p,
            }) => Err(ConfigError::Invalid {
                config,
                problems: problems(p),
            }),
            Err(ConfigError::Refused {
                config,
                problems: p,
            }) => Err(ConfigError::Refused {
                config,
                problems: problems(p),
            }),
            Err(other) => Err(other),
        }
    }

    fn secret_source(&self, config: &Config) -> Result<&Arc<dyn SecretSource>, ConfigError> {
        self.secrets.as_ref().ok_or_else(|| ConfigError::Secrets {
            config: config.name.clone(),
            message: "secrets are not available in this build of baton".into(),
        })
    }

    /// `file:line:col` of a place in the project's files, relative to the project root.
    fn location(&self, span: Span) -> String {
        let path = self.project.sources.path(span.file);
        let path = path.strip_prefix(&self.project.root).unwrap_or(path);
        format!("{}:{}:{}", path.display(), span.line, span.col)
    }
}

/// The secrets a stored copy is encrypted with: the rendering's, or (a content of a config
/// that lists secrets, whatever it holds) none but encrypted all the same.
pub(crate) fn sealing<'a>(config: &Config, d: &'a Desired) -> Option<&'a [String]> {
    match &d.secrets {
        Some(values) => Some(values),
        None if !config.secrets.is_empty() => Some(&[]),
        None => None,
    }
}

/// The sha256 of what a probe found (`None`: absent), to compare with a stored one without
/// reading the stored bytes (which may be encrypted).
pub(crate) fn current_sha256(probe: &Probe) -> Option<String> {
    match &probe.current {
        Current::File { content, .. } => Some(sha256_hex(content)),
        Current::Absent => None,
        // Never equal to a file's hash: refused or rewritten, never "unchanged".
        Current::Symlink(_) | Current::NotAFile(_) => Some(String::new()),
    }
}

fn template_path(config: &Config) -> String {
    match &config.source {
        ConfigSource::Template(path) => path.value.clone(),
        _ => String::new(),
    }
}

/// The template context of a content: the config's context and its `secrets`.
pub(crate) fn with_secrets(ctx: &Value, secrets: &Option<Vec<(String, String)>>) -> Value {
    let Some(values) = secrets else {
        return ctx.clone();
    };
    let mut ctx = ctx.clone();
    ctx["secrets"] = values
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect::<serde_json::Map<_, _>>()
        .into();
    ctx
}

/// What an action returns, with secret values replaced by `***`.
pub(crate) trait Masked {
    fn masked(self, mask: &Mask) -> Self;
}

impl Masked for usize {
    fn masked(self, _: &Mask) -> usize {
        self
    }
}

impl Masked for Report {
    fn masked(mut self, mask: &Mask) -> Report {
        for node in &mut self.nodes {
            node.diff = mask.text(&node.diff);
            node.reason = node.reason.take().map(|r| mask.text(&r));
            node.on_change = node.on_change.take().map(|o| mask.text(&o));
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_join_the_content_context_only_when_listed() {
        let ctx = json!({ "vars": {} });
        assert_eq!(with_secrets(&ctx, &None), ctx);
        let with = with_secrets(&ctx, &Some(vec![("DB".into(), "pw".into())]));
        assert_eq!(with["secrets"]["DB"], "pw");
        assert_eq!(
            template::render("x={{ secrets.DB }}", &with).unwrap(),
            "x=pw"
        );
    }

    #[test]
    fn reports_are_masked_in_diffs_reasons_and_handler_output() {
        let mask = Mask::default();
        mask.add("hunter2-pass");
        let report = Report {
            config: "app".into(),
            env: String::new(),
            version: None,
            current: 0,
            nodes: vec![NodeReport {
                node: "n1".into(),
                path: "/etc/app".into(),
                result: "changed",
                reason: Some("bad hunter2-pass".into()),
                diff: "+pw=hunter2-pass\n".into(),
                on_change: Some("echo hunter2-pass".into()),
                pending_from: None,
                pending: false,
            }],
        }
        .masked(&mask);
        let n = &report.nodes[0];
        assert_eq!(n.diff, "+pw=***\n");
        assert_eq!(n.reason.as_deref(), Some("bad ***"));
        assert_eq!(n.on_change.as_deref(), Some("echo ***"));
    }
}

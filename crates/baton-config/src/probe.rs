//! Reading targets (one probe command per node), comparing them with what they should hold,
//! refusing targets that cannot take the file, and `validate: COMMAND` on the targets.

use crate::*;

impl ConfigManager {
    /// Probe every target at once (at most `ssh.forks` at a time) and compare.
    pub(crate) async fn plan(
        &self,
        config: &Config,
        env: &str,
        desired: Vec<Desired>,
    ) -> Vec<Planned> {
        let (targets, cancel) = (self.targets.clone(), self.cancel.clone());
        let (over, env) = (config.r#become.clone(), secrets_env(env));
        let forks = self.project.ssh.forks.max(1) as usize;
        let probes = baton_exec::fan_out(desired.clone(), forks, move |d: Desired| {
            let (targets, cancel, over, env) =
                (targets.clone(), cancel.clone(), over.clone(), env.clone());
            async move {
                match targets.executor_as(&d.node, &over, env.as_deref()) {
                    Ok(x) => probe(&x, &d.path, &cancel).await,
                    Err(e) => Err(e.to_string()),
                }
            }
        })
        .await;
        desired
            .into_iter()
            .zip(probes)
            .map(|(desired, probe)| {
                // A panicking probe fails its node with the reason, not the whole apply.
                let probe = probe.unwrap_or_else(|panic| Err(panic.to_string()));
                let (changed, diff) = match &probe {
                    Ok(p) => compare(config, &desired, p),
                    Err(_) => (false, String::new()),
                };
                Planned {
                    desired,
                    probe,
                    changed,
                    diff,
                }
            })
            .collect()
    }

    /// `validate: COMMAND` runs on each target against a temporary copy of its rendering.
    pub(crate) async fn validate_on_targets(
        &self,
        config: &Config,
        env: &str,
        desired: &[&Desired],
    ) -> Result<(), ConfigError> {
        let Validator::Command(command) = &config.validate else {
            return Ok(());
        };
        let items: Vec<(String, String, Vec<u8>)> = desired
            .iter()
            .filter_map(|d| Some((d.node.clone(), d.path.clone(), d.content.clone()?)))
            .collect();
        let names: Vec<(String, String)> = items
            .iter()
            .map(|(n, p, _)| (n.clone(), p.clone()))
            .collect();
        let (targets, cancel, scratch) = (
            self.targets.clone(),
            self.cancel.clone(),
            self.scratch.clone(),
        );
        let command = command.clone();
        let (over, env) = (config.r#become.clone(), secrets_env(env));
        let work = move |(node, path, content): (String, String, Vec<u8>)| {
            let (targets, cancel, scratch, command, over, env) = (
                targets.clone(),
                cancel.clone(),
                scratch.clone(),
                command.clone(),
                over.clone(),
                env.clone(),
            );
            async move {
                let x = targets
                    .executor_as(&node, &over, env.as_deref())
                    .map_err(|e| e.to_string())?;
                let base = path.rsplit('/').next().unwrap_or("config").to_string();
                let dir = format!(
                    "/tmp/.baton-validate-{}-{}",
                    std::process::id(),
                    hex::encode(&Sha256::digest(format!("{node}{path}"))[..6])
                );
                let copy = format!("{dir}/{base}");
                remote::upload(&x, &scratch, &content, &copy, Some(0o600))
                    .await
                    .map_err(|e| e.to_string())?;
                let script = format!(
                    "rc=0; ( {} ) || rc=$?; rm -rf -- {}; exit $rc",
                    command.replace("{path}", &remote::quote(&copy)),
                    remote::quote(&dir)
                );
                let (ok, out) = remote::run(&x, script, vec![], &cancel)
                    .await
                    .map_err(|e| e.to_string())?;
                if ok {
                    Ok(())
                } else {
                    Err(format!(
                        "`{command}` failed: {}",
                        String::from_utf8_lossy(&out).trim().replace(&copy, &path)
                    ))
                }
            }
        };
        let forks = self.project.ssh.forks.max(1) as usize;
        let results = baton_exec::fan_out(items, forks, work).await;
        let mut problems = Vec::new();
        for ((node, path), result) in names.into_iter().zip(results) {
            let result = result.unwrap_or_else(|panic| Err(panic.to_string()));
            if let Err(message) = result {
                problems.push(Problem {
                    node,
                    path,
                    message,
                });
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            problems.sort_by(|a, b| a.node.cmp(&b.node));
            Err(ConfigError::Invalid {
                config: config.name.clone(),
                problems,
            })
        }
    }
}

/// Whether `current` (`user:group`) is what `asked` (`user`, `user:group` or `:group`) asks.
pub(crate) fn owner_matches(asked: &str, current: &str) -> bool {
    let (cu, cg) = current.split_once(':').unwrap_or((current, ""));
    match asked.split_once(':') {
        Some(("", g)) => g == cg,
        Some((u, g)) => u == cu && g == cg,
        None => asked == cu,
    }
}

pub(crate) fn compare(config: &Config, d: &Desired, probe: &Probe) -> (bool, String) {
    let label = format!("{}:{}", d.node, d.path);
    match (&probe.current, &d.content) {
        (Current::Absent, None) => (false, String::new()),
        (Current::Absent, Some(new)) => (true, diff::unified(&label, None, Some(new))),
        (
            Current::File {
                content,
                mode,
                owner,
            },
            want,
        ) => {
            let mut text = String::new();
            let mut changed = false;
            if want.as_deref() != Some(content.as_slice()) {
                changed = true;
                text.push_str(&diff::unified(&label, Some(content), want.as_deref()));
            }
            if want.is_some() {
                if let Some(m) = d.mode
                    && m != *mode
                {
                    changed = true;
                    text.push_str(&format!("{label}: mode {mode:o} → {m:o}\n"));
                }
                if let Some(o) = &d.owner
                    && !owner_matches(o, owner)
                {
                    changed = true;
                    text.push_str(&format!("{label}: owner {owner} → {o}\n"));
                }
            }
            let _ = config;
            (changed, text)
        }
        // Refused before anything is written (refuse_unfit).
        (Current::Symlink(_) | Current::NotAFile(_), _) => (true, String::new()),
    }
}

/// Targets that cannot take the file make the whole apply fail before any write.
pub(crate) fn refuse_unfit(config: &Config, planned: &[Planned]) -> Result<(), ConfigError> {
    let mut problems = Vec::new();
    for p in planned {
        let Ok(probe) = &p.probe else { continue };
        let problem = match &probe.current {
            Current::Symlink(to) => Some(format!(
                "is a symbolic link to `{to}`; baton does not follow or replace links: set `path` to the real file"
            )),
            Current::NotAFile(kind) => Some(format!("is a {kind}, not a regular file")),
            _ if config.kind == ConfigKind::Service && p.changed && !probe.systemd => Some(
                "has no systemd (no `systemctl`, or /run/systemd/system is missing): a service config needs it"
                    .to_string(),
            ),
            _ => None,
        };
        if let Some(message) = problem {
            problems.push(Problem {
                node: p.desired.node.clone(),
                path: p.desired.path.clone(),
                message,
            });
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ConfigError::Refused {
            config: config.name.clone(),
            problems,
        })
    }
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

pub(crate) async fn probe(
    executor: &Arc<dyn Executor>,
    path: &str,
    cancel: &CancellationToken,
) -> Result<Probe, String> {
    let (ok, output) = remote::run(executor, remote::probe_script(path), vec![], cancel)
        .await
        .map_err(|e| e.to_string())?;
    if !ok {
        return Err(format!(
            "cannot read `{path}`: {}",
            String::from_utf8_lossy(&output).trim()
        ));
    }
    remote::parse_probe(&output)
}

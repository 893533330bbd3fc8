//! What the monitor watches, resolved once from the project: the nodes sampled each round (the
//! targets of metric alerts and checks, plus `monitoring.targets`), the mounts the probe must
//! measure, and each check and alert with its nodes.

use std::collections::BTreeSet;

use baton_model::{Alert, AlertCondition, Check, LOCAL_NODE, Metric, Project, Selector, Spanned};

/// A check and the nodes it runs for.
#[derive(Debug, Clone)]
pub struct PlannedCheck {
    pub check: Check,
    pub nodes: Vec<String>,
}

/// An alert and the nodes it watches.
#[derive(Debug, Clone)]
pub struct PlannedAlert {
    pub alert: Alert,
    pub nodes: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Sampled every round, in inventory order (`local` last).
    pub nodes: Vec<String>,
    /// Paths `df` measures: `/` and every `disk:/PATH` of an alert.
    pub mounts: Vec<String>,
    pub checks: Vec<PlannedCheck>,
    pub alerts: Vec<PlannedAlert>,
}

impl Plan {
    pub fn new(project: &Project) -> Plan {
        let select = |selector: &Option<Spanned<Selector>>| -> Option<Vec<String>> {
            // Validation made sure selectors match; a project loaded without it selects none.
            selector
                .as_ref()
                .map(|s| project.select(&s.value).unwrap_or_default())
        };
        let every_node: Vec<String> = if project.nodes.is_empty() {
            vec![LOCAL_NODE.to_string()]
        } else {
            project.nodes.keys().cloned().collect()
        };
        let mut sampled: BTreeSet<String> = select(&project.monitoring.targets)
            .unwrap_or_default()
            .into_iter()
            .collect();
        let checks: Vec<PlannedCheck> = project
            .checks
            .values()
            .map(|check| {
                let nodes = select(&check.targets);
                // A check without targets runs on `local`, which is sampled only when named.
                if let Some(named) = &nodes {
                    sampled.extend(named.iter().cloned());
                }
                PlannedCheck {
                    check: check.clone(),
                    nodes: nodes.unwrap_or_else(|| vec![LOCAL_NODE.to_string()]),
                }
            })
            .collect();
        let mut mounts: BTreeSet<String> = BTreeSet::from(["/".to_string()]);
        let alerts = project
            .alerts
            .values()
            .map(|alert| {
                let nodes = match &alert.condition {
                    AlertCondition::Metric { metric, .. } => {
                        if let Metric::Disk(path) = metric {
                            mounts.insert(path.clone());
                        }
                        let nodes = select(&alert.targets).unwrap_or_else(|| every_node.clone());
                        sampled.extend(nodes.iter().cloned());
                        nodes
                    }
                    AlertCondition::Check(name) => {
                        let checked = checks
                            .iter()
                            .find(|c| c.check.name == name.value)
                            .map(|c| c.nodes.clone())
                            .unwrap_or_default();
                        match select(&alert.targets) {
                            Some(watched) => watched
                                .into_iter()
                                .filter(|n| checked.contains(n))
                                .collect(),
                            None => checked,
                        }
                    }
                };
                PlannedAlert {
                    alert: alert.clone(),
                    nodes,
                }
            })
            .collect();
        let order = |name: &String| {
            project
                .nodes
                .get_index_of(name)
                .unwrap_or(project.nodes.len())
        };
        let mut nodes: Vec<String> = sampled.into_iter().collect();
        nodes.sort_by_key(order);
        Plan {
            nodes,
            mounts: mounts.into_iter().collect(),
            checks,
            alerts,
        }
    }

    /// Whether anything is watched at all.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty() && self.checks.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(yaml: &str) -> Project {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("baton.yaml");
        let nodes = "nodes:\n  web1: { host: a, roles: [web] }\n  web2: { host: b, roles: [web] }\n  db1: { host: c, roles: [db] }\n";
        std::fs::write(&file, format!("{nodes}{yaml}")).unwrap();
        baton_model::load(&file).unwrap_or_else(|d| panic!("{}", d.render(false)))
    }

    #[test]
    fn nodes_come_from_metric_alerts_checks_and_monitoring_targets() {
        let p = project(
            r#"
monitoring: { targets: local }
checks:
  api: { targets: role:web, http: "http://{{ node.host }}/" }
  here: { command: "true" }
alerts:
  api_down: { check: api, targets: web2 }
  var_full: { metric: "disk:/var", above: 90, targets: db1 }
  root_full: { metric: disk, above: 95, targets: db1 }
"#,
        );
        let plan = Plan::new(&p);
        assert_eq!(plan.nodes, vec!["web1", "web2", "db1", "local"]);
        assert_eq!(plan.mounts, vec!["/", "/var"]);
        assert_eq!(plan.checks[0].nodes, vec!["web1", "web2"]);
        assert_eq!(
            plan.checks[1].nodes,
            vec!["local"],
            "a check without targets runs here"
        );
        assert_eq!(plan.alerts[0].nodes, vec!["web2"]);
    }

    #[test]
    fn a_metric_alert_without_targets_watches_every_node_and_local_is_not_implied() {
        let plan = Plan::new(&project("alerts:\n  busy: { metric: cpu, above: 80 }\n"));
        assert_eq!(plan.nodes, vec!["web1", "web2", "db1"]);
        assert_eq!(plan.alerts[0].nodes, plan.nodes);
        let plan = Plan::new(&project("checks:\n  c: { command: \"true\" }\n"));
        assert!(plan.nodes.is_empty(), "{:?}", plan.nodes);
        assert!(!plan.is_empty());
    }
}

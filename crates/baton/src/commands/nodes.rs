//! `baton nodes [SELECTOR] [--facts]`: the inventory, and facts gathered over SSH.

use std::sync::{Arc, Mutex};

use baton_engine::facts::{self, Facts};
use baton_exec::{CancellationToken, CommandSpec};
use baton_model::LOCAL_NODE;
use serde::Serialize;

use crate::app::{App, CommandResult, EXIT_FAILED, EXIT_OK, Ui};
use crate::cli::{Cli, NodesArgs};
use crate::output::{self, Table};
use baton_ops::NodeTargets;

#[derive(Debug, Serialize)]
struct NodeRow {
    name: String,
    host: String,
    port: u16,
    user: Option<String>,
    roles: Vec<String>,
    labels: indexmap::IndexMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    facts: Option<Facts>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

pub fn run(cli: &Cli, ui: &Ui, args: &NodesArgs) -> CommandResult {
    let app = App::open(cli, ui)?;
    let names = match &args.selector {
        Some(selector) => crate::commands::ping::select(&app, selector)?,
        None => app
            .project
            .nodes
            .keys()
            .cloned()
            .chain([LOCAL_NODE.to_string()])
            .collect(),
    };
    let mut rows: Vec<NodeRow> = names
        .iter()
        .map(|name| match app.project.nodes.get(name) {
            Some(n) => NodeRow {
                name: n.name.clone(),
                host: n.host.clone(),
                port: n.port.unwrap_or(22),
                user: n.user.clone(),
                roles: n.roles.clone(),
                labels: n.labels.clone(),
                facts: None,
                error: None,
            },
            None => NodeRow {
                name: LOCAL_NODE.into(),
                host: "this machine".into(),
                port: 0,
                user: None,
                roles: Vec::new(),
                labels: Default::default(),
                facts: None,
                error: None,
            },
        })
        .collect();
    if args.facts {
        gather(&app, &mut rows)?;
    }
    let failed = rows.iter().any(|r| r.error.is_some());
    if args.json {
        output::print_json(&rows);
    } else if args.facts {
        let mut table = Table::new(&[
            "NODE", "OS", "KERNEL", "CPUS", "MEMORY", "LOAD", "DISK /", "UPTIME", "DETAIL",
        ]);
        for r in &rows {
            let cells = match &r.facts {
                Some(f) => vec![
                    f.os.clone(),
                    f.kernel.clone(),
                    f.cpus.to_string(),
                    format!(
                        "{:.0}% of {}",
                        f.memory_used_percent(),
                        gib(f.memory_total_bytes)
                    ),
                    format!("{:.2} {:.2} {:.2}", f.load[0], f.load[1], f.load[2]),
                    format!(
                        "{:.0}% of {}",
                        f.disk_used_percent(),
                        gib(f.disk_total_bytes)
                    ),
                    output::duration(f.uptime_seconds as i64 * 1000),
                    String::new(),
                ],
                None => {
                    let mut empty = vec!["-".to_string(); 7];
                    empty.push(r.error.clone().unwrap_or_default());
                    empty
                }
            };
            table.row([vec![r.name.clone()], cells].concat());
        }
        print!("{}", table.render(ui));
    } else {
        let mut table = Table::new(&["NODE", "ADDRESS", "USER", "ROLES", "LABELS"]);
        for r in &rows {
            let address = if r.port == 0 {
                r.host.clone()
            } else {
                format!("{}:{}", r.host, r.port)
            };
            let labels: Vec<String> = r.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            table.row(vec![
                r.name.clone(),
                address,
                r.user.clone().unwrap_or_else(|| "-".into()),
                if r.roles.is_empty() {
                    "-".into()
                } else {
                    r.roles.join(",")
                },
                if labels.is_empty() {
                    "-".into()
                } else {
                    labels.join(",")
                },
            ]);
        }
        print!("{}", table.render(ui));
    }
    Ok(if failed { EXIT_FAILED } else { EXIT_OK })
}

fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / (1024.0 * 1024.0 * 1024.0))
}

/// Run the facts probe on every row's node in parallel.
fn gather(app: &App, rows: &mut [NodeRow]) -> Result<(), crate::app::Failure> {
    let targets = Arc::new(NodeTargets::new(&app.project));
    let runtime = crate::app::runtime()?;
    let results = runtime.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for (index, row) in rows.iter().enumerate() {
            let (targets, name) = (targets.clone(), row.name.clone());
            tasks.spawn(async move { (index, probe(&targets, &name).await) });
        }
        let results = tasks.join_all().await;
        targets.disconnect_all().await;
        results
    });
    runtime.shutdown_background();
    for (index, result) in results {
        match result {
            Ok(facts) => rows[index].facts = Some(facts),
            Err(e) => rows[index].error = Some(e),
        }
    }
    Ok(())
}

async fn probe(targets: &NodeTargets, name: &str) -> Result<Facts, String> {
    let executor = baton_engine::Targets::executor(targets, name).map_err(|e| e.to_string())?;
    let spec = CommandSpec {
        script: facts::PROBE.into(),
        timeout: Some(std::time::Duration::from_secs(30)),
        grace: std::time::Duration::from_secs(1),
        ..Default::default()
    };
    let output = Arc::new(Mutex::new(Vec::new()));
    let sink = output.clone();
    let info = executor
        .run(
            &spec,
            Box::new(|_| {}),
            Box::new(move |c| sink.lock().unwrap().extend_from_slice(c)),
            &CancellationToken::new(),
        )
        .await
        .map_err(|e| e.to_string())?;
    if !info.success() {
        return Err(format!("the facts probe failed (exit {:?})", info.code));
    }
    let text = String::from_utf8_lossy(&output.lock().unwrap()).into_owned();
    Ok(facts::parse(&text))
}

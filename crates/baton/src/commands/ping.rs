//! `baton ping [SELECTOR]`: connect, authenticate and run `true` on each node, in parallel.

use std::sync::Arc;
use std::time::Instant;

use baton_exec::{CancellationToken, CommandSpec};
use baton_model::{LOCAL_NODE, Selector};
use serde::Serialize;

use crate::app::{App, CommandResult, EXIT_FAILED, EXIT_OK, Failure, Ui};
use crate::cli::{Cli, PingArgs};
use crate::output::{self, Table};
use baton_ops::NodeTargets;

#[derive(Debug, Serialize)]
struct Pong {
    node: String,
    address: String,
    reachable: bool,
    time_ms: u64,
    error: Option<String>,
}

pub fn run(cli: &Cli, ui: &Ui, args: &PingArgs) -> CommandResult {
    let app = App::open(cli, ui)?;
    let nodes = select(&app, args.selector.as_deref().unwrap_or("all"))?;
    let targets = Arc::new(NodeTargets::new(&app.project));
    let runtime = crate::app::runtime()?;
    let pongs = runtime.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for (index, name) in nodes.iter().enumerate() {
            let (targets, name) = (targets.clone(), name.clone());
            let address = match targets.address(&name) {
                Some(a) => format!("{}@{}:{}", a.user, a.host, a.port),
                None => "this machine".to_string(),
            };
            tasks.spawn(async move {
                let started = Instant::now();
                let result = probe(&targets, &name).await;
                let pong = Pong {
                    node: name,
                    address,
                    reachable: result.is_ok(),
                    time_ms: started.elapsed().as_millis() as u64,
                    error: result.err(),
                };
                (index, pong)
            });
        }
        let mut pongs: Vec<(usize, Pong)> = tasks.join_all().await;
        pongs.sort_by_key(|(i, _)| *i);
        targets.disconnect_all().await;
        pongs.into_iter().map(|(_, p)| p).collect::<Vec<_>>()
    });
    runtime.shutdown_background();
    let down = pongs.iter().filter(|p| !p.reachable).count();
    if args.json {
        output::print_json(&pongs);
    } else {
        let mut table = Table::new(&["NODE", "ADDRESS", "STATUS", "TIME", "DETAIL"]);
        for p in &pongs {
            let status = if p.reachable {
                ui.paint(crate::app::Style::Ok, "ok")
            } else {
                ui.paint(crate::app::Style::Bad, "unreachable")
            };
            table.row(vec![
                p.node.clone(),
                p.address.clone(),
                status,
                output::duration(p.time_ms as i64),
                p.error.clone().unwrap_or_default(),
            ]);
        }
        print!("{}", table.render(ui));
    }
    Ok(if down == 0 { EXIT_OK } else { EXIT_FAILED })
}

/// Resolve a selector for commands that take one, as a usage error when it matches nothing.
pub fn select(app: &App, selector: &str) -> Result<Vec<String>, Failure> {
    let parsed = Selector::parse(selector).map_err(|e| Failure::usage(e.to_string()))?;
    app.project.select(&parsed).map_err(|e| {
        let names: Vec<&str> = app
            .project
            .nodes
            .keys()
            .map(String::as_str)
            .chain([LOCAL_NODE])
            .collect();
        Failure::usage(e.to_string()).with_hint(format!("nodes: {}", names.join(", ")))
    })
}

async fn probe(targets: &NodeTargets, name: &str) -> Result<(), String> {
    let executor = baton_engine::Targets::executor(targets, name).map_err(|e| e.to_string())?;
    let spec = CommandSpec {
        script: "true".into(),
        grace: std::time::Duration::from_secs(1),
        ..Default::default()
    };
    let info = executor
        .run(
            &spec,
            Box::new(|_| {}),
            Box::new(|_| {}),
            &CancellationToken::new(),
        )
        .await
        .map_err(|e| {
            e.to_string()
                .trim_start_matches(&format!("{name}: "))
                .to_string()
        })?;
    if info.success() {
        Ok(())
    } else {
        Err(format!("`true` exited with {:?}", info.code))
    }
}

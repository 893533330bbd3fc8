//! `baton nodes [SELECTOR] [--facts]`: the inventory, and facts gathered over SSH
//! (`--watch`: [`crate::commands::nodes_watch`]).

use crate::app::{App, CommandResult, EXIT_FAILED, EXIT_OK, Ui};
use crate::cli::{Cli, NodesArgs};
use crate::output::{self, Table};

pub fn run(cli: &Cli, ui: &Ui, args: &NodesArgs) -> CommandResult {
    if args.watch {
        return crate::commands::nodes_watch::run(cli, ui, args);
    }
    let app = App::open(cli, ui)?;
    let mut rows = app.ops.nodes(args.selector.as_deref())?;
    if args.facts {
        let runtime = crate::app::runtime()?;
        runtime.block_on(app.ops.gather_facts(&mut rows));
        runtime.shutdown_background();
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

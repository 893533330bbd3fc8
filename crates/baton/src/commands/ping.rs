//! `baton ping [SELECTOR]`: connect, authenticate and run `true` on each node, in parallel.

use crate::app::{App, CommandResult, EXIT_FAILED, EXIT_OK, Style, Ui};
use crate::cli::{Cli, PingArgs};
use crate::output::{self, Table};

pub fn run(cli: &Cli, ui: &Ui, args: &PingArgs) -> CommandResult {
    let app = App::open(cli, ui)?;
    let selector = args.selector.as_deref().unwrap_or("all");
    let runtime = crate::app::runtime()?;
    let pongs = runtime.block_on(app.ops.ping(selector));
    runtime.shutdown_background();
    let pongs = pongs?;
    let down = pongs.iter().filter(|p| !p.reachable).count();
    if args.json {
        output::print_json(&pongs);
    } else {
        let mut table = Table::new(&["NODE", "ADDRESS", "STATUS", "TIME", "DETAIL"]);
        for p in &pongs {
            let status = if p.reachable {
                ui.paint(Style::Ok, "ok")
            } else {
                ui.paint(Style::Bad, "unreachable")
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

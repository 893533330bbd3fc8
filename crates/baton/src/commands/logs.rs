//! `baton logs RUN`: the stored output of a run's steps, optionally followed live.

use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

use baton_store::StepId;

use crate::app::{App, CommandResult, EXIT_OK, Failure, Style, Ui};
use crate::cli::{Cli, LogsArgs};

/// How often `--follow` looks for new output.
const FOLLOW_POLL: Duration = Duration::from_millis(200);

pub fn run(cli: &Cli, ui: &Ui, args: &LogsArgs) -> CommandResult {
    let app = App::open(cli, ui)?;
    let run = app.store.run(args.run)?.ok_or_else(|| {
        Failure::usage(format!("no run {}", args.run)).with_hint("`baton runs` lists them")
    })?;
    if let Some(stage) = &args.stage {
        let known = app.store.stages(run.id)?.iter().any(|s| &s.name == stage)
            || app
                .project
                .pipelines
                .get(&run.name)
                .is_some_and(|p| p.stages.contains_key(stage));
        if !known {
            return Err(Failure::usage(format!(
                "run {} has no stage `{stage}`",
                run.id
            )));
        }
    }
    let mut offsets: HashMap<StepId, i64> = HashMap::new();
    let mut out = std::io::stdout().lock();
    loop {
        let finished = app
            .store
            .run(run.id)?
            .is_none_or(|r| r.status.is_finished());
        let steps = app.store.steps(run.id)?;
        let selected: Vec<_> = steps
            .iter()
            .filter(|s| args.stage.as_ref().is_none_or(|st| &s.stage == st))
            .filter(|s| args.node.as_ref().is_none_or(|n| &s.target == n))
            .collect();
        for step in selected {
            let offset = offsets.get(&step.id).copied().unwrap_or(-1);
            if offset < 0 {
                let header = format!("── {} · {} · {} ──", step.stage, step.target, step.label);
                let _ = writeln!(out, "{}", ui.paint(Style::Dim, &header));
            }
            let mut next = offset.max(0);
            for (at, data) in app.store.log_chunks(step.id, next)? {
                // Invalid UTF-8 is written as is: logs are bytes, as the program printed them.
                let _ = out.write_all(&data);
                next = at + data.len() as i64;
            }
            offsets.insert(step.id, next);
        }
        let _ = out.flush();
        if !args.follow || finished {
            break;
        }
        std::thread::sleep(FOLLOW_POLL);
    }
    Ok(EXIT_OK)
}

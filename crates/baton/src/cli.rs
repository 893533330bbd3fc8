//! Command-line surface (SPEC §8). Each flag documents itself once; `--help` comes from here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "baton",
    version,
    about = "Pipelines, configuration, infrastructure and SSH orchestration in one binary",
    propagate_version = true
)]
pub struct Cli {
    /// Project file to use instead of finding `baton.yaml` from the current directory up.
    #[arg(short = 'f', long = "file", global = true, value_name = "PATH")]
    pub file: Option<PathBuf>,

    /// When to use colours: auto (terminals only), always, never. `NO_COLOR` is honoured.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a commented starter `baton.yaml` in the current directory.
    Init(InitArgs),
    /// Check the project file and its includes; every problem is reported (exit 2).
    Validate,
    /// Print the JSON Schema of `baton.yaml`, for editors (or write the reference pages).
    Schema(SchemaArgs),
    /// List pipelines with their triggers, stages, last run and last success.
    Pipelines(ListArgs),
    /// List schedule triggers with their next times, last fired slot and missed slots.
    Schedules(ListArgs),
    /// Run a pipeline now and show its progress; the exit code says whether it succeeded.
    Run(RunArgs),
    /// List recent runs.
    Runs(RunsArgs),
    /// Report of one run: stages, targets, durations, failures, artifacts.
    Show(ShowArgs),
    /// Output of a run's steps.
    Logs(LogsArgs),
    /// Cancel a queued or running run (its processes are terminated).
    Cancel(RunRef),
    /// Run the rollback commands of a finished run's successful stages, newest first.
    Rollback(RollbackArgs),
    /// Re-run the failed stages of a run and their dependents, reusing what succeeded.
    Retry(RetryArgs),
    /// Run an ad-hoc command on the selected nodes in parallel: `baton exec role:web -- uptime`.
    Exec(ExecArgs),
    /// Check that nodes are reachable over SSH (connect, authenticate, run `true`).
    Ping(PingArgs),
    /// The inventory: nodes, addresses, roles, labels; `--facts` gathers facts over SSH.
    Nodes(NodesArgs),
    /// The server: REST API, live events, webhooks, schedules and commit triggers.
    Serve(ServeArgs),
    /// Run the monitor in the foreground (no HTTP): metrics, checks and alerts; a line per alert
    /// transition and node change. Ctrl-C or SIGTERM stops it.
    Monitor,
    /// A node's metrics over time: a summary per metric, or one metric's points.
    Metrics(MetricsArgs),
    /// Alerts pending and firing now; `--all` adds the history of transitions.
    Alerts(AlertsArgs),
    /// Act on an alert: `baton alert silence NAME [--node N] --for 2h`.
    #[command(subcommand)]
    Alert(AlertCommand),
    /// The SSH connection daemon behind `ssh: { persist: … }` (started by baton itself).
    #[command(name = "ssh-mux", hide = true)]
    SshMux(SshMuxArgs),
    /// Artifacts stored by pipeline runs.
    #[command(subcommand)]
    Artifact(ArtifactCommand),
    /// Configurations: list, validate, diff, apply [--check], rollback [--to N], history.
    #[command(subcommand)]
    Config(crate::commands::config::ConfigCommand),
    /// Encrypted secrets (`secrets/<env>.yaml`): set, get, list, rm, keygen.
    #[command(subcommand)]
    Secret(crate::commands::secret::SecretCommand),
    /// API tokens for `baton serve` (hashes in `server.tokens`): add, list, rm.
    #[command(subcommand)]
    Token(crate::commands::token::TokenCommand),
    /// Notifications: `test CHANNEL` sends one now; `log` lists deliveries and failures.
    #[command(subcommand)]
    Notify(crate::commands::notify::NotifyCommand),
    /// Refresh real state and show what `apply` would change; exit 3 when changes are pending.
    Plan(PlanArgs),
    /// Apply the plan: create, update, replace and destroy resources in dependency order.
    Apply(ApplyArgs),
    /// Destroy every resource in the state, dependents first.
    Destroy(DestroyArgs),
    /// Outputs (`outputs:`) rendered from the state.
    Output(OutputArgs),
    /// The resource graph in Graphviz DOT (`baton graph | dot -Tsvg > graph.svg`).
    Graph,
    /// Infrastructure state: list, show, rm, unlock, history, pull.
    #[command(subcommand)]
    State(StateCommand),
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Directory to create the project in.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Write the reference pages (a page per step kind and resource type) into this directory.
    #[arg(long, value_name = "DIR")]
    pub reference: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The pipeline to run.
    pub pipeline: String,
    /// Environment to run in (overrides the pipeline's `env:`).
    #[arg(long, value_name = "ENV")]
    pub env: Option<String>,
    /// Set a variable, overriding `vars:` (repeatable): `--var version=1.2`.
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
    /// Only these nodes: every targeted stage is narrowed to what this selector matches.
    #[arg(long, value_name = "SELECTOR")]
    pub limit: Option<String>,
    /// Stream every output line, prefixed with its stage (and node).
    #[arg(short, long)]
    pub verbose: bool,
}

#[derive(Debug, Args)]
pub struct RunsArgs {
    /// Only runs of this pipeline.
    #[arg(long, short)]
    pub pipeline: Option<String>,
    /// How many runs to list.
    #[arg(long, short = 'n', default_value_t = 20)]
    pub limit: usize,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Run number.
    pub run: i64,
    #[arg(long)]
    pub json: bool,
    /// Report format: text, or junit (XML for CI dashboards).
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Text,
    Junit,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Run number.
    pub run: i64,
    /// Only this stage.
    #[arg(long, short)]
    pub stage: Option<String>,
    /// Only this node.
    #[arg(long, short)]
    pub node: Option<String>,
    /// Keep printing new output until the run finishes (`-f` after `logs`).
    #[arg(long = "follow")]
    pub follow: bool,
    /// Prefix each line with when baton received it (UTC, RFC 3339).
    #[arg(long, short = 't')]
    pub timestamps: bool,
}

#[derive(Debug, Args)]
pub struct RunRef {
    /// Run number.
    pub run: i64,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// Run number.
    pub run: i64,
    /// Roll back again a run that was already rolled back (or whose automatic rollback ran).
    #[arg(long)]
    pub force: bool,
    /// Undo on these nodes only.
    #[arg(long, value_name = "SELECTOR")]
    pub limit: Option<String>,
}

#[derive(Debug, Args)]
pub struct RetryArgs {
    /// Run number.
    pub run: i64,
    /// Only these nodes (default: the retried run's own `--limit`).
    #[arg(long, value_name = "SELECTOR")]
    pub limit: Option<String>,
    #[arg(short, long)]
    pub verbose: bool,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Target selector: `all`, a node, a glob, `role:web`, `label:zone=a`, combined with `,&!`.
    pub selector: String,
    /// The command, after `--`; run under `bash -eo pipefail -c` on each node.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<String>,
    /// Print output lines as they arrive, prefixed with the node, instead of grouped per node.
    #[arg(long)]
    pub stream: bool,
    /// Per-node time limit; the remote process tree is killed on expiry.
    #[arg(long, default_value = "300s", value_parser = parse_duration)]
    pub timeout: std::time::Duration,
    /// Environment whose vars the command's templates see.
    #[arg(long)]
    pub env: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to bind (default `server.listen`, else 127.0.0.1:8080; port 0 picks a free one).
    #[arg(long)]
    pub listen: Option<String>,
}

#[derive(Debug, Args)]
pub struct MetricsArgs {
    /// The node (`local` for this machine).
    pub node: String,
    /// Only this metric (cpu, memory, load1, load5, load15, disk, disk:/PATH, up, check:NAME),
    /// listed point by point.
    #[arg(long, short)]
    pub metric: Option<String>,
    /// How far back (`15m`, `1h`, `7d`); over 24 h reads roll-ups.
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    pub since: std::time::Duration,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AlertsArgs {
    /// Also the history: every transition (pending, firing, resolved) and node up/down change.
    #[arg(long)]
    pub all: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum AlertCommand {
    /// Stop an alert's notifications for a while (its state is still tracked).
    Silence(SilenceArgs),
}

#[derive(Debug, Args)]
pub struct SilenceArgs {
    /// The alert.
    pub name: String,
    /// Only on this node (default: every node the alert watches).
    #[arg(long)]
    pub node: Option<String>,
    /// How long (`30m`, `2h`, `1d`).
    #[arg(long = "for", value_parser = parse_duration)]
    pub duration: std::time::Duration,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SshMuxArgs {
    /// Unix socket to listen on.
    #[arg(long)]
    pub socket: PathBuf,
    /// Exit after this many milliseconds without a request.
    #[arg(long)]
    pub idle_ms: u64,
}

#[derive(Debug, Args)]
pub struct PingArgs {
    /// Which nodes (default `all`).
    pub selector: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct NodesArgs {
    /// Which nodes (default: every node, `local` included).
    pub selector: Option<String>,
    /// Gather facts over SSH: os, kernel, cpus, memory, load, disk, uptime.
    #[arg(long, conflicts_with = "watch")]
    pub facts: bool,
    /// A live table of cpu, memory, load and disk, sampled over held SSH connections (redrawn
    /// in place on a terminal; a line per node and round when piped; a JSON line per round with
    /// `--json`). Records nothing, fires no alert. Ctrl-C stops it.
    #[arg(long)]
    pub watch: bool,
    /// Time between samples with `--watch`.
    #[arg(long, default_value = "2s", value_parser = parse_duration, requires = "watch")]
    pub interval: std::time::Duration,
    /// Stop after this many samples (`--watch`).
    #[arg(long, requires = "watch")]
    pub count: Option<u64>,
    #[arg(long)]
    pub json: bool,
}

fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    baton_model::duration::parse_duration(text)
}

#[derive(Debug, Subcommand)]
pub enum ArtifactCommand {
    /// List stored artifacts with every shelf they are on, newest version last.
    List(ArtifactListArgs),
    /// Put an artifact version on ENV's shelf (from a shelf ENV's `promote_from` allows).
    Promote(ArtifactPromoteArgs),
    /// Download a stored version (sha256 verified before it is kept).
    Get(ArtifactGetArgs),
}

#[derive(Debug, Args)]
pub struct ArtifactGetArgs {
    /// NAME or NAME@VERSION (default: the newest version, or the newest on `--env`'s shelf).
    #[arg(value_name = "NAME[@VERSION]")]
    pub artifact: String,
    /// Where to write it (`-` for standard output); default: its file name, here.
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<std::path::PathBuf>,
    /// The newest version on this environment's shelf (or `default`).
    #[arg(long, value_name = "ENV")]
    pub env: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ArtifactPromoteArgs {
    /// NAME or NAME@VERSION (default: the newest version on a shelf ENV promotes from).
    #[arg(value_name = "NAME[@VERSION]")]
    pub artifact: String,
    /// The environment whose shelf receives it.
    #[arg(long, value_name = "ENV")]
    pub to: String,
    /// Approve a promotion to an `approval: manual` environment.
    #[arg(long)]
    pub approve: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ArtifactListArgs {
    /// Only artifacts on this environment's shelf.
    #[arg(long)]
    pub env: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Only this resource and what it depends on (repeatable).
    #[arg(long, value_name = "ID")]
    pub target: Vec<String>,
    /// Only resources on the nodes this selector matches.
    #[arg(long, value_name = "SELECTOR")]
    pub limit: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Apply without asking (required when stdin is not a terminal).
    #[arg(long)]
    pub auto_approve: bool,
    /// Only this resource and what it depends on (repeatable).
    #[arg(long, value_name = "ID")]
    pub target: Vec<String>,
    /// Only resources on the nodes this selector matches.
    #[arg(long, value_name = "SELECTOR")]
    pub limit: Option<String>,
    /// How many independent resources to apply at once.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..))]
    pub parallelism: u16,
}

#[derive(Debug, Args)]
pub struct DestroyArgs {
    /// Destroy without asking (required when stdin is not a terminal).
    #[arg(long)]
    pub auto_approve: bool,
    /// How many independent resources to destroy at once.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..))]
    pub parallelism: u16,
}

#[derive(Debug, Args)]
pub struct OutputArgs {
    /// One output (printed bare, for scripts).
    pub name: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// Resources in the state.
    List(ListArgs),
    /// One resource's stored attributes (sensitive values hidden).
    Show(StateShowArgs),
    /// Forget a resource without destroying it.
    Rm(StateIdArgs),
    /// Break the state lock left by a process that died.
    Unlock(UnlockArgs),
    /// Changes to the state, newest first, each with its serial.
    History(StateHistoryArgs),
    /// The whole state as JSON.
    Pull,
}

#[derive(Debug, Args)]
pub struct StateShowArgs {
    pub id: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StateIdArgs {
    pub id: String,
}

#[derive(Debug, Args)]
pub struct UnlockArgs {
    /// Break the lock even though its holder is still running.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct StateHistoryArgs {
    #[arg(long, short = 'n', default_value_t = 50)]
    pub limit: usize,
    #[arg(long)]
    pub json: bool,
}

/// `-f` is `--file` everywhere except after `logs`, where SPEC makes it `--follow` (as
/// `tail -f`, `docker logs -f`). Rewrite it there before clap sees it.
pub fn normalize_args(args: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_logs = false;
    let mut expect_value = false;
    for arg in args {
        if in_logs && arg == "-f" {
            out.push("--follow".to_string());
            continue;
        }
        if !in_logs && !expect_value && !arg.starts_with('-') && !out.is_empty() {
            in_logs = arg == "logs";
        }
        expect_value = !in_logs && (arg == "-f" || arg == "--file" || arg == "--color");
        out.push(arg);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::normalize_args;

    fn norm(line: &str) -> String {
        normalize_args(line.split(' ').map(str::to_string)).join(" ")
    }

    #[test]
    fn dash_f_follows_only_after_logs() {
        assert_eq!(norm("baton logs 3 -f"), "baton logs 3 --follow");
        assert_eq!(
            norm("baton -f x.yaml logs 3 -f"),
            "baton -f x.yaml logs 3 --follow"
        );
        assert_eq!(norm("baton -f logs.yaml run p"), "baton -f logs.yaml run p");
        assert_eq!(norm("baton run p -f b.yaml"), "baton run p -f b.yaml");
    }
}

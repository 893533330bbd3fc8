//! `baton serve`: run the server (crates/baton-server) in the foreground, its log on stderr.

use crate::app::{CommandResult, EXIT_OK, Ui, project_file};
use crate::cli::{Cli, ServeArgs};

pub fn run(cli: &Cli, ui: &Ui, args: &ServeArgs) -> CommandResult {
    let file = project_file(cli)?;
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(ui.color)
        .with_target(false)
        .init();
    let options = baton_server::ServeOptions {
        file,
        listen: args.listen.clone(),
        env_token: std::env::var(baton_server::ENV_TOKEN_NAME).ok(),
    };
    // The HTTP side (every event stream) runs at a lower priority than the runs, which execute
    // on their own runtime at the normal one: when 100 clients follow a fast run, the run keeps
    // the CPU and the clients catch up after.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_start(lower_priority)
        .build()
        .map_err(|e| crate::app::Failure::failed(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(baton_server::serve(options, |ready| {
        let tokens = match ready.tokens {
            0 => "no token configured: every API call is refused until `baton token add NAME --role operator`".to_string(),
            1 => "1 token".to_string(),
            n => format!("{n} tokens"),
        };
        eprintln!("baton serve: listening on http://{} ({tokens})", ready.addr);
    }))?;
    Ok(EXIT_OK)
}

/// Nice this thread by [`HTTP_NICE`] (best effort: a failure leaves it at the normal priority).
fn lower_priority() {
    let tid = rustix::thread::gettid();
    if let Ok(now) = rustix::process::getpriority_process(Some(tid)) {
        let _ = rustix::process::setpriority_process(Some(tid), now + HTTP_NICE);
    }
}

/// How much lower than the runs the HTTP threads run (as `nice -n 10`).
const HTTP_NICE: i32 = 10;

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
    let runtime = crate::app::runtime()?;
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

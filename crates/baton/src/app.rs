//! What every command needs: the loaded project, the store, the terminal's abilities, and one
//! error type that knows its exit code.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use baton_engine::EngineError;
use baton_model::{Diagnostics, Project};
use baton_store::StoreError;

use crate::cli::{Cli, ColorChoice};

/// Exit codes (SPEC §8).
pub const EXIT_OK: u8 = 0;
pub const EXIT_FAILED: u8 = 1;
pub const EXIT_USAGE: u8 = 2;

/// What the terminal can do.
#[derive(Debug, Clone, Copy)]
pub struct Ui {
    pub color: bool,
    pub stdout_tty: bool,
}

impl Ui {
    pub fn new(choice: ColorChoice) -> Ui {
        let stdout_tty = std::io::stdout().is_terminal();
        let color = match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => stdout_tty && std::env::var_os("NO_COLOR").is_none(),
        };
        Ui { color, stdout_tty }
    }

    pub fn paint(&self, style: Style, text: &str) -> String {
        if !self.color {
            return text.to_string();
        }
        let code = match style {
            Style::Ok => "32",
            Style::Bad => "31",
            Style::Warn => "33",
            Style::Dim => "2",
            Style::Bold => "1",
            Style::Accent => "36",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    }
}

#[derive(Debug, Clone, Copy)]
pub enum Style {
    Ok,
    Bad,
    Warn,
    Dim,
    Bold,
    Accent,
}

/// A command's failure: what to print and which exit code.
#[derive(Debug)]
pub enum Failure {
    /// The project is invalid (exit 2).
    Invalid(Diagnostics),
    /// Bad usage: unknown pipeline, bad `--var`… (exit 2).
    Usage {
        message: String,
        hint: Option<String>,
    },
    /// The operation failed (exit 1).
    Failed {
        message: String,
        hint: Option<String>,
    },
}

impl Failure {
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure::Usage {
            message: message.into(),
            hint: None,
        }
    }

    pub fn failed(message: impl Into<String>) -> Failure {
        Failure::Failed {
            message: message.into(),
            hint: None,
        }
    }

    pub fn with_hint(self, hint: impl Into<String>) -> Failure {
        match self {
            Failure::Usage { message, .. } => Failure::Usage {
                message,
                hint: Some(hint.into()),
            },
            Failure::Failed { message, .. } => Failure::Failed {
                message,
                hint: Some(hint.into()),
            },
            other => other,
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Invalid(_) | Failure::Usage { .. } => EXIT_USAGE,
            Failure::Failed { .. } => EXIT_FAILED,
        }
    }

    pub fn print(&self, ui: &Ui) {
        match self {
            Failure::Invalid(diagnostics) => eprint!("{}", diagnostics.render(ui.color)),
            Failure::Usage { message, hint } | Failure::Failed { message, hint } => {
                eprintln!("{}: {message}", ui.paint(Style::Bad, "error"));
                if let Some(hint) = hint {
                    eprintln!("  {}: {hint}", ui.paint(Style::Accent, "hint"));
                }
            }
        }
    }
}

impl From<baton_ops::OpsError> for Failure {
    fn from(e: baton_ops::OpsError) -> Failure {
        use baton_ops::ErrorKind;
        if let Some(diagnostics) = e.diagnostics {
            return Failure::Invalid(diagnostics);
        }
        let failure = match e.kind {
            ErrorKind::Invalid | ErrorKind::Usage | ErrorKind::NotFound => {
                Failure::usage(e.message)
            }
            ErrorKind::Conflict | ErrorKind::Failed => Failure::failed(e.message),
        };
        match e.hint {
            Some(hint) => failure.with_hint(hint),
            None => failure,
        }
    }
}

// Store and engine errors are classified once, by the operations layer.
impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Failure {
        baton_ops::OpsError::from(e).into()
    }
}

impl From<EngineError> for Failure {
    fn from(e: EngineError) -> Failure {
        baton_ops::OpsError::from(e).into()
    }
}

pub type CommandResult = Result<u8, Failure>;

/// The project file to use: `-f`, else found from the current directory up.
pub fn project_file(cli: &Cli) -> Result<PathBuf, Failure> {
    if let Some(file) = &cli.file {
        if !file.is_file() {
            return Err(Failure::usage(format!(
                "no project file at `{}`",
                file.display()
            )));
        }
        return Ok(file.clone());
    }
    let cwd = std::env::current_dir()
        .map_err(|e| Failure::failed(format!("cannot read the current directory: {e}")))?;
    baton_model::find_project_file(&cwd).ok_or_else(|| {
        Failure::usage(format!(
            "no `baton.yaml` in `{}` or any parent directory",
            cwd.display()
        ))
        .with_hint("run `baton init` to create one, or pass `-f PATH`")
    })
}

/// Load and validate the project; an invalid project is exit 2 with every diagnostic.
pub fn load_project(cli: &Cli) -> Result<Project, Failure> {
    Ok(baton_ops::load_project(&project_file(cli)?)?)
}

/// The project's warnings on stderr, each at its place (`warning: hosts.ini:3:1: …`).
pub fn print_warnings(ui: &Ui, project: &Project) {
    let places = Diagnostics {
        items: Vec::new(),
        sources: project.sources.clone(),
    };
    for w in &project.warnings {
        let place = w
            .span
            .map(|span| format!("{}: ", places.location(span)))
            .unwrap_or_default();
        eprintln!("{}: {place}{}", ui.paint(Style::Warn, "warning"), w.message);
        if let Some(help) = &w.help {
            eprintln!("  {}: {help}", ui.paint(Style::Accent, "help"));
        }
    }
}

/// A loaded project with its store open and interrupted runs recovered.
pub struct App {
    pub project: Arc<Project>,
    pub ops: baton_ops::Ops,
}

impl App {
    /// Load the project (before touching the store: an invalid project writes nothing), open
    /// the store and mark runs abandoned by dead processes as interrupted.
    pub fn open(cli: &Cli, ui: &Ui) -> Result<App, Failure> {
        let project = load_project(cli)?;
        print_warnings(ui, &project);
        let ops = baton_ops::Ops::with_project(project)?;
        for run in &ops.interrupted {
            eprintln!(
                "{}: run {} was interrupted: its baton process (pid {}) died; its leftover processes were stopped",
                ui.paint(Style::Warn, "note"),
                run.run,
                run.owner.pid
            );
        }
        if let Some(e) = &ops.recovery_error {
            // Reading (`runs`, `show`, `logs`) still works on a full disk and says why: the
            // next command with room finishes the recovery.
            eprintln!(
                "{}: cannot check for interrupted runs: {e}",
                ui.paint(Style::Warn, "warning")
            );
        }
        Ok(App {
            project: ops.project.clone(),
            ops,
        })
    }
}

/// The async runtime for commands that do I/O concurrently.
pub fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::failed(format!("cannot start the async runtime: {e}")))
}

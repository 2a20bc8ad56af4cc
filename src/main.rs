//! The `tend` command line: parse arguments, call the library, map results to exit codes.

use clap::{Parser, Subcommand};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use tend::command::{self, sim};
use tend::report::Format;

// The simulator and runner allocate many small strings and maps per customer;
// mimalloc halves the time the system allocator spent on them.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "tend",
    version,
    about = "Playbooks for private-domain customer operations: lint, simulate, run"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check playbooks and tend.toml; exit 1 on any error.
    Lint {
        /// A project folder (default: the current one) or single .playbook files.
        paths: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
        /// `--deny warnings` makes warnings fail the run too.
        #[arg(long, value_parser = ["warnings"])]
        deny: Option<String>,
    },
    /// Dry-run the project against sample customers and events on a virtual clock.
    Sim {
        /// The project folder (default: the current one).
        project: Option<PathBuf>,
        /// Sample customers: TOML `[[customer]]`, JSON lines or CSV (by extension);
        /// default: PROJECT/customers.toml.
        #[arg(long)]
        customers: Option<PathBuf>,
        /// Sample events: TOML `[[event]]`, JSON lines or CSV (by extension);
        /// default: PROJECT/events.toml.
        #[arg(long)]
        events: Option<PathBuf>,
        /// Start of the window: a date (2026-12-01, midnight in tend.toml's zone), a local date and time (2026-12-01T09:00), or RFC 3339 with an offset.
        #[arg(long)]
        from: String,
        /// End of the window (exclusive).
        #[arg(long, conflicts_with = "days")]
        until: Option<String>,
        /// Length of the window in days, instead of --until.
        #[arg(long)]
        days: Option<i64>,
        #[arg(long, value_enum, default_value = "table")]
        format: SimFormat,
        /// Show this customer's timeline (`""`: the broadcasts').
        #[arg(long, conflicts_with = "broadcasts")]
        customer: Option<String>,
        /// Show the broadcast runs' timeline (group and Moments posts, their waits).
        #[arg(long)]
        broadcasts: bool,
        /// A behaviour model (TOML `[[assume]]`): who answers an awaited event, and when.
        #[arg(long)]
        assume: Option<PathBuf>,
        /// Repeat the behaviour model's draws N times and report mean and spread
        /// per step (needs --assume).
        #[arg(long, default_value_t = 1)]
        runs: u32,
        /// The seed of the behaviour model's draws.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Run the project: take events over HTTP, wake waiting customers, deliver.
    Run {
        /// The project folder (default: the current one).
        project: Option<PathBuf>,
        /// The store (default: PROJECT/tend.db).
        #[arg(long)]
        db: Option<PathBuf>,
        /// Where the HTTP API listens.
        #[arg(long, default_value = "127.0.0.1:8787")]
        listen: std::net::SocketAddr,
        /// How log lines on standard error are written.
        #[arg(long, value_enum, default_value = "human")]
        log_format: LogFormat,
    },
    /// Load customers or events into the runner's store (TOML, JSON lines or CSV).
    Import {
        #[arg(value_enum)]
        what: ImportWhat,
        /// The file (the format by its extension, as for `tend sim`).
        file: PathBuf,
        /// The project folder.
        #[arg(long, default_value = ".")]
        project: PathBuf,
        /// The store (default: PROJECT/tend.db).
        #[arg(long)]
        db: Option<PathBuf>,
    },
    /// What the runner's store holds: the outbox, deliveries that need a person, the next due time.
    Status {
        /// The project folder (default: the current one).
        project: Option<PathBuf>,
        /// The store (default: PROJECT/tend.db).
        #[arg(long)]
        db: Option<PathBuf>,
        /// List only the dead and unknown deliveries, with the far side's reply.
        #[arg(long)]
        dead: bool,
    },
    /// Stop a playbook's campaign for now: no new entries, every delivery held in the outbox.
    Pause(PlaybookInStore),
    /// Let a paused or cancelled playbook take entries again, and release what it held.
    Resume(PlaybookInStore),
    /// End every enrollment of a playbook and drop its queued deliveries; it stays paused.
    Cancel(PlaybookInStore),
    /// Settle a delivery in state `unknown` once you know whether the far side has it.
    Resolve {
        key: String,
        #[arg(value_enum)]
        outcome: Outcome,
        #[arg(long, default_value = ".")]
        project: PathBuf,
        #[arg(long)]
        db: Option<PathBuf>,
    },
    /// Write a consistent copy of the store (safe while `tend run` runs).
    Backup {
        /// The new file.
        to: PathBuf,
        #[arg(long, default_value = ".")]
        project: PathBuf,
        #[arg(long)]
        db: Option<PathBuf>,
    },
    /// Try a delivery again (by key, or every dead one), or let a quarantined customer run again.
    Retry {
        /// The idempotency key of a dead, unknown or failed delivery.
        key: Option<String>,
        #[arg(long)]
        all_dead: bool,
        /// A quarantined customer.
        #[arg(long)]
        customer: Option<String>,
        #[arg(long, default_value = ".")]
        project: PathBuf,
        #[arg(long)]
        db: Option<PathBuf>,
    },
    /// Post events (JSON lines, one envelope each) to a running `tend run`.
    Event {
        /// The file, or `-` for standard input.
        file: PathBuf,
        /// The runner's address.
        #[arg(long, default_value = "http://127.0.0.1:8787")]
        server: String,
    },
    /// Explain a lint rule; without a rule, list them all.
    Explain { rule: Option<String> },
}

/// A playbook, and the project and store it runs in.
#[derive(clap::Args)]
struct PlaybookInStore {
    playbook: String,
    #[arg(long, default_value = ".")]
    project: PathBuf,
    #[arg(long)]
    db: Option<PathBuf>,
}

impl PlaybookInStore {
    fn control(self, what: command::run::Control) -> Result<(), command::Error> {
        command::run::control(&self.project, self.db.as_deref(), &self.playbook, what)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Outcome {
    Sent,
    Dead,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ImportWhat {
    Customers,
    Events,
}

fn main() -> ExitCode {
    tend::memory::prefer_small_pages();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) if e.use_stderr() => {
            let _ = e.print();
            return ExitCode::from(2);
        }
        // --help and --version: output like any other, so a failed write is exit 1.
        Err(e) => {
            return match command::emit(|out| write!(out, "{}", e.render())) {
                Ok(()) => ExitCode::SUCCESS,
                Err(command::Error::Failed(m) | command::Error::Usage(m)) => {
                    eprintln!("error: {m}");
                    ExitCode::from(1)
                }
                Err(command::Error::Rejected) => ExitCode::from(1),
            };
        }
    };
    let result = match cli.command {
        Command::Lint {
            paths,
            format,
            deny,
        } => {
            let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            command::lint::run(&paths, format, deny.is_some(), color)
        }
        Command::Explain { rule } => command::explain::run(rule.as_deref()),
        Command::Import {
            what,
            file,
            project,
            db,
        } => command::run::import(
            &project,
            db.as_deref(),
            match what {
                ImportWhat::Customers => command::run::What::Customers,
                ImportWhat::Events => command::run::What::Events,
            },
            &file,
        ),
        Command::Retry {
            key,
            all_dead,
            customer,
            project,
            db,
        } => command::run::retry(
            &project,
            db.as_deref(),
            key.as_deref(),
            all_dead,
            customer.as_deref(),
        ),
        Command::Event { file, server } => command::run::post_events(&server, &file),
        Command::Status { project, db, dead } => command::run::status(
            &project.unwrap_or_else(|| PathBuf::from(".")),
            db.as_deref(),
            dead,
        ),
        Command::Pause(p) => p.control(command::run::Control::Pause),
        Command::Resume(p) => p.control(command::run::Control::Resume),
        Command::Cancel(p) => p.control(command::run::Control::Cancel),
        Command::Resolve {
            key,
            outcome,
            project,
            db,
        } => command::run::resolve(&project, db.as_deref(), &key, outcome == Outcome::Sent),
        Command::Backup { to, project, db } => command::run::backup(&project, db.as_deref(), &to),
        Command::Run {
            project,
            db,
            listen,
            log_format,
        } => tend::run::serve::serve(&tend::run::serve::Options {
            project: project.unwrap_or_else(|| PathBuf::from(".")),
            db,
            listen,
            json_logs: log_format == LogFormat::Json,
        }),
        Command::Sim {
            project,
            customers,
            events,
            from,
            until,
            days,
            format,
            customer,
            broadcasts,
            assume,
            runs,
            seed,
        } => sim::run(&sim::Request {
            project: project.unwrap_or_else(|| PathBuf::from(".")),
            customers,
            events,
            from,
            until,
            days,
            output: match format {
                SimFormat::Table => sim::Output::Table,
                SimFormat::Json => sim::Output::Json,
            },
            customer,
            broadcasts,
            assume,
            runs,
            seed,
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if let Some(m) = e.message() {
                // Messages may quote input, such as a customer's value.
                eprintln!("error: {}", tend::printable::printable(m));
            }
            ExitCode::from(e.code())
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum SimFormat {
    Table,
    Json,
}

//! The `tend` command line: parse arguments, call the library, map results to exit codes.

use clap::{Parser, Subcommand};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use tend::check::rules;
use tend::diag::Severity;
use tend::report::{self, Format};

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
        /// Start of the window, RFC 3339 with an offset (2026-12-01T00:00:00+08:00).
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
        /// Show this customer's timeline.
        #[arg(long)]
        customer: Option<String>,
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
    /// Explain a lint rule; without a rule, list them all.
    Explain { rule: Option<String> },
}

fn main() -> ExitCode {
    tend::memory::prefer_small_pages();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match cli.command {
        Command::Lint {
            paths,
            format,
            deny,
        } => lint(&paths, format, deny.is_some()),
        Command::Explain { rule } => explain(rule.as_deref()),
        Command::Sim {
            project,
            customers,
            events,
            from,
            until,
            days,
            format,
            customer,
            assume,
            runs,
            seed,
        } => sim(
            project.unwrap_or_else(|| PathBuf::from(".")),
            customers,
            events,
            &from,
            until.as_deref(),
            days,
            format,
            customer.as_deref(),
            Model { assume, runs, seed },
        ),
    }
}

/// The behaviour-model options of `tend sim`.
struct Model {
    assume: Option<PathBuf>,
    runs: u32,
    seed: u64,
}

fn lint(paths: &[PathBuf], format: Format, deny_warnings: bool) -> ExitCode {
    let targets = match tend::project::targets(paths) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let mut results = Vec::new();
    for t in &targets {
        match tend::project::lint(t) {
            Ok(r) => results.push(r),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let findings: Vec<_> = results
        .iter()
        .flat_map(|r| r.findings.iter().map(move |f| (&r.sources, f)))
        .collect();
    let files = results.iter().map(|r| r.files_checked).sum();
    let color = format == Format::Human
        && std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none();
    let text = report::render(format, &findings, files, color);
    let _ = std::io::stdout().write_all(text.as_bytes());
    let errors = findings.iter().any(|(_, f)| f.severity == Severity::Error);
    let warnings = findings
        .iter()
        .any(|(_, f)| f.severity == Severity::Warning);
    if errors || (deny_warnings && warnings) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum SimFormat {
    Table,
    Json,
}

fn time_arg(name: &str, s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|_| {
            format!(
                "--{name} `{s}` must be RFC 3339 with an offset, such as 2026-12-01T00:00:00+08:00"
            )
        })
}

#[allow(clippy::too_many_arguments)]
fn sim(
    project: PathBuf,
    customers: Option<PathBuf>,
    events: Option<PathBuf>,
    from: &str,
    until: Option<&str>,
    days: Option<i64>,
    format: SimFormat,
    customer: Option<&str>,
    model: Model,
) -> ExitCode {
    let fail = |msg: String| {
        eprintln!("error: {msg}");
        ExitCode::from(2)
    };
    let (from_arg, until_arg) = (from, until);
    let from = match time_arg("from", from) {
        Ok(t) => t,
        Err(e) => return fail(e),
    };
    let until = match (until, days) {
        (Some(u), _) => match time_arg("until", u) {
            Ok(t) => t,
            Err(e) => return fail(e),
        },
        (None, Some(d)) if d > 0 => {
            match chrono::Duration::try_days(d).and_then(|d| from.checked_add_signed(d)) {
                Some(t) => t,
                None => {
                    return fail(format!(
                        "--days {d} reaches past the last date tend can represent"
                    ))
                }
            }
        }
        (None, Some(_)) => return fail("--days must be 1 or more".into()),
        (None, None) => return fail("give the end of the window with --until or --days".into()),
    };
    if until <= from {
        return fail(format!(
            "--until {} is not after --from {from_arg}; the window [from, until) would be empty",
            until_arg.unwrap_or_default()
        ));
    }
    if model.runs == 0 {
        return fail("--runs must be 1 or more".into());
    }
    if model.runs > 1 && model.assume.is_none() {
        return fail(
            "--runs repeats the behaviour model's draws; without --assume every run is the same. Give --assume FILE".into(),
        );
    }
    let targets = match tend::project::targets(std::slice::from_ref(&project)) {
        Ok(t) => t,
        Err(e) => return fail(e.to_string()),
    };
    let linted = match tend::project::lint(&targets[0]) {
        Ok(l) => l,
        Err(e) => return fail(e.to_string()),
    };
    let errors: Vec<_> = linted.errors().map(|f| (&linted.sources, f)).collect();
    let Some(program) = linted.program() else {
        print!(
            "{}",
            report::render(Format::Human, &errors, linted.files_checked, false)
        );
        eprintln!("error: the project has errors; fix them before simulating (`tend lint`)");
        return ExitCode::from(1);
    };
    let config = linted
        .checked
        .as_ref()
        .map(|c| c.config.clone())
        .unwrap_or_default();
    let root = targets[0]
        .config
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default();
    let read = |p: PathBuf| {
        std::fs::read_to_string(&p)
            .map(|t| tend::source::SourceFile::new(p.clone(), t))
            .map_err(|e| format!("cannot read `{}`: {e}", p.display()))
    };
    let customers_src = match read(customers.unwrap_or_else(|| root.join("customers.toml"))) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let events_src = match read(events.unwrap_or_else(|| root.join("events.toml"))) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let input = tend::sim::input::load_customers(&customers_src, &config)
        .and_then(|c| tend::sim::input::load_events(&events_src, &config).map(|e| (c, e)));
    let (cs, es) = match input {
        Ok(x) => x,
        Err(e) => return fail(e.to_string()),
    };
    if let Some(id) = customer {
        // Events outside the window create no one.
        let ids = || {
            cs.iter().map(|c| c.id.as_str()).chain(
                es.iter()
                    .filter(|e| e.at >= from && e.at < until)
                    .map(|e| e.customer.as_str()),
            )
        };
        if !ids().any(|c| c == id) {
            let near = ids()
                .filter(|c| strsim::levenshtein(c, id) <= 2)
                .min_by_key(|c| (strsim::levenshtein(c, id), *c));
            return fail(match near {
                Some(n) => format!("--customer `{id}` is in neither the customers nor the events of the window; did you mean `{n}`?"),
                None => format!("--customer `{id}` is in neither the customers nor the events of the window"),
            });
        }
    }
    let behaviour = match &model.assume {
        None => None,
        Some(p) => match read(p.clone()).map_err(|e| e.to_string()).and_then(|src| {
            tend::sim::assume::Behaviour::load(&src, &config, model.seed).map_err(|e| e.to_string())
        }) {
            Ok(b) => Some(b),
            Err(e) => return fail(e),
        },
    };
    let mut opts = tend::sim::Options::new(from, until);
    opts.behaviour = behaviour.as_ref();
    if model.runs > 1 {
        // Only the funnels are reported.
        opts.keep = tend::sim::Keep::UpTo(0);
        let mut funnels = Vec::new();
        let progress = std::io::stderr().is_terminal() && format == SimFormat::Table;
        for run in 0..model.runs {
            if progress {
                eprint!("\rrun {}/{}", run + 1, model.runs);
            }
            let b = behaviour.clone().map(|mut b| {
                b.run = run;
                b
            });
            let opts = tend::sim::Options {
                behaviour: b.as_ref(),
                ..opts.clone()
            };
            funnels.push(tend::sim::simulate_with(&program, &cs, &es, &opts).playbooks);
        }
        if progress {
            eprintln!();
        }
        let text = match format {
            SimFormat::Json => tend::sim::report::runs_json(&funnels, model.seed),
            SimFormat::Table => tend::sim::report::runs_table(&funnels, model.seed),
        };
        let _ = std::io::stdout().write_all(text.as_bytes());
        return ExitCode::SUCCESS;
    }
    // A progress bar on stderr for long runs, when a person is watching the table.
    let done = std::sync::atomic::AtomicUsize::new(0);
    let finished = std::sync::atomic::AtomicBool::new(false);
    let show = std::io::stderr().is_terminal() && format == SimFormat::Table && cs.len() >= 10_000;
    let outcome = std::thread::scope(|scope| {
        if show {
            scope.spawn(|| progress_bar(&done, &finished, cs.len()));
        }
        let opts = tend::sim::Options {
            progress: Some(&done),
            // The table shows timelines only for small inputs or the customer asked for.
            keep: match (format, customer) {
                (SimFormat::Json, _) => tend::sim::Keep::All,
                (SimFormat::Table, Some(c)) => tend::sim::Keep::Customer(c.to_string()),
                (SimFormat::Table, None) => tend::sim::Keep::UpTo(10),
            },
            ..opts
        };
        let o = tend::sim::simulate_with(&program, &cs, &es, &opts);
        finished.store(true, std::sync::atomic::Ordering::Relaxed);
        o
    });
    let zone = program.policy.zone;
    let written = match format {
        SimFormat::Json => tend::sim::report::write_json(&outcome, zone, std::io::stdout().lock()),
        SimFormat::Table => std::io::stdout()
            .write_all(tend::sim::report::table(&outcome, zone, customer).as_bytes()),
    };
    match written {
        // A reader that stopped early (`| head`) is not a failure.
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            eprintln!("error: writing the report failed: {e}");
            ExitCode::from(1)
        }
        _ => ExitCode::SUCCESS,
    }
}

fn progress_bar(
    done: &std::sync::atomic::AtomicUsize,
    finished: &std::sync::atomic::AtomicBool,
    total: usize,
) {
    use std::sync::atomic::Ordering::Relaxed;
    while !finished.load(Relaxed) {
        let n = done.load(Relaxed).min(total);
        let filled = n * 30 / total.max(1);
        eprint!(
            "\r[{}{}] {n}/{total} customers",
            "#".repeat(filled),
            " ".repeat(30 - filled)
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    eprint!("\r{}\r", " ".repeat(60));
}

fn explain(rule: Option<&str>) -> ExitCode {
    match rule {
        None => {
            println!("Lint rules (`tend explain RULE` for one):\n");
            for r in rules::ALL.iter() {
                println!("  {:<24} {:<8} {}", r.name, r.severity.name(), r.summary);
            }
            ExitCode::SUCCESS
        }
        Some(name) => match rules::find(name) {
            Some(r) => {
                print!("{}", r.docs);
                if !r.docs.ends_with('\n') {
                    println!();
                }
                ExitCode::SUCCESS
            }
            None => {
                let near = tend::check::nearest(name, rules::ALL.iter().map(|r| r.name));
                match near {
                    Some(n) => eprintln!("error: `{name}` is not a lint rule; did you mean `{n}`? (`tend explain` lists them)"),
                    None => eprintln!("error: `{name}` is not a lint rule (`tend explain` lists them)"),
                }
                ExitCode::from(2)
            }
        },
    }
}

//! `tend sim`: dry-run a project against sample customers and events on a
//! virtual clock, and print the table or the JSON report.

use super::{emit, Error};
use crate::program::Program;
use crate::report::Format;
use crate::sim::{self, assume::Behaviour, Keep, Options};
use chrono::{DateTime, Utc};
use std::io::IsTerminal;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Table,
    Json,
}

/// What `tend sim` was asked.
#[derive(Debug, Clone)]
pub struct Request {
    pub project: PathBuf,
    /// Default: PROJECT/customers.toml.
    pub customers: Option<PathBuf>,
    /// Default: PROJECT/events.toml.
    pub events: Option<PathBuf>,
    pub from: String,
    pub until: Option<String>,
    pub days: Option<i64>,
    pub output: Output,
    /// Show this customer's timeline.
    pub customer: Option<String>,
    pub assume: Option<PathBuf>,
    pub runs: u32,
    pub seed: u64,
}

fn time_arg(name: &str, s: &str) -> Result<DateTime<Utc>, Error> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| crate::intake::whole_seconds(t.with_timezone(&Utc)))
        .map_err(|_| {
            Error::Usage(format!(
                "--{name} `{s}` must be RFC 3339 with an offset, such as 2026-12-01T00:00:00+08:00"
            ))
        })
}

/// The window [from, until) the request asks for.
fn window(r: &Request) -> Result<(DateTime<Utc>, DateTime<Utc>), Error> {
    let from = time_arg("from", &r.from)?;
    let until = match (&r.until, r.days) {
        (Some(u), _) => time_arg("until", u)?,
        (None, Some(d)) if d > 0 => chrono::Duration::try_days(d)
            .and_then(|d| from.checked_add_signed(d))
            .ok_or_else(|| {
                Error::Usage(format!(
                    "--days {d} reaches past the last date tend can represent"
                ))
            })?,
        (None, Some(_)) => return Err(Error::Usage("--days must be 1 or more".into())),
        (None, None) => {
            return Err(Error::Usage(
                "give the end of the window with --until or --days".into(),
            ))
        }
    };
    if until <= from {
        return Err(Error::Usage(format!(
            "--until {} is not after --from {}; the window [from, until) would be empty",
            r.until.as_deref().unwrap_or_default(),
            r.from
        )));
    }
    Ok((from, until))
}

/// Lints the project; a project with errors prints its findings and runs nothing.
pub fn runnable(project: &std::path::Path) -> Result<(crate::project::Linted, Program), Error> {
    let targets = crate::project::targets(std::slice::from_ref(&project.to_path_buf()))?;
    let linted = crate::project::lint(&targets[0])?;
    match linted.program() {
        Some(p) => Ok((linted, p)),
        None => {
            let errors: Vec<_> = linted.errors().map(|f| (&linted.sources, f)).collect();
            let text = crate::report::render(Format::Human, &errors, linted.files_checked, false);
            emit(|out| out.write_all(text.as_bytes()))?;
            eprintln!("error: the project has errors; fix them before simulating (`tend lint`)");
            Err(Error::Rejected)
        }
    }
}

pub fn run(r: &Request) -> Result<(), Error> {
    let (from, until) = window(r)?;
    if r.runs == 0 {
        return Err(Error::Usage("--runs must be 1 or more".into()));
    }
    if r.runs > 1 && r.assume.is_none() {
        return Err(Error::Usage(
            "--runs repeats the behaviour model's draws; without --assume every run is the same. Give --assume FILE".into(),
        ));
    }
    let (linted, program) = runnable(&r.project)?;
    let config = linted
        .checked
        .as_ref()
        .map(|c| c.config.clone())
        .unwrap_or_default();
    let root = crate::project::targets(std::slice::from_ref(&r.project))?[0]
        .config
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default();
    let read = |p: PathBuf| {
        std::fs::read_to_string(&p)
            .map(|t| crate::source::SourceFile::new(p.clone(), t))
            .map_err(|e| Error::Usage(format!("cannot read `{}`: {e}", p.display())))
    };
    let customers_src = read(
        r.customers
            .clone()
            .unwrap_or_else(|| root.join("customers.toml")),
    )?;
    let events_src = read(r.events.clone().unwrap_or_else(|| root.join("events.toml")))?;
    let cs = sim::input::load_customers(&customers_src, &config)
        .map_err(|e| Error::Usage(e.to_string()))?;
    let es =
        sim::input::load_events(&events_src, &config).map_err(|e| Error::Usage(e.to_string()))?;
    if let Some(id) = &r.customer {
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
            return Err(Error::Usage(match near {
                Some(n) => format!("--customer `{id}` is in neither the customers nor the events of the window; did you mean `{n}`?"),
                None => format!("--customer `{id}` is in neither the customers nor the events of the window"),
            }));
        }
    }
    let behaviour = match &r.assume {
        None => None,
        Some(p) => Some(
            Behaviour::load(&read(p.clone())?, &config, r.seed)
                .map_err(|e| Error::Usage(e.to_string()))?,
        ),
    };
    let mut opts = Options::new(from, until);
    opts.behaviour = behaviour.as_ref();
    if r.runs > 1 {
        // Only the funnels are reported.
        opts.keep = Keep::UpTo(0);
        let progress = std::io::stderr().is_terminal() && r.output == Output::Table;
        let mut funnels = Vec::new();
        for run in 0..r.runs {
            if progress {
                eprint!("\rrun {}/{}", run + 1, r.runs);
            }
            let b = behaviour.clone().map(|mut b| {
                b.run = run;
                b
            });
            let opts = Options {
                behaviour: b.as_ref(),
                ..opts.clone()
            };
            funnels.push(sim::simulate_with(&program, &cs, &es, &opts).playbooks);
        }
        if progress {
            eprintln!();
        }
        let text = match r.output {
            Output::Json => sim::report::runs_json(&funnels, r.seed),
            Output::Table => sim::report::runs_table(&funnels, r.seed),
        };
        return emit(|out| out.write_all(text.as_bytes()));
    }
    // A progress bar on stderr for long runs, when a person is watching the table.
    let done = std::sync::atomic::AtomicUsize::new(0);
    let finished = std::sync::atomic::AtomicBool::new(false);
    let show = std::io::stderr().is_terminal() && r.output == Output::Table && cs.len() >= 10_000;
    let outcome = std::thread::scope(|scope| {
        if show {
            scope.spawn(|| progress_bar(&done, &finished, cs.len()));
        }
        let opts = Options {
            progress: Some(&done),
            // The table shows timelines only for small inputs or the customer asked for.
            keep: match (r.output, &r.customer) {
                (Output::Json, _) => Keep::All,
                (Output::Table, Some(c)) => Keep::Customer(c.clone()),
                (Output::Table, None) => Keep::UpTo(10),
            },
            ..opts
        };
        let o = sim::simulate_with(&program, &cs, &es, &opts);
        finished.store(true, std::sync::atomic::Ordering::Relaxed);
        o
    });
    let zone = program.policy.zone;
    emit(|out| match r.output {
        Output::Json => sim::report::write_json(&outcome, zone, out),
        Output::Table => {
            out.write_all(sim::report::table(&outcome, zone, r.customer.as_deref()).as_bytes())
        }
    })
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

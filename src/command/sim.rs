//! `tend sim`: dry-run a project against sample customers and events on a
//! virtual clock, and print the table or the JSON report.

use super::{emit, Error};
use crate::printable::printable;
use crate::program::Program;
use crate::report::Format;
use crate::sim::{self, assume::Behaviour, Keep, Options};
use chrono::{DateTime, Datelike, Utc};
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
    /// Show this customer's timeline (`""`: the broadcasts').
    pub customer: Option<String>,
    /// Show the broadcasts' timeline.
    pub broadcasts: bool,
    pub assume: Option<PathBuf>,
    pub runs: u32,
    pub seed: u64,
}

/// `--from`/`--until`: RFC 3339 with an offset, or a local date or date and
/// time read in tend.toml's zone (`2026-12-01` is its midnight).
fn time_arg(name: &str, s: &str, zone: chrono_tz::Tz) -> Result<DateTime<Utc>, Error> {
    use chrono::{NaiveDate, NaiveDateTime, TimeZone};
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(crate::intake::whole_seconds(t.with_timezone(&Utc)));
    }
    let local = [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
    .or_else(|| {
        NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
    });
    let bad = || {
        Error::Usage(format!(
            "--{name} `{s}` must be a date (2026-12-01, midnight in tend.toml's zone), a local date and time (2026-12-01T09:00), or RFC 3339 with an offset (2026-12-01T00:00:00+08:00)"
        ))
    };
    let local = local.ok_or_else(bad)?;
    // A time the clocks skip (DST) is read as the first instant after the gap.
    let at = (0..=3)
        .find_map(|h| {
            zone.from_local_datetime(&(local + chrono::Duration::hours(h)))
                .earliest()
        })
        .ok_or_else(bad)?;
    Ok(crate::intake::whole_seconds(at.with_timezone(&Utc)))
}

/// 4999-12-31T23:59:59Z, the last instant a window may hold.
const LAST_INSTANT: i64 = 95_617_584_000 - 1;

/// The window [from, until) the request asks for.
fn window(r: &Request, zone: chrono_tz::Tz) -> Result<(DateTime<Utc>, DateTime<Utc>), Error> {
    let from = time_arg("from", &r.from, zone)?;
    let until = match (&r.until, r.days) {
        (Some(u), _) => time_arg("until", u, zone)?,
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
    // croner looks for cron fires no later than the year 5000: a window past
    // it would fire nothing, silently. Dates start at the year 1.
    let last = chrono::DateTime::from_timestamp(LAST_INSTANT, 0).expect("in range");
    if until > last + chrono::Duration::seconds(1) {
        return Err(Error::Usage(
            "the window ends after the year 4999 (UTC); cron fires are searched no further, so end it by 5000-01-01T00:00:00Z".into(),
        ));
    }
    if from.year() < 1 {
        return Err(Error::Usage(format!(
            "--from {} starts before the year 1",
            r.from
        )));
    }
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
    runnable_for(project, "simulating")
}

/// [`runnable`], saying what the errors stop (`"running it"`, `"importing"`).
pub fn runnable_for(
    project: &std::path::Path,
    doing: &str,
) -> Result<(crate::project::Linted, Program), Error> {
    let targets = crate::project::targets(std::slice::from_ref(&project.to_path_buf()))?;
    let linted = crate::project::lint(&targets[0])?;
    match linted.program() {
        Some(p) => Ok((linted, p)),
        None => {
            let errors: Vec<_> = linted.errors().map(|f| (&linted.sources, f)).collect();
            let text = crate::report::render(Format::Human, &errors, linted.files_checked, false);
            emit(|out| out.write_all(text.as_bytes()))?;
            eprintln!("error: the project has errors; fix them before {doing} (`tend lint`)");
            Err(Error::Rejected)
        }
    }
}

pub fn run(r: &Request) -> Result<(), Error> {
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
    let (from, until) = window(r, config.timezone.unwrap_or(chrono_tz::UTC))?;
    let root = crate::project::targets(std::slice::from_ref(&r.project))?[0]
        .config
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default();
    let customers = r
        .customers
        .clone()
        .unwrap_or_else(|| root.join("customers.toml"));
    let events = r.events.clone().unwrap_or_else(|| root.join("events.toml"));
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let open = || {
        sim::files::FilePopulation::open(
            &customers,
            &events,
            program.policy.schema.clone(),
            (from, until),
            threads,
            r.customer.clone(),
        )
        .map_err(input_error)
    };
    let behaviour = match &r.assume {
        None => None,
        Some(p) => {
            let text = crate::read::project_file(p).map_err(Error::Usage)?;
            let src = crate::source::SourceFile::new(p.clone(), text);
            Some(Behaviour::load(&src, &program, r.seed).map_err(input_error)?)
        }
    };
    let mut opts = Options::new(from, until);
    opts.behaviour = behaviour.as_ref();
    if r.runs > 1 {
        // Only the funnels are reported; each run reads the files again.
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
            let population = open()?;
            let outcome = sim::simulate_population(&program, &population, &opts);
            if let Some(e) = population.error() {
                return Err(input_error(e));
            }
            funnels.push(outcome.playbooks);
        }
        if progress {
            eprintln!();
        }
        let text = match r.output {
            Output::Json => sim::report::runs_json(&funnels, r.seed),
            Output::Table => printable(&sim::report::runs_table(&funnels, r.seed)).into_owned(),
        };
        return emit(|out| out.write_all(text.as_bytes()));
    }
    let population = open()?;
    // A progress bar on stderr for long runs, when a person is watching the table.
    let done = std::sync::atomic::AtomicUsize::new(0);
    let finished = std::sync::atomic::AtomicBool::new(false);
    let show = std::io::stderr().is_terminal() && r.output == Output::Table;
    let outcome = std::thread::scope(|scope| {
        if show {
            scope.spawn(|| progress_bar(&done, &finished));
        }
        let opts = Options {
            progress: Some(&done),
            // The table shows timelines only for small inputs or the customer asked for.
            keep: match (r.output, &r.customer) {
                (Output::Json, _) => Keep::All,
                (Output::Table, Some(c)) => Keep::Customer(c.clone()),
                (Output::Table, None) if r.broadcasts => Keep::Customer(String::new()),
                (Output::Table, None) => Keep::UpTo(10),
            },
            ..opts
        };
        let o = sim::simulate_population(&program, &population, &opts);
        finished.store(true, std::sync::atomic::Ordering::Relaxed);
        o
    });
    if let Some(e) = population.error() {
        return Err(input_error(e));
    }
    if let Some(id) = &r.customer {
        // Events outside the window create no one.
        if id.is_empty() && !program.playbooks.iter().any(|p| p.broadcast) {
            return Err(Error::Usage(
                "--customer \"\" shows the broadcasts' timeline, but no playbook broadcasts (`trigger every` without `for`)".into(),
            ));
        }
        if !outcome.zones.contains_key(id.as_str()) {
            return Err(Error::Usage(match population.nearest() {
                Some(n) => format!("--customer `{id}` is in neither the customers nor the events of the window; did you mean `{n}`?"),
                None => format!("--customer `{id}` is in neither the customers nor the events of the window"),
            }));
        }
    }
    let zone = program.policy.zone;
    emit(|out| match r.output {
        Output::Json => sim::report::write_json(&outcome, zone, out),
        Output::Table => {
            let timelines = match (&r.customer, r.broadcasts) {
                (Some(c), _) => sim::report::Timelines::Customer(c),
                (None, true) => sim::report::Timelines::Broadcasts,
                (None, false) => sim::report::Timelines::Small,
            };
            let table = sim::report::table(&outcome, zone, timelines);
            out.write_all(printable(&table).as_bytes())
        }
    })
}

/// Bad input: exit 2, naming the file and line.
fn input_error(e: crate::intake::IntakeError) -> Error {
    Error::Usage(e.to_string())
}

/// How many customers have run, on stderr, while a person watches; only
/// after ten thousand (small runs finish before it would show).
fn progress_bar(done: &std::sync::atomic::AtomicUsize, finished: &std::sync::atomic::AtomicBool) {
    use std::sync::atomic::Ordering::Relaxed;
    let mut shown = false;
    while !finished.load(Relaxed) {
        let n = done.load(Relaxed);
        if n >= 10_000 {
            shown = true;
            eprint!("\r{n} customers simulated");
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    if shown {
        eprint!("\r{}\r", " ".repeat(60));
    }
}

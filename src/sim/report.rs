//! The simulator's reports: JSON for machines, a table for people.

use super::Outcome;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use std::fmt::Write as _;
use std::io::Write as _;

/// The JSON report as one string (tests, small runs).
pub fn json(o: &Outcome, default: chrono_tz::Tz) -> String {
    let mut out = Vec::new();
    write_json(o, default, &mut out).expect("writing to memory");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

/// Writes the JSON report as it goes: a million customers' deliveries are
/// gigabytes of text, so neither a document tree nor the whole text is built.
/// Every instant is RFC 3339 in UTC (a script can sort them as text);
/// `local` beside `at` is the same instant in the customer's zone.
pub fn write_json(
    o: &Outcome,
    default: chrono_tz::Tz,
    w: impl std::io::Write,
) -> std::io::Result<()> {
    let mut w = std::io::BufWriter::with_capacity(1 << 16, w);
    let zone = |c: Option<&str>| c.and_then(|c| o.zones.get(c)).copied().unwrap_or(default);
    let local = |c: Option<&str>, t: DateTime<Utc>| t.with_timezone(&zone(c)).to_rfc3339();
    let doc = Doc {
        sends: Rows(|| {
            o.sends.iter().map(|s| {
                let extra = s.extra.as_deref();
                SendRow {
                    at: utc(s.at),
                    local: local(s.customer.as_deref(), s.at),
                    customer: s.customer.as_deref(),
                    playbook: &s.playbook,
                    step: &s.step,
                    channel: &s.channel,
                    touchpoint: s.touchpoint.name(),
                    template: s.template.as_deref(),
                    variant: s.variant.as_deref(),
                    text: s.text.as_deref(),
                    deferred_from: s.deferred_from.map(utc),
                    reason: s.reason.map(|r| r.name()),
                    key: s.key(),
                    enrollment: s.enrollment,
                    version: &s.version,
                    worth: extra.and_then(|x| x.grant.as_ref()).map(|g| g.worth),
                    expires_at: extra
                        .and_then(|x| x.grant.as_ref())
                        .map(|g| utc(g.expires_at)),
                    assignee: extra.and_then(|x| x.assignee.as_deref()),
                    settings: extra
                        .filter(|x| !x.settings.is_empty())
                        .map(|x| Settings(&x.settings)),
                }
            })
        }),
        records: Rows(|| {
            o.records.iter().map(|r| RecordRow {
                at: utc(r.at),
                local: local(r.customer.as_deref(), r.at),
                customer: r.customer.as_deref(),
                playbook: r.playbook.as_deref().unwrap_or(""),
                step: r.step.as_deref(),
                kind: r.kind.name(),
                detail: r.detail.in_zone(zone(r.customer.as_deref())),
            })
        }),
        waits: Rows(|| {
            o.waits.iter().map(|x| WaitRow {
                at: utc(x.at),
                local: local(x.customer.as_deref(), x.at),
                customer: x.customer.as_deref(),
                playbook: &x.playbook,
                enrollment: x.enrollment,
                step: &x.step,
                event: x.event.as_deref(),
                until: x.until.map(utc),
                else_step: x.else_step.as_deref(),
            })
        }),
        playbooks: Rows(|| {
            o.playbooks.iter().map(|p| PlaybookRow {
                name: &p.name,
                entered: p.entered,
                goal: p.goal,
                stopped: p.stopped,
                failed: p.failed,
                finished: p.finished,
                active: p.active,
                holdout: p.holdout,
                holdout_goal: p.holdout_goal,
                steps: Rows(|| {
                    p.steps.iter().map(|s| StepRow {
                        name: &s.name,
                        reached: s.reached,
                        not_sent: &s.not_sent,
                    })
                }),
            })
        }),
        messages: o.tally.deliveries,
        grants: o.tally.grants,
        tasks: o.tally.tasks,
        warnings: &o.warnings,
    };
    serde_json::to_writer_pretty(&mut w, &doc)?;
    w.write_all(b"\n")?;
    w.flush()
}

/// An instant as RFC 3339 in UTC, to the second.
fn utc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A sequence serialised straight from an iterator.
struct Rows<F>(F);

impl<F, I> Serialize for Rows<F>
where
    F: Fn() -> I,
    I: Iterator,
    I::Item: Serialize,
{
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq((self.0)())
    }
}

// The report's shape, field by field in the order written (docs/cli.md).
#[derive(Serialize)]
struct Doc<'a, A, B, W, C> {
    sends: A,
    records: B,
    waits: W,
    playbooks: C,
    /// Totals over every customer: messages, coupon grants, tasks.
    messages: usize,
    grants: usize,
    tasks: usize,
    warnings: &'a [String],
}

#[derive(Serialize)]
struct SendRow<'a> {
    at: String,
    local: String,
    customer: Option<&'a str>,
    playbook: &'a str,
    step: &'a str,
    channel: &'a str,
    touchpoint: &'a str,
    template: Option<&'a str>,
    variant: Option<&'a str>,
    text: Option<&'a str>,
    deferred_from: Option<String>,
    reason: Option<&'a str>,
    key: crate::engine::Key,
    enrollment: u32,
    version: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    worth: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    assignee: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    settings: Option<Settings<'a>>,
}

/// The channel settings a delivery resolved, as an object by setting name.
struct Settings<'a>(&'a [(crate::value::Sym, crate::value::Value)]);

impl Serialize for Settings<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (&**k, v)))
    }
}

#[derive(Serialize)]
struct RecordRow<'a> {
    at: String,
    local: String,
    customer: Option<&'a str>,
    playbook: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    step: Option<&'a str>,
    kind: &'a str,
    detail: String,
}

#[derive(Serialize)]
struct WaitRow<'a> {
    at: String,
    local: String,
    customer: Option<&'a str>,
    playbook: &'a str,
    enrollment: u32,
    step: &'a str,
    /// The awaited event; null for a sleep (`wait D`, `wait until`).
    event: Option<&'a str>,
    until: Option<String>,
    #[serde(rename = "else")]
    else_step: Option<&'a str>,
}

#[derive(Serialize)]
struct PlaybookRow<'a, S> {
    name: &'a str,
    entered: usize,
    goal: usize,
    stopped: usize,
    failed: usize,
    finished: usize,
    active: usize,
    holdout: usize,
    holdout_goal: usize,
    steps: S,
}

#[derive(Serialize)]
struct StepRow<'a> {
    name: &'a str,
    reached: usize,
    not_sent: &'a std::collections::BTreeMap<&'static str, usize>,
}

/// Which timelines the table shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timelines<'a> {
    /// Everyone's when at most ten customers ran (and the broadcasts').
    Small,
    /// This customer's; `""` is the broadcasts'.
    Customer(&'a str),
    /// The broadcasts' only.
    Broadcasts,
}

pub fn table(o: &Outcome, default: chrono_tz::Tz, timelines: Timelines) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<28} {:>8} {:>6} {:>8} {:>7} {:>9} {:>7} {:>8}",
        "playbook", "entered", "goal", "stopped", "failed", "finished", "active", "holdout"
    );
    for p in &o.playbooks {
        let _ = writeln!(
            s,
            "{} {:>8} {:>6} {:>8} {:>7} {:>9} {:>7} {:>8}",
            pad(&p.name, 28),
            p.entered,
            p.goal,
            p.stopped,
            p.failed,
            p.finished,
            p.active,
            p.holdout
        );
        if p.holdout > 0 {
            let treated = p.entered - p.holdout;
            let _ = writeln!(
                s,
                "  ◦ held out: {} of {} reached the goal ({}); treated: {} of {treated} ({})",
                p.holdout_goal,
                p.holdout,
                percent(p.holdout_goal, p.holdout),
                p.goal,
                percent(p.goal, treated)
            );
        }
        for step in &p.steps {
            let not_sent = if step.not_sent.is_empty() {
                String::new()
            } else {
                let parts: Vec<String> = step
                    .not_sent
                    .iter()
                    .map(|(k, n)| format!("{n} {}", not_sent_words(k)))
                    .collect();
                format!("   not sent: {}", parts.join(", "))
            };
            let _ = writeln!(
                s,
                "  └ {} {:>8}{not_sent}",
                pad(&step.name, 24),
                step.reached
            );
        }
    }
    let t = &o.tally;
    let _ = writeln!(s, "\nmessages per channel");
    for (c, n) in &t.per_channel {
        let _ = writeln!(s, "  {} {n:>6}", pad(c, 20));
    }
    if t.grants + t.tasks > 0 {
        let _ = writeln!(
            s,
            "besides messages: {} coupon grants, {} tasks",
            t.grants, t.tasks
        );
    }
    let _ = writeln!(s, "\nmessages per day");
    for (d, n) in &t.per_day {
        let _ = writeln!(s, "  {:<20} {n:>6}", d.to_string());
    }
    let by_reason = |counts: &std::collections::BTreeMap<&str, usize>| {
        counts
            .iter()
            .map(|(r, n)| format!("{n} by {r}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let deferred = if t.deferred.is_empty() {
        "none".to_string()
    } else {
        by_reason(&t.deferred)
    };
    let still = if t.still_deferred.is_empty() {
        String::new()
    } else {
        format!(
            "; still deferred at the end: {}",
            by_reason(&t.still_deferred)
        )
    };
    let _ = writeln!(
        s,
        "\ndeferred: {deferred}{still}  dropped by caps: {}",
        t.dropped
    );
    if let Some((n, c, d)) = &t.busiest {
        let messages = if *n == 1 { "message" } else { "messages" };
        let _ = writeln!(s, "busiest customer-day: {c} on {d} ({n} {messages})");
    }
    super::timeline::write(&mut s, o, default, timelines);
    if !o.warnings.is_empty() {
        let _ = writeln!(s, "\nwarnings:");
        for w in &o.warnings {
            let _ = writeln!(s, "  {w}");
        }
    }
    s
}

/// A share as a whole percent; "–" of nothing.
fn percent(n: usize, of: usize) -> String {
    if of == 0 {
        "–".into()
    } else {
        format!("{:.0}%", n as f64 * 100.0 / of as f64)
    }
}

/// Why a send did not go out, in the table's words.
pub fn not_sent_words(kind: &str) -> &'static str {
    match kind {
        "dropped" => "dropped by a cap",
        "suppressed" => "suppressed (opted out)",
        "unreachable" => "unreachable (requires, settings)",
        "render-error" => "render error",
        "empty-text" => "empty text",
        _ => "other",
    }
}

/// Mean, minimum and maximum of one count over runs.
fn spread(values: &[usize]) -> (f64, usize, usize) {
    let n = values.len().max(1) as f64;
    let mean = values.iter().sum::<usize>() as f64 / n;
    (
        mean,
        values.iter().copied().min().unwrap_or(0),
        values.iter().copied().max().unwrap_or(0),
    )
}

fn spread_json(values: &[usize]) -> serde_json::Value {
    let (mean, min, max) = spread(values);
    json!({ "mean": (mean * 100.0).round() / 100.0, "min": min, "max": max })
}

/// Several seeded runs of the behaviour model: per playbook and step, mean and spread.
pub fn runs_json(runs: &[Vec<super::Funnel>], seed: u64) -> String {
    let Some(first) = runs.first() else {
        return "{}\n".into();
    };
    let playbooks: Vec<_> = first
        .iter()
        .enumerate()
        .map(|(p, f)| {
            let col = |get: &dyn Fn(&super::Funnel) -> usize| {
                runs.iter().map(|r| get(&r[p])).collect::<Vec<_>>()
            };
            json!({
                "name": f.name,
                "entered": spread_json(&col(&|f| f.entered)),
                "goal": spread_json(&col(&|f| f.goal)),
                "stopped": spread_json(&col(&|f| f.stopped)),
                "failed": spread_json(&col(&|f| f.failed)),
                "finished": spread_json(&col(&|f| f.finished)),
                "active": spread_json(&col(&|f| f.active)),
                "holdout": spread_json(&col(&|f| f.holdout)),
                "holdout_goal": spread_json(&col(&|f| f.holdout_goal)),
                "steps": f.steps.iter().enumerate().map(|(s, step)| {
                    json!({ "name": step.name, "reached": spread_json(&col(&|f| f.steps[s].reached)) })
                }).collect::<Vec<_>>(),
            })
        })
        .collect();
    serde_json::to_string_pretty(
        &json!({ "runs": runs.len(), "seed": seed, "playbooks": playbooks }),
    )
    .expect("JSON of numbers")
        + "\n"
}

pub fn runs_table(runs: &[Vec<super::Funnel>], seed: u64) -> String {
    let mut s = String::new();
    let Some(first) = runs.first() else { return s };
    let _ = writeln!(
        s,
        "{} runs, seed {seed}: mean (min–max) per playbook and step\n",
        runs.len()
    );
    for (p, f) in first.iter().enumerate() {
        let show = |values: Vec<usize>| {
            let (mean, min, max) = spread(&values);
            format!("{mean:>9.1} ({min}–{max})")
        };
        let _ = writeln!(
            s,
            "{} entered {}  goal {}",
            pad(&f.name, 28),
            show(runs.iter().map(|r| r[p].entered).collect()),
            show(runs.iter().map(|r| r[p].goal).collect())
        );
        for (i, step) in f.steps.iter().enumerate() {
            let _ = writeln!(
                s,
                "  └ {} {}",
                pad(&step.name, 24),
                show(runs.iter().map(|r| r[p].steps[i].reached).collect())
            );
        }
    }
    s
}

/// Pads to a width in terminal columns: Chinese characters take two.
pub(super) fn pad(text: &str, width: usize) -> String {
    let w = unicode_width::UnicodeWidthStr::width(text);
    format!("{text}{}", " ".repeat(width.saturating_sub(w)))
}

//! The simulator's reports: JSON for machines, a table for people.

use super::Outcome;
use crate::program::Touchpoint;
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
                    at: local(s.customer.as_deref(), s.at),
                    customer: s.customer.as_deref(),
                    playbook: &s.playbook,
                    step: &s.step,
                    channel: &s.channel,
                    touchpoint: s.touchpoint.name(),
                    template: s.template.as_deref(),
                    variant: s.variant.as_deref(),
                    text: s.text.as_deref(),
                    deferred_from: s.deferred_from.map(|t| local(s.customer.as_deref(), t)),
                    reason: s.reason.map(|r| r.name()),
                    key: s.key(),
                    enrollment: s.enrollment,
                    version: &s.version,
                    worth: extra.and_then(|x| x.grant.as_ref()).map(|g| g.worth),
                    expires_at: extra
                        .and_then(|x| x.grant.as_ref())
                        .map(|g| local(s.customer.as_deref(), g.expires_at)),
                    assignee: extra.and_then(|x| x.assignee.as_deref()),
                    settings: extra
                        .filter(|x| !x.settings.is_empty())
                        .map(|x| Settings(&x.settings)),
                }
            })
        }),
        records: Rows(|| {
            o.records.iter().map(|r| RecordRow {
                at: local(r.customer.as_deref(), r.at),
                customer: r.customer.as_deref(),
                playbook: r.playbook.as_deref().unwrap_or(""),
                kind: r.kind.name(),
                detail: r.detail.in_zone(zone(r.customer.as_deref())),
            })
        }),
        playbooks: Rows(|| {
            o.playbooks.iter().map(|p| PlaybookRow {
                name: &p.name,
                entered: p.entered,
                goal: p.goal,
                stopped: p.stopped,
                active: p.active,
                holdout: p.holdout,
                steps: Rows(|| {
                    p.steps.iter().map(|(name, reached)| StepRow {
                        name,
                        reached: *reached,
                    })
                }),
            })
        }),
        warnings: &o.warnings,
    };
    serde_json::to_writer_pretty(&mut w, &doc)?;
    w.write_all(b"\n")?;
    w.flush()
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
struct Doc<'a, A, B, C> {
    sends: A,
    records: B,
    playbooks: C,
    warnings: &'a [String],
}

#[derive(Serialize)]
struct SendRow<'a> {
    at: String,
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
    customer: Option<&'a str>,
    playbook: &'a str,
    kind: &'a str,
    detail: String,
}

#[derive(Serialize)]
struct PlaybookRow<'a, S> {
    name: &'a str,
    entered: usize,
    goal: usize,
    stopped: usize,
    active: usize,
    holdout: usize,
    steps: S,
}

#[derive(Serialize)]
struct StepRow<'a> {
    name: &'a str,
    reached: usize,
}

pub fn table(o: &Outcome, default: chrono_tz::Tz, customer: Option<&str>) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<28} {:>8} {:>6} {:>8} {:>7} {:>8}",
        "playbook", "entered", "goal", "stopped", "active", "holdout"
    );
    for p in &o.playbooks {
        let _ = writeln!(
            s,
            "{} {:>8} {:>6} {:>8} {:>7} {:>8}",
            pad(&p.name, 28),
            p.entered,
            p.goal,
            p.stopped,
            p.active,
            p.holdout
        );
        for (step, n) in &p.steps {
            let _ = writeln!(s, "  └ {} {:>8}", pad(step, 24), n);
        }
    }
    let t = &o.tally;
    let _ = writeln!(s, "\ndeliveries per channel");
    for (c, n) in &t.per_channel {
        let _ = writeln!(s, "  {c:<20} {n:>6}");
    }
    let _ = writeln!(s, "\ndeliveries per day");
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
        let _ = writeln!(s, "busiest customer-day: {c} on {d} ({n} deliveries)");
    }
    let mut show: Vec<&String> = match customer {
        Some(c) => o.zones.keys().filter(|k| k.as_str() == c).collect(),
        None if o.customers <= 10 => o.zones.keys().filter(|k| !k.is_empty()).collect(),
        None => Vec::new(),
    };
    show.sort();
    for c in show {
        let _ = writeln!(s, "\ntimeline of {c}");
        let tz = o.zones.get(c.as_str()).copied().unwrap_or(default);
        for d in o
            .sends
            .iter()
            .filter(|d| d.customer.as_deref() == Some(c.as_str()))
        {
            let at = d.at.with_timezone(&tz).naive_local();
            // The clock it was due at, with its date when that was another day.
            let deferred = d
                .deferred_from
                .map(|f| {
                    let f = f.with_timezone(&tz).naive_local();
                    let due = if f.date() == at.date() {
                        f.format("%H:%M")
                    } else {
                        f.format("%m-%d %H:%M")
                    };
                    format!(
                        " (deferred from {due}, {})",
                        d.reason.map_or("", |r| r.name())
                    )
                })
                .unwrap_or_default();
            let text = d.text.as_deref().unwrap_or("").replace('\n', " ");
            let what = match (d.template.as_deref(), d.touchpoint) {
                (Some(coupon), Touchpoint::Coupons) => format!("coupon {coupon} granted{deferred}"),
                (_, Touchpoint::Tasks) => format!("task{deferred}: {text}"),
                (Some(template), _) => format!("{template}{deferred}: {text}"),
                (None, _) => format!("inline text{deferred}: {text}"),
            };
            let _ = writeln!(
                s,
                "  {} {} {} {what}",
                at.format("%Y-%m-%d %H:%M"),
                pad(&d.channel, 10),
                pad(&d.playbook, 22)
            );
        }
    }
    if !o.warnings.is_empty() {
        let _ = writeln!(s, "\nwarnings:");
        for w in &o.warnings {
            let _ = writeln!(s, "  {w}");
        }
    }
    s
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
                "active": spread_json(&col(&|f| f.active)),
                "holdout": spread_json(&col(&|f| f.holdout)),
                "steps": f.steps.iter().enumerate().map(|(s, (name, _))| {
                    json!({ "name": name, "reached": spread_json(&col(&|f| f.steps[s].1)) })
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
        for (i, (name, _)) in f.steps.iter().enumerate() {
            let _ = writeln!(
                s,
                "  └ {} {}",
                pad(name, 24),
                show(runs.iter().map(|r| r[p].steps[i].1).collect())
            );
        }
    }
    s
}

/// Pads to a width in terminal columns: Chinese characters take two.
fn pad(text: &str, width: usize) -> String {
    let w = unicode_width::UnicodeWidthStr::width(text);
    format!("{text}{}", " ".repeat(width.saturating_sub(w)))
}

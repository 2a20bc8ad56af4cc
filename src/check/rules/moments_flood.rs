//! `moments-flood`: more than 2 posts on one date to a Moments channel, summed
//! over all playbooks. Posts per date come from each schedule's fields (its
//! times of day, and the dates its day, month and weekday fields match), so
//! no fire is enumerated; the dates checked are those of 2000–2027, a span
//! that holds every weekday on every day of every month, and leap days.

use super::MOMENTS_FLOOD;
use crate::check::cfg::{Cfg, NodeKind};
use crate::check::{Checked, CheckedPlaybook};
use crate::config::Touchpoint;
use crate::cron::Dates;
use crate::diag::Finding;
use crate::syntax::ast::TriggerKind;
use chrono::NaiveDate;

const MAX_PER_DAY: u32 = 2;

/// One schedule posting to the channel: its dates, posts on each such date,
/// and where it is.
struct Schedule<'a> {
    dates: Dates,
    per_date: u32,
    pb: &'a CheckedPlaybook,
    site: usize,
}

pub fn check(p: &Checked, out: &mut Vec<Finding>) {
    for ch in p
        .config
        .channels
        .values()
        .filter(|c| c.touchpoint == Touchpoint::Moments)
    {
        let mut schedules = Vec::new();
        for pb in p.playbooks.iter().filter(|pb| pb.broadcast) {
            let per_run = max_sends(&pb.cfg, pb, &ch.name);
            if per_run == 0 {
                continue;
            }
            let site = pb.sends.iter().position(|s| s.channel == ch.name).unwrap();
            for t in &pb.def.triggers {
                let TriggerKind::Every { cron, .. } = &t.kind else {
                    continue;
                };
                if crate::cron::parse(&cron.value).is_err() {
                    continue;
                }
                let times = crate::cron::times_of_day(&cron.value).len() as u32;
                // What only croner reads (L, W, #, @ names) is left unchecked.
                let Some(dates) = Dates::of(&cron.value) else {
                    continue;
                };
                schedules.push(Schedule {
                    dates,
                    per_date: per_run.saturating_mul(times),
                    pb,
                    site,
                });
            }
        }
        if schedules.is_empty() {
            continue;
        }
        let Some((count, on)) = worst_date(&schedules) else {
            continue;
        };
        // The most specific schedule posting that date names the dates.
        let lead = on
            .iter()
            .map(|&i| &schedules[i])
            .min_by_key(|s| (s.dates.words() == "every day", s.per_date))
            .unwrap();
        let words = lead.dates.words();
        out.push(
            Finding::new(&MOMENTS_FLOOD, lead.pb.file, lead.pb.sends[lead.site].span, format!("`{}` gets {count} Moments posts on one date ({words}), more than {MAX_PER_DAY}", ch.name))
                .help("Moments is shared with every contact; more than two posts a day reads like an ad account and gets the account muted; spread posts or drop some"),
        );
    }
}

/// The most posts any one date gets, if over the limit, and the schedules
/// posting on that date.
fn worst_date(schedules: &[Schedule]) -> Option<(u32, Vec<usize>)> {
    let mut d = NaiveDate::from_ymd_opt(2000, 1, 1)?;
    let end = NaiveDate::from_ymd_opt(2028, 1, 1)?;
    let mut worst: Option<(u32, Vec<usize>)> = None;
    while d < end {
        let on: Vec<usize> = (0..schedules.len())
            .filter(|&i| schedules[i].dates.matches(d))
            .collect();
        let count: u32 = on.iter().map(|&i| schedules[i].per_date).sum();
        if count > MAX_PER_DAY && worst.as_ref().is_none_or(|w| count > w.0) {
            worst = Some((count, on));
        }
        d = d.succ_opt()?;
    }
    worst
}

/// Most sends to `channel` along any one path of a run (the larger branch of each `if`).
fn max_sends(cfg: &Cfg, pb: &CheckedPlaybook, channel: &str) -> u32 {
    if cfg.steps == 0 {
        return 0;
    }
    let mut memo: Vec<Option<u32>> = vec![None; cfg.nodes.len()];
    let mut on_path = vec![false; cfg.nodes.len()];
    fn go(
        n: usize,
        cfg: &Cfg,
        pb: &CheckedPlaybook,
        channel: &str,
        memo: &mut Vec<Option<u32>>,
        on_path: &mut Vec<bool>,
    ) -> u32 {
        if let Some(v) = memo[n] {
            return v;
        }
        if on_path[n] {
            return 0;
        }
        on_path[n] = true;
        let here = u32::from(
            matches!(cfg.nodes[n].kind, NodeKind::Send(i) if pb.sends[i].channel == channel),
        );
        let hook = match cfg.nodes[n].kind {
            NodeKind::Hook { body, .. } => go(body, cfg, pb, channel, memo, on_path),
            _ => 0,
        };
        let rest = cfg.nodes[n]
            .edges
            .iter()
            .map(|e| go(e.to, cfg, pb, channel, memo, on_path))
            .max()
            .unwrap_or(0);
        on_path[n] = false;
        let v = here + hook + rest;
        memo[n] = Some(v);
        v
    }
    go(0, cfg, pb, channel, &mut memo, &mut on_path)
}

//! `moments-flood`: more than 2 posts on one date to a Moments channel, summed
//! over all playbooks, over the fixed period 2000-01-01 … 2027-12-31.

use super::MOMENTS_FLOOD;
use crate::check::cfg::{Cfg, NodeKind};
use crate::check::{Checked, CheckedPlaybook};
use crate::config::Touchpoint;
use crate::diag::Finding;
use crate::syntax::ast::TriggerKind;
use chrono::{NaiveDate, TimeZone, Utc};
use std::collections::BTreeMap;

const MAX_PER_DAY: u32 = 2;

pub fn check(p: &Checked, out: &mut Vec<Finding>) {
    let from = Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).unwrap();
    let until = Utc.with_ymd_and_hms(2028, 1, 1, 0, 0, 0).unwrap();
    for ch in p
        .config
        .channels
        .values()
        .filter(|c| c.touchpoint == Touchpoint::Moments)
    {
        let mut per_date: BTreeMap<NaiveDate, u32> = BTreeMap::new();
        let mut first_send: Option<(&CheckedPlaybook, usize)> = None;
        let mut worst: Option<(NaiveDate, u32)> = None;
        for pb in p.playbooks.iter().filter(|pb| pb.broadcast) {
            let per_run = max_sends(&pb.cfg, pb, &ch.name);
            if per_run == 0 {
                continue;
            }
            let site = pb.sends.iter().position(|s| s.channel == ch.name).unwrap();
            first_send.get_or_insert((pb, site));
            for t in &pb.def.triggers {
                let TriggerKind::Every { cron, .. } = &t.kind else {
                    continue;
                };
                let Ok(c) = crate::cron::parse(&cron.value) else {
                    continue;
                };
                // Once a date is over the limit the answer is known; stop early.
                let limit = 50_000;
                for f in crate::cron::fires(&c, from, until, limit) {
                    let d = f.date_naive();
                    let e = per_date.entry(d).or_insert(0);
                    *e += per_run;
                    if *e > MAX_PER_DAY && worst.is_none() {
                        worst = Some((d, *e));
                        first_send = Some((pb, site));
                    }
                    if *e > MAX_PER_DAY + per_run {
                        break;
                    }
                }
            }
        }
        if let (Some((d, _)), Some((pb, site))) = (worst, first_send) {
            let count = per_date[&d];
            out.push(
                Finding::new(&MOMENTS_FLOOD, pb.file, pb.sends[site].span, format!("`{}` gets {count} Moments posts on {d}, more than {MAX_PER_DAY}", ch.name))
                    .help("Moments is shared with every contact; more than two posts a day reads like an ad account and gets the account muted; spread posts or drop some"),
            );
        }
    }
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

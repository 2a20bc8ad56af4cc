//! `quiet-all-day`: the quiet hours that apply to a send cover all 24 hours,
//! so it could never be delivered and the flow behind it would wait forever
//! (docs/rules/quiet-all-day.md).

use super::QUIET_ALL_DAY;
use crate::check::{Checked, CheckedPlaybook, Zone};
use crate::config::{Config, Quiet};
use crate::diag::Finding;
use std::collections::BTreeMap;

const DAY_MINUTES: u32 = 24 * 60;

pub fn check(p: &Checked, out: &mut Vec<Finding>) {
    for pb in &p.playbooks {
        // The verdict depends only on the channel: weigh each once.
        let mut by_channel: BTreeMap<&str, Option<String>> = BTreeMap::new();
        for site in &pb.sends {
            let verdict = by_channel
                .entry(site.channel.as_str())
                .or_insert_with(|| all_day(pb, &p.config, &site.channel));
            if let Some(ranges) = verdict {
                out.push(
                    Finding::new(
                        &QUIET_ALL_DAY,
                        pb.file,
                        site.span,
                        format!("quiet hours cover the whole day for this send ({ranges}): it can never be delivered"),
                    )
                    .help("the send, and everything after it in the flow, would wait forever; shorten one of the ranges so that some hours of the day are open"),
                );
            }
        }
    }
}

/// The quiet ranges that apply to a send on `channel`, described, when
/// together they cover the whole day.
fn all_day(pb: &CheckedPlaybook, config: &Config, channel: &str) -> Option<String> {
    let ch = config.channels.get(channel)?;
    if !ch.touchpoint.is_message() {
        return None;
    }
    let mut ranges: Vec<(Quiet, String)> = Vec::new();
    // The playbook's quiet hours are in its own zone, the others in the
    // customer's: their times of day add up only when both zones are one.
    if let Some(q) = &pb.def.settings.quiet {
        if one_zone(pb, config) {
            let q = Quiet {
                start: q.start.minutes,
                end: q.end.minutes,
            };
            ranges.push((q, format!("the playbook's {}", range(q))));
        }
    }
    if let Some(q) = config.limits.quiet {
        ranges.push((q, format!("[limits] quiet {}", range(q))));
    }
    if let Some(q) = ch.quiet {
        ranges.push((q, format!("channel `{}`'s quiet {}", ch.name, range(q))));
    }
    let mut covered = vec![false; DAY_MINUTES as usize];
    for (q, _) in &ranges {
        for m in 0..DAY_MINUTES {
            covered[m as usize] |= q.contains(m);
        }
    }
    covered.iter().all(|c| *c).then(|| {
        ranges
            .into_iter()
            .map(|(_, what)| what)
            .collect::<Vec<_>>()
            .join(" and ")
    })
}

/// Whether the playbook's quiet hours and the customer-zone ones are in one
/// zone, at least for the customers with no zone of their own (those use
/// tend.toml's): true unless the playbook names another zone.
fn one_zone(pb: &CheckedPlaybook, config: &Config) -> bool {
    match pb.zone {
        Zone::Customer | Zone::Project => true,
        Zone::Named(tz) => config.timezone == Some(tz),
    }
}

fn range(q: Quiet) -> String {
    let hhmm = |m: u32| format!("{:02}:{:02}", m / 60, m % 60);
    format!("{}..{}", hhmm(q.start), hhmm(q.end))
}

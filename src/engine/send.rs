//! Sends and the other deliveries: admission under quiet hours and caps,
//! the channel's `requires` and the data its settings name, rendering, and
//! what each delivery carries for its adapter.

use super::admission::{admit, Admission, Cap, CapMax};
use super::effect::{DeferReason, Delivery, Detail, Effect, Extra, Grant, RecordKind};
use super::flow::Site;
use super::state::{CustomerState, Sent, Wait};
use super::{bucket, customer_of, Ctx, Engine};
use crate::program::{Channel, Kind, Playbook, Root, Send, Text, Touchpoint};
use crate::value::{Fields, Sym, Value};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use std::sync::Arc;

impl Engine {
    /// A send: admission, then `requires` and the channel's data, then
    /// rendering. Returns the wait when it is deferred.
    pub(super) fn send(
        &self,
        c: &mut CustomerState,
        site: &Site,
        pb: &Playbook,
        s: &Send,
        ctx: &mut Ctx<'_>,
        retry: Option<(DateTime<Utc>, DeferReason)>,
    ) -> Option<Wait> {
        let now = ctx.now;
        let zone = self.zone(c, pb);
        let czone = self.customer_zone(c);
        let Some(ch) = self.policy.channel(&s.channel) else {
            let detail = format!("the channel `{}` is no longer configured", s.channel);
            self.skipped(ctx, c, pb, site, RecordKind::Unreachable, detail);
            return None;
        };
        if c.do_not_contact {
            let detail = format!("send on {}", ch.name);
            self.skipped(ctx, c, pb, site, RecordKind::Suppressed, detail);
            return None;
        }
        let (tname, kind) = match &s.text {
            Text::Named(t) => (Some(&t.name), t.kind),
            Text::Inline(_) if ch.touchpoint.is_one_to_many() => (None, Kind::Content),
            Text::Inline(_) => (None, Kind::Service),
        };
        let quiet = self.quiet_of(c, pb, ch);
        let caps = if ch.touchpoint.is_one_to_one() {
            self.caps(pb, ch, kind, zone, czone)
        } else {
            Vec::new()
        };
        let admission = if ch.touchpoint.is_message() {
            admit(now, &quiet, &caps, &mut c.ledger)
        } else {
            Admission::Now
        };
        match admission {
            Admission::Dropped { cap } => {
                let detail = format!("{} over {cap}", tname.map_or("text", |t| &**t));
                self.skipped(ctx, c, pb, site, RecordKind::Dropped, detail);
                return None;
            }
            Admission::Deferred { at, reason } => {
                let (from, reason) = match retry {
                    Some((from, r)) => (from, r.and(reason)),
                    None => {
                        let detail = Detail::Deferred {
                            reason,
                            from: now,
                            to: at,
                        };
                        self.skipped(ctx, c, pb, site, RecordKind::Deferred, detail);
                        (now, reason)
                    }
                };
                return Some(Wait::Deferred { at, from, reason });
            }
            Admission::Now => {}
        }
        let e = &c.enrollments[site.i];
        let none = Fields::new();
        if let Some(req) = &ch.requires {
            match self.cond(c, pb, req, (&e.event, &e.received, &none), now) {
                Ok(true) => {}
                Ok(false) => {
                    let detail = format!("{} does not meet `requires` of {}", c.id, ch.name);
                    self.skipped(ctx, c, pb, site, RecordKind::Unreachable, detail);
                    return None;
                }
                Err(e) => {
                    let detail = format!("`requires` of channel {}: {e}", ch.name);
                    self.end(c, site.i, ctx, RecordKind::Failed, detail);
                    return None;
                }
            }
        }
        let settings = match self.settings(c, site.i, ch) {
            Ok(s) => s,
            Err(detail) => {
                self.skipped(ctx, c, pb, site, RecordKind::Unreachable, detail);
                return None;
            }
        };
        let (variant, source) = match &s.text {
            Text::Named(t) => {
                let w = t
                    .wordings
                    .get(bucket::variant_index(&c.id, &t.name, t.wordings.len()))?;
                (w.variant, &w.source)
            }
            Text::Inline(source) => (None, source),
        };
        let with: Result<Vec<(Sym, Value)>, super::eval::OutOfRange> = s
            .with
            .iter()
            .map(|(k, v)| {
                let env = self.env(c, pb, (&e.event, &e.received, &e.coupons), now);
                Ok((*k, super::eval::eval(v, &env)?))
            })
            .collect();
        let with = match with {
            Ok(with) => with,
            Err(e) => {
                let detail = format!("step {}: {e}", site.label);
                self.end(c, site.i, ctx, RecordKind::Failed, detail);
                return None;
            }
        };
        let text = match self.render(
            c,
            site.i,
            source,
            with,
            zone,
            now,
            (ch.max_length, &ch.name),
        ) {
            Ok(t) if t.is_empty() => {
                let detail = tname.map_or(String::new(), |t| t.to_string());
                self.skipped(ctx, c, pb, site, RecordKind::EmptyText, detail);
                return None;
            }
            Ok(t) => t,
            Err(e) => {
                self.skipped(ctx, c, pb, site, RecordKind::RenderError, e);
                return None;
            }
        };
        if ch.touchpoint.is_one_to_one() {
            c.ledger.push(Sent {
                at: now,
                playbook: pb.name,
                channel: ch.name,
                kind,
            });
        }
        let extra = (!settings.is_empty()).then(|| {
            Box::new(Extra {
                settings,
                ..Extra::default()
            })
        });
        let mut d = self.delivery(c, site, pb, ch.name, ch.touchpoint, now);
        d.template = tname.cloned();
        d.variant = variant;
        d.text = Some(text);
        d.deferred_from = retry.map(|r| r.0);
        d.reason = retry.map(|r| r.1);
        d.extra = extra;
        ctx.out.push(Effect::Deliver(d));
        None
    }

    /// The caps that count this send: the playbook's (of its kind), `[limits]`, the channel's.
    fn caps<'a>(
        &'a self,
        pb: &'a Playbook,
        ch: &'a Channel,
        kind: Kind,
        zone: Tz,
        czone: Tz,
    ) -> Vec<Cap<'a>> {
        let mut caps = Vec::with_capacity(pb.caps.len() + 4);
        for cap in pb.caps.iter().filter(|c| c.kind.is_none_or(|k| k == kind)) {
            caps.push(Cap {
                name: &cap.name,
                zone,
                period: cap.period,
                max: CapMax::Count(cap.count),
                drop: cap.drop,
                playbook: Some(pb.name.as_str()),
                kind: cap.kind,
                channel: None,
            });
        }
        for ((n, p, _), name) in self.policy.limits.counts().zip(&self.limit_names) {
            caps.push(Cap {
                name,
                zone: czone,
                period: p,
                max: CapMax::Count(n),
                drop: false,
                playbook: None,
                kind: None,
                channel: None,
            });
        }
        if let Some(limit) = ch.cap {
            caps.push(Cap {
                name: &ch.cap_name,
                zone: czone,
                period: limit.period,
                max: limit.count.map_or(CapMax::DaysInMonth, CapMax::Count),
                drop: false,
                playbook: None,
                kind: None,
                channel: Some(&ch.name),
            });
        }
        caps
    }

    /// The channel settings that name data, resolved for this customer and
    /// enrollment; a customer attribute the customer lacks makes them unreachable.
    fn settings(
        &self,
        c: &CustomerState,
        i: usize,
        ch: &Channel,
    ) -> Result<Vec<(Sym, Value)>, String> {
        let mut out = Vec::with_capacity(ch.refs.len());
        for r in &ch.refs {
            let v = match r.root {
                Root::Customer => match &*r.path {
                    [only]
                        if only.as_str() == "id"
                            && !c.attrs.contains(*only)
                            && !c.id.is_empty() =>
                    {
                        Value::str(&c.id)
                    }
                    path => c.attrs.path(path).clone(),
                },
                _ => c.enrollments[i].event.path(&r.path).clone(),
            };
            if v == Value::Null {
                if r.root == Root::Customer {
                    let path: Vec<&str> = r.path.iter().map(|s| s.as_str()).collect();
                    return Err(format!(
                        "{} has no `customer.{}`, which channel {} needs for `{}`",
                        if c.id.is_empty() {
                            "a broadcast"
                        } else {
                            &c.id
                        },
                        path.join("."),
                        ch.name,
                        r.key
                    ));
                }
                continue;
            }
            out.push((r.key, v));
        }
        Ok(out)
    }

    /// A delivery of this site, its text and template left to the caller.
    fn delivery(
        &self,
        c: &CustomerState,
        site: &Site,
        pb: &Playbook,
        channel: Sym,
        touchpoint: Touchpoint,
        now: DateTime<Utc>,
    ) -> Delivery {
        let e = &c.enrollments[site.i];
        Delivery {
            at: now,
            customer: customer_of(c),
            playbook: pb.name,
            version: pb.version,
            enrollment: e.n,
            step: site.label,
            channel,
            touchpoint,
            template: None,
            variant: None,
            text: None,
            deferred_from: None,
            reason: None,
            site: site.path,
            plant: site.plant,
            occurrence: site.occurrence,
            extra: None,
        }
    }

    /// A coupon grant through the `coupons` channel.
    pub(super) fn grant(
        &self,
        c: &mut CustomerState,
        site: &Site,
        pb: &Playbook,
        (coupon, grant): (Sym, Grant),
        ctx: &mut Ctx<'_>,
    ) {
        if c.do_not_contact {
            let detail = format!("grant {coupon}");
            self.skipped(ctx, c, pb, site, RecordKind::Suppressed, detail);
            return;
        }
        let mut d = self.delivery(
            c,
            site,
            pb,
            crate::value::names::coupons(),
            Touchpoint::Coupons,
            ctx.now,
        );
        d.template = Some(coupon.as_str().into());
        d.extra = Some(Box::new(Extra {
            grant: Some(grant),
            ..Extra::default()
        }));
        ctx.out.push(Effect::Deliver(d));
    }

    /// A to-do through the `tasks` channel, for the customer's owner (else the playbook's).
    pub(super) fn task(
        &self,
        c: &mut CustomerState,
        site: &Site,
        pb: &Playbook,
        text: &str,
        zone: Tz,
        ctx: &mut Ctx<'_>,
    ) {
        if c.do_not_contact {
            self.skipped(ctx, c, pb, site, RecordKind::Suppressed, "task");
            return;
        }
        let tasks = crate::value::names::tasks();
        let max = self.policy.channel(&tasks).map_or_else(
            || crate::program::MaxLength::of(Touchpoint::Tasks, None),
            |ch| ch.max_length,
        );
        match self.render(c, site.i, text, Vec::new(), zone, ctx.now, (max, &tasks)) {
            Ok(t) => {
                let assignee = match c.attrs.get(crate::value::names::owner()) {
                    Value::Str(o) if self.policy.has_owner() && !o.is_empty() => Some(o.clone()),
                    _ => pb.owner.map(|o| Arc::from(o.as_str())),
                };
                let mut d = self.delivery(
                    c,
                    site,
                    pb,
                    crate::value::names::tasks(),
                    Touchpoint::Tasks,
                    ctx.now,
                );
                d.text = Some(t);
                d.extra = assignee.map(|a| {
                    Box::new(Extra {
                        assignee: Some(a),
                        ..Extra::default()
                    })
                });
                ctx.out.push(Effect::Deliver(d));
            }
            Err(e) => self.skipped(ctx, c, pb, site, RecordKind::RenderError, e),
        }
    }
}

impl Engine {
    /// The quiet hours a send is held by: the playbook's (enrollment zone),
    /// tend.toml's `[limits]` and the channel's (customer zone).
    fn quiet_of(
        &self,
        c: &CustomerState,
        pb: &Playbook,
        ch: &crate::program::Channel,
    ) -> Vec<(Tz, crate::program::Quiet)> {
        let (zone, czone) = (self.zone(c, pb), self.customer_zone(c));
        [
            pb.quiet.map(|q| (zone, q)),
            self.policy.limits.quiet.map(|q| (czone, q)),
            ch.quiet.map(|q| (czone, q)),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    /// The quiet hours of a delivery this engine emitted for `c`, for a
    /// runner handing it over late (grants and tasks have none).
    pub fn quiet_for(
        &self,
        c: &CustomerState,
        d: &super::Delivery,
    ) -> Vec<(Tz, crate::program::Quiet)> {
        let pb = self
            .versions
            .iter()
            .find(|p| p.name == d.playbook && p.version == d.version);
        match (pb, self.policy.channel(&d.channel)) {
            (Some(pb), Some(ch)) if ch.touchpoint.is_message() => self.quiet_of(c, pb, ch),
            _ => Vec::new(),
        }
    }
}

//! tend.toml: timezone, schema, events, channels, limits, lint settings.
//! Every mistake is a finding pointing into tend.toml; reading goes on past it.

use crate::check::rules;
use crate::diag::{Finding, Severity};
use crate::source::FileId;
use crate::syntax::ast::{Expr, Span};
use crate::types::{Field, Record, Type};
use chrono_tz::Tz;
use std::collections::BTreeMap;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Touchpoint {
    Wecom,
    Personal,
    Sms,
    Email,
    Oa,
    Group,
    Moments,
    Coupons,
    Tasks,
}

impl Touchpoint {
    pub const ALL: [(&'static str, Touchpoint); 9] = [
        ("wecom", Touchpoint::Wecom),
        ("personal", Touchpoint::Personal),
        ("sms", Touchpoint::Sms),
        ("email", Touchpoint::Email),
        ("oa", Touchpoint::Oa),
        ("group", Touchpoint::Group),
        ("moments", Touchpoint::Moments),
        ("coupons", Touchpoint::Coupons),
        ("tasks", Touchpoint::Tasks),
    ];
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, t)| *t == self)
            .map(|(n, _)| *n)
            .unwrap_or("?")
    }
    /// A message to one customer: counted by caps, needs opt-out handling.
    pub fn is_one_to_one(self) -> bool {
        matches!(
            self,
            Touchpoint::Wecom
                | Touchpoint::Personal
                | Touchpoint::Sms
                | Touchpoint::Email
                | Touchpoint::Oa
        )
    }
    pub fn is_one_to_many(self) -> bool {
        matches!(self, Touchpoint::Group | Touchpoint::Moments)
    }
    pub fn is_message(self) -> bool {
        self.is_one_to_one() || self.is_one_to_many()
    }
}

/// The longest text a channel delivers: bytes, or characters for SMS (a
/// text message is billed and split by characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxLength {
    pub limit: u32,
    pub chars: bool,
}

impl MaxLength {
    /// The largest `max_length` tend.toml may set.
    pub const MAX: u32 = 1_000_000;

    /// The channel's `max_length`, else its touchpoint's default: WeCom
    /// 4,000 bytes, SMS 500 characters, any other 20,000 bytes.
    pub fn of(touchpoint: Touchpoint, configured: Option<u32>) -> MaxLength {
        let chars = touchpoint == Touchpoint::Sms;
        let default = match touchpoint {
            Touchpoint::Wecom => 4_000,
            Touchpoint::Sms => 500,
            _ => 20_000,
        };
        MaxLength {
            limit: configured.unwrap_or(default),
            chars,
        }
    }

    /// The length of `text` in this limit's unit.
    pub fn measure(&self, text: &str) -> usize {
        if self.chars {
            text.chars().count()
        } else {
            text.len()
        }
    }

    /// The most bytes a text within the limit can take (a character is at most 4).
    pub fn bytes(&self) -> usize {
        self.limit as usize * if self.chars { 4 } else { 1 }
    }

    pub fn unit(&self) -> &'static str {
        if self.chars {
            "characters"
        } else {
            "bytes"
        }
    }
}

pub const ADAPTERS: [&str; 7] = [
    "console",
    "file",
    "webhook",
    "wecom",
    "wecom_group",
    "moments",
    "smtp",
];

/// Quiet hours as minutes after midnight, half-open `[start, end)`, wrapping midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quiet {
    pub start: u32,
    pub end: u32,
}

impl Quiet {
    pub fn contains(&self, minute: u32) -> bool {
        if self.start < self.end {
            minute >= self.start && minute < self.end
        } else {
            minute >= self.start || minute < self.end
        }
    }

    /// Reads `HH:MM..HH:MM`.
    pub fn parse(s: &str) -> Option<Quiet> {
        let (a, b) = s.trim().split_once("..")?;
        let q = Quiet {
            start: clock_minutes(a.trim())?,
            end: clock_minutes(b.trim())?,
        };
        (q.start != q.end).then_some(q)
    }
}

fn clock_minutes(s: &str) -> Option<u32> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

/// A cap's calendar period: the same type as a playbook's `cap N per …`.
pub use crate::syntax::ast::Period as CapPeriod;

/// A count limit per customer per local calendar period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// `None` with `Month`: as many as the month has days (WeCom's default rule).
    pub count: Option<u32>,
    pub period: CapPeriod,
}

impl Limit {
    pub fn parse(s: &str) -> Option<Limit> {
        let s = s.trim();
        let (n, rest) = s.split_once(char::is_whitespace)?;
        let period = match rest.trim().strip_prefix("per")?.trim() {
            "day" => CapPeriod::Day,
            "week" => CapPeriod::Week,
            "month" => CapPeriod::Month,
            _ => return None,
        };
        if n == "days" {
            return (period == CapPeriod::Month).then_some(Limit {
                count: None,
                period,
            });
        }
        let count: u32 = n.parse().ok().filter(|c| *c >= 1)?;
        Some(Limit {
            count: Some(count),
            period,
        })
    }

    /// The most sends the limit allows in the period (31 for "days per month").
    pub fn max_count(&self) -> u32 {
        self.count.unwrap_or(31)
    }
}

#[derive(Debug, Clone)]
pub struct Channel {
    pub name: String,
    pub touchpoint: Touchpoint,
    pub adapter: String,
    pub purpose: Option<String>,
    /// The condition text and, once checked, its expression.
    pub requires: Option<(Expr, Span)>,
    pub quiet: Option<Quiet>,
    pub cap: Option<Limit>,
    /// `max_length` as written; [`Channel::max_length`] applies the default.
    pub max_length: Option<u32>,
    /// Adapter settings, with `${VAR}` references left unresolved (only `tend run` reads them).
    pub settings: BTreeMap<String, String>,
    /// Where each adapter setting's value is written.
    pub setting_spans: BTreeMap<String, Span>,
    /// Where the channel is declared; `None` for the built-in `coupons` and `tasks`.
    pub span: Option<Span>,
}

impl Channel {
    /// The longest text this channel delivers.
    pub fn max_length(&self) -> MaxLength {
        MaxLength::of(self.touchpoint, self.max_length)
    }
}

#[derive(Debug, Clone, Default)]
pub struct Limits {
    pub per_day: Option<u32>,
    pub per_week: Option<u32>,
    pub per_month: Option<u32>,
    pub quiet: Option<Quiet>,
    pub span: Option<Span>,
}

impl Limits {
    /// The count limits that are set, with their period and tend.toml key.
    pub fn counts(&self) -> impl Iterator<Item = (u32, CapPeriod, &'static str)> {
        [
            (self.per_day, CapPeriod::Day, "per_day"),
            (self.per_week, CapPeriod::Week, "per_week"),
            (self.per_month, CapPeriod::Month, "per_month"),
        ]
        .into_iter()
        .filter_map(|(n, p, key)| n.map(|n| (n, p, key)))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Error,
    Warning,
    Off,
}

#[derive(Debug, Clone)]
pub struct EventDecl {
    pub fields: Record,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub file: Option<FileId>,
    pub timezone: Option<Tz>,
    pub timezone_span: Span,
    pub opt_out_events: Vec<String>,
    pub opt_in_events: Vec<String>,
    pub limits: Limits,
    pub customer: Record,
    pub events: BTreeMap<String, EventDecl>,
    pub channels: BTreeMap<String, Channel>,
    pub lint: BTreeMap<String, Level>,
    pub include: Option<Vec<String>>,
    pub run: Run,
}

/// `[run]`: settings only `tend run` reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// How old a missed cron fire may be, when a runner starts, and still fire.
    pub catch_up_every: chrono::Duration,
    /// The same for yearly triggers.
    pub catch_up_yearly: chrono::Duration,
    /// The store, relative to the project (default `tend.db`).
    pub db: Option<String>,
    /// Attempts of one delivery before it is dead.
    pub max_attempts: u32,
    /// How long delivery history, adapter replies, records and event ids are kept.
    pub retain: chrono::Duration,
}

impl Default for Run {
    fn default() -> Self {
        Run {
            catch_up_every: chrono::Duration::hours(1),
            catch_up_yearly: chrono::Duration::hours(1),
            db: None,
            max_attempts: 8,
            retain: chrono::Duration::days(90),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        let mut c = Config {
            file: None,
            timezone: None,
            timezone_span: Span::default(),
            opt_out_events: vec!["contact.blocked".into(), "contact.complained".into()],
            opt_in_events: Vec::new(),
            limits: Limits::default(),
            customer: Record::new(),
            events: BTreeMap::new(),
            channels: BTreeMap::new(),
            lint: BTreeMap::new(),
            include: None,
            run: Run::default(),
        };
        c.add_default_channels();
        c
    }
}

impl Config {
    fn add_default_channels(&mut self) {
        for (name, tp) in [
            ("coupons", Touchpoint::Coupons),
            ("tasks", Touchpoint::Tasks),
        ] {
            self.channels
                .entry(name.to_string())
                .or_insert_with(|| Channel {
                    name: name.to_string(),
                    touchpoint: tp,
                    adapter: "console".into(),
                    purpose: None,
                    requires: None,
                    quiet: None,
                    cap: None,
                    max_length: None,
                    settings: BTreeMap::new(),
                    setting_spans: BTreeMap::new(),
                    span: None,
                });
        }
    }

    /// The opt-out events that are declared (undeclared ones are ignored, and reported).
    pub fn declared_opt_outs(&self) -> impl Iterator<Item = &str> {
        self.opt_out_events
            .iter()
            .map(String::as_str)
            .filter(|e| self.events.contains_key(*e))
    }

    /// Reads tend.toml. Findings go to `out`; what could be read is kept.
    pub fn read(file: FileId, text: &str, out: &mut Vec<Finding>) -> Config {
        let mut cfg = Config {
            file: Some(file),
            ..Config::default()
        };
        let mut r = Reader { file, out };
        unquoted_dotted_headers(text, &mut r);
        let table = match DeTable::parse(text) {
            Ok(t) => t,
            Err(e) => {
                let span = e
                    .span()
                    .map(|s| Span::new(s.start, s.end.max(s.start)))
                    .unwrap_or_default();
                let msg = e.message().trim().trim_end_matches('.').to_string();
                r.out.push(
                    Finding::new(
                        &rules::SYNTAX,
                        file,
                        span,
                        format!("tend.toml cannot be read: {msg}"),
                    )
                    .help("fix the TOML syntax; see the tend.toml section of docs/language.md"),
                );
                return cfg;
            }
        };
        let mut saw_tz = false;
        for (key, value) in table.get_ref().iter() {
            let kspan = span(key);
            match key.get_ref().as_ref() {
                "timezone" => {
                    saw_tz = true;
                    cfg.timezone_span = span(value);
                    match value.get_ref().as_str() {
                        Some(name) => match name.parse::<Tz>() {
                            Ok(tz) => cfg.timezone = Some(tz),
                            Err(_) => r.out.push(
                                Finding::new(
                                    &rules::INVALID_TIMEZONE,
                                    file,
                                    span(value),
                                    format!("`{name}` is not a time zone"),
                                )
                                .help(tz_help(name)),
                            ),
                        },
                        None => r.bad(
                            span(value),
                            "`timezone` must be a string such as \"Asia/Shanghai\"",
                        ),
                    }
                }
                "opt_out_events" => cfg.opt_out_events = r.string_list(value, "opt_out_events"),
                "opt_in_events" => cfg.opt_in_events = r.string_list(value, "opt_in_events"),
                "include" => cfg.include = Some(r.include(value)),
                "limits" => cfg.limits = r.limits(value),
                "customer" => {
                    if let Some(t) = r.table(value, "customer") {
                        cfg.customer = r.record(t);
                    }
                }
                "events" => {
                    if let Some(t) = r.table(value, "events") {
                        for (name, decl) in t.iter() {
                            let fields = match decl.get_ref().as_table() {
                                Some(ft) => r.record(ft),
                                None => {
                                    r.bad(
                                        span(decl),
                                        format!(
                                            "`events.\"{}\"` must be a table of payload fields",
                                            name.get_ref()
                                        ),
                                    );
                                    Record::new()
                                }
                            };
                            cfg.events.insert(
                                name.get_ref().to_string(),
                                EventDecl {
                                    fields,
                                    span: span(name),
                                },
                            );
                        }
                    }
                }
                "channels" => {
                    if let Some(t) = r.table(value, "channels") {
                        for (name, ch) in t.iter() {
                            if let Some(c) = r.channel(name, ch) {
                                cfg.channels.insert(c.name.clone(), c);
                            }
                        }
                    }
                }
                "lint" => {
                    if let Some(t) = r.table(value, "lint") {
                        for (name, level) in t.iter() {
                            if let Some(l) = r.lint_level(name, level) {
                                cfg.lint.insert(name.get_ref().to_string(), l);
                            }
                        }
                    }
                }
                "run" => {
                    if let Some(t) = r.table(value, "run") {
                        cfg.run = r.run(t);
                    }
                }
                other => r.bad(kspan, format!("`{other}` is not a tend.toml setting")),
            }
        }
        if !saw_tz {
            r.out.push(
                Finding::new(&rules::INVALID_TIMEZONE, file, Span::new(0, 0), "tend.toml has no `timezone`")
                    .help("add a line such as `timezone = \"Asia/Shanghai\"` at the top: segments, caps and `timezone customer` need a default zone"),
            );
        }
        let listed = cfg
            .opt_out_events
            .iter()
            .map(|n| (n, "opt-out"))
            .chain(cfg.opt_in_events.iter().map(|n| (n, "opt-in")));
        for (name, what) in listed {
            if !cfg.events.contains_key(name) && !table_has_default_opt_out(&table, name) {
                let sp = find_in(&table, name).unwrap_or_default();
                r.bad(
                    sp,
                    format!("the {what} event `{name}` is not declared under [events]"),
                );
            }
        }
        for name in &cfg.opt_in_events {
            if cfg.opt_out_events.contains(name) {
                let sp = find_in_list(&table, "opt_in_events", name).unwrap_or_default();
                r.out.push(
                    Finding::new(&rules::INVALID_CONFIG, file, sp, format!("`{name}` is both an opt-out and an opt-in event"))
                        .help("an event either marks a customer do-not-contact or clears the mark; remove it from one of `opt_out_events` and `opt_in_events` (the opt-out list defaults to contact.blocked and contact.complained)"),
                );
            }
        }
        cfg.add_default_channels();
        cfg
    }
}

/// A glob pattern of `include`, as the project's files are matched with it.
pub fn include_glob(pattern: &str) -> Result<globset::Glob, globset::Error> {
    globset::GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
}

fn find_in_list(table: &Spanned<DeTable>, key: &str, name: &str) -> Option<Span> {
    let (_, v) = table.get_ref().iter().find(|(k, _)| k.get_ref() == key)?;
    let item = v
        .get_ref()
        .as_array()?
        .iter()
        .find(|item| item.get_ref().as_str() == Some(name))?;
    Some(span(item))
}

/// The default opt-out list is not written in the file, so it is never reported as undeclared.
fn table_has_default_opt_out(table: &Spanned<DeTable>, _name: &str) -> bool {
    !table
        .get_ref()
        .iter()
        .any(|(k, _)| k.get_ref() == "opt_out_events" || k.get_ref() == "opt_in_events")
}

fn find_in(table: &Spanned<DeTable>, name: &str) -> Option<Span> {
    for (k, v) in table.get_ref().iter() {
        if k.get_ref() == "opt_out_events" || k.get_ref() == "opt_in_events" {
            for item in v.get_ref().as_array()?.iter() {
                if item.get_ref().as_str() == Some(name) {
                    return Some(span(item));
                }
            }
        }
    }
    None
}

/// `[events.order.refunded]` is TOML for an event `order` with a field
/// `refunded`: the playbook then says `order.refunded` is unknown while it
/// looks declared. An event name with a dot must be quoted in the header.
fn unquoted_dotted_headers(text: &str, r: &mut Reader<'_>) {
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        let lead = line.len() - line.trim_start().len();
        if let Some(inner) = trimmed
            .strip_prefix("[events.")
            .and_then(|rest| rest.split(']').next())
        {
            let name = inner.trim();
            if !trimmed.starts_with("[[")
                && !name.starts_with('"')
                && !name.starts_with('\'')
                && name.contains('.')
            {
                let end = at + lead + trimmed.find(']').map_or(trimmed.len(), |i| i + 1);
                r.out.push(
                    Finding::new(
                        &rules::INVALID_CONFIG,
                        r.file,
                        Span::new(at + lead, end),
                        format!("`[events.{name}]` declares an event `{}`, not `{name}`: TOML reads each dot as a level", name.split('.').next().unwrap_or(name)),
                    )
                    .help(format!("quote a dotted event name: [events.\"{name}\"]")),
                );
            }
        }
        at += line.len();
    }
}

pub fn tz_help(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    // What people in China write for their own zone; the nearest spelling
    // would be wrong (`Asia/Beijing` is closest to `Asia/Beirut`).
    let compact: String = lower.chars().filter(|c| !c.is_whitespace()).collect();
    let china = [
        "asia/beijing",
        "beijing",
        "peking",
        "china",
        "prc",
        "cst",
        "cct",
        "bjt",
        "gmt+8",
        "utc+8",
        "gmt+08",
        "utc+08",
        "gmt+8:00",
        "utc+8:00",
        "gmt+08:00",
        "utc+08:00",
        "+8",
        "+08",
        "+08:00",
        "+0800",
        "utc+0800",
        "gmt+0800",
        "北京",
        "北京时间",
    ];
    if china.contains(&compact.as_str()) {
        return "China's time zone is \"Asia/Shanghai\" (UTC+8, no daylight saving time): IANA names the zone after its largest city".into();
    }
    let near = chrono_tz::TZ_VARIANTS
        .iter()
        .map(|t| t.name())
        .min_by_key(|n| strsim::levenshtein(&n.to_ascii_lowercase(), &lower));
    match near {
        Some(n) if strsim::levenshtein(&n.to_ascii_lowercase(), &lower) <= 4 => {
            format!("did you mean `{n}`? time zones are IANA names such as \"Asia/Shanghai\" or \"America/New_York\"")
        }
        _ => "time zones are IANA names such as \"Asia/Shanghai\" or \"America/New_York\"".into(),
    }
}

fn span<T>(s: &Spanned<T>) -> Span {
    let r = s.span();
    Span::new(r.start, r.end)
}

struct Reader<'a> {
    file: FileId,
    out: &'a mut Vec<Finding>,
}

impl Reader<'_> {
    fn bad(&mut self, span: Span, msg: impl Into<String>) {
        let msg = msg.into();
        self.out
            .push(Finding::new(&rules::INVALID_CONFIG, self.file, span, msg));
    }

    fn table<'t, 'i>(
        &mut self,
        v: &'t Spanned<DeValue<'i>>,
        what: &str,
    ) -> Option<&'t DeTable<'i>> {
        let t = v.get_ref().as_table();
        if t.is_none() {
            self.bad(span(v), format!("`{what}` must be a table"));
        }
        t
    }

    fn string_list(&mut self, v: &Spanned<DeValue>, what: &str) -> Vec<String> {
        let mut out = Vec::new();
        match v.get_ref().as_array() {
            Some(a) => {
                for item in a.iter() {
                    match item.get_ref().as_str() {
                        Some(s) => out.push(s.to_string()),
                        None => self.bad(span(item), format!("`{what}` must list strings")),
                    }
                }
            }
            None => self.bad(
                span(v),
                format!("`{what}` must be a list of strings, such as [\"contact.blocked\"]"),
            ),
        }
        out
    }

    /// `include = [...]`: glob patterns; a bad one is reported and left out.
    fn include(&mut self, v: &Spanned<DeValue>) -> Vec<String> {
        let Some(items) = v.get_ref().as_array() else {
            self.bad(
                span(v),
                "`include` must be a list of glob patterns, such as [\"playbooks/**\"]",
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in items.iter() {
            let Some(p) = item.get_ref().as_str() else {
                self.bad(span(item), "`include` must list strings");
                continue;
            };
            match include_glob(p) {
                Ok(_) => out.push(p.to_string()),
                Err(e) => self.out.push(
                    Finding::new(&rules::INVALID_CONFIG, self.file, span(item), format!("`{p}` is not a glob pattern: {}", e.kind()))
                        .help("patterns are relative to tend.toml's folder, such as \"playbooks/**\" or \"**/*.playbook\"; `*` stays within a folder, `**` crosses folders"),
                ),
            }
        }
        out
    }

    fn record(&mut self, t: &DeTable) -> Record {
        let mut rec = Record::new();
        for (k, v) in t.iter() {
            let name = k.get_ref().to_string();
            let field = match v.get_ref() {
                DeValue::String(s) => match Type::parse_schema(s) {
                    Some((ty, optional)) => Field { ty, optional },
                    None => {
                        self.bad(span(v), format!("`{s}` is not a type"));
                        continue;
                    }
                },
                DeValue::Table(inner) => Field {
                    ty: Type::Record(self.record(inner)),
                    optional: false,
                },
                _ => {
                    self.bad(span(v), format!("the type of `{name}` must be a string such as \"string\", \"int?\" or \"list<string>\", or a table"));
                    continue;
                }
            };
            rec.insert(name, field);
        }
        rec
    }

    fn run(&mut self, t: &DeTable) -> Run {
        let mut run = Run::default();
        for (k, v) in t.iter() {
            match k.get_ref().as_ref() {
                "catch_up" => match v.get_ref() {
                    DeValue::Table(kinds) => {
                        for (kind, d) in kinds.iter() {
                            let slot = match kind.get_ref().as_ref() {
                                "every" => &mut run.catch_up_every,
                                "yearly" => &mut run.catch_up_yearly,
                                other => {
                                    self.bad(span(kind), format!("`catch_up.{other}` is not a kind of trigger that catches up; the kinds are `every` and `yearly`"));
                                    continue;
                                }
                            };
                            if let Some(d) = self.grace(d) {
                                *slot = d;
                            }
                        }
                    }
                    _ => {
                        if let Some(d) = self.grace(v) {
                            run.catch_up_every = d;
                            run.catch_up_yearly = d;
                        }
                    }
                },
                "db" => match v.get_ref().as_str() {
                    Some(s) if !s.is_empty() => run.db = Some(s.to_string()),
                    _ => self.bad(span(v), "`db` must be a file path such as \"tend.db\", a PostgreSQL URL such as \"postgres://tend@db.internal/shop\", or \"${VAR}\" to read either from the environment".to_string()),
                },
                "max_attempts" => match v.get_ref().as_integer().and_then(|s| s.as_str().parse::<u32>().ok()) {
                    Some(n) if (1..=100).contains(&n) => run.max_attempts = n,
                    _ => self.bad(span(v), "`max_attempts` must be a whole number from 1 to 100".to_string()),
                },
                "retain" => {
                    let help = "write a duration of a day or more, such as `retain = \"90d\"`";
                    match v.get_ref().as_str().map(|t| crate::syntax::literals::duration(t, span(v))) {
                        Some(Ok(d)) if d.approx_seconds() >= 86_400 => {
                            run.retain = chrono::Duration::seconds(d.approx_seconds())
                        }
                        Some(Err(e)) => self.bad(span(v), format!("{}; {help}", e.message)),
                        _ => self.bad(span(v), format!("`retain` must be a duration; {help}")),
                    }
                }
                other => self.bad(
                    span(k),
                    format!("`{other}` is not a [run] setting; the settings are `catch_up`, `db`, `max_attempts` and `retain`"),
                ),
            }
        }
        run
    }

    /// A catch-up grace such as "1h" or "24h".
    fn grace(&mut self, v: &Spanned<DeValue>) -> Option<chrono::Duration> {
        let help = "write a duration such as `catch_up = \"1h\"`, or one per kind: `catch_up = { every = \"1h\", yearly = \"24h\" }`";
        let Some(text) = v.get_ref().as_str() else {
            self.bad(span(v), format!("`catch_up` must be a duration; {help}"));
            return None;
        };
        match crate::syntax::literals::duration(text, span(v)) {
            Ok(d) => Some(chrono::Duration::seconds(d.approx_seconds())),
            Err(e) => {
                self.bad(span(v), format!("{}; {help}", e.message));
                None
            }
        }
    }

    fn limits(&mut self, v: &Spanned<DeValue>) -> Limits {
        let mut l = Limits {
            span: Some(span(v)),
            ..Limits::default()
        };
        let Some(t) = self.table(v, "limits") else {
            return l;
        };
        for (k, v) in t.iter() {
            let key = k.get_ref().as_ref();
            match key {
                "per_day" | "per_week" | "per_month" => {
                    let n = v
                        .get_ref()
                        .as_integer()
                        .and_then(|i| i.as_str().parse::<i64>().ok())
                        .filter(|n| *n >= 1 && *n <= 1_000_000);
                    match n {
                        Some(n) => {
                            let slot = match key {
                                "per_day" => &mut l.per_day,
                                "per_week" => &mut l.per_week,
                                _ => &mut l.per_month,
                            };
                            *slot = Some(n as u32);
                        }
                        None => self.bad(
                            span(v),
                            format!("`{key}` must be a whole number of at least 1"),
                        ),
                    }
                }
                "quiet" => l.quiet = self.quiet(v),
                other => self.bad(
                    span(k),
                    format!(
                        "`{other}` is not a [limits] setting (per_day, per_week, per_month, quiet)"
                    ),
                ),
            }
        }
        l
    }

    fn quiet(&mut self, v: &Spanned<DeValue>) -> Option<Quiet> {
        let q = v.get_ref().as_str().and_then(Quiet::parse);
        if q.is_none() {
            self.bad(
                span(v),
                "`quiet` must be a range such as \"22:00..08:30\" (start and end differ)",
            );
        }
        q
    }

    fn channel(
        &mut self,
        name: &Spanned<toml::de::DeString>,
        v: &Spanned<DeValue>,
    ) -> Option<Channel> {
        let cname = name.get_ref().to_string();
        let t = self.table(v, &format!("channels.{cname}"))?;
        let mut ch = Channel {
            name: cname.clone(),
            touchpoint: Touchpoint::Wecom,
            adapter: "console".into(),
            purpose: None,
            requires: None,
            quiet: None,
            cap: None,
            max_length: None,
            settings: BTreeMap::new(),
            setting_spans: BTreeMap::new(),
            span: Some(span(name)),
        };
        let mut has_touchpoint = false;
        let mut has_adapter = false;
        for (k, val) in t.iter() {
            let key = k.get_ref().as_ref();
            if key == "max_length" {
                let n = val
                    .get_ref()
                    .as_integer()
                    .and_then(|i| i.as_str().parse::<u32>().ok())
                    .filter(|n| (1..=MaxLength::MAX).contains(n));
                match n {
                    Some(n) => ch.max_length = Some(n),
                    None => self.bad(
                        span(val),
                        format!(
                            "`channels.{cname}.max_length` must be a whole number from 1 to {}",
                            MaxLength::MAX
                        ),
                    ),
                }
                continue;
            }
            // A whole number (`port = 587`) is taken as its digits.
            let digits = val.get_ref().as_integer().map(|i| i.as_str().to_string());
            let Some(s) = val.get_ref().as_str().or(digits.as_deref()) else {
                self.bad(
                    span(val),
                    format!("`channels.{cname}.{key}` must be a string"),
                );
                continue;
            };
            match key {
                "touchpoint" => match Touchpoint::ALL.iter().find(|(n, _)| *n == s) {
                    Some((_, tp)) => {
                        ch.touchpoint = *tp;
                        has_touchpoint = true;
                        // `grant` and `task` deliver through the channels named
                        // coupons and tasks, whatever they are declared as.
                        let builtin = [Touchpoint::Coupons, Touchpoint::Tasks]
                            .into_iter()
                            .find(|b| b.name() == cname);
                        if let Some(b) = builtin.filter(|b| b != tp) {
                            self.out.push(
                                Finding::new(&rules::INVALID_CONFIG, self.file, span(val), format!("the channel `{cname}` must have touchpoint \"{}\", not \"{s}\"", b.name()))
                                    .help(format!("`{}` delivers through the channel named `{cname}`; give it touchpoint = \"{cname}\", and declare messages to customers under another name", if cname == "coupons" { "grant" } else { "task" })),
                            );
                            ch.touchpoint = b;
                        }
                    }
                    None => {
                        self.out.push(
                            Finding::new(&rules::INVALID_CONFIG, self.file, span(val), format!("`{s}` is not a touchpoint"))
                                .help("touchpoints are wecom, personal, sms, email, oa (1:1), group, moments (one-to-many), coupons and tasks"),
                        );
                        has_touchpoint = true;
                    }
                },
                "adapter" => {
                    has_adapter = true;
                    if ADAPTERS.contains(&s) {
                        ch.adapter = s.to_string();
                    } else {
                        self.out.push(
                            Finding::new(&rules::INVALID_CONFIG, self.file, span(val), format!("`{s}` is not an adapter"))
                                .help("adapters are console, file, webhook, wecom, wecom_group, moments and smtp"),
                        );
                    }
                }
                "purpose" => ch.purpose = Some(s.to_string()),
                "requires" => {
                    let vspan = span(val);
                    // Point into the string when it has no escapes; else at the whole value.
                    let inner_start = vspan.start + 1;
                    match crate::syntax::parse_expr(s) {
                        Ok(mut e) => {
                            shift_expr(&mut e, inner_start);
                            ch.requires = Some((e, vspan));
                        }
                        Err(e) => {
                            let sp = Span::new(inner_start + e.span.start, inner_start + e.span.end);
                            self.out.push(
                                Finding::new(&rules::SYNTAX, self.file, sp, format!("in `requires`: {}", e.message)).help(e.help),
                            );
                        }
                    }
                }
                "quiet" => ch.quiet = self.quiet(val),
                "cap" => match Limit::parse(s) {
                    Some(l) => ch.cap = Some(l),
                    None => self.bad(span(val), format!("`{s}` is not a channel cap: write \"N per day|week|month\" or \"days per month\"")),
                },
                _ => {
                    ch.settings.insert(key.to_string(), s.to_string());
                    ch.setting_spans.insert(key.to_string(), span(val));
                }
            }
        }
        if !has_touchpoint {
            self.out.push(
                Finding::new(&rules::INVALID_CONFIG, self.file, span(name), format!("channel `{cname}` has no touchpoint"))
                    .help("say what the customer experiences: touchpoint = \"wecom\" | \"personal\" | \"sms\" | \"email\" | \"oa\" | \"group\" | \"moments\" | \"coupons\" | \"tasks\""),
            );
        }
        if !has_adapter {
            self.out.push(
                Finding::new(&rules::INVALID_CONFIG, self.file, span(name), format!("channel `{cname}` has no adapter"))
                    .help("say how its messages are delivered: adapter = \"console\" | \"file\" | \"webhook\" | \"wecom\" | \"wecom_group\" | \"moments\" | \"smtp\""),
            );
        }
        let needs: &[&str] = match ch.adapter.as_str() {
            "webhook" => &["url"],
            "smtp" => &["host", "from", "to"],
            _ => &[],
        };
        for setting in needs {
            if !ch.settings.contains_key(*setting) {
                self.bad(
                    span(name),
                    format!(
                        "channel `{cname}` uses the {} adapter but has no `{setting}`",
                        ch.adapter
                    ),
                );
            }
        }
        Some(ch)
    }

    fn lint_level(
        &mut self,
        name: &Spanned<toml::de::DeString>,
        v: &Spanned<DeValue>,
    ) -> Option<Level> {
        let rule_name = name.get_ref().as_ref();
        let level = match v.get_ref().as_str() {
            Some("error") => Level::Error,
            Some("warning") => Level::Warning,
            Some("off") => Level::Off,
            _ => {
                self.bad(
                    span(v),
                    format!("the level of `{rule_name}` must be \"error\", \"warning\" or \"off\""),
                );
                return None;
            }
        };
        match rules::find(rule_name) {
            None => {
                self.bad(span(name), format!("`{rule_name}` is not a lint rule"));
                None
            }
            Some(r) if r.severity == Severity::Error => {
                self.bad(
                    span(name),
                    format!("`{rule_name}` is an error and cannot be changed; only warnings can"),
                );
                None
            }
            Some(_) => Some(level),
        }
    }
}

/// Moves an expression parsed from a string value to its place in tend.toml.
pub fn shift_expr(e: &mut Expr, by: usize) {
    use crate::syntax::ast::ExprKind::*;
    e.span = Span::new(e.span.start + by, e.span.end + by);
    match &mut e.kind {
        List(items) => items.iter_mut().for_each(|i| shift_expr(i, by)),
        Path(p) => p.span = Span::new(p.span.start + by, p.span.end + by),
        Call { func, args } => {
            func.span = Span::new(func.span.start + by, func.span.end + by);
            args.iter_mut().for_each(|i| shift_expr(i, by));
        }
        Unary(_, x) | Paren(x) => shift_expr(x, by),
        Binary(_, a, b) => {
            shift_expr(a, by);
            shift_expr(b, by);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_ranges_wrap_midnight() {
        let q = Quiet::parse("22:00..08:30").unwrap();
        assert!(q.contains(23 * 60));
        assert!(q.contains(8 * 60 + 29));
        assert!(!q.contains(8 * 60 + 30));
        assert!(Quiet::parse("09:00..09:00").is_none());
    }

    #[test]
    fn channel_caps() {
        assert_eq!(
            Limit::parse("days per month"),
            Some(Limit {
                count: None,
                period: CapPeriod::Month
            })
        );
        assert_eq!(
            Limit::parse("7 per week"),
            Some(Limit {
                count: Some(7),
                period: CapPeriod::Week
            })
        );
        assert!(Limit::parse("0 per day").is_none());
        assert!(Limit::parse("days per week").is_none());
    }
}

//! Name resolution, typing and the lint rules: from ASTs and tend.toml to the
//! findings about them. What the rules need to know is the [`Checked`]
//! project; the engine runs the resolved form built in `crate::program`.

pub mod cfg;
mod flow;
pub mod rules;
mod segments;
pub mod suppress;
mod template_calls;
mod template_depth;
pub mod templates;
pub mod typeck;

use crate::config::Config;
use crate::diag::Finding;
use crate::source::{FileId, Sources};
use crate::syntax::ast::{self, Span};
use crate::types::Record;
use cfg::Cfg;
use chrono_tz::Tz;
use std::collections::{BTreeMap, BTreeSet};

pub use crate::program::Kind;
pub use flow::SendSite;
pub use templates::CheckedTemplate;

/// A segment and what it reads.
#[derive(Debug, Clone)]
pub struct CheckedSegment {
    pub file: FileId,
    pub def: ast::Segment,
    /// Reads the clock (`days_since`, `age_years`), directly or through another segment:
    /// re-evaluated at local midnight.
    pub reads_clock: bool,
}

/// Where a playbook's times are computed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Zone {
    Named(Tz),
    /// `timezone customer`: the customer's zone, else tend.toml's.
    Customer,
    /// No `timezone` setting: tend.toml's.
    Project,
}

#[derive(Debug, Clone)]
pub struct CheckedPlaybook {
    pub file: FileId,
    pub def: ast::Playbook,
    pub zone: Zone,
    /// Only `every` triggers without `for`: one run per fire, no customer.
    pub broadcast: bool,
    /// The payload fields common to all triggers (`event.*` in steps), when all are event triggers.
    pub trigger_payload: Option<Record>,
    pub cfg: Cfg,
    pub sends: Vec<SendSite>,
}

/// The checked project, as the lint rules see it.
#[derive(Debug, Clone)]
pub struct Checked {
    pub config: Config,
    pub segments: BTreeMap<String, CheckedSegment>,
    pub templates: BTreeMap<String, CheckedTemplate>,
    pub playbooks: Vec<CheckedPlaybook>,
}

/// One parsed `.playbook` file.
pub struct ParsedFile {
    pub file: FileId,
    pub ast: ast::File,
}

/// Shared state of the checking passes: where we are, and what was found and used.
pub struct Checker<'a> {
    pub sources: &'a Sources,
    pub config: &'a Config,
    pub file: FileId,
    pub out: Vec<Finding>,
    pub segments: &'a BTreeMap<String, (FileId, &'a ast::Segment)>,
    pub templates: &'a BTreeMap<String, CheckedTemplate>,
    pub used_segments: BTreeSet<String>,
    pub used_templates: BTreeSet<String>,
    /// Set while typing when `days_since`/`age_years` is called.
    pub clock_reads: bool,
}

impl Checker<'_> {
    pub fn use_segment(&mut self, name: &str, span: Span) -> bool {
        if self.segments.contains_key(name) {
            self.used_segments.insert(name.to_string());
            return true;
        }
        let near = nearest(name, self.segments.keys().map(String::as_str));
        let help = match near {
            Some(n) => format!("did you mean `{n}`? declare segments with `segment NAME = …`"),
            None => {
                "declare it with `segment NAME = …` in any .playbook file of the project".into()
            }
        };
        self.out.push(
            Finding::new(
                &rules::UNKNOWN_SEGMENT,
                self.file,
                span,
                format!("unknown segment `{name}`"),
            )
            .help(help),
        );
        false
    }
}

/// The closest name within a small edit distance, for "did you mean".
pub fn nearest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(1) + 1;
    candidates
        .map(|c| (strsim::levenshtein(c, name), c))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, c)| c)
}

/// Checks a project: names, types, templates, flows, then the lint rules.
pub fn check(sources: &Sources, config: Config, files: &[ParsedFile]) -> (Checked, Vec<Finding>) {
    let mut out = Vec::new();

    // One namespace each for segments, templates and playbooks, across files.
    let mut seg_defs: BTreeMap<String, (FileId, &ast::Segment)> = BTreeMap::new();
    let mut tpl_defs: Vec<(FileId, &ast::Template)> = Vec::new();
    let mut pb_defs: Vec<(FileId, &ast::Playbook)> = Vec::new();
    let mut seen: [BTreeMap<String, (FileId, Span)>; 3] = Default::default();
    for pf in files {
        for item in &pf.ast.items {
            let (ns, name, what) = match item {
                ast::Item::Segment(s) => (0, &s.name, "segment"),
                ast::Item::Template(t) => (1, &t.name, "template"),
                ast::Item::Playbook(p) => (2, &p.name, "playbook"),
            };
            if let Some((f, sp)) = seen[ns].get(&name.name) {
                out.push(
                    Finding::new(
                        &rules::DUPLICATE_NAME,
                        pf.file,
                        name.span,
                        format!("the {what} `{}` is declared twice", name.name),
                    )
                    .help(format!(
                        "{what} names are shared by all .playbook files of the project; rename one"
                    ))
                    .label(*f, *sp, "first declared here"),
                );
                continue;
            }
            seen[ns].insert(name.name.clone(), (pf.file, name.span));
            match item {
                ast::Item::Segment(s) => {
                    seg_defs.insert(s.name.name.clone(), (pf.file, s));
                }
                ast::Item::Template(t) => tpl_defs.push((pf.file, t)),
                ast::Item::Playbook(p) => pb_defs.push((pf.file, p)),
            }
        }
    }

    let templates = templates::compile_all(sources, &tpl_defs, &mut out);
    let mut ck = Checker {
        sources,
        config: &config,
        file: 0,
        out: Vec::new(),
        segments: &seg_defs,
        templates: &templates,
        used_segments: BTreeSet::new(),
        used_templates: BTreeSet::new(),
        clock_reads: false,
    };
    let segments = segments::check_all(&mut ck);
    ck.check_channel_requires();
    let playbooks: Vec<CheckedPlaybook> = pb_defs.iter().map(|(f, p)| ck.playbook(*f, p)).collect();
    let used_segments = std::mem::take(&mut ck.used_segments);
    let used_templates = std::mem::take(&mut ck.used_templates);
    out.append(&mut ck.out);

    let program = Checked {
        config,
        segments,
        templates,
        playbooks,
    };
    rules::unused::check(&program, &used_segments, &used_templates, &mut out);
    rules::unreachable_step::check(&program, &mut out);
    rules::wait_without_exit::check(&program, &mut out);
    rules::loops::check(&program, &mut out);
    rules::cap_exceeded::check(&program, &mut out);
    rules::send_in_quiet_hours::check(&program, &mut out);
    rules::quiet_all_day::check(&program, &mut out);
    rules::no_stop_on_block::check(&program, &mut out);
    rules::unpersonalized::check(&program, &mut out);
    rules::promo_in_sharing_group::check(&program, &mut out);
    rules::moments_flood::check(&program, &mut out);
    rules::hook_after_expiry::check(&program, &mut out);
    rules::text_too_long::check(&program, &mut out);
    (program, out)
}

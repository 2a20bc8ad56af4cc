//! Finding a project's files, reading them, and linting them as one whole.

use crate::check::{self, suppress, Checked, ParsedFile};
use crate::config::Config;
use crate::diag::Finding;
use crate::program::Program;
use crate::source::{FileId, SourceFile, Sources};
use std::path::{Path, PathBuf};

/// A problem that stops linting before any finding: exit code 2.
#[derive(Debug)]
pub struct LoadError(pub String);

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What to lint: a tend.toml and the playbook files that go with it.
#[derive(Debug, Clone)]
pub struct Target {
    pub config: PathBuf,
    pub playbooks: Vec<PathBuf>,
}

/// The result of linting one target.
pub struct Linted {
    pub sources: Sources,
    pub findings: Vec<Finding>,
    /// What the lint rules saw; `None` when tend.toml could not be read.
    pub checked: Option<Checked>,
    pub files_checked: usize,
    parsed: Vec<ParsedFile>,
}

impl Linted {
    /// The findings that stop a project from running.
    pub fn errors(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == crate::diag::Severity::Error)
    }

    /// The program to run, when checking found no errors; `None` otherwise
    /// (the findings say why).
    pub fn program(&self) -> Option<Program> {
        if self.errors().next().is_some() {
            return None;
        }
        let checked = self.checked.as_ref()?;
        let items = self.parsed.iter().flat_map(|p| p.ast.items.iter());
        match crate::program::build(&checked.config, items) {
            Ok(p) => Some(p),
            // Checking lets through only what resolves; say so rather than run half a program.
            Err(e) => panic!("a project that checks clean did not resolve: {e}"),
        }
    }
}

/// Turns command-line paths into targets: each folder is a project, and all
/// single files together form one, with the nearest tend.toml above the first.
pub fn targets(paths: &[PathBuf]) -> Result<Vec<Target>, LoadError> {
    let paths: Vec<PathBuf> = if paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        paths.to_vec()
    };
    let mut out = Vec::new();
    let mut files = Vec::new();
    for p in &paths {
        let meta = std::fs::metadata(p)
            .map_err(|e| LoadError(format!("cannot read `{}`: {e}", p.display())))?;
        if meta.is_dir() {
            let config = find_config(p).ok_or_else(|| LoadError(format!("no tend.toml in `{}` or any folder above it; a project is a folder with a tend.toml", p.display())))?;
            let root = config.parent().unwrap_or(Path::new(".")).to_path_buf();
            let cfg_text = crate::read::project_file(&config).unwrap_or_default();
            let include = include_globs(&cfg_text);
            let mut playbooks = Vec::new();
            if p.join("tend.toml").is_file() {
                collect(&root, &root, include.as_deref(), &mut playbooks)?;
            } else {
                collect(&root, p, include.as_deref(), &mut playbooks)?;
            }
            playbooks.sort();
            out.push(Target { config, playbooks });
        } else if p.file_name().is_some_and(|n| n == "tend.toml") {
            // `tend lint shop/tend.toml` means the project it configures.
            let dir = p
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            out.extend(targets(&[dir.to_path_buf()])?);
        } else {
            files.push(p.clone());
        }
    }
    if let Some(first) = files.first() {
        let dir = first
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let config = find_config(dir).ok_or_else(|| {
            LoadError(format!(
                "no tend.toml found for `{}` in its folder or any folder above",
                first.display()
            ))
        })?;
        out.push(Target {
            config,
            playbooks: files,
        });
    }
    Ok(out)
}

fn find_config(dir: &Path) -> Option<PathBuf> {
    let abs = std::fs::canonicalize(dir).ok()?;
    let mut rel = dir.to_path_buf();
    for d in abs.ancestors() {
        if d.join("tend.toml").is_file() {
            return Some(rel.join("tend.toml"));
        }
        rel = rel.join("..");
    }
    None
}

/// `include = [...]` read leniently, so a broken tend.toml is reported by the checker, not here.
fn include_globs(text: &str) -> Option<Vec<String>> {
    let table: toml::Table = text.parse().ok()?;
    let arr = table.get("include")?.as_array()?;
    Some(
        arr.iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
    )
}

fn collect(
    root: &Path,
    dir: &Path,
    include: Option<&[String]>,
    out: &mut Vec<PathBuf>,
) -> Result<(), LoadError> {
    let globs = match include {
        Some(pats) => {
            let mut b = globset::GlobSetBuilder::new();
            // A pattern that is not a glob is an invalid-config finding
            // (tend.toml is read with the files); here it matches nothing.
            for g in pats
                .iter()
                .filter_map(|p| crate::config::include_glob(p).ok())
            {
                b.add(g);
            }
            Some(b.build().map_err(|e| LoadError(e.to_string()))?)
        }
        None => None,
    };
    walk(root, dir, globs.as_ref(), out)
}

fn walk(
    root: &Path,
    dir: &Path,
    globs: Option<&globset::GlobSet>,
    out: &mut Vec<PathBuf>,
) -> Result<(), LoadError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| LoadError(format!("cannot read folder `{}`: {e}", dir.display())))?;
    let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        let name = e.file_name().to_string_lossy().to_string();
        let is_dir = e.file_type().map(|t| t.is_dir()).unwrap_or(false);
        if is_dir {
            if name.starts_with('.')
                || name == "target"
                || (globs.is_none() && path.join("tend.toml").is_file())
            {
                continue;
            }
            walk(root, &path, globs, out)?;
        } else if name.ends_with(".playbook") {
            let keep = match globs {
                None => true,
                Some(g) => g.is_match(path.strip_prefix(root).unwrap_or(&path)),
            };
            if keep {
                out.push(path);
            }
        }
    }
    Ok(())
}

fn display(p: &Path) -> PathBuf {
    let s = p.to_string_lossy();
    PathBuf::from(s.strip_prefix("./").unwrap_or(&s).to_string())
}

/// Reads and lints one target.
pub fn lint(target: &Target) -> Result<Linted, LoadError> {
    let mut sources = Sources::default();
    let read = |p: &Path| crate::read::project_file(p).map_err(LoadError);
    let config_id = sources.add(SourceFile::new(
        display(&target.config),
        read(&target.config)?,
    ));
    let mut files = Vec::new();
    for p in &target.playbooks {
        files.push(sources.add(SourceFile::new(display(p), read(p)?)));
    }
    Ok(lint_sources(sources, config_id, &files))
}

/// Lints sources already in memory: `config` is tend.toml, `files` the playbooks.
pub fn lint_sources(sources: Sources, config: FileId, files: &[FileId]) -> Linted {
    let mut findings = Vec::new();
    let cfg = Config::read(config, &sources.get(config).text, &mut findings);
    let toml_broken = findings.iter().any(|f| f.rule == "syntax");
    let mut parsed = Vec::new();
    for (id, result) in parse_all(&sources, files) {
        match result {
            Ok(ast) => parsed.push(ParsedFile { file: id, ast }),
            Err(e) => findings
                .push(Finding::new(&check::rules::SYNTAX, id, e.span, e.message).help(e.help)),
        }
    }
    if files.is_empty() && !toml_broken {
        findings.push(no_playbooks(config, &sources.get(config).text));
    }
    let checked = if toml_broken {
        None
    } else {
        let (checked, mut more) = check::check(&sources, cfg.clone(), &parsed);
        findings.append(&mut more);
        Some(checked)
    };
    let mut findings = suppress::apply(&sources, files, &cfg, findings);
    findings.sort_by(|a, b| {
        (a.file, a.span.start, a.rule, &a.message).cmp(&(b.file, b.span.start, b.rule, &b.message))
    });
    findings.dedup();
    Linted {
        files_checked: files.len() + 1,
        sources,
        findings,
        checked,
        parsed,
    }
}

/// A project without a single playbook runs nothing: an error, so CI does
/// not go green on a misspelt `include` or files saved as `.pb`. Points at
/// `include` when tend.toml has one.
fn no_playbooks(config: FileId, text: &str) -> Finding {
    let include = text.match_indices("include").find(|&(i, _)| {
        text[..i]
            .rsplit('\n')
            .next()
            .is_some_and(|l| l.trim().is_empty())
    });
    match include {
        Some((at, word)) => {
            let end = text[at..].find('\n').map_or(text.len(), |n| at + n);
            Finding::new(
                &check::rules::INVALID_CONFIG,
                config,
                crate::syntax::ast::Span::new(at, end.max(at + word.len())),
                "no playbook found: `include` matches no `.playbook` file".to_string(),
            )
            .help(
                "patterns are relative to the folder of tend.toml, such as \"playbooks/**/*.playbook\"; playbook files must end in `.playbook`",
            )
        }
        None => Finding::new(
            &check::rules::INVALID_CONFIG,
            config,
            crate::syntax::ast::Span::new(0, 0),
            "no playbook found: no `.playbook` file in this project's folder or below".to_string(),
        )
        .help("playbook files must end in `.playbook` (not `.pb` or `.txt`); put them beside tend.toml or in a folder below it"),
    }
}

/// Parses files on all cores: files are independent, and parsing is most of a lint.
fn parse_all(
    sources: &Sources,
    files: &[FileId],
) -> Vec<(
    FileId,
    Result<crate::syntax::ast::File, crate::syntax::SyntaxError>,
)> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(files.len().div_ceil(8))
        .max(1);
    if threads == 1 {
        return files
            .iter()
            .map(|&id| (id, crate::syntax::parse(&sources.get(id).text)))
            .collect();
    }
    let chunk = files.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .map(|ids| {
                scope.spawn(move || {
                    ids.iter()
                        .map(|&id| (id, crate::syntax::parse(&sources.get(id).text)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a parser thread panicked"))
            .collect()
    })
}

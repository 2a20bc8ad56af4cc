//! The lint corpus: every file under tests/lint/ states the findings it must
//! raise in `# expect: RULE LINE` header lines; a file without them must lint clean.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use tend::project::{lint, Target};

fn expectations(text: &str) -> BTreeSet<(String, usize)> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("# expect:"))
        .map(|rest| {
            let mut parts = rest.split_whitespace();
            let rule = parts
                .next()
                .expect("a rule name after `# expect:`")
                .to_string();
            let line = parts
                .next()
                .and_then(|l| l.parse().ok())
                .expect("a line number after the rule");
            (rule, line)
        })
        .collect()
}

fn files_with_ext(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            files_with_ext(&p, ext, out);
        } else if p.extension().is_some_and(|e| e == ext) {
            out.push(p);
        }
    }
}

/// Lints `target` and compares (file, rule, line) with the expect headers of every file in it.
fn compare(target: &Target, failures: &mut Vec<String>) {
    let linted = lint(target).expect("corpus files are readable");
    let mut got: BTreeSet<(String, String, usize)> = BTreeSet::new();
    for f in &linted.findings {
        let src = linted.sources.get(f.file);
        got.insert((
            src.display_path(),
            f.rule.to_string(),
            src.line_col(f.span.start).0,
        ));
    }
    let mut want = BTreeSet::new();
    for src in &linted.sources.files {
        for (rule, line) in expectations(&src.text) {
            want.insert((src.display_path(), rule, line));
        }
    }
    if got != want {
        let missing: Vec<_> = want.difference(&got).collect();
        let extra: Vec<_> = got
            .difference(&want)
            .map(|g| {
                let f = linted
                    .findings
                    .iter()
                    .find(|f| f.rule == g.1 && linted.sources.get(f.file).display_path() == g.0)
                    .unwrap();
                format!("{g:?}: {}", f.message)
            })
            .collect();
        failures.push(format!(
            "{}:\n    missing: {missing:?}\n    unexpected: {extra:#?}",
            target
                .playbooks
                .first()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        ));
    }
}

#[test]
fn every_corpus_file_raises_exactly_its_expected_findings() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lint");
    let config = root.join("tend.toml");
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&root).unwrap().filter_map(Result::ok) {
        let p = entry.path();
        if p.is_dir() && p.file_name().unwrap() != "projects" {
            files_with_ext(&p, "playbook", &mut files);
        }
    }
    files.sort();
    assert!(
        files.len() > 50,
        "the corpus has only {} files",
        files.len()
    );
    let mut failures = Vec::new();
    for f in &files {
        compare(
            &Target {
                config: config.clone(),
                playbooks: vec![f.clone()],
            },
            &mut failures,
        );
    }
    assert!(
        failures.is_empty(),
        "{} of {} corpus files differ:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

#[test]
fn every_corpus_project_raises_exactly_its_expected_findings() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lint/projects");
    let mut failures = Vec::new();
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for dir in &dirs {
        let targets = tend::project::targets(std::slice::from_ref(dir)).unwrap();
        for t in &targets {
            compare(t, &mut failures);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} corpus projects differ:\n{}",
        failures.len(),
        dirs.len(),
        failures.join("\n")
    );
}

#[test]
fn every_rule_has_a_failing_and_a_passing_example() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lint");
    let mut all = Vec::new();
    files_with_ext(&root, "playbook", &mut all);
    files_with_ext(&root, "toml", &mut all);
    let mut raised = BTreeSet::new();
    for f in &all {
        for (rule, _) in expectations(&std::fs::read_to_string(f).unwrap()) {
            raised.insert(rule);
        }
    }
    for rule in tend::check::rules::ALL.iter() {
        assert!(
            raised.contains(rule.name),
            "no corpus file expects `{}`",
            rule.name
        );
        let dir = root.join(rule.name);
        let has_ok_file = dir.is_dir()
            && std::fs::read_dir(&dir)
                .unwrap()
                .filter_map(Result::ok)
                .any(|e| e.file_name().to_string_lossy().starts_with("ok"));
        let prefix = rule.name.replace('-', "_");
        let has_ok_project = std::fs::read_dir(root.join("projects"))
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().to_string())
            .any(|n| n.starts_with(&prefix) && n.contains("ok"));
        let has_ok = has_ok_file || has_ok_project;
        assert!(has_ok, "no passing example in tests/lint/{}/", rule.name);
    }
}

#[test]
fn the_shipped_playbooks_and_example_project_lint_clean() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for dir in ["playbooks", "examples"] {
        let targets = tend::project::targets(&[root.join(dir)]).unwrap();
        assert_eq!(targets.len(), 1);
        assert!(
            targets[0].playbooks.len() >= 6,
            "{dir} has {} playbooks",
            targets[0].playbooks.len()
        );
        let linted = lint(&targets[0]).unwrap();
        let found: Vec<String> = linted
            .findings
            .iter()
            .map(|f| {
                let src = linted.sources.get(f.file);
                format!(
                    "{}:{} {} {}",
                    src.display_path(),
                    src.line_col(f.span.start).0,
                    f.rule,
                    f.message
                )
            })
            .collect();
        assert!(
            found.is_empty(),
            "{dir} must lint clean:\n{}",
            found.join("\n")
        );
    }
}

//! The whole checker never panics on any playbook text, against a fixed tend.toml.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tend::source::{SourceFile, Sources};

const TOML: &str = include_str!("../../tests/lint/tend.toml");

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut sources = Sources::default();
    let cfg = sources.add(SourceFile::new("tend.toml", TOML));
    let pb = sources.add(SourceFile::new("fuzz.playbook", text));
    let linted = tend::project::lint_sources(sources, cfg, &[pb]);
    for f in &linted.findings {
        let src = linted.sources.get(f.file);
        assert!(f.span.start <= f.span.end && f.span.end <= src.text.len());
    }
});

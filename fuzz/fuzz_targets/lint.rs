//! The whole checker, and a short simulation of what checks clean, never
//! panic or overflow an ordinary thread's stack on any playbook text (the
//! harness is shared with tests/hostile.rs, which runs it in `cargo test`).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/harness/mod.rs"]
mod harness;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = harness::lint_and_simulate(text);
});

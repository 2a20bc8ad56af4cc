//! tend: playbooks for private-domain customer operations.
//!
//! `syntax` reads `.playbook` files, `config` reads `tend.toml`, `check` resolves
//! and types them into one `Program` and runs the lint rules.

pub mod channels;
pub mod check;
pub mod command;
pub mod config;
pub mod cron;
pub mod diag;
pub mod engine;
pub mod hash;
pub mod intake;
pub mod memory;
pub mod printable;
pub mod program;
pub mod project;
pub mod read;
pub mod report;
pub mod run;
pub mod sim;
pub mod source;
pub mod syntax;
pub mod types;
pub mod value;

//! The `tend` command line: parse arguments, call the library, map results to exit codes.

use clap::{Parser, Subcommand};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use tend::check::rules;
use tend::diag::Severity;
use tend::report::{self, Format};

#[derive(Parser)]
#[command(
    name = "tend",
    version,
    about = "Playbooks for private-domain customer operations: lint, simulate, run"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check playbooks and tend.toml; exit 1 on any error.
    Lint {
        /// A project folder (default: the current one) or single .playbook files.
        paths: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
        /// `--deny warnings` makes warnings fail the run too.
        #[arg(long, value_parser = ["warnings"])]
        deny: Option<String>,
    },
    /// Explain a lint rule; without a rule, list them all.
    Explain { rule: Option<String> },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match cli.command {
        Command::Lint {
            paths,
            format,
            deny,
        } => lint(&paths, format, deny.is_some()),
        Command::Explain { rule } => explain(rule.as_deref()),
    }
}

fn lint(paths: &[PathBuf], format: Format, deny_warnings: bool) -> ExitCode {
    let targets = match tend::project::targets(paths) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let mut results = Vec::new();
    for t in &targets {
        match tend::project::lint(t) {
            Ok(r) => results.push(r),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let findings: Vec<_> = results
        .iter()
        .flat_map(|r| r.findings.iter().map(move |f| (&r.sources, f)))
        .collect();
    let files = results.iter().map(|r| r.files_checked).sum();
    let color = format == Format::Human
        && std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none();
    let text = report::render(format, &findings, files, color);
    let _ = std::io::stdout().write_all(text.as_bytes());
    let errors = findings.iter().any(|(_, f)| f.severity == Severity::Error);
    let warnings = findings
        .iter()
        .any(|(_, f)| f.severity == Severity::Warning);
    if errors || (deny_warnings && warnings) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn explain(rule: Option<&str>) -> ExitCode {
    match rule {
        None => {
            println!("Lint rules (`tend explain RULE` for one):\n");
            for r in rules::ALL.iter() {
                println!("  {:<24} {:<8} {}", r.name, r.severity.name(), r.summary);
            }
            ExitCode::SUCCESS
        }
        Some(name) => match rules::find(name) {
            Some(r) => {
                print!("{}", r.docs);
                if !r.docs.ends_with('\n') {
                    println!();
                }
                ExitCode::SUCCESS
            }
            None => {
                let near = tend::check::nearest(name, rules::ALL.iter().map(|r| r.name));
                match near {
                    Some(n) => eprintln!("error: `{name}` is not a lint rule; did you mean `{n}`? (`tend explain` lists them)"),
                    None => eprintln!("error: `{name}` is not a lint rule (`tend explain` lists them)"),
                }
                ExitCode::from(2)
            }
        },
    }
}

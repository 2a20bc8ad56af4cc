//! `tend explain [RULE]`: a lint rule's page, or the list of rules.

use super::{emit, Error};
use crate::check::rules;

pub fn run(rule: Option<&str>) -> Result<(), Error> {
    let Some(name) = rule else {
        return emit(|out| {
            writeln!(out, "Lint rules (`tend explain RULE` for one):\n")?;
            for r in rules::ALL.iter() {
                writeln!(
                    out,
                    "  {:<24} {:<8} {}",
                    r.name,
                    r.severity.name(),
                    r.summary
                )?;
            }
            Ok(())
        });
    };
    let Some(r) = rules::find(name) else {
        let near = crate::check::nearest(name, rules::ALL.iter().map(|r| r.name));
        return Err(Error::Usage(match near {
            Some(n) => format!(
                "`{name}` is not a lint rule; did you mean `{n}`? (`tend explain` lists them)"
            ),
            None => format!("`{name}` is not a lint rule (`tend explain` lists them)"),
        }));
    };
    emit(|out| {
        out.write_all(r.docs.as_bytes())?;
        if !r.docs.ends_with('\n') {
            writeln!(out)?;
        }
        Ok(())
    })
}

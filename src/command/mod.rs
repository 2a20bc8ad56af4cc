//! The commands `tend` runs, each in the library: `main.rs` only parses
//! arguments and maps the one error type here to an exit code.

pub mod explain;
pub mod lint;
pub mod run;
pub mod sim;

use std::io::Write;

/// How a command failed; [`Error::code`] is its exit code.
#[derive(Debug)]
pub enum Error {
    /// A usage error or a file that cannot be read: exit 2.
    Usage(String),
    /// The project has errors; the findings were printed: exit 1.
    Rejected,
    /// Anything else that stops the command, such as output that cannot be written: exit 1.
    Failed(String),
}

impl Error {
    pub fn code(&self) -> u8 {
        match self {
            Error::Usage(_) => 2,
            Error::Rejected | Error::Failed(_) => 1,
        }
    }

    /// What to print on stderr, if anything.
    pub fn message(&self) -> Option<&str> {
        match self {
            Error::Usage(m) | Error::Failed(m) => Some(m),
            Error::Rejected => None,
        }
    }
}

impl From<crate::project::LoadError> for Error {
    fn from(e: crate::project::LoadError) -> Self {
        Error::Usage(e.to_string())
    }
}

/// Writes a command's output to stdout. A reader that stopped early
/// (`| head`) is not a failure; any other write error is.
pub fn emit(write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> Result<(), Error> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match write(&mut out).and_then(|_| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Error::Failed(format!("writing the output failed: {e}")))
        }
        _ => Ok(()),
    }
}

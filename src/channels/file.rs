//! `file`: appends each delivery to `path` as one JSON line; a batch is
//! flushed to disk (one fsync) before any of it counts as sent.

use super::{wire, Attempt, Channel};
use crate::engine::Delivery;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

pub struct File {
    path: PathBuf,
    out: Mutex<std::fs::File>,
}

impl File {
    pub fn open(path: PathBuf) -> Result<File, String> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                format!(
                    "cannot create `{}` for the file adapter: {e}",
                    dir.display()
                )
            })?;
        }
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| format!("cannot open `{}` for the file adapter: {e}", path.display()))?;
        Ok(File {
            path,
            out: Mutex::new(out),
        })
    }
}

impl Channel for File {
    fn deliver(&self, key: &str, d: &Delivery) -> Attempt {
        let mut line = wire(key, d).to_string();
        line.push('\n');
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        match out.write_all(line.as_bytes()) {
            Ok(()) => Attempt::Sent(format!("appended to {}", self.path.display())),
            Err(e) => Attempt::Retry {
                reply: format!("cannot append to {}: {e}", self.path.display()),
                after: None,
            },
        }
    }

    fn flush(&self) -> Result<(), String> {
        let out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        out.sync_data()
            .map_err(|e| format!("cannot flush {}: {e}", self.path.display()))
    }

    fn dedupes(&self) -> bool {
        // A reader of the file drops a repeated `key`.
        true
    }
}

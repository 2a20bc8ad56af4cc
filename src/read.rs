//! Reading files a user names, with bounds: a project file (a playbook,
//! tend.toml, an --assume model) must be a regular file of sensible size, so
//! a symlink to /dev/zero or a FIFO named `x.playbook` is an error rather
//! than a hang; a data file (customers, events) may be large or a pipe and is
//! read as a stream, but no line may be endless.

use std::io::{self, Read};
use std::path::Path;

/// The largest project file read: far above any playbook a person writes.
pub const MAX_PROJECT_FILE: u64 = 8 << 20;
/// The longest line of a data file: far above any customer or event.
pub const MAX_DATA_LINE: usize = 16 << 20;
/// The largest TOML data file, which is read whole (JSON lines and CSV are streamed).
pub const MAX_TOML_DATA: u64 = 256 << 20;

/// Reads a project file as UTF-8 text. The error names the file and says
/// what to do; invalid UTF-8 is located by line and byte offset.
pub fn project_file(path: &Path) -> Result<String, String> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read `{shown}`: {e}"))?;
    if !meta.is_file() {
        return Err(format!(
            "`{shown}` is not a regular file ({}); point tend at the file itself",
            kind(&meta)
        ));
    }
    if meta.len() > MAX_PROJECT_FILE {
        return Err(format!(
            "`{shown}` is {} bytes; project files are read up to {} MiB. Split it into several files",
            meta.len(),
            MAX_PROJECT_FILE >> 20
        ));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_PROJECT_FILE + 1).read_to_end(&mut bytes))
        .map_err(|e| format!("cannot read `{shown}`: {e}"))?;
    if bytes.len() as u64 > MAX_PROJECT_FILE {
        return Err(format!(
            "`{shown}` grew past {} MiB while being read",
            MAX_PROJECT_FILE >> 20
        ));
    }
    utf8(bytes).map_err(|e| format!("cannot read `{shown}`: {e}"))
}

/// Bytes as text, or where they stop being UTF-8 (line, byte offset and
/// the bytes), so the spot can be found in an editor.
pub fn utf8(bytes: Vec<u8>) -> Result<String, String> {
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let bytes = e.as_bytes();
        let line = 1 + bytes[..at].iter().filter(|&&b| b == b'\n').count();
        let len = e.utf8_error().error_len().unwrap_or(bytes.len() - at);
        let bad: Vec<String> = bytes[at..at + len.min(4)]
            .iter()
            .map(|b| format!("0x{b:02X}"))
            .collect();
        format!(
            "line {line} is not valid UTF-8 (byte offset {at}: {}); save the file as UTF-8",
            bad.join(" ")
        )
    })
}

fn kind(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_dir() {
        "a folder"
    } else if t.is_fifo() {
        "a pipe"
    } else if t.is_char_device() || t.is_block_device() {
        "a device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a plain file"
    }
}

/// A reader that fails once a line runs past `max` bytes, naming the line:
/// `--events /dev/zero` ends in a clear error, not an allocation failure.
pub struct Lines<R> {
    inner: R,
    max: usize,
    /// Bytes since the last line end.
    run: usize,
    line: usize,
}

impl<R: Read> Lines<R> {
    pub fn new(inner: R, max: usize) -> Self {
        Lines {
            inner,
            max,
            run: 0,
            line: 1,
        }
    }
}

impl<R: Read> Read for Lines<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        for chunk in buf[..n].split_inclusive(|&b| b == b'\n') {
            if chunk.last() == Some(&b'\n') {
                self.run = 0;
                self.line += 1;
            } else {
                self.run += chunk.len();
            }
            if self.run > self.max {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "line {} runs past {} MiB without ending; is this a file of customers or events?",
                        self.line,
                        self.max >> 20
                    ),
                ));
            }
        }
        Ok(n)
    }
}

/// Reads a whole data file (TOML) with bounded lines and size.
pub fn data_file(path: &Path) -> io::Result<String> {
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    Lines::new(file, MAX_DATA_LINE)
        .take(MAX_TOML_DATA + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_TOML_DATA {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "a TOML file of samples is read whole, up to {} MiB; write bigger ones as JSON lines (.jsonl) or CSV, which are streamed",
                MAX_TOML_DATA >> 20
            ),
        ));
    }
    utf8(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_without_end_is_an_error_naming_it() {
        let text = b"ok\nfine\n"
            .iter()
            .copied()
            .chain(std::iter::repeat_n(b'x', 100));
        let bytes: Vec<u8> = text.collect();
        let mut out = Vec::new();
        let err = Lines::new(&bytes[..], 50)
            .read_to_end(&mut out)
            .unwrap_err();
        assert!(err.to_string().contains("line 3 runs past"), "{err}");
        let mut out = Vec::new();
        Lines::new(&bytes[..], 100).read_to_end(&mut out).unwrap();
    }

    #[test]
    fn invalid_utf8_is_located() {
        let err = utf8(b"ab\ncd\xFFe".to_vec()).unwrap_err();
        assert!(
            err.contains("line 2 is not valid UTF-8 (byte offset 5: 0xFF)"),
            "{err}"
        );
    }
}

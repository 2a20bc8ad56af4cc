//! The source text miette shows around a finding, read through an index of
//! line starts. miette's own reader scans a file from its first byte for
//! every label, and the file was copied once per finding, so a file with many
//! findings took quadratic time to print; here each finding costs only the
//! lines it shows.

use miette::{MietteError, MietteSpanContents, SourceCode, SourceSpan, SpanContents};

/// Where each line starts, with line breaks as miette counts them (`\n`,
/// `\r\n` and a lone `\r`), so line numbers agree with its rendering.
pub struct Lines {
    starts: Vec<usize>,
}

impl Lines {
    pub fn new(text: &str) -> Self {
        let b = text.as_bytes();
        let mut starts = vec![0];
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'\n' => starts.push(i + 1),
                b'\r' if b.get(i + 1) == Some(&b'\n') => {
                    i += 1;
                    starts.push(i + 1);
                }
                b'\r' => starts.push(i + 1),
                _ => {}
            }
            i += 1;
        }
        Lines { starts }
    }

    /// The 0-based line holding byte `offset`.
    fn line_of(&self, offset: usize) -> usize {
        self.starts.partition_point(|&s| s <= offset) - 1
    }
}

/// Bytes shown on either side of a span when its lines are longer: a finding
/// on a line of megabytes shows the part around it.
const WIDE: usize = 200;

/// miette shows two labels of a finding in one snippet when their lines
/// overlap by its count of lines covered. Its own reader counts every line
/// from the top of the file, so it joined labels any distance apart and
/// printed every line between them; labels up to this many lines apart are
/// still shown together.
const JOIN_GAP: usize = 10;

/// One file's text as miette reads it.
pub struct Snippet<'a> {
    pub name: String,
    pub text: &'a str,
    pub lines: &'a Lines,
}

impl SourceCode for Snippet<'_> {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let bytes = self.text.as_bytes();
        let start = span.offset();
        let end = start + span.len();
        if end > bytes.len() {
            return Err(MietteError::OutOfBounds);
        }
        let first = self
            .lines
            .line_of(start)
            .saturating_sub(context_lines_before);
        let last = self.lines.line_of(end.saturating_sub(1).max(start));
        let mut from = self.lines.starts[first];
        let mut to = self
            .lines
            .starts
            .get(last + context_lines_after + 2)
            .copied()
            .unwrap_or(bytes.len());
        if start - from > WIDE {
            from = self.floor(start - WIDE);
        }
        if to - end > WIDE {
            to = self.ceil(end + WIDE);
        }
        // miette's reader, on just these lines, then moved to their place in the file.
        let inner = SourceSpan::new((start - from).into(), span.len());
        let window = &bytes[from..to];
        let part = window.read_span(&inner, context_lines_before, context_lines_after)?;
        // The window may begin inside the span's line: count the bytes before it too.
        let from_line = self.lines.line_of(from);
        let column = match part.line() {
            0 if context_lines_before == 0 => part.column() + from - self.lines.starts[from_line],
            _ => part.column(),
        };
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            part.data(),
            SourceSpan::new((part.span().offset() + from).into(), part.span().len()),
            part.line() + from_line,
            column,
            part.line_count() + JOIN_GAP,
        )))
    }
}

impl Snippet<'_> {
    fn floor(&self, mut at: usize) -> usize {
        while !self.text.is_char_boundary(at) {
            at -= 1;
        }
        at
    }

    fn ceil(&self, mut at: usize) -> usize {
        at = at.min(self.text.len());
        while !self.text.is_char_boundary(at) {
            at += 1;
        }
        at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str, start: usize, len: usize, ctx: usize) -> (String, usize, usize, usize) {
        let lines = Lines::new(text);
        let s = Snippet {
            name: "f".into(),
            text,
            lines: &lines,
        };
        let c = s
            .read_span(&SourceSpan::new(start.into(), len), ctx, ctx)
            .unwrap();
        (
            String::from_utf8(c.data().to_vec()).unwrap(),
            c.span().offset(),
            c.line(),
            c.column(),
        )
    }

    #[test]
    fn agrees_with_miettes_reader_on_whole_files() {
        let text = "one\ntwo\r\nthree\rfour\nfive\n";
        for start in 0..text.len() {
            for ctx in [0, 1, 2] {
                let whole = text
                    .as_bytes()
                    .read_span(&SourceSpan::new(start.into(), 1), ctx, ctx)
                    .unwrap();
                let (data, offset, line, column) = read(text, start, 1, ctx);
                assert_eq!(data.as_bytes(), whole.data(), "at {start}, context {ctx}");
                assert_eq!(
                    (offset, line, column),
                    (whole.span().offset(), whole.line(), whole.column()),
                    "at {start}, context {ctx}"
                );
            }
        }
    }

    #[test]
    fn shows_only_the_part_of_a_long_line_around_the_span() {
        let text = format!("a\n{}x{}\nb\n", "y".repeat(5000), "z".repeat(5000));
        let (data, offset, line, column) = read(&text, 5002, 1, 1);
        assert!(data.len() <= 2 * WIDE + 1, "{}", data.len());
        assert!(data.contains('x'));
        assert_eq!((offset, line), (5002 - WIDE, 1));
        assert_eq!(column, 0);
        let (_, _, line, column) = read(&text, 5002, 1, 0);
        assert_eq!((line, column), (1, 5000));
    }
}

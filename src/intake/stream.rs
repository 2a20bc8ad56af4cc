//! Big files: read in blocks of whole lines (or of CSV rows), parsed on
//! several threads, in file order; and the bookkeeping of ids seen.

use super::{csv, jsonl, Customer, Envelope, Format, IntakeError, Loaded, Located, Schema};
use crate::read::{Lines, MAX_DATA_LINE};
use crate::source::SourceFile;
use ::csv::StringRecord;
use std::collections::hash_map::{Entry as Slot, HashMap, RandomState};
use std::collections::BTreeMap;
use std::fs::File;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher};
use std::io::{self, Read};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Bytes of events per block: enough that taking a block is rare next to parsing it.
const EVENT_BLOCK: usize = 4 << 20;
/// Bytes of customers per block: a few thousand customers.
const CUSTOMER_BLOCK: usize = 1 << 20;
/// Repeated event ids warned about one by one; the rest are counted.
const MAX_WARNINGS: usize = 100;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn display(path: &Path) -> String {
    path.to_string_lossy().replace('\\', "/")
}

fn cannot_read(file: &str, e: io::Error) -> IntakeError {
    IntakeError {
        file: Some(file.to_string()),
        line: None,
        message: format!("cannot read {file}: {e}"),
        field: None,
    }
}

fn count_lines(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b == b'\n').count()
}

/// A file in blocks of whole lines, each about `size` bytes (longer when one
/// line is), with the number of its first line.
struct LineBlocks {
    file: Lines<File>,
    size: usize,
    /// The start of a line the last block did not end.
    carry: Vec<u8>,
    next_line: usize,
    eof: bool,
    started: bool,
}

impl LineBlocks {
    fn open(path: &Path, size: usize) -> io::Result<LineBlocks> {
        Ok(LineBlocks {
            file: Lines::new(File::open(path)?, MAX_DATA_LINE),
            size: size.max(1),
            carry: Vec::new(),
            next_line: 1,
            eof: false,
            started: false,
        })
    }

    fn next(&mut self) -> io::Result<Option<(Vec<u8>, usize)>> {
        let mut buf = std::mem::take(&mut self.carry);
        let mut want = self.size.max(buf.len() + 1);
        loop {
            if !self.eof && buf.len() < want {
                let ask = want - buf.len();
                buf.reserve(ask);
                let got = (&mut self.file).take(ask as u64).read_to_end(&mut buf)?;
                self.eof = got < ask;
            }
            if !self.started && buf.len() >= 3 {
                self.started = true;
                if buf.starts_with(b"\xEF\xBB\xBF") {
                    buf.drain(..3);
                }
            }
            if self.eof {
                break;
            }
            match buf.iter().rposition(|&b| b == b'\n') {
                Some(end) => {
                    self.carry = buf[end + 1..].to_vec();
                    buf.truncate(end + 1);
                    break;
                }
                // One line longer than the block: read on to its end.
                None => want = buf.len() * 2,
            }
        }
        if buf.is_empty() {
            return Ok(None);
        }
        let first = self.next_line;
        self.next_line += count_lines(&buf);
        Ok(Some((buf, first)))
    }
}

/// A CSV file in blocks of rows, read in order (a quoted cell may hold a
/// line break, so the file cannot be cut at line ends).
struct CsvRows {
    reader: ::csv::Reader<Lines<File>>,
    header: Arc<csv::Header>,
    rows: usize,
    done: bool,
}

impl CsvRows {
    fn open(
        path: &Path,
        file: &str,
        rows: usize,
        known: &[String],
    ) -> Result<CsvRows, IntakeError> {
        let f = File::open(path).map_err(|e| cannot_read(file, e))?;
        let mut reader = csv::reader(Lines::new(f, MAX_DATA_LINE));
        let header = Arc::new(csv::header(&mut reader, file)?);
        if let Ok(names) = reader.headers() {
            csv::check_columns(names, file, known)?;
        }
        Ok(CsvRows {
            reader,
            header,
            rows: rows.max(1),
            done: false,
        })
    }

    /// Up to `rows` rows, and the error that stopped reading, if one did.
    fn next(&mut self, file: &str) -> Option<Block> {
        if self.done {
            return None;
        }
        let mut rows = Vec::with_capacity(self.rows);
        let mut error = None;
        while rows.len() < self.rows {
            let mut row = StringRecord::new();
            match csv::next_row(&mut self.reader, &mut row, file) {
                Ok(true) => rows.push(row),
                Ok(false) => {
                    self.done = true;
                    break;
                }
                Err(e) => {
                    self.done = true;
                    error = Some(e);
                    break;
                }
            }
        }
        (!rows.is_empty() || error.is_some()).then(|| Block::Rows {
            header: self.header.clone(),
            rows,
            error,
        })
    }
}

/// Where blocks come from.
enum Source {
    Lines(LineBlocks),
    Csv(CsvRows),
    /// Read whole already (TOML), handed out in chunks.
    Read(std::vec::IntoIter<Located<Customer>>),
    Done,
}

/// A part of a file, taken under the source's lock and parsed outside it.
enum Block {
    /// Whole lines, and the number of the first.
    Lines(Vec<u8>, usize),
    /// CSV rows, and the error that stopped reading after them.
    Rows {
        header: Arc<csv::Header>,
        rows: Vec<StringRecord>,
        error: Option<IntakeError>,
    },
    /// Customers read already.
    Read(Vec<Located<Customer>>),
}

impl Source {
    /// JSON lines or CSV; TOML is read whole by the caller.
    /// `known`: the columns a CSV header may name (a near miss is a typo).
    fn open(
        path: &Path,
        file: &str,
        block: usize,
        known: &[String],
    ) -> Result<Source, IntakeError> {
        Ok(match Format::of(path) {
            Format::JsonLines => {
                Source::Lines(LineBlocks::open(path, block).map_err(|e| cannot_read(file, e))?)
            }
            // Rows of either kind are a few hundred bytes.
            Format::Csv => Source::Csv(CsvRows::open(path, file, block / 256, known)?),
            Format::Toml => Source::Done,
        })
    }

    fn next(&mut self, file: &str) -> Option<Result<Block, IntakeError>> {
        let block = match self {
            Source::Lines(lines) => match lines.next() {
                Ok(Some((bytes, first))) => Ok(Block::Lines(bytes, first)),
                Ok(None) => return None,
                Err(e) => Err(cannot_read(file, e)),
            },
            Source::Csv(rows) => Ok(rows.next(file)?),
            Source::Read(items) => {
                let chunk: Vec<_> = items.by_ref().take(4096).collect();
                if chunk.is_empty() {
                    return None;
                }
                Ok(Block::Read(chunk))
            }
            Source::Done => return None,
        };
        if block.is_err() {
            *self = Source::Done;
        }
        Some(block)
    }
}

/// A block's items, by `lines` for JSON lines and `row` for CSV rows. A
/// mistake is the first in the block's lines, before any read error after them.
fn parse_block<T>(
    block: Block,
    file: &str,
    lines: impl Fn(&str, usize) -> Result<Vec<Located<T>>, IntakeError>,
    row: impl Fn(&csv::Header, &StringRecord) -> Result<Located<T>, IntakeError>,
) -> Result<Vec<Located<T>>, IntakeError> {
    match block {
        Block::Lines(bytes, first) => match std::str::from_utf8(&bytes) {
            Ok(text) => lines(text, first),
            Err(e) => {
                // The lines before the one that is not UTF-8 come first.
                let good = bytes[..e.valid_up_to()]
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(0, |p| p + 1);
                if let Ok(text) = std::str::from_utf8(&bytes[..good]) {
                    lines(text, first)?;
                }
                let line = first + count_lines(&bytes[..good]);
                Err(IntakeError::at(file, line, "this line is not valid UTF-8"))
            }
        },
        Block::Rows {
            header,
            rows,
            error,
        } => {
            let items = rows
                .iter()
                .map(|r| row(&header, r))
                .collect::<Result<Vec<_>, _>>()?;
            match error {
                Some(e) => Err(e),
                None => Ok(items),
            }
        }
        // Only customers are read ahead, and they are returned as they are.
        Block::Read(_) => Ok(Vec::new()),
    }
}

/// Events from a file of any kind, in file order (the caller sorts by `at`,
/// stably), a repeated event id dropped with a warning.
///
/// JSON lines are read in blocks of a few MB cut at line ends and parsed on
/// `threads` threads (the calling one among them); CSV rows are read in
/// order under a lock and converted on `threads` threads; TOML is read whole
/// by [`super::read_events`].
pub fn load_events(
    path: &Path,
    schema: &Schema,
    threads: usize,
) -> Result<Loaded<Envelope>, IntakeError> {
    let mut items = Vec::new();
    let warnings = load_events_into(path, schema, threads, |e| items.push(e))?;
    Ok(Loaded { items, warnings })
}

/// [`load_events`], handing each event to `sink` in file order as soon as
/// the blocks before it are in, so the caller's own work on them overlaps
/// the parsing; returns the warnings.
pub fn load_events_into(
    path: &Path,
    schema: &Schema,
    threads: usize,
    sink: impl FnMut(Located<Envelope>) + Send,
) -> Result<Vec<String>, IntakeError> {
    load_events_in_blocks(path, schema, threads, EVENT_BLOCK, sink)
}

/// [`load_events_into`] with blocks of `block` bytes (tests use small ones).
pub(super) fn load_events_in_blocks(
    path: &Path,
    schema: &Schema,
    threads: usize,
    block: usize,
    mut sink: impl FnMut(Located<Envelope>) + Send,
) -> Result<Vec<String>, IntakeError> {
    let file = display(path);
    if Format::of(path) == Format::Toml {
        let text = crate::read::data_file(path).map_err(|e| cannot_read(&file, e))?;
        let loaded = super::read_events(&SourceFile::new(path, text), schema)?;
        loaded.items.into_iter().for_each(&mut sink);
        return Ok(loaded.warnings);
    }
    // The next block's number goes with the source, so blocks are numbered in file order.
    let known = csv::event_columns(schema);
    let source = Mutex::new((Source::open(path, &file, block, &known)?, 0usize));
    let ids = Ids::default();
    let pending: Mutex<Pending> = Mutex::new(Pending::default());
    // Whoever holds this hands ready blocks to the sink, in order, while the
    // other threads go on parsing.
    let drain = Mutex::new(Drain {
        next: 0,
        sink: &mut sink,
        dedup: Dedup::new(&file),
    });
    let stop = AtomicBool::new(false);
    let work = || {
        while !stop.load(Ordering::Relaxed) {
            let (n, block) = {
                let mut s = lock(&source);
                let Some(block) = s.0.next(&file) else {
                    break;
                };
                s.1 += 1;
                (s.1 - 1, block)
            };
            let parsed = block.and_then(|b| {
                parse_block(
                    b,
                    &file,
                    |text, first| jsonl::events(text, first, schema, &file),
                    |h, row| h.event(row, schema, &file),
                )
            });
            match parsed {
                Ok(items) => {
                    // Fingerprinted here, on this thread; the drain only looks them up.
                    let items = items.into_iter().map(|e| (ids.of(&e.item), e)).collect();
                    lock(&pending).ready.insert(n, items);
                    drain_ready(&drain, &pending);
                }
                Err(e) => {
                    stop.store(true, Ordering::Relaxed);
                    let mut p = lock(&pending);
                    if p.error.as_ref().is_none_or(|(m, _)| n < *m) {
                        p.error = Some((n, e));
                    }
                }
            }
        }
    };
    std::thread::scope(|s| {
        for _ in 1..threads.max(1) {
            s.spawn(work);
        }
        work();
    });
    drain_ready(&drain, &pending);
    let p = pending.into_inner().unwrap_or_else(|e| e.into_inner());
    if let Some((_, e)) = p.error {
        return Err(e);
    }
    let d = drain.into_inner().unwrap_or_else(|e| e.into_inner());
    Ok(d.dedup.finish())
}

type Fingerprinted = Vec<(Option<Fingerprint>, Located<Envelope>)>;

/// Blocks parsed out of order, waiting for their turn; the first mistake.
#[derive(Default)]
struct Pending {
    ready: BTreeMap<usize, Fingerprinted>,
    /// The first block's mistake: the first mistake in the file.
    error: Option<(usize, IntakeError)>,
}

/// Hands blocks to the sink in file order.
struct Drain<'s> {
    /// The block the sink waits for.
    next: usize,
    sink: &'s mut (dyn FnMut(Located<Envelope>) + Send),
    dedup: Dedup,
}

/// Hands every block that is ready to the sink, unless another thread is at
/// it; then checks again, so a block that came in meanwhile is not left.
fn drain_ready(drain: &Mutex<Drain>, pending: &Mutex<Pending>) {
    loop {
        let Ok(mut d) = drain.try_lock() else {
            return;
        };
        loop {
            let items = {
                let mut p = lock(pending);
                if p.error.is_some() {
                    return;
                }
                p.ready.remove(&d.next)
            };
            let Some(items) = items else { break };
            for (fp, e) in items {
                if d.dedup.admit(fp, &e) {
                    (d.sink)(e);
                }
            }
            d.next += 1;
        }
        let next = d.next;
        drop(d);
        if !lock(pending).ready.contains_key(&next) {
            return;
        }
    }
}

/// Hashes that are hashes already: passed through.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, x: u64) {
        self.0 = x;
    }
}

/// Fingerprints of ids: two independent keyed 64-bit hashes.
#[derive(Default)]
pub(super) struct Ids {
    states: (RandomState, RandomState),
}

impl Ids {
    pub(super) fn of_str(&self, id: &str) -> Fingerprint {
        Fingerprint(self.states.0.hash_one(id), self.states.1.hash_one(id))
    }

    /// An event's id's fingerprint (any thread may compute it).
    pub(super) fn of(&self, e: &Envelope) -> Option<Fingerprint> {
        e.id.as_deref().map(|id| self.of_str(id))
    }
}

/// Drops events whose id an earlier event of the file has, with a warning.
/// It keeps each id's fingerprint and line, not the id: 24 bytes an event,
/// and two different ids share a fingerprint with a chance near 2^-128.
pub(super) struct Dedup {
    file: String,
    seen: HashMap<Fingerprint, usize, BuildHasherDefault<Prehashed>>,
    warnings: Vec<String>,
    more: usize,
}

impl Dedup {
    pub(super) fn new(file: &str) -> Dedup {
        Dedup {
            file: file.to_string(),
            seen: HashMap::default(),
            warnings: Vec::new(),
            more: 0,
        }
    }

    /// Whether `e` is new; a repeat is noted and refused. `fp` is its id's fingerprint.
    pub(super) fn admit(&mut self, fp: Option<Fingerprint>, e: &Located<Envelope>) -> bool {
        let (Some(fp), Some(id)) = (fp, e.item.id.as_deref()) else {
            return true;
        };
        match self.seen.entry(fp) {
            Slot::Vacant(v) => {
                v.insert(e.line);
                true
            }
            Slot::Occupied(o) => {
                if self.warnings.len() < MAX_WARNINGS {
                    self.warnings.push(format!(
                        "{}:{}: event id `{id}` repeats the one at line {}; the repeat is ignored",
                        self.file,
                        e.line,
                        o.get()
                    ));
                } else {
                    self.more += 1;
                }
                false
            }
        }
    }

    pub(super) fn finish(mut self) -> Vec<String> {
        if self.more > 0 {
            self.warnings.push(format!(
                "{}: {} more repeated event ids were ignored",
                self.file, self.more
            ));
        }
        self.warnings
    }
}

/// An id's fingerprint: two independent 64-bit keyed hashes. Two different
/// ids share one with a chance near 2^-128, so a set of millions keeps 24
/// bytes each and not the ids.
#[derive(PartialEq, Eq, Clone, Copy)]
pub(super) struct Fingerprint(u64, u64);

impl Hash for Fingerprint {
    fn hash<H: Hasher>(&self, h: &mut H) {
        h.write_u64(self.0)
    }
}

/// The customer ids seen in one file, and the line of each.
#[derive(Default)]
pub(super) struct IdSet {
    seen: HashMap<Fingerprint, usize, BuildHasherDefault<Prehashed>>,
}

impl IdSet {
    /// An error when `id` was seen already, at the later of the two lines.
    pub(super) fn insert(
        &mut self,
        fp: Fingerprint,
        id: &str,
        line: usize,
        file: &str,
    ) -> Result<(), IntakeError> {
        match self.seen.entry(fp) {
            Slot::Vacant(v) => {
                v.insert(line);
                Ok(())
            }
            Slot::Occupied(o) => {
                let (first, again) = (line.min(*o.get()), line.max(*o.get()));
                Err(IntakeError::at(
                    file,
                    again,
                    format!("customer `{id}` is listed twice; the first is at line {first}"),
                ))
            }
        }
    }
}

/// Customers from a big file, block by block: several threads call
/// [`CustomerStream::next_block`] at once, each parsing its block outside
/// any lock. JSON lines are cut in blocks at line ends; CSV rows are read in
/// order under a lock; TOML is read whole when opened. A customer listed
/// twice is an error; after an error every caller gets `None`.
pub struct CustomerStream {
    schema: Arc<Schema>,
    ids: Ids,
    file: String,
    source: Mutex<Source>,
    seen: Mutex<IdSet>,
    failed: AtomicBool,
}

impl CustomerStream {
    pub fn open(path: &Path, schema: Arc<Schema>) -> Result<CustomerStream, IntakeError> {
        CustomerStream::open_in_blocks(path, schema, CUSTOMER_BLOCK)
    }

    /// [`CustomerStream::open`] with blocks of `block` bytes (tests use small ones).
    pub(super) fn open_in_blocks(
        path: &Path,
        schema: Arc<Schema>,
        block: usize,
    ) -> Result<CustomerStream, IntakeError> {
        let file = display(path);
        let source = match Format::of(path) {
            Format::Toml => {
                let text = crate::read::data_file(path).map_err(|e| cannot_read(&file, e))?;
                let loaded = super::read_customers(&SourceFile::new(path, text), &schema)?;
                Source::Read(loaded.items.into_iter())
            }
            _ => Source::open(path, &file, block, &csv::customer_columns(&schema))?,
        };
        Ok(CustomerStream {
            schema,
            file,
            source: Mutex::new(source),
            ids: Ids::default(),
            seen: Mutex::new(IdSet::default()),
            failed: AtomicBool::new(false),
        })
    }

    /// The next block of customers (a few thousand), in file order within
    /// the block, parsed by the calling thread outside any lock; `None` at
    /// the end.
    pub fn next_block(&self) -> Option<Result<Vec<Located<Customer>>, IntakeError>> {
        if self.failed.load(Ordering::Relaxed) {
            return None;
        }
        let block = lock(&self.source).next(&self.file)?;
        let (schema, file) = (&*self.schema, self.file.as_str());
        let parsed = block.and_then(|b| match b {
            // Checked when read whole.
            Block::Read(items) => Ok(items),
            b => {
                let items = parse_block(
                    b,
                    file,
                    |text, first| jsonl::customers(text, first, schema, file),
                    |h, row| h.customer(row, schema, file),
                )?;
                // Fingerprinted here, outside the lock.
                let prints: Vec<Fingerprint> =
                    items.iter().map(|c| self.ids.of_str(&c.item.id)).collect();
                let mut seen = lock(&self.seen);
                for (c, fp) in items.iter().zip(prints) {
                    seen.insert(fp, &c.item.id, c.line, file)?;
                }
                Ok(items)
            }
        });
        if parsed.is_err() {
            self.failed.store(true, Ordering::Relaxed);
        }
        Some(parsed)
    }
}

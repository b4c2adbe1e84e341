//! Several files as one stream in timestamp order, and the visitor that drives the
//! whole read.

use super::*;

/// Reads several captures as one stream in timestamp order, like `mergecap`: a k-way
/// merge over each file's next record. Each file is assumed to be (mostly) sorted; equal
/// timestamps come out in file order. A notice sorts at its own timestamp or, without
/// one, right after its file's previous record.
pub struct MergedReader<R = Decompressed<File>> {
    readers: Vec<CaptureReader<R>>,
    paths: Vec<Option<PathBuf>>,
    pub(super) pending: Vec<Option<Pending>>,
    heap: BinaryHeap<Reverse<(Duration, usize)>>,
    /// The file whose entry was handed out last and must be advanced before the next.
    refill: Option<usize>,
    started: bool,
    segments: u64,
    notices: u64,
    other: u64,
    stopped: bool,
}

impl MergedReader<Decompressed<File>> {
    /// Opens every file and reads its header; the files' indices in `paths` become the
    /// `file` of their notices and records. A gzip- or zstd-compressed file (told by its
    /// magic bytes) is decompressed as it is read. Fails on the first file that cannot be
    /// opened or is not a capture, naming it.
    pub fn open<P: AsRef<Path>>(paths: &[P]) -> Result<Self, CaptureError> {
        MergedReader::open_with(paths, |file| file)
    }
}

impl<R: Read> MergedReader<Decompressed<R>> {
    /// [`open`](MergedReader::open), reading each file through what `wrap` makes of it
    /// (e.g. to act before a read that may block on a pipe), decompressed when it is
    /// compressed.
    pub fn open_with<P: AsRef<Path>>(
        paths: &[P],
        mut wrap: impl FnMut(File) -> R,
    ) -> Result<Self, CaptureError> {
        let mut readers = Vec::with_capacity(paths.len());
        for (i, p) in paths.iter().enumerate() {
            let path = p.as_ref();
            let file = File::open(path).map_err(|error| CaptureError::Open {
                path: path.to_path_buf(),
                error,
            })?;
            let stream = Decompressed::new(wrap(file))
                .map_err(|error| CaptureError::Io { offset: 0, error }.in_file(path))?;
            readers.push(CaptureReader::new(stream, i).map_err(|e| e.in_file(path))?);
        }
        let mut me = MergedReader::new(readers);
        me.paths = paths
            .iter()
            .map(|p| Some(p.as_ref().to_path_buf()))
            .collect();
        Ok(me)
    }
}

impl<R: Read> MergedReader<R> {
    /// Merges readers that are already open (their `file` indices are used as given).
    pub fn new(readers: Vec<CaptureReader<R>>) -> Self {
        let n = readers.len();
        MergedReader {
            readers,
            paths: vec![None; n],
            pending: vec![None; n],
            heap: BinaryHeap::with_capacity(n),
            refill: None,
            started: false,
            segments: 0,
            notices: 0,
            other: 0,
            stopped: false,
        }
    }

    fn load(&mut self, i: usize) -> Result<(), CaptureError> {
        let Some(reader) = self.readers.get_mut(i) else {
            return Ok(());
        };
        let next = match reader.advance() {
            Ok(n) => n,
            Err(e) => {
                return Err(match self.paths.get(i).and_then(Option::as_ref) {
                    Some(p) => e.in_file(p),
                    None => e,
                });
            }
        };
        if let Some(p) = next {
            let key = match &p {
                Pending::Record(m) => m.at,
                Pending::Notice(n) => n.at.unwrap_or(reader.last_at),
            };
            self.heap.push(Reverse((key, i)));
            if let Some(slot) = self.pending.get_mut(i) {
                *slot = Some(p);
            }
        }
        Ok(())
    }

    /// The next record or notice of any file, in timestamp order; `Ok(None)` when every
    /// file has ended. A record borrows its file's buffer until the next call.
    pub fn next_entry(&mut self) -> Result<Option<Entry<'_>>, CaptureError> {
        if self.readers.len() == 1 {
            // One file: nothing to merge, its entries come in its own order.
            let path = self.paths.first().and_then(Option::as_ref);
            let reader = &mut self.readers[0];
            return reader.next_entry().map_err(|e| match path {
                Some(p) => e.in_file(p),
                None => e,
            });
        }
        if !self.started {
            self.started = true;
            for i in 0..self.readers.len() {
                self.load(i)?;
            }
        }
        if let Some(i) = self.refill.take() {
            self.load(i)?;
        }
        while let Some(Reverse((_, i))) = self.heap.pop() {
            let Some(p) = self.pending.get_mut(i).and_then(Option::take) else {
                continue;
            };
            self.refill = Some(i);
            return Ok(Some(match p {
                Pending::Notice(n) => Entry::Notice(n),
                Pending::Record(m) => match self.readers.get(i) {
                    Some(r) => Entry::Record(r.record(&m)),
                    None => continue,
                },
            }));
        }
        Ok(None)
    }

    /// Reads every file to its end, decoding each record with [`parse_record`] and
    /// handing segments and notices to `visit` in timestamp order; non-TCP records are
    /// skipped silently. Returns the counts; stops at the first I/O error.
    pub fn for_each_item(&mut self, visit: impl FnMut(Item<'_>)) -> Result<Summary, CaptureError> {
        self.for_each_item_until(&AtomicBool::new(false), visit)
    }

    /// As [`for_each_item`](Self::for_each_item), but stops before the next record once
    /// `stop` is set (the summary then says `stopped`). A read blocked on a pipe sees the
    /// request when its next record arrives.
    pub fn for_each_item_until(
        &mut self,
        stop: &AtomicBool,
        mut visit: impl FnMut(Item<'_>),
    ) -> Result<Summary, CaptureError> {
        enum Counted {
            Segment,
            Notice,
            Other,
        }
        while let Some(entry) = self.next_entry()? {
            if stop.load(Ordering::Relaxed) {
                self.stopped = true;
                break;
            }
            let counted = match entry {
                Entry::Notice(n) => {
                    visit(Item::Notice(n));
                    Counted::Notice
                }
                Entry::Record(r) => match parse_record(&r) {
                    Parsed::Tcp(s) => {
                        visit(Item::Segment(s));
                        Counted::Segment
                    }
                    Parsed::Other => Counted::Other,
                    Parsed::Notice(n) => {
                        visit(Item::Notice(n));
                        Counted::Notice
                    }
                },
            };
            match counted {
                Counted::Segment => self.segments += 1,
                Counted::Notice => self.notices += 1,
                Counted::Other => self.other += 1,
            }
        }
        Ok(self.summary())
    }

    /// Counts so far (segments, notices and `other` count what
    /// [`for_each_item`](Self::for_each_item) handed out).
    pub fn summary(&self) -> Summary {
        Summary {
            files: self.readers.len(),
            records: self.readers.iter().map(|r| r.frame).sum(),
            bytes: self.readers.iter().map(|r| r.offset).sum(),
            segments: self.segments,
            notices: self.notices,
            other: self.other,
            undecoded: self.readers.iter().map(|r| r.undecoded).sum(),
            stopped: self.stopped,
        }
    }
}

/// Reads the capture files at `paths` (pcap or pcapng, sniffed from their magic numbers)
/// as one stream merged by timestamp, and calls `visit` with every TCP segment and every
/// notice, in order. A segment's payload borrows the reader's buffer: copy what must
/// outlive the call.
///
/// Problems inside a file (a truncated tail, a malformed block, an IPv4 fragment, an
/// undecoded link type) are notices whose `file` is the path's index in `paths`; the
/// records before them are all delivered. The error is for what stops the run: a file
/// that cannot be opened or is not a capture (checked for all files before any is read),
/// or an I/O error.
///
/// ```no_run
/// use mqtt_conform::capture::read::{Item, read_paths};
/// let summary = read_paths(&["capture.pcapng"], |item| match item {
///     Item::Segment(s) => println!("{} -> {}: {} bytes", s.src, s.dst, s.payload.len()),
///     Item::Notice(n) => eprintln!("{:?}: {}", n.kind, n.detail),
/// })?;
/// println!("{} segments from {} records", summary.segments, summary.records);
/// # Ok::<(), mqtt_conform::capture::read::CaptureError>(())
/// ```
pub fn read_paths<P: AsRef<Path>>(
    paths: &[P],
    visit: impl FnMut(Item<'_>),
) -> Result<Summary, CaptureError> {
    MergedReader::open(paths)?.for_each_item(visit)
}

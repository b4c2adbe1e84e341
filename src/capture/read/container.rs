//! One file's container: classic pcap (either byte order, micro- or nanosecond
//! timestamps) or pcapng (sections, interfaces, their link types and timestamp units),
//! read through a buffer the reader owns.

use super::*;

/// A pcapng interface's timestamp unit (`if_tsresol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Resolution {
    /// 10^-exp seconds per tick.
    Pow10 {
        /// Ticks per second, 10^exp.
        per_sec: u64,
        /// Nanoseconds per tick when exp ≤ 9, else 0.
        nanos_per_tick: u64,
        /// Ticks per nanosecond when exp > 9, else 0.
        ticks_per_nano: u64,
    },
    /// 2^-shift seconds per tick.
    Pow2 { shift: u32 },
}

impl Resolution {
    pub(super) const MICROS: Resolution = Resolution::Pow10 {
        per_sec: 1_000_000,
        nanos_per_tick: 1_000,
        ticks_per_nano: 0,
    };

    /// Decodes an `if_tsresol` byte; `None` when it does not fit 64-bit timestamps.
    pub(super) fn from_tsresol(byte: u8) -> Option<Resolution> {
        let exp = u32::from(byte & 0x7f);
        if byte & 0x80 == 0 {
            let per_sec = 10u64.checked_pow(exp)?;
            Some(if exp <= 9 {
                Resolution::Pow10 {
                    per_sec,
                    nanos_per_tick: 10u64.pow(9 - exp),
                    ticks_per_nano: 0,
                }
            } else {
                Resolution::Pow10 {
                    per_sec,
                    nanos_per_tick: 0,
                    ticks_per_nano: 10u64.pow(exp - 9),
                }
            })
        } else if exp < 64 {
            Some(Resolution::Pow2 { shift: exp })
        } else {
            None
        }
    }

    pub(super) fn to_duration(self, ticks: u64) -> Duration {
        match self {
            Resolution::Pow10 {
                per_sec,
                nanos_per_tick,
                ticks_per_nano,
            } => {
                let secs = ticks / per_sec;
                let rem = ticks % per_sec;
                let nanos = if nanos_per_tick != 0 {
                    rem * nanos_per_tick
                } else {
                    rem / ticks_per_nano.max(1)
                };
                // rem < per_sec, so nanos < 1e9 and fits.
                Duration::new(secs, nanos as u32)
            }
            Resolution::Pow2 { shift } => {
                let secs = ticks >> shift;
                let frac = ticks & ((1u64 << shift) - 1);
                let nanos = ((u128::from(frac) * 1_000_000_000) >> shift) as u32;
                Duration::new(secs, nanos)
            }
        }
    }
}

/// Seconds plus a sub-second count of `unit_nanos`-nanosecond units, as classic pcap
/// stores them; tolerates a sub-second field that overflows a second.
pub(super) fn pcap_time(secs: u32, frac: u32, unit_nanos: u64) -> Duration {
    let nanos = u64::from(frac) * unit_nanos;
    Duration::new(
        u64::from(secs) + nanos / 1_000_000_000,
        (nanos % 1_000_000_000) as u32,
    )
}

pub(super) fn apply_offset(at: Duration, offset_secs: i64) -> Duration {
    if offset_secs >= 0 {
        at.checked_add(Duration::from_secs(offset_secs.unsigned_abs()))
            .unwrap_or(at)
    } else {
        at.saturating_sub(Duration::from_secs(offset_secs.unsigned_abs()))
    }
}

// ---------------------------------------------------------------------------------------
// Byte helpers: every read is bounds-checked; a short slice reads as zeros, callers check
// lengths first so that never happens on the paths that matter.
// ---------------------------------------------------------------------------------------

#[inline]
pub(super) fn u16_at(b: &[u8], at: usize, big: bool) -> u16 {
    match b.get(at..at + 2) {
        Some(&[x, y]) => {
            if big {
                u16::from_be_bytes([x, y])
            } else {
                u16::from_le_bytes([x, y])
            }
        }
        _ => 0,
    }
}

#[inline]
pub(super) fn u32_at(b: &[u8], at: usize, big: bool) -> u32 {
    match b.get(at..at + 4) {
        Some(&[w, x, y, z]) => {
            if big {
                u32::from_be_bytes([w, x, y, z])
            } else {
                u32::from_le_bytes([w, x, y, z])
            }
        }
        _ => 0,
    }
}

#[inline]
pub(super) fn u64_at(b: &[u8], at: usize, big: bool) -> u64 {
    let hi = u64::from(u32_at(b, at, big));
    let lo = u64::from(u32_at(b, at + 4, big));
    if big { hi << 32 | lo } else { lo << 32 | hi }
}

#[inline]
pub(super) fn be16(b: &[u8], at: usize) -> u16 {
    u16_at(b, at, true)
}

/// `n` rounded up to a multiple of 4 (pcapng pads fields to 32 bits).
#[inline]
pub(super) fn pad4(n: usize) -> usize {
    n.saturating_add(3) & !3
}

/// Describes a file's first bytes for the "not a capture" error.
pub(super) fn describe_start(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "the file is empty".to_owned();
    }
    let mut s = String::from("it starts with");
    for b in bytes.iter().take(8) {
        let _ = write!(s, " {b:02x}");
    }
    let guess = match bytes {
        [0x1f, 0x8b, ..] => Some("gzip-compressed: decompress it first"),
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Some("zstd-compressed: decompress it first"),
        [0xfd, b'7', b'z', b'X', b'Z', ..] => Some("xz-compressed: decompress it first"),
        [b'P', b'K', 3, 4, ..] => Some("a zip archive"),
        [b'B', b'Z', b'h', ..] => Some("bzip2-compressed: decompress it first"),
        [b'X', b'C', b'P', 0, ..] => Some("a NetMon/NetXRay capture, not pcap"),
        [b'G', b'M', b'B', b'U', ..] => Some("a Microsoft Network Monitor capture, not pcap"),
        _ if bytes.len() < 4 => Some("too short to hold a magic number"),
        _ if bytes
            .iter()
            .take(8)
            .all(|b| b.is_ascii_graphic() || *b == b' ') =>
        {
            Some("looks like text")
        }
        _ => None,
    };
    if let Some(g) = guess {
        let _ = write!(s, " ({g})");
    }
    s
}

/// One capture interface: a pcapng IDB, or the classic pcap file header.
#[derive(Debug, Clone)]
struct Interface {
    link_type: u32,
    snaplen: u32,
    resolution: Resolution,
    offset_secs: i64,
    supported: bool,
    /// An `UnsupportedLinkType` notice was given for it.
    reported: bool,
}

impl Interface {
    fn new(link_type: u32, snaplen: u32, resolution: Resolution) -> Interface {
        Interface {
            link_type,
            snaplen,
            resolution,
            offset_secs: 0,
            supported: is_supported_link_type(link_type),
            reported: false,
        }
    }
}

/// Where a record is in the buffer, and what the container said about it. No borrow, so
/// the merge can hold one per file.
#[derive(Debug, Clone, Copy)]
pub(super) struct Meta {
    start: usize,
    len: usize,
    frame: u64,
    pub(super) at: Duration,
    interface: u32,
    link_type: u32,
    orig_len: u32,
}

#[derive(Debug, Clone)]
pub(super) enum Pending {
    Record(Meta),
    Notice(Notice),
}

/// What one container step produced.
enum Step {
    Record(Meta),
    Notice(Notice),
    /// A block without packets (interface, statistics, ...): read on.
    Skip,
    /// Clean end of file.
    End,
}

/// Classic pcap parameters.
#[derive(Debug, Clone, Copy)]
struct PcapParams {
    header_len: usize,
    unit_nanos: u64,
    /// Record length above which a record is corrupt.
    cap: usize,
}

/// Reads one pcap or pcapng file as a stream of [`Entry`]s, through a buffer it owns.
///
/// The buffer starts at 256 KiB and grows only to hold a record that does not fit, never
/// beyond [`MAX_RECORD_LEN`] plus a header. Records borrow it until the next call.
pub struct CaptureReader<R> {
    reader: R,
    file: usize,
    buf: Vec<u8>,
    /// Unconsumed data is `buf[pos..end]`.
    pos: usize,
    end: usize,
    /// File offset of `buf[pos]`.
    pub(super) offset: u64,
    format: Format,
    /// Byte order of the file (pcap) or current section (pcapng).
    big: bool,
    pcap: PcapParams,
    interfaces: Vec<Interface>,
    /// Packet records seen so far (the last frame number given).
    pub(super) frame: u64,
    pub(super) last_at: Duration,
    done: bool,
    pub(super) undecoded: u64,
}

impl<R: Read> CaptureReader<R> {
    /// Sniffs the magic number and reads the file header. `file` is the index that
    /// notices and records will carry.
    ///
    /// Fails when the stream is empty, starts with anything but a pcap or pcapng magic
    /// number, or ends inside the file header.
    pub fn new(reader: R, file: usize) -> Result<Self, CaptureError> {
        let mut me = CaptureReader {
            reader,
            file,
            buf: vec![0; INITIAL_BUFFER],
            pos: 0,
            end: 0,
            offset: 0,
            format: Format::PcapNg,
            big: false,
            pcap: PcapParams {
                header_len: 16,
                unit_nanos: 1_000,
                cap: MAX_RECORD_LEN,
            },
            interfaces: Vec::new(),
            frame: 0,
            last_at: Duration::ZERO,
            done: false,
            undecoded: 0,
        };
        me.fill(4)?;
        let head = me.available();
        let magic: [u8; 4] = match head.get(..4).and_then(|m| m.try_into().ok()) {
            Some(m) => m,
            None => {
                return Err(CaptureError::NotACapture {
                    found: describe_start(head),
                });
            }
        };
        let (nanos, big, modified) = match magic {
            [0xd4, 0xc3, 0xb2, 0xa1] => (false, false, false),
            [0xa1, 0xb2, 0xc3, 0xd4] => (false, true, false),
            [0x4d, 0x3c, 0xb2, 0xa1] => (true, false, false),
            [0xa1, 0xb2, 0x3c, 0x4d] => (true, true, false),
            [0x34, 0xcd, 0xb2, 0xa1] => (false, false, true),
            [0xa1, 0xb2, 0xcd, 0x34] => (false, true, true),
            [0x0a, 0x0d, 0x0d, 0x0a] => {
                me.check_first_section()?;
                return Ok(me);
            }
            _ => {
                me.fill(8)?;
                return Err(CaptureError::NotACapture {
                    found: describe_start(me.available()),
                });
            }
        };
        if !me.fill(24)? {
            return Err(CaptureError::HeaderTruncated {
                detail: format!(
                    "a pcap file header is 24 bytes, the file has {}",
                    me.available().len()
                ),
            });
        }
        let h = me.available();
        let snaplen = u32_at(h, 16, big);
        let link_type = u32_at(h, 20, big) & 0xffff; // upper bits: FCS length flags
        me.consume(24);
        me.format = Format::Pcap {
            nanos,
            big_endian: big,
            modified,
        };
        me.big = big;
        me.pcap = PcapParams {
            header_len: if modified { 24 } else { 16 },
            unit_nanos: if nanos { 1 } else { 1_000 },
            // Some writers put records slightly over the snap length; only a length far
            // beyond both it and any real frame is corruption.
            // A snap length of 0 means "not recorded".
            cap: if snaplen == 0 {
                MAX_RECORD_LEN
            } else {
                (snaplen as usize).clamp(262_144, MAX_RECORD_LEN)
            },
        };
        let resolution = if nanos {
            Resolution::Pow10 {
                per_sec: 1_000_000_000,
                nanos_per_tick: 1,
                ticks_per_nano: 0,
            }
        } else {
            Resolution::MICROS
        };
        me.interfaces
            .push(Interface::new(link_type, snaplen, resolution));
        Ok(me)
    }

    /// Validates the first Section Header Block's byte-order magic and length, so that a
    /// file that is not pcapng after all fails here rather than as a notice.
    fn check_first_section(&mut self) -> Result<(), CaptureError> {
        if !self.fill(12)? {
            return Err(CaptureError::HeaderTruncated {
                detail: format!(
                    "a pcapng section header needs at least 12 bytes, the file has {}",
                    self.available().len()
                ),
            });
        }
        let h = self.available();
        let big = match h.get(8..12) {
            Some([0x1a, 0x2b, 0x3c, 0x4d]) => true,
            Some([0x4d, 0x3c, 0x2b, 0x1a]) => false,
            _ => {
                return Err(CaptureError::BadHeader {
                    detail: format!(
                        "pcapng magic but no byte-order magic after it ({})",
                        describe_start(h.get(8..).unwrap_or(&[]))
                    ),
                });
            }
        };
        let len = u32_at(h, 4, big) as usize;
        if !(28..=MAX_BLOCK_LEN).contains(&len) || len % 4 != 0 {
            return Err(CaptureError::BadHeader {
                detail: format!("the first section header block claims {len} bytes"),
            });
        }
        self.big = big;
        Ok(())
    }

    /// The container format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Bytes of the file consumed so far.
    pub fn bytes_read(&self) -> u64 {
        self.offset
    }

    /// Packet records read so far (the last frame number).
    pub fn records_read(&self) -> u64 {
        self.frame
    }

    /// Records skipped because their interface's link type is not decoded.
    pub fn undecoded(&self) -> u64 {
        self.undecoded
    }

    /// The next record or notice; `Ok(None)` at the end of the file (after a `Truncated`
    /// or block-level `Malformed` notice too). Records of undecoded link types are not
    /// returned; the first one of each interface turns into an `UnsupportedLinkType`
    /// notice.
    pub fn next_entry(&mut self) -> Result<Option<Entry<'_>>, CaptureError> {
        Ok(match self.advance()? {
            None => None,
            Some(Pending::Notice(n)) => Some(Entry::Notice(n)),
            Some(Pending::Record(m)) => Some(Entry::Record(self.record(&m))),
        })
    }

    /// The record `meta` describes; valid until the reader advances.
    pub(super) fn record(&self, m: &Meta) -> Record<'_> {
        Record {
            file: self.file,
            frame: m.frame,
            at: m.at,
            interface: m.interface,
            link_type: m.link_type,
            orig_len: m.orig_len,
            data: self.buf.get(m.start..m.start + m.len).unwrap_or(&[]),
        }
    }

    fn available(&self) -> &[u8] {
        self.buf.get(self.pos..self.end).unwrap_or(&[])
    }

    fn consume(&mut self, n: usize) {
        self.pos += n;
        self.offset += n as u64;
    }

    /// Makes at least `n` unconsumed bytes available (`n` is bounded by the callers);
    /// `false` at end of file with fewer.
    fn fill(&mut self, n: usize) -> Result<bool, CaptureError> {
        if self.end - self.pos >= n {
            return Ok(true);
        }
        if self.pos + n > self.buf.len() {
            // Move the partial record to the front; grow only if it still cannot fit.
            self.buf.copy_within(self.pos..self.end, 0);
            self.end -= self.pos;
            self.pos = 0;
            if n > self.buf.len() {
                self.buf
                    .resize(n.next_power_of_two().min(MAX_BLOCK_LEN).max(n), 0);
            }
        }
        while self.end - self.pos < n {
            match self.reader.read(&mut self.buf[self.end..]) {
                Ok(0) => return Ok(false),
                Ok(k) => self.end += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => {
                    let compressed = error
                        .get_ref()
                        .and_then(|e| e.downcast_ref::<super::DecompressError>());
                    return Err(match compressed {
                        Some(e) => CaptureError::Decompress { error: e.clone() },
                        None => CaptureError::Io {
                            offset: self.offset + (self.end - self.pos) as u64,
                            error,
                        },
                    });
                }
            }
        }
        Ok(true)
    }

    fn notice(&self, kind: NoticeKind, frame: Option<u64>, detail: String) -> Notice {
        Notice {
            kind,
            file: self.file,
            frame,
            at: None,
            detail,
        }
    }

    /// A notice that ends the file.
    fn fatal(&mut self, kind: NoticeKind, detail: String) -> Step {
        self.done = true;
        Step::Notice(self.notice(kind, None, detail))
    }

    fn truncated(&mut self, what: &str, needed: usize) -> Step {
        let have = self.end - self.pos;
        let at = self.offset;
        let detail = format!(
            "the file ends at byte offset {} inside {what} that starts at offset {at} \
             ({needed} bytes expected, {have} present); {} complete records before it",
            at + have as u64,
            self.frame
        );
        self.fatal(NoticeKind::Truncated, detail)
    }

    pub(super) fn advance(&mut self) -> Result<Option<Pending>, CaptureError> {
        loop {
            if self.done {
                return Ok(None);
            }
            let step = match self.format {
                Format::Pcap { .. } => self.pcap_step()?,
                Format::PcapNg => self.ng_step()?,
            };
            match step {
                Step::Record(m) => {
                    self.last_at = m.at;
                    let Some(iface) = self.interfaces.get_mut(m.interface as usize) else {
                        continue;
                    };
                    if iface.supported {
                        return Ok(Some(Pending::Record(m)));
                    }
                    let first = !iface.reported;
                    iface.reported = true;
                    self.undecoded += 1;
                    if first {
                        let mut n = self.notice(
                            NoticeKind::UnsupportedLinkType,
                            Some(m.frame),
                            format!(
                                "interface {} has link type {}, which is not decoded: its \
                                 records are skipped (first one: frame {})",
                                m.interface, m.link_type, m.frame
                            ),
                        );
                        n.at = Some(m.at);
                        return Ok(Some(Pending::Notice(n)));
                    }
                }
                Step::Notice(n) => return Ok(Some(Pending::Notice(n))),
                Step::Skip => {}
                Step::End => {
                    self.done = true;
                    return Ok(None);
                }
            }
        }
    }

    fn pcap_step(&mut self) -> Result<Step, CaptureError> {
        let hl = self.pcap.header_len;
        if !self.fill(hl)? {
            if self.end == self.pos {
                return Ok(Step::End);
            }
            let what = format!("the header of record {}", self.frame + 1);
            return Ok(self.truncated(&what, hl));
        }
        let big = self.big;
        let h = self.available();
        let secs = u32_at(h, 0, big);
        let frac = u32_at(h, 4, big);
        let incl = u32_at(h, 8, big);
        let orig = u32_at(h, 12, big);
        if incl as usize > self.pcap.cap {
            let detail = format!(
                "record {} at byte offset {} claims {incl} captured bytes, more than the \
                 limit of {}: the file is corrupt from here on",
                self.frame + 1,
                self.offset,
                self.pcap.cap
            );
            return Ok(self.fatal(NoticeKind::Malformed, detail));
        }
        let total = hl + incl as usize;
        if !self.fill(total)? {
            let what = format!("record {}", self.frame + 1);
            return Ok(self.truncated(&what, total));
        }
        let start = self.pos + hl;
        self.consume(total);
        self.frame += 1;
        let iface = self.interfaces.first();
        Ok(Step::Record(Meta {
            start,
            len: incl as usize,
            frame: self.frame,
            at: pcap_time(secs, frac, self.pcap.unit_nanos),
            interface: 0,
            link_type: iface.map_or(0, |i| i.link_type),
            orig_len: orig.max(incl),
        }))
    }

    fn ng_step(&mut self) -> Result<Step, CaptureError> {
        if !self.fill(8)? {
            if self.end == self.pos {
                return Ok(Step::End);
            }
            return Ok(self.truncated("a block header", 8));
        }
        let is_shb = self.available().get(..4) == Some(&[0x0a, 0x0d, 0x0d, 0x0a]);
        if is_shb {
            // The byte order of a section comes from its own header.
            if !self.fill(12)? {
                return Ok(self.truncated("a section header block", 12));
            }
            match self.available().get(8..12) {
                Some([0x1a, 0x2b, 0x3c, 0x4d]) => self.big = true,
                Some([0x4d, 0x3c, 0x2b, 0x1a]) => self.big = false,
                other => {
                    let detail = format!(
                        "the section header block at byte offset {} has byte-order magic \
                         {other:02x?}: the rest of the file cannot be read",
                        self.offset
                    );
                    return Ok(self.fatal(NoticeKind::Malformed, detail));
                }
            }
        }
        let big = self.big;
        let h = self.available();
        let block_type = u32_at(h, 0, big);
        let len = u32_at(h, 4, big) as usize;
        if len < 12 || len % 4 != 0 || len > MAX_BLOCK_LEN {
            let detail = format!(
                "the block of type {block_type:#x} at byte offset {} claims a length of \
                 {len} bytes (a block is 12 to {MAX_BLOCK_LEN} bytes, a multiple of 4): the \
                 file is corrupt from here on",
                self.offset
            );
            return Ok(self.fatal(NoticeKind::Malformed, detail));
        }
        if !self.fill(len)? {
            let what = format!("a block of type {block_type:#x}");
            return Ok(self.truncated(&what, len));
        }
        let trailer = u32_at(self.available(), len - 4, big) as usize;
        if trailer != len {
            let detail = format!(
                "the block of type {block_type:#x} at byte offset {} says {len} bytes at its \
                 start and {trailer} at its end: the file is corrupt from here on",
                self.offset
            );
            return Ok(self.fatal(NoticeKind::Malformed, detail));
        }
        let block_offset = self.offset;
        let body_start = self.pos + 8;
        let body_len = len - 12;
        self.consume(len);
        Ok(match block_type {
            0x0a0d_0d0a => self.section(body_start, body_len, block_offset),
            1 => self.interface_block(body_start, body_len, block_offset),
            6 => self.packet_block(body_start, body_len, block_offset, true),
            2 => self.packet_block(body_start, body_len, block_offset, false),
            3 => self.simple_packet(body_start, body_len, block_offset),
            _ => Step::Skip,
        })
    }

    fn body(&self, start: usize, len: usize) -> &[u8] {
        self.buf.get(start..start + len).unwrap_or(&[])
    }

    fn section(&mut self, start: usize, len: usize, at: u64) -> Step {
        let body = self.body(start, len);
        let major = u16_at(body, 4, self.big);
        if len < 16 || major != 1 {
            let detail = format!(
                "the section header block at byte offset {at} has version {major} or is too \
                 short ({len} body bytes): only pcapng 1.x is read"
            );
            return self.fatal(NoticeKind::Malformed, detail);
        }
        // A new section starts its own interface numbering.
        self.interfaces.clear();
        Step::Skip
    }

    fn interface_block(&mut self, start: usize, len: usize, at: u64) -> Step {
        let big = self.big;
        let body = self.body(start, len);
        if len < 8 {
            let detail = format!(
                "the interface description block at byte offset {at} has {len} body bytes, \
                 fewer than its 8 fixed ones"
            );
            return self.fatal(NoticeKind::Malformed, detail);
        }
        if self.interfaces.len() >= MAX_INTERFACES {
            let detail = format!(
                "more than {MAX_INTERFACES} interfaces in one section (block at byte offset \
                 {at}): the file is treated as corrupt from here on"
            );
            return self.fatal(NoticeKind::Malformed, detail);
        }
        let link_type = u32::from(u16_at(body, 0, big));
        let snaplen = u32_at(body, 4, big);
        let mut iface = Interface::new(link_type, snaplen, Resolution::MICROS);
        let mut bad_resolution = None;
        let mut opts = body.get(8..).unwrap_or(&[]);
        while opts.len() >= 4 {
            let code = u16_at(opts, 0, big);
            let olen = usize::from(u16_at(opts, 2, big));
            if code == 0 {
                break;
            }
            let Some(value) = opts.get(4..4 + olen) else {
                break;
            };
            match (code, value) {
                (9, [byte, ..]) => match Resolution::from_tsresol(*byte) {
                    Some(r) => iface.resolution = r,
                    None => bad_resolution = Some(*byte),
                },
                (14, v) if v.len() == 8 => iface.offset_secs = u64_at(v, 0, big) as i64,
                _ => {}
            }
            opts = opts.get(4 + pad4(olen)..).unwrap_or(&[]);
        }
        let index = self.interfaces.len();
        self.interfaces.push(iface);
        match bad_resolution {
            Some(byte) => Step::Notice(self.notice(
                NoticeKind::Malformed,
                None,
                format!(
                    "interface {index} (block at byte offset {at}) has timestamp resolution \
                     {byte:#04x}, which does not fit 64-bit timestamps: microseconds assumed"
                ),
            )),
            None => Step::Skip,
        }
    }

    /// Enhanced (`enhanced`) or obsolete Packet Block.
    fn packet_block(&mut self, start: usize, len: usize, at: u64, enhanced: bool) -> Step {
        let big = self.big;
        self.frame += 1;
        let frame = self.frame;
        let body = self.body(start, len);
        let fixed = 20;
        let iface_id = if enhanced {
            u32_at(body, 0, big)
        } else {
            u32::from(u16_at(body, 0, big))
        };
        // High word first, each word in the section's byte order.
        let ticks = u64::from(u32_at(body, 4, big)) << 32 | u64::from(u32_at(body, 8, big));
        let caplen = u32_at(body, 12, big) as usize;
        let orig = u32_at(body, 16, big);
        if len < fixed || caplen > len - fixed {
            let detail = format!(
                "frame {frame} (block at byte offset {at}) claims {caplen} captured bytes in \
                 a block with room for {}: skipped",
                len.saturating_sub(fixed)
            );
            return Step::Notice(self.notice(NoticeKind::Malformed, Some(frame), detail));
        }
        let Some(iface) = self.interfaces.get(iface_id as usize) else {
            let detail = format!(
                "frame {frame} (block at byte offset {at}) names interface {iface_id}, but \
                 its section describes {}: skipped",
                self.interfaces.len()
            );
            return Step::Notice(self.notice(NoticeKind::Malformed, Some(frame), detail));
        };
        let when = apply_offset(iface.resolution.to_duration(ticks), iface.offset_secs);
        Step::Record(Meta {
            start: start + fixed,
            len: caplen,
            frame,
            at: when,
            interface: iface_id,
            link_type: iface.link_type,
            orig_len: orig.max(caplen as u32),
        })
    }

    fn simple_packet(&mut self, start: usize, len: usize, at: u64) -> Step {
        self.frame += 1;
        let frame = self.frame;
        let body = self.body(start, len);
        let orig = u32_at(body, 0, self.big);
        let Some(iface) = self.interfaces.first() else {
            let detail = format!(
                "frame {frame} (simple packet block at byte offset {at}) comes before any \
                 interface description: skipped"
            );
            return Step::Notice(self.notice(NoticeKind::Malformed, Some(frame), detail));
        };
        let mut caplen = (orig as usize).min(len.saturating_sub(4));
        if iface.snaplen != 0 {
            caplen = caplen.min(iface.snaplen as usize);
        }
        Step::Record(Meta {
            start: start + 4,
            len: caplen,
            frame,
            // No timestamp: keep the file's clock where it was.
            at: self.last_at,
            interface: 0,
            link_type: iface.link_type,
            orig_len: orig.max(caplen as u32),
        })
    }
}

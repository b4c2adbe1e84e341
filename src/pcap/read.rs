//! Streaming capture reading: pcap and pcapng files down to TCP [`Segment`]s.
//!
//! Three layers, each usable on its own:
//!
//! 1. [`CaptureReader`] reads one file's container (classic pcap in either byte order with
//!    micro- or nanosecond timestamps, or pcapng with any number of sections and interfaces)
//!    through a buffer it owns and yields [`Entry`]s: [`Record`]s that borrow that buffer,
//!    or [`Notice`]s (a truncated tail, a malformed block, a link type it cannot decode).
//!    The whole file is never loaded; a length field above [`MAX_RECORD_LEN`] ends the
//!    file with a `Malformed` notice instead of an allocation.
//! 2. [`parse_record`] decodes one record's link layer (Ethernet with VLAN tags, Linux
//!    cooked SLL/SLL2, raw IP, BSD loopback), IP and TCP headers into a [`Segment`] whose
//!    payload borrows the record.
//! 3. [`MergedReader`] merges several files by timestamp (like `mergecap`), and
//!    [`read_paths`] drives the whole pipeline with a visitor: the main entry point.
//!
//! Nothing here allocates per record: notices (which carry a `String`) are the only
//! allocations after a reader is set up.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, Read};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use etherparse::{IpNumber, LaxIpSlice, LenSource, TcpHeaderSlice};

use super::{Notice, NoticeKind, Segment, TcpFlags};

/// The largest record (or pcapng block) a reader accepts. A length field above it is
/// treated as corruption: the file ends there with a `Malformed` notice, nothing is
/// allocated for it.
pub const MAX_RECORD_LEN: usize = 16 << 20;

/// Largest pcapng block: a record of [`MAX_RECORD_LEN`] bytes plus its block header,
/// fixed fields and some room for options.
const MAX_BLOCK_LEN: usize = MAX_RECORD_LEN + 4096;

/// At most this many interfaces per pcapng section; more is treated as corruption, so a
/// file of nothing but interface blocks cannot grow the table without bound.
const MAX_INTERFACES: usize = 1 << 16;

/// The reader's buffer starts this big; it grows only for a record that does not fit.
const INITIAL_BUFFER: usize = 256 << 10;

/// VLAN tags followed at most (QinQ needs two; more is unusual but legal).
const MAX_VLAN_TAGS: usize = 8;

/// Link-layer header types (`LINKTYPE_*` from tcpdump.org) this module knows by name.
pub mod linktype {
    /// BSD loopback: a 4-byte address family in the writer's byte order.
    pub const NULL: u32 = 0;
    /// Ethernet II (with optional 802.1Q / 802.1ad tags).
    pub const ETHERNET: u32 = 1;
    /// Raw IP as some systems number `DLT_RAW`.
    pub const RAW_12: u32 = 12;
    /// Raw IP as OpenBSD numbers `DLT_RAW`.
    pub const RAW_14: u32 = 14;
    /// Raw IP, the version in the first nibble.
    pub const RAW: u32 = 101;
    /// OpenBSD loopback: a 4-byte address family in network byte order.
    pub const LOOP: u32 = 108;
    /// Linux "cooked" capture, version 1 (`any` device).
    pub const LINUX_SLL: u32 = 113;
    /// Raw IPv4.
    pub const IPV4: u32 = 228;
    /// Raw IPv6.
    pub const IPV6: u32 = 229;
    /// Linux "cooked" capture, version 2.
    pub const LINUX_SLL2: u32 = 276;
}

/// Whether [`parse_record`] decodes records of this link type.
pub fn is_supported_link_type(link_type: u32) -> bool {
    matches!(
        link_type,
        linktype::NULL
            | linktype::ETHERNET
            | linktype::RAW_12
            | linktype::RAW_14
            | linktype::RAW
            | linktype::LOOP
            | linktype::LINUX_SLL
            | linktype::IPV4
            | linktype::IPV6
            | linktype::LINUX_SLL2
    )
}

/// Why a capture cannot be read at all (as opposed to a [`Notice`] about part of it).
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The file cannot be opened.
    #[error("cannot open {}: {error}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        error: io::Error,
    },
    /// The first bytes are neither a pcap nor a pcapng magic number.
    #[error("not a pcap or pcapng capture: {found}")]
    NotACapture {
        /// The first bytes, in hex, with a guess at what they are.
        found: String,
    },
    /// The file ends inside its file header (pcap) or first section header (pcapng).
    #[error("the capture's file header is cut off: {detail}")]
    HeaderTruncated {
        /// How many bytes there are and how many were needed.
        detail: String,
    },
    /// The file header has the right magic but cannot be used.
    #[error("the capture's file header is malformed: {detail}")]
    BadHeader {
        /// What is wrong with it.
        detail: String,
    },
    /// Reading failed (not end of file: that is a `Truncated` notice).
    #[error("read error at byte offset {offset}: {error}")]
    Io {
        /// Where in the file.
        offset: u64,
        /// What the operating system said.
        error: io::Error,
    },
    /// One of several files failed; says which.
    #[error("{}: {error}", path.display())]
    InFile {
        /// The file.
        path: PathBuf,
        /// What went wrong with it.
        error: Box<CaptureError>,
    },
}

impl CaptureError {
    fn in_file(self, path: &Path) -> CaptureError {
        match self {
            // Already names its file.
            e @ (CaptureError::Open { .. } | CaptureError::InFile { .. }) => e,
            e => CaptureError::InFile {
                path: path.to_path_buf(),
                error: Box::new(e),
            },
        }
    }
}

/// The container format of a capture, as sniffed from its magic number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Classic libpcap.
    Pcap {
        /// Timestamps in nanoseconds (magic `a1b23c4d`) rather than microseconds.
        nanos: bool,
        /// Written big-endian.
        big_endian: bool,
        /// Alexey Kuznetzov's modified format (magic `a1b2cd34`, 24-byte record headers).
        modified: bool,
    },
    /// pcapng; byte order is per section.
    PcapNg,
}

/// One packet record out of a capture file. `data` borrows the reader's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// The file's index in the list given (0 for a lone reader unless told otherwise).
    pub file: usize,
    /// The record's number in its file, from 1 (as Wireshark numbers frames).
    pub frame: u64,
    /// Capture timestamp: time since the Unix epoch. Simple Packet Blocks carry none and
    /// get the timestamp of the record before them.
    pub at: Duration,
    /// The pcapng interface it was captured on (0 for classic pcap).
    pub interface: u32,
    /// The interface's link type (`LINKTYPE_*`, see [`linktype`]).
    pub link_type: u32,
    /// Length of the packet on the wire (at least `data.len()`).
    pub orig_len: u32,
    /// The bytes captured, starting with the link-layer header.
    pub data: &'a [u8],
}

/// What a reader yields: a record, or a notice about the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry<'a> {
    /// A packet record.
    Record(Record<'a>),
    /// Something reported about the file (truncation, a malformed block, an unsupported
    /// link type). `Truncated` and block-level `Malformed` notices end the file.
    Notice(Notice),
}

/// The result of decoding one record with [`parse_record`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed<'a> {
    /// A TCP segment.
    Tcp(Segment<'a>),
    /// Not TCP (ARP, UDP, ICMP, non-IP ...): nothing to report.
    Other,
    /// A packet that is (or may be) TCP but cannot be used: an IP fragment, an unreadable
    /// IP or TCP header.
    Notice(Notice),
}

/// What the driver hands to its visitor: a segment or a notice, in timestamp order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item<'a> {
    /// A TCP segment; its payload borrows the reader's buffer until the visitor returns.
    Segment(Segment<'a>),
    /// Something reported about a file or a record.
    Notice(Notice),
}

/// Counts over a run of [`read_paths`] / [`MergedReader::for_each_item`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Files read.
    pub files: usize,
    /// Packet records read (all link types).
    pub records: u64,
    /// Bytes of capture files consumed (headers included).
    pub bytes: u64,
    /// TCP segments handed to the visitor.
    pub segments: u64,
    /// Notices handed to the visitor.
    pub notices: u64,
    /// Records that were not TCP (ARP, UDP, ...): skipped silently.
    pub other: u64,
    /// Records of link types that are not decoded (reported once per interface).
    pub undecoded: u64,
    /// The read stopped before the files' end because a stop was requested
    /// ([`read_paths_until`]).
    pub stopped: bool,
}

// ---------------------------------------------------------------------------------------
// Timestamps
// ---------------------------------------------------------------------------------------

/// A pcapng interface's timestamp unit (`if_tsresol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resolution {
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
    const MICROS: Resolution = Resolution::Pow10 {
        per_sec: 1_000_000,
        nanos_per_tick: 1_000,
        ticks_per_nano: 0,
    };

    /// Decodes an `if_tsresol` byte; `None` when it does not fit 64-bit timestamps.
    fn from_tsresol(byte: u8) -> Option<Resolution> {
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

    fn to_duration(self, ticks: u64) -> Duration {
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
fn pcap_time(secs: u32, frac: u32, unit_nanos: u64) -> Duration {
    let nanos = u64::from(frac) * unit_nanos;
    Duration::new(
        u64::from(secs) + nanos / 1_000_000_000,
        (nanos % 1_000_000_000) as u32,
    )
}

fn apply_offset(at: Duration, offset_secs: i64) -> Duration {
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
fn u16_at(b: &[u8], at: usize, big: bool) -> u16 {
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
fn u32_at(b: &[u8], at: usize, big: bool) -> u32 {
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
fn u64_at(b: &[u8], at: usize, big: bool) -> u64 {
    let hi = u64::from(u32_at(b, at, big));
    let lo = u64::from(u32_at(b, at + 4, big));
    if big { hi << 32 | lo } else { lo << 32 | hi }
}

#[inline]
fn be16(b: &[u8], at: usize) -> u16 {
    u16_at(b, at, true)
}

/// `n` rounded up to a multiple of 4 (pcapng pads fields to 32 bits).
#[inline]
fn pad4(n: usize) -> usize {
    n.saturating_add(3) & !3
}

/// Describes a file's first bytes for the "not a capture" error.
fn describe_start(bytes: &[u8]) -> String {
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

// ---------------------------------------------------------------------------------------
// One file
// ---------------------------------------------------------------------------------------

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
struct Meta {
    start: usize,
    len: usize,
    frame: u64,
    at: Duration,
    interface: u32,
    link_type: u32,
    orig_len: u32,
}

#[derive(Debug, Clone)]
enum Pending {
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
    offset: u64,
    format: Format,
    /// Byte order of the file (pcap) or current section (pcapng).
    big: bool,
    pcap: PcapParams,
    interfaces: Vec<Interface>,
    /// Packet records seen so far (the last frame number given).
    frame: u64,
    last_at: Duration,
    done: bool,
    undecoded: u64,
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
    fn record(&self, m: &Meta) -> Record<'_> {
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
                    return Err(CaptureError::Io {
                        offset: self.offset + (self.end - self.pos) as u64,
                        error,
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

    fn advance(&mut self) -> Result<Option<Pending>, CaptureError> {
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

// ---------------------------------------------------------------------------------------
// Link, IP and TCP
// ---------------------------------------------------------------------------------------

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;

/// Follows VLAN tags from an EtherType to the IP packet; `None` when it is not IP.
fn ip_from_ethertype(mut ethertype: u16, mut rest: &[u8]) -> Option<&[u8]> {
    for _ in 0..=MAX_VLAN_TAGS {
        match ethertype {
            ETHERTYPE_IPV4 | ETHERTYPE_IPV6 => return Some(rest),
            // 802.1Q, 802.1ad, and the pre-standard QinQ types.
            0x8100 | 0x88a8 | 0x9100 | 0x9200 | 0x9300 => {
                ethertype = be16(rest.get(..4)?, 2);
                rest = rest.get(4..)?;
            }
            _ => return None,
        }
    }
    None
}

/// The IP packet inside a BSD loopback frame with the given address family.
fn ip_from_family(family: u32, rest: &[u8]) -> Option<&[u8]> {
    // AF_INET is 2 everywhere; AF_INET6 is 24 (NetBSD, OpenBSD), 28 (FreeBSD),
    // 30 (macOS), and 10 on Linux.
    matches!(family, 2 | 10 | 24 | 28 | 30).then_some(rest)
}

/// The IP packet in a frame of the given link type; `None` when it carries no IP.
fn ip_packet(link_type: u32, data: &[u8]) -> Option<&[u8]> {
    match link_type {
        linktype::ETHERNET => ip_from_ethertype(be16(data.get(..14)?, 12), data.get(14..)?),
        linktype::LINUX_SLL => ip_from_ethertype(be16(data.get(..16)?, 14), data.get(16..)?),
        linktype::LINUX_SLL2 => ip_from_ethertype(be16(data.get(..20)?, 0), data.get(20..)?),
        linktype::RAW | linktype::RAW_12 | linktype::RAW_14 | linktype::IPV4 | linktype::IPV6 => {
            Some(data)
        }
        linktype::NULL => {
            let head = data.get(..4)?;
            // The writer's byte order is unknown; families are small, so whichever end
            // holds the non-zero byte is the low one.
            let big = head.first() == Some(&0) && head.get(1) == Some(&0);
            ip_from_family(u32_at(head, 0, big), data.get(4..)?)
        }
        linktype::LOOP => ip_from_family(u32_at(data.get(..4)?, 0, true), data.get(4..)?),
        _ => None,
    }
}

/// Decodes one record down to a TCP segment.
///
/// Non-IP and non-TCP packets are [`Parsed::Other`]. An IP packet whose header cannot be
/// read, a TCP header cut off by the snap length, and a fragment of a TCP-carrying IP
/// packet (not reassembled) are [`Parsed::Notice`]s naming the frame. An undecoded link
/// type is a notice too ([`CaptureReader`] reports those once per interface instead).
///
/// The TCP payload ends where the IP header's length says, so Ethernet padding and
/// trailers are stripped; `missing` counts the payload bytes the IP length promises but
/// the record lacks (or, when the IP length is unusable, e.g. 0 after segmentation
/// offload, the bytes the record header says were cut).
pub fn parse_record<'a>(record: &Record<'a>) -> Parsed<'a> {
    if let Some(seg) =
        ip_packet(record.link_type, record.data).and_then(|ip| plain_ipv4_tcp(record, ip))
    {
        return Parsed::Tcp(seg);
    }
    parse_record_general(record)
}

/// The common case read directly: a whole, unfragmented IPv4 packet carrying a whole TCP
/// header. Anything else (IPv6, fragments, cut or odd lengths, short headers) is `None`
/// and goes the general way, which gives the same segment for what this accepts.
#[inline]
fn plain_ipv4_tcp<'a>(record: &Record<'a>, ip: &'a [u8]) -> Option<Segment<'a>> {
    let header = ip.get(..20)?;
    let (version, ihl) = (header[0] >> 4, usize::from(header[0] & 0x0f) * 4);
    let total = usize::from(be16(header, 2));
    let fragmented = be16(header, 6) & 0x3fff != 0;
    if version != 4 || ihl < 20 || fragmented || header[9] != 6 || total > ip.len() {
        return None;
    }
    let tcp = ip.get(ihl..total)?;
    let tcp_len = usize::from(*tcp.get(12)? >> 4) * 4;
    if tcp_len < 20 || tcp_len > tcp.len() {
        return None;
    }
    let addr = |at: usize| {
        let b: [u8; 4] = header.get(at..at + 4)?.try_into().ok()?;
        Some(IpAddr::from(b))
    };
    Some(Segment {
        at: record.at,
        frame: record.frame,
        file: record.file,
        src: SocketAddr::new(addr(12)?, be16(tcp, 0)),
        dst: SocketAddr::new(addr(16)?, be16(tcp, 2)),
        seq: u32_at(tcp, 4, true),
        ack: u32_at(tcp, 8, true),
        flags: TcpFlags(tcp[13]),
        window: be16(tcp, 14),
        payload: tcp.get(tcp_len..)?,
        missing: 0,
    })
}

/// [`parse_record`] for any record, through etherparse.
fn parse_record_general<'a>(record: &Record<'a>) -> Parsed<'a> {
    let Some(ip) = ip_packet(record.link_type, record.data) else {
        if !is_supported_link_type(record.link_type) {
            return Parsed::Notice(record_notice(
                record,
                NoticeKind::UnsupportedLinkType,
                format!("link type {} is not decoded", record.link_type),
            ));
        }
        return Parsed::Other;
    };
    let (slice, _ext_error) = match LaxIpSlice::from_slice(ip) {
        Ok(s) => s,
        Err(e) => {
            return Parsed::Notice(record_notice(
                record,
                NoticeKind::Malformed,
                format!("frame {}: unreadable IP header: {e}", record.frame),
            ));
        }
    };
    let payload = slice.payload();
    if payload.ip_number != IpNumber::TCP {
        return Parsed::Other;
    }
    let (src_ip, dst_ip) = (slice.source_addr(), slice.destination_addr());
    if payload.fragmented {
        return Parsed::Notice(fragment_notice(record, &slice, src_ip, dst_ip));
    }
    let tcp = match TcpHeaderSlice::from_slice(payload.payload) {
        Ok(t) => t,
        Err(e) => {
            return Parsed::Notice(record_notice(
                record,
                NoticeKind::Malformed,
                format!(
                    "frame {}: TCP header from {src_ip} to {dst_ip} unreadable: {e}",
                    record.frame
                ),
            ));
        }
    };
    let data = payload.payload.get(tcp.slice().len()..).unwrap_or(&[]);
    let missing = if payload.incomplete {
        // The IP length says how long the packet was on the wire.
        let wire_len = match &slice {
            LaxIpSlice::Ipv4(v4) => usize::from(v4.header().total_len()),
            LaxIpSlice::Ipv6(v6) => 40 + usize::from(v6.header().payload_length()),
        };
        let offset = (data.as_ptr() as usize).saturating_sub(ip.as_ptr() as usize);
        wire_len.saturating_sub(offset + data.len())
    } else if payload.len_source == LenSource::Slice {
        // No usable IP length (0 with offload, or jumbo): trust the record header.
        (record.orig_len as usize).saturating_sub(record.data.len())
    } else {
        0
    };
    let flags = tcp.slice().get(13).copied().unwrap_or(0);
    Parsed::Tcp(Segment {
        at: record.at,
        frame: record.frame,
        file: record.file,
        src: SocketAddr::new(src_ip, tcp.source_port()),
        dst: SocketAddr::new(dst_ip, tcp.destination_port()),
        seq: tcp.sequence_number(),
        ack: tcp.acknowledgment_number(),
        flags: TcpFlags(flags),
        window: tcp.window_size(),
        payload: data,
        missing: u32::try_from(missing).unwrap_or(u32::MAX),
    })
}

fn record_notice(record: &Record<'_>, kind: NoticeKind, detail: String) -> Notice {
    Notice {
        kind,
        file: record.file,
        frame: Some(record.frame),
        at: Some(record.at),
        detail,
    }
}

fn fragment_notice(
    record: &Record<'_>,
    slice: &LaxIpSlice<'_>,
    src: IpAddr,
    dst: IpAddr,
) -> Notice {
    let detail = match slice {
        LaxIpSlice::Ipv4(v4) => {
            let h = v4.header();
            format!(
                "frame {}: IPv4 fragment of a TCP packet from {src} to {dst} (id {}, offset \
                 {} bytes, more fragments: {}): not reassembled, its bytes are missing from \
                 the stream",
                record.frame,
                h.identification(),
                u32::from(h.fragments_offset().value()) * 8,
                h.more_fragments()
            )
        }
        LaxIpSlice::Ipv6(_) => format!(
            "frame {}: IPv6 fragment of a TCP packet from {src} to {dst}: not reassembled, \
             its bytes are missing from the stream",
            record.frame
        ),
    };
    record_notice(record, NoticeKind::IpFragment, detail)
}

// ---------------------------------------------------------------------------------------
// Several files
// ---------------------------------------------------------------------------------------

/// Reads several captures as one stream in timestamp order, like `mergecap`: a k-way
/// merge over each file's next record. Each file is assumed to be (mostly) sorted; equal
/// timestamps come out in file order. A notice sorts at its own timestamp or, without
/// one, right after its file's previous record.
pub struct MergedReader<R = File> {
    readers: Vec<CaptureReader<R>>,
    paths: Vec<Option<PathBuf>>,
    pending: Vec<Option<Pending>>,
    heap: BinaryHeap<Reverse<(Duration, usize)>>,
    /// The file whose entry was handed out last and must be advanced before the next.
    refill: Option<usize>,
    started: bool,
    segments: u64,
    notices: u64,
    other: u64,
    stopped: bool,
}

impl MergedReader<File> {
    /// Opens every file and reads its header; the files' indices in `paths` become the
    /// `file` of their notices and records. Fails on the first file that cannot be
    /// opened or is not a capture, naming it.
    pub fn open<P: AsRef<Path>>(paths: &[P]) -> Result<Self, CaptureError> {
        MergedReader::open_with(paths, |file| file)
    }
}

impl<R: Read> MergedReader<R> {
    /// [`open`](MergedReader::open), reading each file through what `wrap` makes of it
    /// (e.g. to act before a read that may block on a pipe).
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
            readers.push(CaptureReader::new(wrap(file), i).map_err(|e| e.in_file(path))?);
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
/// use mqtt_conform::pcap::read::{Item, read_paths};
/// let summary = read_paths(&["capture.pcapng"], |item| match item {
///     Item::Segment(s) => println!("{} -> {}: {} bytes", s.src, s.dst, s.payload.len()),
///     Item::Notice(n) => eprintln!("{:?}: {}", n.kind, n.detail),
/// })?;
/// println!("{} segments from {} records", summary.segments, summary.records);
/// # Ok::<(), mqtt_conform::pcap::read::CaptureError>(())
/// ```
pub fn read_paths<P: AsRef<Path>>(
    paths: &[P],
    visit: impl FnMut(Item<'_>),
) -> Result<Summary, CaptureError> {
    MergedReader::open(paths)?.for_each_item(visit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    prop_compose! {
        /// An Ethernet frame with an IPv4 header whose every field that the direct path
        /// looks at is drawn from both sides of its checks, then cut anywhere.
        fn ipv4_frame()(
            version in prop_oneof![Just(4u8), 0u8..16],
            ihl in prop_oneof![Just(5u8), 0u8..16],
            protocol in prop_oneof![Just(6u8), any::<u8>()],
            frag in prop_oneof![Just(0u16), Just(0x4000u16), any::<u16>()],
            data_offset in prop_oneof![Just(5u8), 0u8..16],
            payload_len in 0usize..64,
            total_delta in prop_oneof![Just(0i32), -30i32..30],
            zero_total in proptest::bool::weighted(0.05),
            fill in any::<u8>(),
            cut in proptest::option::weighted(0.2, 0usize..140),
        ) -> Vec<u8> {
            let mut ip = vec![fill; usize::from(ihl.max(5)) * 4];
            ip[0] = version << 4 | ihl;
            ip[6..8].copy_from_slice(&frag.to_be_bytes());
            ip[9] = protocol;
            ip[12..20].copy_from_slice(&[10, 0, 0, 2, 10, 0, 0, 1]);
            let mut tcp = vec![fill; usize::from(data_offset.max(5)) * 4];
            tcp[..4].copy_from_slice(&[0xc3, 0x50, 0x07, 0x5b]);
            tcp[12] = data_offset << 4;
            ip.extend_from_slice(&tcp);
            ip.extend((0..payload_len).map(|i| i as u8));
            let total = if zero_total { 0 } else { (ip.len() as i32 + total_delta).clamp(0, 65535) };
            ip[2..4].copy_from_slice(&(total as u16).to_be_bytes());
            let mut frame = vec![0u8; 12];
            frame.extend_from_slice(&[0x08, 0x00]);
            frame.extend_from_slice(&ip);
            if let Some(cut) = cut {
                frame.truncate(cut);
            }
            frame
        }
    }

    proptest! {
        /// Whatever the direct IPv4 path accepts, the general path reads the same way.
        #[test]
        fn direct_ipv4_path_agrees_with_the_general_one(frame in ipv4_frame()) {
            let record = Record {
                file: 0,
                frame: 1,
                at: Duration::from_secs(1),
                interface: 0,
                link_type: linktype::ETHERNET,
                orig_len: frame.len() as u32,
                data: &frame,
            };
            let general = parse_record_general(&record);
            if let Some(direct) = ip_packet(record.link_type, record.data)
                .and_then(|ip| plain_ipv4_tcp(&record, ip))
            {
                prop_assert_eq!(Parsed::Tcp(direct), general);
            }
        }
    }

    #[test]
    fn resolutions() {
        let micro = Resolution::from_tsresol(6).unwrap();
        assert_eq!(micro, Resolution::MICROS);
        assert_eq!(
            micro.to_duration(1_500_000_123_456),
            Duration::new(1_500_000, 123_456_000)
        );
        let nano = Resolution::from_tsresol(9).unwrap();
        assert_eq!(nano.to_duration(3_000_000_007), Duration::new(3, 7));
        let pico = Resolution::from_tsresol(12).unwrap();
        assert_eq!(pico.to_duration(2_000_000_001_999), Duration::new(2, 1));
        let milli = Resolution::from_tsresol(3).unwrap();
        assert_eq!(milli.to_duration(1_234), Duration::new(1, 234_000_000));
        let binary = Resolution::from_tsresol(0x80 | 10).unwrap();
        assert_eq!(
            binary.to_duration(3 * 1024 + 512),
            Duration::new(3, 500_000_000)
        );
        let whole = Resolution::from_tsresol(0x80).unwrap();
        assert_eq!(whole.to_duration(7), Duration::from_secs(7));
        assert_eq!(Resolution::from_tsresol(20), None);
        assert_eq!(Resolution::from_tsresol(0x80 | 64), None);
        assert!(Resolution::from_tsresol(19).is_some());
        assert!(Resolution::from_tsresol(0x80 | 63).is_some());
        // Extremes never panic.
        for b in 0..=255u8 {
            if let Some(r) = Resolution::from_tsresol(b) {
                let _ = r.to_duration(u64::MAX);
            }
        }
    }

    #[test]
    fn pcap_time_carries_overflowing_fraction() {
        assert_eq!(
            pcap_time(1, 2_500_000, 1_000),
            Duration::new(3, 500_000_000)
        );
        assert_eq!(
            pcap_time(u32::MAX, u32::MAX, 1_000),
            Duration::new(u64::from(u32::MAX) + 4_294, 967_295_000)
        );
    }

    #[test]
    fn offsets() {
        let t = Duration::from_secs(100);
        assert_eq!(apply_offset(t, 5), Duration::from_secs(105));
        assert_eq!(apply_offset(t, -5), Duration::from_secs(95));
        assert_eq!(apply_offset(t, i64::MIN), Duration::ZERO);
    }

    #[test]
    fn vlan_tags_are_followed() {
        let ip = [0x45u8, 0, 0, 20];
        let mut qinq = vec![0, 0, 0x81, 0x00, 0, 0, 0x08, 0x00];
        qinq.extend_from_slice(&ip);
        assert_eq!(ip_from_ethertype(0x88a8, &qinq), Some(&ip[..]));
        assert_eq!(ip_from_ethertype(0x8100, &[0, 0]), None);
        assert_eq!(ip_from_ethertype(0x0806, &ip), None);
        // A loop of tags ends.
        let tags = [0u8, 0, 0x81, 0x00].repeat(20);
        assert_eq!(ip_from_ethertype(0x8100, &tags), None);
    }

    #[test]
    fn null_family_in_either_byte_order() {
        let le = [2u8, 0, 0, 0, 0x45];
        let be = [0u8, 0, 0, 30, 0x60];
        assert_eq!(ip_packet(linktype::NULL, &le), Some(&[0x45u8][..]));
        assert_eq!(ip_packet(linktype::NULL, &be), Some(&[0x60u8][..]));
        assert_eq!(ip_packet(linktype::NULL, &[7, 0, 0, 0, 1]), None);
        assert_eq!(ip_packet(linktype::LOOP, &le), None);
        assert_eq!(
            ip_packet(linktype::LOOP, &[0, 0, 0, 2, 0x45]),
            Some(&[0x45u8][..])
        );
    }

    #[test]
    fn magic_descriptions() {
        assert_eq!(describe_start(&[]), "the file is empty");
        assert!(describe_start(&[0x1f, 0x8b, 8, 0]).contains("gzip"));
        assert!(describe_start(b"hello world").contains("68 65 6c 6c"));
        assert!(describe_start(b"hello world").contains("text"));
    }

    #[test]
    fn not_a_capture() {
        let err = CaptureReader::new(&b"GET / HTTP/1.1\r\n"[..], 0)
            .err()
            .unwrap();
        let msg = err.to_string();
        assert!(msg.contains("not a pcap or pcapng capture"), "{msg}");
        assert!(msg.contains("47 45 54 20"), "{msg}");
    }

    #[test]
    fn byte_helpers_are_bounded() {
        assert_eq!(u32_at(&[1, 2, 3], 0, true), 0);
        assert_eq!(u16_at(&[1, 2], 1, false), 0);
        assert_eq!(u32_at(&[1, 2, 3, 4], 0, true), 0x0102_0304);
        assert_eq!(u64_at(&[0, 0, 0, 1, 0, 0, 0, 2], 0, true), (1 << 32) | 2);
        assert_eq!(u64_at(&[1, 0, 0, 0, 2, 0, 0, 0], 0, false), (2 << 32) | 1);
        assert_eq!(pad4(5), 8);
        assert_eq!(pad4(usize::MAX), usize::MAX & !3);
    }
}

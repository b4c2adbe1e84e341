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
//!
//! # Why the container reader is hand-written
//!
//! Measured against the two crates that read both containers, on the capture bench's file
//! (`cargo bench --bench capture`, `CAPTURE_MB=200`: 212.2 MB of pcapng, 569,180 frames,
//! 5,000 connections), each crate feeding the same [`parse_record`] and, for "frame", the
//! same [`Analyzer`](super::flows::Analyzer); best of 5, one thread, record counts,
//! payload bytes and events identical for all three. The 2-core machine was shared with
//! other builds, tests and a fuzzer (load 8–14), so only the read stage, which isolates
//! the container, is telling; best of three such runs:
//!
//! | container reader | read (container + headers) | frame |
//! |---|---|---|
//! | this module | 0.067 s, 3,156 MB/s | 0.39–0.63 s |
//! | pcap-parser 0.17.0 (`PcapNGReader`, 1 MiB buffer) | 0.117 s, 1,816 MB/s | 0.28–0.43 s |
//! | pcap-file 2.0.0 (`PcapNgReader` over a 1 MiB `BufReader`) | 0.097 s, 2,192 MB/s | 0.36–0.58 s |
//!
//! The frame ranges overlap (noise). Reading is the first of capture mode's three threads
//! (read, reassemble and frame, judge) sharing two cores, so its extra CPU time is,
//! estimated, the end-to-end cost: +0.03 s (pcap-file) to +0.05 s (pcap-parser) per
//! 212 MB, 2–4 % of the 1.4–2.2 s `analyze` took on the loaded machine, but 17–28 % of
//! the 0.18 s it takes at the 1.2 GB/s capture mode reaches on an idle one: more than the
//! few percent a crate may cost here. Both crates also fall short
//! elsewhere: pcap-file 2.0.0, the last stable release, takes pcapng timestamps as
//! nanoseconds whatever the interface's `if_tsresol` says (fixed only in the 3.0
//! pre-releases); pcap-parser is maintained and complete (pcap and pcapng, both byte
//! orders, nanosecond and `if_tsresol` timestamps, a truncated tail as `UnexpectedEof`)
//! but brings nom 8, rusticata-macros 5 and circular beside the nom 7 and
//! rusticata-macros 4 already in the build. The notices this reader gives (which record,
//! which offset, what is wrong) would have to be rebuilt on top of either.

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

mod compressed;
mod container;
mod merge;
mod packet;

pub use compressed::{Compression, DecompressError, Decompressed};
pub use container::CaptureReader;
use container::*;
pub use merge::{MergedReader, read_paths};
pub use packet::parse_record;

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
    /// A gzip or zstd capture ends inside its compressed stream, or the stream is corrupt.
    #[error("{error}")]
    Decompress {
        /// What the decompressor said, and after how many decompressed bytes.
        error: compressed::DecompressError,
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
    /// ([`MergedReader::for_each_item_until`]).
    pub stopped: bool,
}

#[cfg(test)]
mod tests {
    use super::packet::*;
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

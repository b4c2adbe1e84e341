//! Capture reading, end to end: capture files are written byte by byte into a temporary
//! directory (pcap in both byte orders and both timestamp units, pcapng with several
//! interfaces and sections), with frames built by etherparse's `PacketBuilder`, then read
//! back with `mqtt_conform::capture::read` and compared field by field.
//!
//! A counting global allocator checks that a record or block claiming gigabytes is
//! refused without allocating for it.

use crate::support::allocations;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use allocations::largest_allocation;
use etherparse::{LinuxSllPacketType, PacketBuilder, VlanId};
use mqtt_conform::capture::read::{
    CaptureError, CaptureReader, Entry, Format, Item, MergedReader, Summary, read_paths,
};
use mqtt_conform::capture::{Notice, NoticeKind};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------

/// Writes `bytes` to a fresh file in the temporary directory; removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, bytes: &[u8]) -> TempFile {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "mqtt-conform-pcap-read-{}-{n}-{name}",
            std::process::id()
        ));
        std::fs::write(&path, bytes).expect("write temp capture");
        TempFile(path)
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A segment with its payload copied out of the reader's buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seg {
    at: Duration,
    frame: u64,
    src: SocketAddr,
    dst: SocketAddr,
    seq: u32,
    ack: u32,
    flags: u8,
    window: u16,
    payload: Vec<u8>,
    missing: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Got {
    Seg(Seg),
    Notice(Notice),
}

fn read_all(paths: &[&Path]) -> Result<(Vec<Got>, Summary), CaptureError> {
    let mut got = Vec::new();
    let summary = read_paths(paths, |item| {
        got.push(match item {
            Item::Segment(s) => Got::Seg(Seg {
                at: s.at,
                frame: s.frame,
                src: s.src,
                dst: s.dst,
                seq: s.seq,
                ack: s.ack,
                flags: s.flags.0,
                window: s.window,
                payload: s.payload.to_vec(),
                missing: s.missing,
            }),
            Item::Notice(n) => Got::Notice(n),
        })
    })?;
    Ok((got, summary))
}

fn read_one(bytes: &[u8]) -> (Vec<Got>, Summary) {
    let f = TempFile::new("capture", bytes);
    read_all(&[f.path()]).expect("readable capture")
}

fn segments(got: &[Got]) -> Vec<Seg> {
    got.iter()
        .filter_map(|g| match g {
            Got::Seg(s) => Some(s.clone()),
            Got::Notice(_) => None,
        })
        .collect()
}

fn notices(got: &[Got]) -> Vec<Notice> {
    got.iter()
        .filter_map(|g| match g {
            Got::Notice(n) => Some(n.clone()),
            Got::Seg(_) => None,
        })
        .collect()
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("socket address")
}

// ---------------------------------------------------------------------------------------
// Frames
// ---------------------------------------------------------------------------------------

const MAC_A: [u8; 6] = [2, 0, 0, 0, 0, 1];
const MAC_B: [u8; 6] = [2, 0, 0, 0, 0, 2];
const CLIENT4: [u8; 4] = [192, 168, 1, 10];
const BROKER4: [u8; 4] = [10, 0, 0, 1];

fn v6(last: u8) -> [u8; 16] {
    let mut a = [0u8; 16];
    a[0] = 0x20;
    a[1] = 0x01;
    a[2] = 0x0d;
    a[3] = 0xb8;
    a[15] = last;
    a
}

/// Ethernet + IPv4 + TCP (PSH|ACK) client:50000 → broker:1883.
fn eth_tcp(seq: u32, ack: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2(MAC_A, MAC_B)
        .ipv4(CLIENT4, BROKER4, 64)
        .tcp(50000, 1883, seq, 4096)
        .ack(ack)
        .psh()
        .write(&mut out, payload)
        .expect("build frame");
    out
}

/// Raw IPv4 + TCP (SYN) broker:1883 → client:50000.
fn ipv4_syn(seq: u32) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ipv4(BROKER4, CLIENT4, 64)
        .tcp(1883, 50000, seq, 65535)
        .syn()
        .write(&mut out, &[])
        .expect("build packet");
    out
}

/// Raw IPv6 + TCP (ACK|FIN) [::1]:8883 → [::2]:40000.
fn ipv6_fin(seq: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ipv6(v6(1), v6(2), 64)
        .tcp(8883, 40000, seq, 512)
        .ack(7)
        .fin()
        .write(&mut out, payload)
        .expect("build packet");
    out
}

// ---------------------------------------------------------------------------------------
// Container writers
// ---------------------------------------------------------------------------------------

fn put16(out: &mut Vec<u8>, v: u16, big: bool) {
    out.extend_from_slice(&if big {
        v.to_be_bytes()
    } else {
        v.to_le_bytes()
    });
}

fn put32(out: &mut Vec<u8>, v: u32, big: bool) {
    out.extend_from_slice(&if big {
        v.to_be_bytes()
    } else {
        v.to_le_bytes()
    });
}

/// One classic pcap record: seconds, sub-second units, data, original length.
struct Rec<'a> {
    secs: u32,
    frac: u32,
    data: &'a [u8],
    orig: u32,
}

fn rec(secs: u32, frac: u32, data: &[u8]) -> Rec<'_> {
    Rec {
        secs,
        frac,
        data,
        orig: data.len() as u32,
    }
}

fn pcap(nanos: bool, big: bool, link_type: u32, snaplen: u32, records: &[Rec<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    put32(&mut out, if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 }, big);
    put16(&mut out, 2, big);
    put16(&mut out, 4, big);
    put32(&mut out, 0, big);
    put32(&mut out, 0, big);
    put32(&mut out, snaplen, big);
    put32(&mut out, link_type, big);
    for r in records {
        put32(&mut out, r.secs, big);
        put32(&mut out, r.frac, big);
        put32(&mut out, r.data.len() as u32, big);
        put32(&mut out, r.orig, big);
        out.extend_from_slice(r.data);
    }
    out
}

/// A pcapng writer: blocks appended in the current section's byte order.
struct Ng {
    out: Vec<u8>,
    big: bool,
}

impl Ng {
    fn new(big: bool) -> Ng {
        let mut ng = Ng {
            out: Vec::new(),
            big,
        };
        ng.section(big);
        ng
    }

    fn block(&mut self, block_type: u32, body: &[u8]) {
        let len = 12 + body.len().div_ceil(4) * 4;
        put32(&mut self.out, block_type, self.big);
        put32(&mut self.out, len as u32, self.big);
        self.out.extend_from_slice(body);
        self.out.resize(self.out.len() + (len - 12 - body.len()), 0);
        put32(&mut self.out, len as u32, self.big);
    }

    fn section(&mut self, big: bool) {
        self.big = big;
        let mut body = Vec::new();
        put32(&mut body, 0x1a2b_3c4d, big);
        put16(&mut body, 1, big);
        put16(&mut body, 0, big);
        body.extend_from_slice(&u64::MAX.to_le_bytes()); // section length unknown
        self.block(0x0a0d_0d0a, &body);
    }

    /// An Interface Description Block with optional `if_tsresol` and `if_tsoffset`.
    fn interface(&mut self, link_type: u16, snaplen: u32, tsresol: Option<u8>, tsoffset: i64) {
        let big = self.big;
        let mut body = Vec::new();
        put16(&mut body, link_type, big);
        put16(&mut body, 0, big);
        put32(&mut body, snaplen, big);
        // An option this reader ignores (if_name) before the ones it uses.
        put16(&mut body, 2, big);
        put16(&mut body, 5, big);
        body.extend_from_slice(b"eth0\0\0\0\0");
        if let Some(r) = tsresol {
            put16(&mut body, 9, big);
            put16(&mut body, 1, big);
            body.extend_from_slice(&[r, 0, 0, 0]);
        }
        if tsoffset != 0 {
            put16(&mut body, 14, big);
            put16(&mut body, 8, big);
            body.extend_from_slice(&if big {
                tsoffset.to_be_bytes()
            } else {
                tsoffset.to_le_bytes()
            });
        }
        put16(&mut body, 0, big);
        put16(&mut body, 0, big);
        self.block(1, &body);
    }

    /// An Enhanced Packet Block.
    fn packet(&mut self, interface: u32, ticks: u64, data: &[u8], orig: u32) {
        let big = self.big;
        let mut body = Vec::new();
        put32(&mut body, interface, big);
        put32(&mut body, (ticks >> 32) as u32, big);
        put32(&mut body, ticks as u32, big);
        put32(&mut body, data.len() as u32, big);
        put32(&mut body, orig, big);
        body.extend_from_slice(data);
        self.block(6, &body);
    }

    /// An obsolete Packet Block.
    fn old_packet(&mut self, interface: u16, ticks: u64, data: &[u8]) {
        let big = self.big;
        let mut body = Vec::new();
        put16(&mut body, interface, big);
        put16(&mut body, 0, big);
        put32(&mut body, (ticks >> 32) as u32, big);
        put32(&mut body, ticks as u32, big);
        put32(&mut body, data.len() as u32, big);
        put32(&mut body, data.len() as u32, big);
        body.extend_from_slice(data);
        self.block(2, &body);
    }

    /// A Simple Packet Block.
    fn simple(&mut self, data: &[u8]) {
        let mut body = Vec::new();
        put32(&mut body, data.len() as u32, self.big);
        body.extend_from_slice(data);
        self.block(3, &body);
    }
}

fn seg_eth(at: Duration, frame: u64, seq: u32, ack: u32, payload: &[u8]) -> Seg {
    Seg {
        at,
        frame,
        src: addr("192.168.1.10:50000"),
        dst: addr("10.0.0.1:1883"),
        seq,
        ack,
        flags: 0x18,
        window: 4096,
        payload: payload.to_vec(),
        missing: 0,
    }
}

// ---------------------------------------------------------------------------------------
// Classic pcap
// ---------------------------------------------------------------------------------------

#[test]
fn classic_pcap_in_both_byte_orders_and_both_units() {
    let f1 = eth_tcp(1000, 77, b"\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c");
    let f2 = eth_tcp(1014, 79, b"\xc0\x00");
    for nanos in [false, true] {
        for big in [false, true] {
            let bytes = pcap(
                nanos,
                big,
                1,
                65535,
                &[
                    rec(1_700_000_000, 123_456, &f1),
                    rec(1_700_000_001, 999_999, &f2),
                ],
            );
            let (got, summary) = read_one(&bytes);
            let unit = if nanos { 1 } else { 1_000 };
            assert_eq!(
                got,
                vec![
                    Got::Seg(seg_eth(
                        Duration::new(1_700_000_000, 123_456 * unit),
                        1,
                        1000,
                        77,
                        b"\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c"
                    )),
                    Got::Seg(seg_eth(
                        Duration::new(1_700_000_001, 999_999 * unit),
                        2,
                        1014,
                        79,
                        b"\xc0\x00"
                    )),
                ],
                "nanos {nanos}, big-endian {big}"
            );
            assert_eq!(summary.records, 2);
            assert_eq!(summary.segments, 2);
            assert_eq!(summary.notices, 0);
            assert_eq!(summary.files, 1);
            assert_eq!(summary.bytes, bytes.len() as u64);

            let reader = CaptureReader::new(&bytes[..], 0).expect("header");
            assert_eq!(
                reader.format(),
                Format::Pcap {
                    nanos,
                    big_endian: big,
                    modified: false
                }
            );
        }
    }
}

#[test]
fn modified_pcap_has_longer_record_headers() {
    let frame = eth_tcp(5, 6, b"hi");
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&0xa1b2_cd34u32.to_le_bytes());
    bytes.extend_from_slice(&[2, 0, 4, 0]);
    bytes.extend_from_slice(&[0; 8]);
    bytes.extend_from_slice(&65535u32.to_le_bytes());
    bytes.extend_from_slice(&1u32.to_le_bytes());
    for v in [10u32, 20, frame.len() as u32, frame.len() as u32] {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    bytes.extend_from_slice(&[0; 8]); // ifindex, protocol, packet type, padding
    bytes.extend_from_slice(&frame);
    let (got, _) = read_one(&bytes);
    assert_eq!(
        segments(&got),
        vec![seg_eth(Duration::new(10, 20_000), 1, 5, 6, b"hi")]
    );
}

// ---------------------------------------------------------------------------------------
// pcapng
// ---------------------------------------------------------------------------------------

#[test]
fn pcapng_interfaces_with_their_own_link_types_and_resolutions() {
    for big in [false, true] {
        let mut ng = Ng::new(big);
        ng.interface(1, 0, None, 0); // Ethernet, microseconds (default)
        ng.interface(101, 0, Some(9), 0); // raw IP, nanoseconds
        ng.interface(228, 0, Some(0x80 | 20), 100); // IPv4, 2^-20 s, +100 s offset
        let f_eth = eth_tcp(1, 2, b"abc");
        let f_raw6 = ipv6_fin(900, b"bye");
        let f_v4 = ipv4_syn(42);
        ng.packet(0, 1_700_000_000_654_321, &f_eth, f_eth.len() as u32);
        ng.packet(1, 1_700_000_000_654_321_987, &f_raw6, f_raw6.len() as u32);
        ng.packet(2, (5 << 20) | (1 << 19), &f_v4, f_v4.len() as u32);
        // A Name Resolution Block and an Interface Statistics Block are skipped.
        ng.block(4, &[0, 0, 0, 0]);
        ng.block(5, &[0; 12]);
        ng.old_packet(1, 7_000_000_001, &f_raw6);
        let (got, summary) = read_one(&ng.out);
        assert_eq!(notices(&got), vec![], "big-endian {big}");
        let segs = segments(&got);
        assert_eq!(segs.len(), 4);
        assert_eq!(
            segs[0],
            seg_eth(Duration::new(1_700_000_000, 654_321_000), 1, 1, 2, b"abc")
        );
        let fin = Seg {
            at: Duration::new(1_700_000_000, 654_321_987),
            frame: 2,
            src: addr("[2001:db8::1]:8883"),
            dst: addr("[2001:db8::2]:40000"),
            seq: 900,
            ack: 7,
            flags: 0x11,
            window: 512,
            payload: b"bye".to_vec(),
            missing: 0,
        };
        assert_eq!(segs[1], fin);
        assert_eq!(
            segs[2],
            Seg {
                at: Duration::new(105, 500_000_000),
                frame: 3,
                src: addr("10.0.0.1:1883"),
                dst: addr("192.168.1.10:50000"),
                seq: 42,
                ack: 0,
                flags: 0x02,
                window: 65535,
                payload: vec![],
                missing: 0,
            }
        );
        assert_eq!(
            segs[3],
            Seg {
                at: Duration::new(7, 1),
                frame: 4,
                ..fin
            }
        );
        assert_eq!(summary.records, 4);
    }
}

#[test]
fn pcapng_sections_of_different_byte_order() {
    let f1 = eth_tcp(10, 20, b"first");
    let mut sll = Vec::new();
    PacketBuilder::linux_sll(LinuxSllPacketType::OUTGOING, 6, [2, 0, 0, 0, 0, 1, 0, 0])
        .ipv4(CLIENT4, BROKER4, 64)
        .tcp(50000, 1883, 30, 4096)
        .ack(40)
        .psh()
        .write(&mut sll, b"second")
        .expect("sll frame");
    let mut ng = Ng::new(false);
    ng.interface(1, 262_144, None, 0);
    ng.packet(0, 1_000_000, &f1, f1.len() as u32);
    ng.section(true);
    // Interface 0 of the new section is SLL, with nanoseconds.
    ng.interface(113, 262_144, Some(9), 0);
    ng.packet(0, 2_000_000_005, &sll, sll.len() as u32);
    let (got, _) = read_one(&ng.out);
    assert_eq!(
        got,
        vec![
            Got::Seg(seg_eth(Duration::from_secs(1), 1, 10, 20, b"first")),
            Got::Seg(seg_eth(Duration::new(2, 5), 2, 30, 40, b"second")),
        ]
    );
}

#[test]
fn simple_packet_blocks_use_interface_zero_and_the_previous_time() {
    let f1 = eth_tcp(1, 1, b"timed");
    let f2 = eth_tcp(6, 1, b"untimed-and-cut");
    let mut ng = Ng::new(false);
    // Snap length 60: the simple packet's 69-byte frame is cut to 60.
    ng.interface(1, 60, None, 0);
    ng.packet(0, 3_000_001, &f1, f1.len() as u32);
    ng.simple(&f2);
    let (got, _) = read_one(&ng.out);
    let segs = segments(&got);
    assert_eq!(segs.len(), 2);
    assert_eq!(segs[1].at, Duration::new(3, 1_000));
    assert_eq!(segs[1].frame, 2);
    assert_eq!(segs[1].payload, b"untime");
    assert_eq!(segs[1].missing, 9);
}

#[test]
fn packet_naming_a_missing_interface_is_reported_and_skipped() {
    let f = eth_tcp(1, 1, b"x");
    let mut ng = Ng::new(false);
    ng.interface(1, 0, None, 0);
    ng.packet(3, 1, &f, f.len() as u32);
    ng.packet(0, 2, &f, f.len() as u32);
    let (got, _) = read_one(&ng.out);
    let n = notices(&got);
    assert_eq!(n.len(), 1);
    assert_eq!(n[0].kind, NoticeKind::Malformed);
    assert_eq!(n[0].frame, Some(1));
    assert!(n[0].detail.contains("interface 3"), "{}", n[0].detail);
    assert_eq!(segments(&got).len(), 1);
    assert_eq!(segments(&got)[0].frame, 2);
}

// ---------------------------------------------------------------------------------------
// Link types
// ---------------------------------------------------------------------------------------

/// Reads one frame of `link_type` from a pcap file and returns its segment.
fn one_segment(link_type: u32, frame: &[u8]) -> Seg {
    let bytes = pcap(false, false, link_type, 65535, &[rec(1, 0, frame)]);
    let (got, _) = read_one(&bytes);
    match got.as_slice() {
        [Got::Seg(s)] => s.clone(),
        other => panic!("link type {link_type}: expected one segment, got {other:?}"),
    }
}

#[test]
fn every_supported_link_type() {
    let expect4 = |s: &Seg| {
        assert_eq!(s.src, addr("10.0.0.1:1883"));
        assert_eq!(s.dst, addr("192.168.1.10:50000"));
        assert_eq!(s.seq, 42);
        assert_eq!(s.flags, 0x02);
    };
    let expect6 = |s: &Seg| {
        assert_eq!(s.src, addr("[2001:db8::1]:8883"));
        assert_eq!(s.dst, addr("[2001:db8::2]:40000"));
        assert_eq!(s.seq, 77);
        assert_eq!(s.payload, b"v6");
    };

    // Ethernet with one 802.1Q tag, and with QinQ.
    let mut vlan = Vec::new();
    PacketBuilder::ethernet2(MAC_A, MAC_B)
        .single_vlan(VlanId::try_new(42).expect("vlan id"))
        .ipv4(BROKER4, CLIENT4, 64)
        .tcp(1883, 50000, 42, 65535)
        .syn()
        .write(&mut vlan, &[])
        .expect("vlan frame");
    expect4(&one_segment(1, &vlan));
    let mut qinq = Vec::new();
    PacketBuilder::ethernet2(MAC_A, MAC_B)
        .double_vlan(
            VlanId::try_new(100).expect("vlan id"),
            VlanId::try_new(200).expect("vlan id"),
        )
        .ipv6(v6(1), v6(2), 64)
        .tcp(8883, 40000, 77, 512)
        .write(&mut qinq, b"v6")
        .expect("qinq frame");
    assert_eq!(&qinq[12..14], &[0x88, 0xa8]);
    expect6(&one_segment(1, &qinq));

    // Linux cooked v1.
    let mut sll = Vec::new();
    PacketBuilder::linux_sll(LinuxSllPacketType::HOST, 6, [0; 8])
        .ipv6(v6(1), v6(2), 64)
        .tcp(8883, 40000, 77, 512)
        .write(&mut sll, b"v6")
        .expect("sll frame");
    expect6(&one_segment(113, &sll));

    // Linux cooked v2: protocol, reserved, ifindex, ARPHRD, packet type, address.
    let mut sll2 = vec![
        0x08, 0x00, 0, 0, 0, 0, 0, 3, 0, 1, 4, 6, 2, 0, 0, 0, 0, 1, 0, 0,
    ];
    sll2.extend_from_slice(&ipv4_syn(42));
    expect4(&one_segment(276, &sll2));

    // Raw IP under every number it goes by.
    for lt in [101, 12, 14, 228] {
        expect4(&one_segment(lt, &ipv4_syn(42)));
    }
    let mut raw6 = Vec::new();
    PacketBuilder::ipv6(v6(1), v6(2), 64)
        .tcp(8883, 40000, 77, 512)
        .write(&mut raw6, b"v6")
        .expect("ipv6 packet");
    for lt in [101, 229] {
        expect6(&one_segment(lt, &raw6));
    }

    // BSD loopback: family in the writer's byte order; LOOP: network order.
    let mut null_le = 2u32.to_le_bytes().to_vec();
    null_le.extend_from_slice(&ipv4_syn(42));
    expect4(&one_segment(0, &null_le));
    for family in [24u32, 28, 30] {
        let mut null_be = family.to_be_bytes().to_vec();
        null_be.extend_from_slice(&raw6);
        expect6(&one_segment(0, &null_be));
        let mut null_le6 = family.to_le_bytes().to_vec();
        null_le6.extend_from_slice(&raw6);
        expect6(&one_segment(0, &null_le6));
    }
    let mut lo = 2u32.to_be_bytes().to_vec();
    lo.extend_from_slice(&ipv4_syn(42));
    expect4(&one_segment(108, &lo));
}

#[test]
fn ipv6_extension_headers_are_skipped() {
    let mut raw6 = Vec::new();
    PacketBuilder::ipv6(v6(1), v6(2), 64)
        .tcp(8883, 40000, 77, 512)
        .write(&mut raw6, b"v6")
        .expect("ipv6 packet");
    // Insert an 8-byte hop-by-hop header (PadN) between the IPv6 and TCP headers.
    let mut with_ext = raw6[..40].to_vec();
    with_ext[6] = 0; // next header: hop-by-hop
    let plen = u16::from_be_bytes([raw6[4], raw6[5]]) + 8;
    with_ext[4..6].copy_from_slice(&plen.to_be_bytes());
    with_ext.extend_from_slice(&[6, 0, 1, 4, 0, 0, 0, 0]);
    with_ext.extend_from_slice(&raw6[40..]);
    let s = one_segment(101, &with_ext);
    assert_eq!(s.payload, b"v6");
    assert_eq!(s.seq, 77);
}

#[test]
fn non_tcp_is_skipped_silently() {
    let mut udp = Vec::new();
    PacketBuilder::ethernet2(MAC_A, MAC_B)
        .ipv4(CLIENT4, BROKER4, 64)
        .udp(5353, 5353)
        .write(&mut udp, b"dns")
        .expect("udp frame");
    let mut arp = eth_tcp(0, 0, b"")[..14].to_vec();
    arp[12..14].copy_from_slice(&[0x08, 0x06]);
    arp.extend_from_slice(&[0; 28]);
    let tcp = eth_tcp(9, 9, b"ok");
    let bytes = pcap(
        false,
        false,
        1,
        65535,
        &[rec(1, 0, &udp), rec(2, 0, &arp), rec(3, 0, &tcp)],
    );
    let (got, summary) = read_one(&bytes);
    assert_eq!(got.len(), 1);
    assert_eq!(segments(&got)[0].frame, 3);
    assert_eq!(summary.other, 2);
    assert_eq!(summary.records, 3);
}

#[test]
fn unsupported_link_type_is_reported_once_per_interface() {
    let f = eth_tcp(1, 1, b"x");
    let mut ng = Ng::new(false);
    ng.interface(147, 0, None, 0); // LINKTYPE_USER0
    ng.interface(1, 0, None, 0);
    ng.interface(148, 0, None, 0); // LINKTYPE_USER1
    for i in 0..3 {
        ng.packet(0, 10 + i, &f, f.len() as u32);
        ng.packet(1, 10 + i, &f, f.len() as u32);
        ng.packet(2, 10 + i, &f, f.len() as u32);
    }
    let (got, summary) = read_one(&ng.out);
    let n = notices(&got);
    assert_eq!(n.len(), 2, "{n:?}");
    assert!(n.iter().all(|n| n.kind == NoticeKind::UnsupportedLinkType));
    assert_eq!(n[0].frame, Some(1));
    assert!(n[0].detail.contains("147"), "{}", n[0].detail);
    assert_eq!(n[1].frame, Some(3));
    assert!(n[1].detail.contains("148"), "{}", n[1].detail);
    assert_eq!(segments(&got).len(), 3);
    assert_eq!(summary.undecoded, 6);
    assert_eq!(summary.records, 9);

    // Classic pcap: one notice for the file's single interface.
    let bytes = pcap(false, true, 147, 65535, &[rec(1, 0, &f), rec(2, 0, &f)]);
    let (got, _) = read_one(&bytes);
    assert_eq!(got.len(), 1);
    assert!(matches!(&got[0], Got::Notice(n) if n.kind == NoticeKind::UnsupportedLinkType));
}

// ---------------------------------------------------------------------------------------
// IP and TCP details
// ---------------------------------------------------------------------------------------

#[test]
fn ipv4_fragments_are_reported_not_dropped() {
    let whole = eth_tcp(1, 1, b"fragmented payload");
    let mut first = whole.clone();
    first[14 + 6] = 0x20; // More Fragments
    let mut later = whole.clone();
    later[14 + 6] = 0x00;
    later[14 + 7] = 0x03; // fragment offset 3 × 8 bytes
    let bytes = pcap(
        false,
        false,
        1,
        65535,
        &[rec(1, 0, &first), rec(2, 0, &later), rec(3, 0, &whole)],
    );
    let (got, _) = read_one(&bytes);
    let n = notices(&got);
    assert_eq!(n.len(), 2);
    for (notice, frame) in n.iter().zip([1, 2]) {
        assert_eq!(notice.kind, NoticeKind::IpFragment);
        assert_eq!(notice.frame, Some(frame));
        assert_eq!(notice.file, 0);
        assert_eq!(notice.at, Some(Duration::from_secs(frame)));
        assert!(notice.detail.contains("192.168.1.10"), "{}", notice.detail);
        assert!(notice.detail.contains("10.0.0.1"), "{}", notice.detail);
    }
    assert!(n[1].detail.contains("offset 24"), "{}", n[1].detail);
    assert_eq!(segments(&got).len(), 1);
}

#[test]
fn snap_length_cut_counts_missing_payload() {
    let payload: Vec<u8> = (0..100).collect();
    let frame = eth_tcp(500, 1, &payload); // 14 + 20 + 20 + 100 = 154 bytes
    let cut = &frame[..60];
    let bytes = pcap(
        true,
        false,
        1,
        60,
        &[Rec {
            secs: 1,
            frac: 0,
            data: cut,
            orig: frame.len() as u32,
        }],
    );
    let (got, _) = read_one(&bytes);
    let segs = segments(&got);
    assert_eq!(segs.len(), 1);
    assert_eq!(segs[0].payload, &payload[..6]);
    assert_eq!(segs[0].missing, 94);
    assert_eq!(segs[0].seq, 500);

    // The record header may claim nothing was cut: the IP length still says so.
    let bytes = pcap(false, false, 1, 65535, &[rec(1, 0, cut)]);
    let segs = segments(&read_one(&bytes).0);
    assert_eq!(segs[0].missing, 94);

    // A cut that removes only Ethernet padding loses nothing.
    let small = eth_tcp(1, 1, b"ab");
    let mut padded = small.clone();
    padded.resize(60, 0);
    let bytes = pcap(
        false,
        false,
        1,
        58,
        &[Rec {
            secs: 1,
            frac: 0,
            data: &padded[..58],
            orig: 60,
        }],
    );
    let segs = segments(&read_one(&bytes).0);
    assert_eq!(segs[0].payload, b"ab");
    assert_eq!(segs[0].missing, 0);

    // A TCP header cut in half is reported.
    let bytes = pcap(false, false, 1, 44, &[rec(1, 0, &frame[..44])]);
    let (got, _) = read_one(&bytes);
    let n = notices(&got);
    assert_eq!(n.len(), 1);
    assert_eq!(n[0].kind, NoticeKind::Malformed);
    assert!(n[0].detail.contains("TCP header"), "{}", n[0].detail);
}

#[test]
fn ethernet_padding_and_trailers_are_stripped() {
    let syn = eth_tcp(7, 0, b"");
    assert_eq!(syn.len(), 54);
    let mut padded = syn.clone();
    padded.resize(60, 0);
    let one = eth_tcp(8, 0, b"Z");
    let mut padded_one = one.clone();
    padded_one.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef, 0, 0]); // e.g. an FCS
    let bytes = pcap(
        false,
        false,
        1,
        65535,
        &[rec(1, 0, &padded), rec(2, 0, &padded_one)],
    );
    let segs = segments(&read_one(&bytes).0);
    assert_eq!(segs.len(), 2);
    assert_eq!(segs[0].payload, b"");
    assert_eq!(segs[0].missing, 0);
    assert_eq!(segs[1].payload, b"Z");
    assert_eq!(segs[1].missing, 0);
}

#[test]
fn offloaded_zero_ip_length_trusts_the_record() {
    let frame = eth_tcp(1, 1, b"0123456789");
    let mut tso = frame.clone();
    tso[16..18].copy_from_slice(&[0, 0]); // IPv4 total length 0, as with TSO
    let bytes = pcap(
        false,
        false,
        1,
        60,
        &[Rec {
            secs: 1,
            frac: 0,
            data: &tso[..60],
            orig: 1514,
        }],
    );
    let segs = segments(&read_one(&bytes).0);
    assert_eq!(segs[0].payload, b"012345");
    assert_eq!(segs[0].missing, 1514 - 60);
}

// ---------------------------------------------------------------------------------------
// Damaged files
// ---------------------------------------------------------------------------------------

#[test]
fn not_a_capture_names_its_first_bytes() {
    let f = TempFile::new("notes.pcap", b"PK\x03\x04 this is a zip");
    let err = read_all(&[f.path()]).expect_err("not a capture");
    let msg = err.to_string();
    assert!(msg.contains("notes.pcap"), "{msg}");
    assert!(msg.contains("50 4b 03 04"), "{msg}");
    assert!(matches!(err, CaptureError::InFile { .. }));

    let empty = TempFile::new("empty.pcapng", b"");
    let msg = read_all(&[empty.path()]).expect_err("empty").to_string();
    assert!(msg.contains("empty"), "{msg}");

    let missing = std::env::temp_dir().join("mqtt-conform-no-such-capture.pcap");
    let err = read_all(&[missing.as_path()]).expect_err("missing");
    assert!(matches!(err, CaptureError::Open { .. }), "{err}");

    // A pcapng magic without a byte-order magic is not pcapng.
    let bad = TempFile::new(
        "bad.pcapng",
        b"\x0a\x0d\x0d\x0a\x1c\0\0\0\x01\x02\x03\x04rest",
    );
    let msg = read_all(&[bad.path()]).expect_err("bad bom").to_string();
    assert!(msg.contains("byte-order"), "{msg}");
}

/// For a small capture and every prefix of it: no panic; every record that ends within
/// the prefix is delivered; a prefix that ends inside a record (or block) ends with one
/// `Truncated` notice, and one that ends between records with none.
fn check_every_cut(name: &str, bytes: &[u8], header_len: usize, record_ends: &[usize]) {
    for cut in 0..=bytes.len() {
        let f = TempFile::new(name, &bytes[..cut]);
        let result = read_all(&[f.path()]);
        if cut < header_len {
            assert!(result.is_err(), "{name}: cut at {cut} inside the header");
            continue;
        }
        let (got, _) = result.unwrap_or_else(|e| panic!("{name}: cut at {cut}: {e}"));
        let complete = record_ends.iter().filter(|&&end| end <= cut).count();
        assert_eq!(segments(&got).len(), complete, "{name}: cut at {cut}");
        let n = notices(&got);
        let at_boundary = cut == header_len || record_ends.contains(&cut);
        if at_boundary {
            assert_eq!(n, vec![], "{name}: cut at {cut}");
        } else {
            assert_eq!(n.len(), 1, "{name}: cut at {cut}: {n:?}");
            assert_eq!(n[0].kind, NoticeKind::Truncated, "{name}: cut at {cut}");
            assert!(
                n[0].detail.contains(&format!("offset {cut}")),
                "{name}: cut at {cut}: {}",
                n[0].detail
            );
            // The notice comes after every complete record.
            assert!(matches!(got.last(), Some(Got::Notice(_))));
        }
    }
}

#[test]
fn truncated_pcap_at_every_offset() {
    let frames = [
        eth_tcp(1, 1, b"one"),
        eth_tcp(4, 1, b"two!"),
        eth_tcp(8, 1, b""),
    ];
    let records: Vec<Rec<'_>> = frames.iter().map(|f| rec(1, 0, f)).collect();
    let bytes = pcap(false, false, 1, 65535, &records);
    let mut ends = Vec::new();
    let mut at = 24;
    for f in &frames {
        at += 16 + f.len();
        ends.push(at);
    }
    check_every_cut("cut.pcap", &bytes, 24, &ends);
}

#[test]
fn truncated_pcapng_at_every_offset() {
    let frames = [eth_tcp(1, 1, b"one"), eth_tcp(4, 1, b"two!")];
    let mut ng = Ng::new(true);
    let shb_len = ng.out.len();
    ng.interface(1, 0, Some(9), 0);
    let idb_end = ng.out.len();
    let mut ends = Vec::new();
    for f in &frames {
        ng.packet(0, 1, f, f.len() as u32);
        ends.push(ng.out.len());
    }
    ng.block(5, &[0; 12]); // a trailing statistics block
    let stats_end = ng.out.len();
    // Cuts inside the first section header fail to open; the interface block ending is
    // a boundary too (no records yet).
    let mut boundaries = ends.clone();
    boundaries.push(idb_end);
    for cut in 0..=stats_end {
        let f = TempFile::new("cut.pcapng", &ng.out[..cut]);
        let result = read_all(&[f.path()]);
        if cut < 12 {
            assert!(result.is_err(), "cut at {cut}");
            continue;
        }
        let (got, _) = result.unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
        let complete = ends.iter().filter(|&&end| end <= cut).count();
        assert_eq!(segments(&got).len(), complete, "cut at {cut}");
        let n = notices(&got);
        if cut == shb_len || boundaries.contains(&cut) || cut == stats_end {
            assert_eq!(n, vec![], "cut at {cut}");
        } else {
            assert_eq!(n.len(), 1, "cut at {cut}: {n:?}");
            assert_eq!(n[0].kind, NoticeKind::Truncated, "cut at {cut}");
        }
    }
}

#[test]
fn oversize_lengths_are_malformed_and_never_allocated() {
    let f = eth_tcp(1, 1, b"before");
    // pcap: a record claiming 4 GiB after a good one.
    let mut bytes = pcap(false, false, 1, 65535, &[rec(1, 0, &f)]);
    for v in [2u32, 0, 0xffff_ff00, 0xffff_ff00] {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    bytes.extend_from_slice(&[0; 64]);
    let file = TempFile::new("huge-record.pcap", &bytes);
    let (result, largest) = largest_allocation(|| read_all(&[file.path()]));
    let (got, _) = result.expect("readable");
    assert_eq!(segments(&got).len(), 1);
    let n = notices(&got);
    assert_eq!(n.len(), 1);
    assert_eq!(n[0].kind, NoticeKind::Malformed);
    assert!(n[0].detail.contains("4294967040"), "{}", n[0].detail);
    // The watch works: the reader's own buffer was seen.
    assert!(largest >= 256 << 10, "largest allocation {largest} bytes");
    assert!(largest < 1 << 20, "largest allocation {largest} bytes");

    // pcapng: a block claiming 4 GiB, and one that is not a multiple of 4.
    for bad_len in [0xffff_fff0u32, 30] {
        let mut ng = Ng::new(false);
        ng.interface(1, 0, None, 0);
        ng.packet(0, 1, &f, f.len() as u32);
        ng.out.extend_from_slice(&6u32.to_le_bytes());
        ng.out.extend_from_slice(&bad_len.to_le_bytes());
        ng.out.extend_from_slice(&[0; 64]);
        let file = TempFile::new("huge-block.pcapng", &ng.out);
        let (result, largest) = largest_allocation(|| read_all(&[file.path()]));
        let (got, _) = result.expect("readable");
        assert_eq!(segments(&got).len(), 1);
        let n = notices(&got);
        assert_eq!(n.len(), 1, "{n:?}");
        assert_eq!(n[0].kind, NoticeKind::Malformed);
        assert!(largest < 1 << 20, "largest allocation {largest} bytes");
    }

    // A block whose trailing length disagrees with its leading one.
    let mut ng = Ng::new(false);
    ng.interface(1, 0, None, 0);
    ng.packet(0, 1, &f, f.len() as u32);
    let last = ng.out.len() - 4;
    ng.out[last] ^= 4;
    ng.packet(0, 2, &f, f.len() as u32);
    let (got, _) = read_one(&ng.out);
    assert_eq!(segments(&got).len(), 0);
    assert_eq!(notices(&got)[0].kind, NoticeKind::Malformed);
}

#[test]
fn records_larger_than_the_buffer_and_many_small_ones() {
    // A 1 MiB non-IP record (buffer growth), then thousands of records of varied
    // sizes crossing buffer boundaries (compaction).
    let mut big = eth_tcp(0, 0, b"")[..14].to_vec();
    big[12..14].copy_from_slice(&[0x88, 0xb5]); // local experimental EtherType
    big.extend((0..(1 << 20)).map(|i| (i % 251) as u8));
    let payloads: Vec<Vec<u8>> = (0..5000u32)
        .map(|i| (0..(i * 37 % 1400)).map(|j| (i + j) as u8).collect())
        .collect();
    let frames: Vec<Vec<u8>> = payloads
        .iter()
        .enumerate()
        .map(|(i, p)| eth_tcp(i as u32, 0, p))
        .collect();
    let mut records = vec![rec(0, 0, &big)];
    records.extend(frames.iter().enumerate().map(|(i, f)| rec(1, i as u32, f)));
    let bytes = pcap(false, false, 1, 0, &records);

    let mut reader = CaptureReader::new(&bytes[..], 0).expect("header");
    match reader.next_entry().expect("read") {
        Some(Entry::Record(r)) => {
            assert_eq!(r.data, &big[..]);
            assert_eq!(r.frame, 1);
        }
        other => panic!("expected the big record, got {other:?}"),
    }
    let file = TempFile::new("many.pcap", &bytes);
    let (got, summary) = read_all(&[file.path()]).expect("readable");
    let segs = segments(&got);
    assert_eq!(segs.len(), payloads.len());
    for (i, (s, p)) in segs.iter().zip(&payloads).enumerate() {
        assert_eq!(s.seq, i as u32);
        assert_eq!(&s.payload, p, "segment {i}");
        assert_eq!(s.at, Duration::new(1, i as u32 * 1000));
    }
    assert_eq!(summary.records, 5001);
    assert_eq!(summary.bytes, bytes.len() as u64);
}

// ---------------------------------------------------------------------------------------
// Several files
// ---------------------------------------------------------------------------------------

#[test]
fn merged_files_interleave_by_timestamp() {
    let frame = |seq: u32| eth_tcp(seq, 0, b"m");
    let a_frames: Vec<Vec<u8>> = [1, 3, 5, 7].map(frame).to_vec();
    let a = pcap(
        false,
        false,
        1,
        65535,
        &[
            rec(1, 0, &a_frames[0]),
            rec(3, 0, &a_frames[1]),
            rec(5, 0, &a_frames[2]),
            rec(7, 0, &a_frames[3][..40]), // cut: the file then ends mid-record
        ],
    );
    let a = a[..a.len() - 30].to_vec();
    let mut ng = Ng::new(true);
    ng.interface(1, 0, Some(9), 0);
    for seq in [2u32, 4, 5, 6] {
        let f = frame(seq);
        ng.packet(0, u64::from(seq) * 1_000_000_000, &f, 55);
    }
    let fa = TempFile::new("a.pcap", &a);
    let fb = TempFile::new("b.pcapng", &ng.out);
    let (got, summary) = read_all(&[fa.path(), fb.path()]).expect("readable");
    let order: Vec<(u32, u64)> = segments(&got).iter().map(|s| (s.seq, s.frame)).collect();
    // seq 5 exists in both at t = 5 s: the tie goes to file 0.
    assert_eq!(
        order,
        vec![(1, 1), (2, 1), (3, 2), (4, 2), (5, 3), (5, 3), (6, 4)]
    );
    let n = notices(&got);
    assert_eq!(n.len(), 1);
    assert_eq!(n[0].kind, NoticeKind::Truncated);
    assert_eq!(n[0].file, 0);
    assert_eq!(summary.files, 2);
    assert_eq!(summary.segments, 7);

    // The lower-level merge says which file each record came from.
    let mut merged = MergedReader::open(&[fa.path(), fb.path()]).expect("open");
    let mut files = Vec::new();
    while let Some(entry) = merged.next_entry().expect("read") {
        if let Entry::Record(r) = entry {
            files.push((r.file, r.at.as_secs()));
        }
    }
    assert_eq!(
        files,
        vec![(0, 1), (1, 2), (0, 3), (1, 4), (0, 5), (1, 5), (1, 6)]
    );
}

#[test]
fn merged_reader_over_open_readers() {
    let f = eth_tcp(1, 1, b"r");
    let a = pcap(false, false, 1, 65535, &[rec(2, 0, &f), rec(4, 0, &f)]);
    let b = pcap(true, true, 1, 65535, &[rec(1, 0, &f), rec(3, 0, &f)]);
    let readers = vec![
        CaptureReader::new(&a[..], 0).expect("a"),
        CaptureReader::new(&b[..], 1).expect("b"),
    ];
    let mut merged = MergedReader::new(readers);
    let mut times = Vec::new();
    let summary = merged
        .for_each_item(|item| {
            if let Item::Segment(s) = item {
                times.push(s.at.as_secs());
            }
        })
        .expect("read");
    assert_eq!(times, vec![1, 2, 3, 4]);
    assert_eq!(summary.records, 4);
    assert_eq!(summary.bytes, (a.len() + b.len()) as u64);
}

// ---------------------------------------------------------------------------------------
// Arbitrary bytes
// ---------------------------------------------------------------------------------------

/// Reads `bytes` through the public API to the end; only panics count as failures.
fn read_to_end(bytes: &[u8]) {
    let Ok(reader) = CaptureReader::new(bytes, 0) else {
        return;
    };
    let mut merged = MergedReader::new(vec![reader]);
    let mut n = 0u64;
    let _ = merged.for_each_item(|item| {
        if let Item::Segment(s) = item {
            n += s.payload.len() as u64 + u64::from(s.missing);
        }
    });
}

fn valid_pcapng() -> Vec<u8> {
    let mut ng = Ng::new(false);
    ng.interface(1, 0, Some(9), 0);
    ng.interface(0, 0, Some(0x80 | 30), -5);
    let f = eth_tcp(1, 2, b"hello");
    ng.packet(0, 12345, &f, 200);
    let mut null = 2u32.to_le_bytes().to_vec();
    null.extend_from_slice(&ipv4_syn(9));
    ng.packet(1, 99, &null, null.len() as u32);
    ng.simple(&f);
    ng.out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_after_a_pcap_header_never_panic(
        big in any::<bool>(),
        nanos in any::<bool>(),
        link_type in prop::sample::select(vec![0u32, 1, 12, 101, 108, 113, 228, 229, 276, 147]),
        tail in prop::collection::vec(any::<u8>(), 0..600),
    ) {
        let mut bytes = pcap(nanos, big, link_type, 65535, &[]);
        bytes.extend_from_slice(&tail);
        read_to_end(&bytes);
    }

    #[test]
    fn arbitrary_blocks_after_a_pcapng_header_never_panic(
        big in any::<bool>(),
        tail in prop::collection::vec(any::<u8>(), 0..600),
    ) {
        let mut bytes = Ng::new(big).out;
        bytes.extend_from_slice(&tail);
        read_to_end(&bytes);
    }

    #[test]
    fn corrupted_captures_never_panic(
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..12),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut ng = valid_pcapng();
        let mut classic = pcap(false, false, 1, 65535, &[rec(1, 2, &eth_tcp(3, 4, b"payload"))]);
        for (at, byte) in &flips {
            let i = at.index(ng.len());
            ng[i] = *byte;
            let j = at.index(classic.len());
            classic[j] = *byte;
        }
        read_to_end(&ng);
        read_to_end(&classic);
        read_to_end(&ng[..cut.index(ng.len())]);
        read_to_end(&classic[..cut.index(classic.len())]);
    }

    #[test]
    fn arbitrary_frames_of_every_link_type_never_panic(
        link_type in prop::sample::select(vec![0u32, 1, 12, 14, 101, 108, 113, 228, 229, 276]),
        frame in prop::collection::vec(any::<u8>(), 0..200),
        prefix in prop::sample::select(vec![
            vec![],
            vec![2u8, 0, 0, 0, 0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6],
            vec![0u8, 0, 0, 30, 0x60, 0, 0, 0, 0, 20, 6, 64],
            vec![0u8; 12].into_iter().chain([0x08, 0x00, 0x45, 0, 0, 60, 0, 0, 0x20, 0, 64, 6]).collect(),
        ]),
    ) {
        let mut data = prefix.clone();
        data.extend_from_slice(&frame);
        let bytes = pcap(false, false, link_type, 65535, &[rec(1, 0, &data)]);
        read_to_end(&bytes);
    }
}

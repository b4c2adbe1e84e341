//! Fuzzes capture mode's front half: the input is a capture file (pcap or pcapng).
//!
//! For every input:
//! - [`CaptureReader`] reads it entry by entry, every record goes through [`parse_record`]
//!   and every TCP segment into two [`Analyzer`]s (the default configuration, and one with
//!   the protocol forced to 5.0, a 64-byte packet limit and a small resynchronisation
//!   window, to reach the unframeable and resync paths), and a third with a key log
//!   holding secrets for the all-zero client random (so that a ClientHello with that
//!   random takes the TLS decryption paths), which are then `finish`ed; none of this may
//!   panic, and an I/O error from a byte slice is impossible;
//! - each analyzer's events must keep the documented order per connection: `Opened`
//!   first and once, nothing after `Closed`, no empty packet;
//! - a [`MergedReader`] over the same bytes must hand out the same segments and notices
//!   (counts and payload bytes) as the entry loop.
//!
//! Run: `cargo +nightly fuzz run capture -- -max_total_time=300`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mqtt_conform::codec::ProtocolVersion;
use mqtt_conform::event::{Event, EventKind};
use mqtt_conform::capture::flows::{Analyzer, AnalyzerConfig};
use mqtt_conform::capture::read::{CaptureReader, Entry, Item, MergedReader, Parsed, parse_record};
use mqtt_conform::capture::tls::KeyLog;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

/// Secrets for the all-zero client random: TLS 1.2 and every TLS 1.3 label (SHA-256
/// sizes), all bytes 0x11.
fn zero_random_keys() -> Arc<KeyLog> {
    static KEYS: OnceLock<Arc<KeyLog>> = OnceLock::new();
    KEYS.get_or_init(|| {
        let random = "00".repeat(32);
        let mut text = format!("CLIENT_RANDOM {random} {}\n", "11".repeat(48));
        for label in [
            "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
            "SERVER_HANDSHAKE_TRAFFIC_SECRET",
            "CLIENT_TRAFFIC_SECRET_0",
            "SERVER_TRAFFIC_SECRET_0",
        ] {
            text.push_str(&format!("{label} {random} {}\n", "11".repeat(32)));
        }
        Arc::new(KeyLog::parse(&text, "fuzz").expect("a valid key log"))
    })
    .clone()
}

/// What a reading pass handed out.
#[derive(Debug, Default, PartialEq, Eq)]
struct Tally {
    segments: u64,
    notices: u64,
    payload: u64,
}

/// Per connection: closed yet?
#[derive(Default)]
struct Order(HashMap<u64, bool>);

impl Order {
    fn check(&mut self, e: &Event) {
        let closed = self.0.get(&e.conn).copied();
        match (&e.kind, closed) {
            (EventKind::Opened { .. }, None) => {
                self.0.insert(e.conn, false);
            }
            (EventKind::Opened { .. }, Some(_)) => panic!("connection {} opened twice", e.conn),
            (kind, None) => panic!("connection {}: {kind:?} before Opened", e.conn),
            (kind, Some(true)) => panic!("connection {}: {kind:?} after Closed", e.conn),
            (EventKind::Closed { .. }, Some(false)) => {
                self.0.insert(e.conn, true);
            }
            (EventKind::Packet { bytes, .. }, Some(false)) => {
                assert!(!bytes.is_empty(), "connection {}: empty packet", e.conn);
            }
            (_, Some(false)) => {}
        }
    }
}

/// One analyzer and the order checker of its events.
struct Checked {
    analyzer: Analyzer,
    order: Order,
}

impl Checked {
    fn new(config: AnalyzerConfig) -> Self {
        Self {
            analyzer: Analyzer::new(config),
            order: Order::default(),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(mut reader) = CaptureReader::new(data, 0) else {
        return;
    };
    let mut analyzers = [
        Checked::new(AnalyzerConfig::default()),
        Checked::new(AnalyzerConfig {
            protocol: Some(ProtocolVersion::V5),
            max_packet_size: 64,
            resync_window: 128,
            ..AnalyzerConfig::default()
        }),
        Checked::new(AnalyzerConfig {
            tls_keys: Some(zero_random_keys()),
            ..AnalyzerConfig::default()
        }),
    ];
    let mut direct = Tally::default();
    while let Some(entry) = reader.next_entry().expect("reading a slice cannot fail") {
        let record = match entry {
            Entry::Record(r) => r,
            Entry::Notice(_) => {
                direct.notices += 1;
                continue;
            }
        };
        match parse_record(&record) {
            Parsed::Tcp(seg) => {
                assert!(seg.payload.len() <= record.data.len());
                direct.segments += 1;
                direct.payload += seg.payload.len() as u64;
                for a in &mut analyzers {
                    let order = &mut a.order;
                    a.analyzer.segment(&seg, &mut |e| order.check(&e));
                }
            }
            Parsed::Notice(_) => direct.notices += 1,
            Parsed::Other => {}
        }
    }
    for a in &mut analyzers {
        let order = &mut a.order;
        a.analyzer.finish(&mut |e| order.check(&e));
        let _ = a.analyzer.notices();
        let _ = a.analyzer.stats();
    }

    let mut merged = MergedReader::new(vec![
        CaptureReader::new(data, 0).expect("opened the first time"),
    ]);
    let mut via_merge = Tally::default();
    merged
        .for_each_item(|item| match item {
            Item::Segment(s) => {
                via_merge.segments += 1;
                via_merge.payload += s.payload.len() as u64;
            }
            Item::Notice(_) => via_merge.notices += 1,
        })
        .expect("reading a slice cannot fail");
    assert_eq!(
        direct, via_merge,
        "the merged reader disagrees with the entry loop"
    );
});

//! Memory bounds of the codec, measured with a counting global allocator.
//!
//! The allocator (`support/allocations.rs`) wraps `System` and keeps the current and peak number
//! of bytes in atomics. Only allocations made on a thread that switched tracking on (a
//! `const` thread-local flag, which never allocates) are counted, and every measured
//! section holds one mutex, so other tests running in parallel threads cannot disturb a
//! measurement.
//!
//! Bounds proven here:
//!
//! (a) Decoding `n` arbitrary bytes with `decode_slice` allocates at peak at most
//!     `(1 + size_of::<Property>()) · n + 4 KiB` (81·n + 4 KiB on x86-64). The `n` is the
//!     copy `decode_slice` makes; some strings are copied once more (at most `n` bytes in
//!     all; topics and property strings share the frame);
//!     the rest is the typed model: a 5.0 PUBLISH may repeat the two-byte Subscription
//!     Identifier property, and each becomes an 80-byte `Property` in a `Vec` that grows
//!     by doubling, so ~`size_of::<Property>()` bytes per input byte is reachable (see
//!     `adversarial_inputs_stay_within_the_bound`, which builds exactly that case). On
//!     random and mutated inputs, and on generated valid packets, the peak stays within
//!     `2 · n + 4 KiB`; `decode_packet` on a `Bytes` frame copies nothing and a PUBLISH
//!     topic and payload share the frame's memory.
//! (b) A `PacketReader` over a stream whose fixed header announces 268,435,455 bytes but
//!     that sends only 100 KB and closes peaks well under 1 MiB and ends with
//!     `ReadError::TruncatedPacket`; in general its peak stays within
//!     `2 · received + 64 KiB`.
//! (c) `Framer::new(1024)` refuses that header with `Violation::PacketTooLarge` as soon as
//!     the five header bytes are in, before any body byte is buffered.

use crate::support::allocations;
use crate::support::strategies;

use allocations::{lock, measure};
use bytes::{Bytes, BytesMut};
use mqtt_conform::codec::framing::ReadError;
use mqtt_conform::codec::{
    Framer, Packet, PacketReader, Properties, Property, PropertyId, PropertyValue, ProtocolVersion,
    Publish, QoS, Subscribe, Subscription, Violation, decode_packet, decode_slice, encode_to_vec,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use strategies::VERSIONS;
use tokio::io::AsyncWriteExt;

const KIB: usize = 1024;

/// Bound (a): the peak `decode_slice` may reach on `n` input bytes.
fn decode_bound(n: usize) -> usize {
    (1 + size_of::<Property>()) * n + 4 * KIB
}

fn config(default_cases: u32) -> Config {
    Config {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(default_cases),
        failure_persistence: None,
        ..Config::default()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The tighter bound that holds for the generated inputs below (random bytes, random
/// bodies behind a plausible header, valid packets with at most ~30 properties and their
/// one-byte mutations): the copy, the strings, and a few KiB of model.
fn typical_bound(n: usize) -> usize {
    2 * n + 4 * KIB
}

/// Decodes `input` under every version, checking bound (a) and the typical bound.
fn check_decode_bound(input: &[u8]) -> Result<(), TestCaseError> {
    for version in VERSIONS {
        let (result, peak) = measure(|| decode_slice(input, version));
        drop(result);
        let n = input.len();
        prop_assert!(
            peak <= decode_bound(n) && peak <= typical_bound(n),
            "decode under {} of {} bytes peaked at {} (bounds {} and {}): {}",
            version,
            n,
            peak,
            decode_bound(n),
            typical_bound(n),
            hex(input)
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// (a) decoding is bounded by the input length
// ---------------------------------------------------------------------------------------

#[test]
fn decoding_arbitrary_inputs_is_bounded() {
    let _guard = lock();
    let mut runner = TestRunner::new(config(512));
    runner
        .run(&vec(any::<u8>(), 0..2048), |input| {
            check_decode_bound(&input)
        })
        .unwrap();

    // Plausible packets: valid fixed header, random body.
    let plausible = (any::<u8>(), vec(any::<u8>(), 0..2048)).prop_map(|(first, body)| {
        let mut out = vec![first];
        mqtt_conform::codec::varint::encode(body.len() as u32, &mut out);
        out.extend_from_slice(&body);
        out
    });
    let mut runner = TestRunner::new(config(512));
    runner
        .run(&plausible, |input| check_decode_bound(&input))
        .unwrap();

    // Valid packets of every type and version, and the same with a byte changed.
    let valid = strategies::versioned_packet().prop_flat_map(|(v, p)| {
        let bytes = encode_to_vec(&p, v).unwrap();
        let len = bytes.len();
        (Just(bytes), 0..len, any::<u8>(), any::<bool>())
    });
    let mut runner = TestRunner::new(config(512));
    runner
        .run(&valid, |(mut bytes, at, byte, mutate)| {
            if mutate {
                bytes[at] = byte;
            }
            check_decode_bound(&bytes)
        })
        .unwrap();
}

/// A 5.0 PUBLISH whose properties are `count` two-byte Subscription Identifiers: the
/// largest model-to-wire ratio the decoder has.
fn publish_with_subscription_ids(count: usize) -> Vec<u8> {
    let props = Properties(
        (0..count)
            .map(|i| {
                Property::new(
                    PropertyId::SubscriptionIdentifier,
                    PropertyValue::VariableByteInteger(1 + (i % 127) as u32),
                )
            })
            .collect(),
    );
    let p = Packet::Publish(Publish {
        properties: props,
        ..Publish::new("t", Bytes::new())
    });
    encode_to_vec(&p, ProtocolVersion::V5).unwrap()
}

/// A SUBSCRIBE with `count` one-character filters.
fn subscribe_with_filters(count: usize, version: ProtocolVersion) -> Vec<u8> {
    let p = Packet::Subscribe(Subscribe {
        packet_id: 1,
        properties: Properties::new(),
        subscriptions: (0..count)
            .map(|_| Subscription::new("a", QoS::AtLeastOnce))
            .collect(),
    });
    encode_to_vec(&p, version).unwrap()
}

/// A 5.0 PUBACK with `count` empty User Properties.
fn puback_with_user_properties(count: usize) -> Vec<u8> {
    let props = Properties(
        (0..count)
            .map(|_| {
                Property::new(
                    PropertyId::UserProperty,
                    PropertyValue::Pair(Default::default(), Default::default()),
                )
            })
            .collect(),
    );
    let p = Packet::PubAck(mqtt_conform::codec::PubResponse {
        packet_id: 1,
        reason_code: 0x10,
        properties: props,
    });
    encode_to_vec(&p, ProtocolVersion::V5).unwrap()
}

#[test]
fn adversarial_inputs_stay_within_the_bound() {
    let _guard = lock();
    let v5 = ProtocolVersion::V5;
    let cases: Vec<(&str, ProtocolVersion, Vec<u8>)> = vec![
        (
            "PUBLISH, 2-byte Subscription Identifiers",
            v5,
            publish_with_subscription_ids(60_000),
        ),
        (
            "SUBSCRIBE, 1-char filters (3.1.1)",
            ProtocolVersion::V3_1_1,
            subscribe_with_filters(30_000, ProtocolVersion::V3_1_1),
        ),
        (
            "SUBSCRIBE, 1-char filters (5.0)",
            v5,
            subscribe_with_filters(30_000, v5),
        ),
        (
            "PUBACK, empty User Properties",
            v5,
            puback_with_user_properties(30_000),
        ),
    ];
    for (name, version, input) in cases {
        let (result, peak) = measure(|| decode_slice(&input, version));
        assert!(result.is_ok(), "{name}: {result:?}");
        drop(result);
        let n = input.len();
        println!(
            "{name}: {n} bytes in, peak {peak} bytes ({:.1} per input byte; bound {})",
            peak as f64 / n as f64,
            decode_bound(n)
        );
        assert!(
            peak <= decode_bound(n),
            "{name}: {peak} > {}",
            decode_bound(n)
        );
    }
}

#[test]
fn decode_packet_shares_the_frame() {
    let _guard = lock();
    // A 1 MiB PUBLISH: the payload is a slice of the frame, nothing is copied.
    let p = Packet::Publish(Publish::new(
        "big/payload",
        Bytes::from(vec![0xA5; 1 << 20]),
    ));
    for version in VERSIONS {
        let frame = Bytes::from(encode_to_vec(&p, version).unwrap());
        let (result, peak) = measure(|| decode_packet(&frame, version));
        assert_eq!(result.as_ref(), Ok(&p));
        drop(result);
        assert!(peak <= 4 * KIB, "{version}: peak {peak}");
    }
}

// ---------------------------------------------------------------------------------------
// (b) a huge announced packet costs only what is received
// ---------------------------------------------------------------------------------------

/// A PUBLISH fixed header announcing the largest Remaining Length.
const HUGE_HEADER: [u8; 5] = [0x30, 0xFF, 0xFF, 0xFF, 0x7F];

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime")
}

/// Reads one frame from `stream` with a default `PacketReader`; returns the outcome and the
/// peak allocation.
fn read_huge(rt: &tokio::runtime::Runtime, stream: &[u8]) -> (Result<usize, String>, usize) {
    measure(|| {
        rt.block_on(async {
            let mut reader = PacketReader::new(stream, Framer::default(), ProtocolVersion::V5);
            match reader.read_frame().await {
                Err(ReadError::TruncatedPacket { buffered }) => Ok(buffered),
                Err(e) => Err(format!("unexpected error {e}")),
                Ok(f) => Err(format!("unexpected frame {f:?}")),
            }
        })
    })
}

#[test]
fn huge_announced_packet_costs_only_what_arrives() {
    let _guard = lock();
    let rt = runtime();
    for body in [100_000usize, 1_000_000] {
        let mut stream = HUGE_HEADER.to_vec();
        stream.extend(std::iter::repeat_n(0x61, body));
        let (outcome, peak) = read_huge(&rt, &stream);
        println!("announced 268435455, sent {body}: peak {peak} bytes");
        assert_eq!(outcome, Ok(stream.len()), "sent {body} bytes");
        assert!(
            peak <= 2 * stream.len() + 64 * KIB,
            "sent {body}: peak {peak}"
        );
        if body == 100_000 {
            assert!(peak <= 1 << 20, "peak {peak} over 1 MiB");
        }
    }
}

// ---------------------------------------------------------------------------------------
// (c) an oversize header is refused before the body
// ---------------------------------------------------------------------------------------

fn assert_too_large(v: &Violation) {
    assert_eq!(
        v,
        &Violation::PacketTooLarge {
            size: 268_435_455 + 5,
            max: 1024
        }
    );
}

#[test]
fn oversize_header_is_refused_before_the_body() {
    let _guard = lock();
    let framer = Framer::new(1024);
    for version in VERSIONS {
        // Byte by byte: undecided until the header is complete, refused as soon as it is.
        let mut buf = BytesMut::new();
        for (i, &b) in HUGE_HEADER.iter().enumerate() {
            buf.extend_from_slice(&[b]);
            let (result, peak) = measure(|| framer.next_frame(&mut buf, version));
            assert_eq!(peak, 0, "the framer itself allocates nothing");
            if i + 1 < HUGE_HEADER.len() {
                assert_eq!(result, Ok(None));
            } else {
                assert_too_large(&result.unwrap_err().violation);
            }
        }
        assert_eq!(buf.len(), HUGE_HEADER.len(), "nothing consumed or buffered");
    }

    // Over a live stream that has sent the header and nothing else (the writer stays
    // open): the reader must refuse at once rather than wait for the body.
    let rt = runtime();
    let ((buffered, err), peak) = measure(|| {
        rt.block_on(async {
            let (mut tx, rx) = tokio::io::duplex(64);
            tx.write_all(&HUGE_HEADER).await.unwrap();
            let mut reader = PacketReader::new(rx, Framer::new(1024), ProtocolVersion::V3_1_1);
            let result =
                tokio::time::timeout(std::time::Duration::from_secs(10), reader.read_frame())
                    .await
                    .expect("the reader waited for the body instead of refusing the header");
            let buffered = reader.buffered();
            drop(tx);
            (buffered, result)
        })
    });
    match err {
        Err(ReadError::Framing {
            error,
            stream_offset,
        }) => {
            assert_too_large(&error.violation);
            assert_eq!(stream_offset, 0);
        }
        other => panic!("expected a framing error, got {other:?}"),
    }
    assert_eq!(buffered, HUGE_HEADER.len(), "no body byte was buffered");
    assert!(peak <= 64 * KIB, "peak {peak}");

    // With body bytes already in flight, only the first read's worth is ever buffered.
    let mut stream = HUGE_HEADER.to_vec();
    stream.extend(std::iter::repeat_n(0x61, 1_000_000));
    let (result, peak) = measure(|| {
        rt.block_on(async {
            let mut reader = PacketReader::new(&stream[..], Framer::new(1024), ProtocolVersion::V5);
            (reader.read_frame().await, reader.buffer_capacity())
        })
    });
    match result.0 {
        Err(ReadError::Framing { error, .. }) => assert_too_large(&error.violation),
        other => panic!("expected a framing error, got {other:?}"),
    }
    assert!(result.1 <= 16 * KIB, "buffer capacity {}", result.1);
    assert!(peak <= 64 * KIB, "peak {peak}");
}

//! Property tests of the codec (`src/codec`):
//!
//! - encode → decode gives back an equal [`Packet`] for every packet type and version;
//! - decoding arbitrary bytes, plausible packets with random bodies, and mutations of
//!   valid encodings never panics under any version, and whatever does decode re-encodes
//!   to bytes that decode to the same packet;
//! - a stream of valid packets split into reads at arbitrary points gives identical frames
//!   and packets through `Framer::next_frame`, `split_frames` and `PacketReader`.
//!
//! Case counts are modest so that the file runs in seconds in debug builds; set
//! `PROPTEST_CASES` to run more. Failures are not persisted to disk (no
//! `proptest-regressions/` files); proptest prints the minimal failing input instead.

use crate::support::strategies;

use bytes::{Bytes, BytesMut};
use mqtt_conform::codec::framing::ReadError;
use mqtt_conform::codec::{
    Framer, Packet, PacketReader, PacketType, ProtocolVersion, VersionTracker, decode_slice,
    encode_to_vec, split_frames, varint,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use strategies::{VERSIONS, packet, packet_of, versioned_packet};
use tokio::io::{AsyncRead, ReadBuf};

fn config(default_cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(default_cases),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Encodes `packet` for `version`, decodes it, and demands the same packet back.
fn assert_round_trip(packet: &Packet, version: ProtocolVersion) -> Result<(), TestCaseError> {
    let bytes = encode_to_vec(packet, version)
        .map_err(|e| TestCaseError::fail(format!("encode failed: {e}")))?;
    match decode_slice(&bytes, version) {
        Ok(decoded) => prop_assert_eq!(
            &decoded,
            packet,
            "round trip under {} changed the packet; bytes {}",
            version,
            hex(&bytes)
        ),
        Err(e) => {
            return Err(TestCaseError::fail(format!(
                "valid {} packet refused under {version}: {e}; bytes {}",
                packet.packet_type(),
                hex(&bytes)
            )));
        }
    }
    Ok(())
}

/// Decodes `bytes` under every version (and frames them); must not panic. Whatever decodes
/// must survive a re-encode → decode round trip unchanged.
fn decode_everywhere(bytes: &[u8]) -> Result<(), TestCaseError> {
    for version in VERSIONS {
        let _ = split_frames(bytes, Framer::default(), version);
        let _ = split_frames(bytes, Framer::new(16), version);
        let _ = Framer::new(64).packet_len(bytes, version);
        if let Ok(packet) = decode_slice(bytes, version) {
            let again = encode_to_vec(&packet, version).map_err(|e| {
                TestCaseError::fail(format!(
                    "decoded packet cannot be re-encoded under {version}: {e}; input {}",
                    hex(bytes)
                ))
            })?;
            match decode_slice(&again, version) {
                Ok(p) => prop_assert_eq!(
                    &p,
                    &packet,
                    "re-encoding changed the packet under {}; input {}, re-encoded {}",
                    version,
                    hex(bytes),
                    hex(&again)
                ),
                Err(e) => {
                    return Err(TestCaseError::fail(format!(
                        "re-encoded packet refused under {version}: {e}; input {}, re-encoded {}",
                        hex(bytes),
                        hex(&again)
                    )));
                }
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Round trips
// ---------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn round_trip_v3_1(p in packet(ProtocolVersion::V3_1)) {
        assert_round_trip(&p, ProtocolVersion::V3_1)?;
    }

    #[test]
    fn round_trip_v3_1_1(p in packet(ProtocolVersion::V3_1_1)) {
        assert_round_trip(&p, ProtocolVersion::V3_1_1)?;
    }

    #[test]
    fn round_trip_v5(p in packet(ProtocolVersion::V5)) {
        assert_round_trip(&p, ProtocolVersion::V5)?;
    }
}

proptest! {
    #![proptest_config(config(128))]

    /// A CONNECT announces its own version and is judged under it, whatever version the
    /// reader currently assumes.
    #[test]
    fn connect_is_judged_under_its_own_version(
        (version, p) in strategies::version()
            .prop_flat_map(|v| (Just(v), packet_of(v, PacketType::Connect))),
    ) {
        let bytes = encode_to_vec(&p, version).unwrap();
        for assumed in VERSIONS {
            let decoded = decode_slice(&bytes, assumed);
            prop_assert_eq!(decoded.as_ref(), Ok(&p));
        }
    }
}

/// Every packet type is generated for every version (the generator covers the model).
#[test]
fn generators_cover_every_type() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    for version in VERSIONS {
        let mut runner = TestRunner::deterministic();
        for t in strategies::packet_types(version) {
            let strategy = packet_of(version, t);
            for _ in 0..20 {
                let p = strategy.new_tree(&mut runner).unwrap().current();
                assert_eq!(p.packet_type(), t);
                let bytes = encode_to_vec(&p, version).unwrap();
                assert_eq!(decode_slice(&bytes, version), Ok(p), "{}", hex(&bytes));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Robustness: never panic
// ---------------------------------------------------------------------------------------

/// A fixed header with a plausible first byte (any type, usually the flags it requires)
/// and a correct Remaining Length, followed by a random body.
fn plausible_packet() -> impl Strategy<Value = Vec<u8>> {
    let first = (0u8..=15, any::<u8>(), any::<bool>()).prop_map(|(nibble, random, required)| {
        let flags = match (required, PacketType::from_nibble(nibble)) {
            (true, Some(t)) => t.required_flags().unwrap_or(random & 0x0F),
            _ => random & 0x0F,
        };
        (nibble << 4) | flags
    });
    (
        first,
        prop_oneof![4 => vec(any::<u8>(), 0..64), 1 => vec(any::<u8>(), 64..300)],
    )
        .prop_map(|(first, body)| {
            let mut out = vec![first];
            varint::encode(body.len() as u32, &mut out);
            out.extend_from_slice(&body);
            out
        })
}

#[derive(Debug, Clone)]
enum Mutation {
    FlipBit(Index, u8),
    SetByte(Index, u8),
    Truncate(Index),
    Append(Vec<u8>),
    Remove(Index),
    Insert(Index, u8),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<Index>(), 0u8..8).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        2 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::SetByte(i, b)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
        1 => vec(any::<u8>(), 1..8).prop_map(Mutation::Append),
        1 => any::<Index>().prop_map(Mutation::Remove),
        1 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let len = bytes.len();
    match m {
        Mutation::FlipBit(i, bit) => bytes[i.index(len)] ^= 1 << bit,
        Mutation::SetByte(i, b) => bytes[i.index(len)] = *b,
        Mutation::Truncate(i) => bytes.truncate(i.index(len)),
        Mutation::Append(extra) => bytes.extend_from_slice(extra),
        Mutation::Remove(i) => {
            bytes.remove(i.index(len));
        }
        Mutation::Insert(i, b) => bytes.insert(i.index(len + 1), *b),
    }
}

proptest! {
    #![proptest_config(config(1024))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..400)) {
        decode_everywhere(&bytes)?;
    }

    #[test]
    fn plausible_packets_never_panic(bytes in plausible_packet()) {
        decode_everywhere(&bytes)?;
    }

    #[test]
    fn mutated_packets_never_panic(
        (version, p) in versioned_packet(),
        mutations in vec(mutation(), 1..4),
    ) {
        let mut bytes = encode_to_vec(&p, version).unwrap();
        for m in &mutations {
            if bytes.is_empty() {
                break;
            }
            apply(&mut bytes, m);
        }
        decode_everywhere(&bytes)?;
    }
}

// ---------------------------------------------------------------------------------------
// Streaming: Framer, split_frames and PacketReader agree
// ---------------------------------------------------------------------------------------

/// An `AsyncRead` that yields the given chunks, one per read at most, and returns
/// `Pending` (after waking itself) before every other read to exercise the wake-up path.
struct ChunkedReader {
    chunks: VecDeque<Vec<u8>>,
    pending_next: bool,
}

impl ChunkedReader {
    fn new(chunks: &[Vec<u8>]) -> Self {
        Self {
            chunks: chunks.iter().filter(|c| !c.is_empty()).cloned().collect(),
            pending_next: true,
        }
    }
}

impl AsyncRead for ChunkedReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.pending_next = !this.pending_next;
        if !this.pending_next {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        if let Some(front) = this.chunks.front_mut() {
            let n = front.len().min(buf.remaining());
            buf.put_slice(&front[..n]);
            front.drain(..n);
            if front.is_empty() {
                this.chunks.pop_front();
            }
        }
        Poll::Ready(Ok(()))
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
}

/// Splits `data` at the given (sorted, de-duplicated) cut points.
fn chunks_of(data: &[u8], cuts: &[Index]) -> Vec<Vec<u8>> {
    let mut points: Vec<usize> = cuts.iter().map(|i| i.index(data.len() + 1)).collect();
    points.push(0);
    points.push(data.len());
    points.sort_unstable();
    points.dedup();
    points
        .windows(2)
        .map(|w| data[w[0]..w[1]].to_vec())
        .collect()
}

struct Streamed {
    framer: Vec<(Bytes, Packet)>,
    framer_rest: usize,
    split: Vec<(usize, Bytes, Packet)>,
    split_error: bool,
    reader: Vec<(Bytes, Packet)>,
    reader_end: Result<(), usize>,
}

/// Feeds `chunks` through the three framing paths, all starting at `version`.
fn stream_three_ways(chunks: &[Vec<u8>], version: ProtocolVersion) -> Streamed {
    let framer = Framer::default();

    // 1. Framer::next_frame over a BytesMut, one chunk at a time.
    let mut buf = BytesMut::new();
    let mut tracker = VersionTracker::new(version);
    let mut by_framer = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        while let Some(bytes) = framer.next_frame(&mut buf, tracker.version).unwrap() {
            let frame = tracker.decode(bytes);
            by_framer.push((frame.bytes, frame.packet.expect("valid packet")));
        }
    }

    // 2. split_frames over the whole buffer.
    let all = chunks.concat();
    let (frames, err) = split_frames(&all, framer, version);
    let by_split = frames
        .into_iter()
        .map(|(offset, f)| (offset, f.bytes, f.packet.expect("valid packet")))
        .collect();

    // 3. PacketReader over an async reader yielding the chunks.
    let (by_reader, reader_end) = runtime().block_on(async {
        let mut reader = PacketReader::new(ChunkedReader::new(chunks), framer, version);
        let mut out = Vec::new();
        loop {
            match reader.read_frame().await {
                Ok(Some(f)) => out.push((f.bytes, f.packet.expect("valid packet"))),
                Ok(None) => return (out, Ok(())),
                Err(ReadError::TruncatedPacket { buffered }) => return (out, Err(buffered)),
                Err(e) => panic!("unexpected read error: {e}"),
            }
        }
    });

    Streamed {
        framer: by_framer,
        framer_rest: buf.len(),
        split: by_split,
        split_error: err.is_some(),
        reader: by_reader,
        reader_end,
    }
}

fn stream_case() -> impl Strategy<Value = (ProtocolVersion, Vec<Packet>, Vec<Index>)> {
    strategies::version()
        .prop_flat_map(|v| (Just(v), vec(packet(v), 1..6), vec(any::<Index>(), 0..10)))
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn streaming_paths_agree((version, packets, cuts) in stream_case()) {
        let encoded: Vec<Vec<u8>> =
            packets.iter().map(|p| encode_to_vec(p, version).unwrap()).collect();
        let all = encoded.concat();
        let chunks = chunks_of(&all, &cuts);
        let s = stream_three_ways(&chunks, version);

        let expected: Vec<(Bytes, Packet)> = encoded
            .iter()
            .cloned()
            .map(Bytes::from)
            .zip(packets.iter().cloned())
            .collect();
        prop_assert_eq!(&s.framer, &expected);
        prop_assert_eq!(s.framer_rest, 0);
        prop_assert!(!s.split_error);
        let mut offset = 0;
        let mut offsets = Vec::new();
        for e in &encoded {
            offsets.push(offset);
            offset += e.len();
        }
        let split_expected: Vec<(usize, Bytes, Packet)> = offsets
            .into_iter()
            .zip(expected.iter().cloned())
            .map(|(o, (b, p))| (o, b, p))
            .collect();
        prop_assert_eq!(&s.split, &split_expected);
        prop_assert_eq!(&s.reader, &expected);
        prop_assert_eq!(s.reader_end, Ok(()));
    }

    /// The same with the last packet cut short: every complete packet comes out, and each
    /// path reports the incomplete tail.
    #[test]
    fn streaming_paths_agree_on_a_truncated_tail(
        (version, packets, cuts) in stream_case(),
        cut in any::<Index>(),
    ) {
        let encoded: Vec<Vec<u8>> =
            packets.iter().map(|p| encode_to_vec(p, version).unwrap()).collect();
        let last = encoded.last().unwrap();
        let keep = 1 + cut.index(last.len() - 1); // 1..len-1 bytes of the last packet
        let mut all = encoded[..encoded.len() - 1].concat();
        all.extend_from_slice(&last[..keep]);
        let chunks = chunks_of(&all, &cuts);
        let s = stream_three_ways(&chunks, version);

        let complete = packets.len() - 1;
        let expected: Vec<(Bytes, Packet)> = encoded[..complete]
            .iter()
            .cloned()
            .map(Bytes::from)
            .zip(packets.iter().cloned())
            .collect();
        prop_assert_eq!(&s.framer, &expected);
        prop_assert_eq!(s.framer_rest, keep);
        prop_assert!(s.split_error);
        let split_frames: Vec<(Bytes, Packet)> =
            s.split.iter().map(|(_, b, p)| (b.clone(), p.clone())).collect();
        prop_assert_eq!(&split_frames, &expected);
        prop_assert_eq!(&s.reader, &expected);
        prop_assert_eq!(s.reader_end, Err(keep));
    }
}

//! Fuzzes the strict decoder and the framer under MQTT 3.1, 3.1.1 and 5.0.
//!
//! For every input and version:
//! - `decode_packet` must not panic; whatever it accepts must re-encode, and the re-encoded
//!   bytes must decode to the very same packet (catches encoder/decoder disagreements);
//! - `split_frames` must not panic, its frames must tile a prefix of the input, and each
//!   frame's packet must be what `decode_packet` gives for those bytes under the version the
//!   stream was at (which follows any CONNECT);
//! - a small `Framer` must agree with the default one on every packet it does not refuse.
//!
//! Run: `cargo +nightly fuzz run decode -- -max_total_time=180`.

#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use mqtt_conform::codec::{
    Framer, Packet, ProtocolVersion, decode_packet, encode_to_vec, split_frames,
};

const VERSIONS: [ProtocolVersion; 3] = [
    ProtocolVersion::V3_1,
    ProtocolVersion::V3_1_1,
    ProtocolVersion::V5,
];

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Re-encodes an accepted packet and demands the same packet back.
fn assert_reencodes(packet: &Packet, version: ProtocolVersion, input: &[u8]) {
    let again = match encode_to_vec(packet, version) {
        Ok(b) => b,
        Err(e) => panic!(
            "accepted packet cannot be re-encoded under {version}: {e}\ninput {}\npacket {packet:?}",
            hex(input)
        ),
    };
    match decode_packet(&Bytes::from(again.clone()), version) {
        Ok(p) => assert_eq!(
            &p,
            packet,
            "re-encoding changed the packet under {version}\ninput {}\nre-encoded {}",
            hex(input),
            hex(&again)
        ),
        Err(e) => panic!(
            "re-encoded packet refused under {version}: {e}\ninput {}\nre-encoded {}",
            hex(input),
            hex(&again)
        ),
    }
}

fuzz_target!(|data: &[u8]| {
    let frame = Bytes::copy_from_slice(data);
    for version in VERSIONS {
        if let Ok(packet) = decode_packet(&frame, version) {
            assert_reencodes(&packet, version, data);
        }

        let (frames, _) = split_frames(data, Framer::default(), version);
        let mut expected_offset = 0;
        let mut stream_version = version;
        for (offset, f) in &frames {
            assert_eq!(*offset, expected_offset, "frames must tile the input");
            assert_eq!(&data[*offset..*offset + f.bytes.len()], &f.bytes[..]);
            expected_offset += f.bytes.len();
            assert_eq!(f.packet, decode_packet(&f.bytes, stream_version));
            if let Ok(Packet::Connect(c)) = &f.packet {
                stream_version = c.protocol;
            }
        }

        let small = Framer::new(64);
        let (small_frames, _) = split_frames(data, small, version);
        assert!(small_frames.len() <= frames.len());
        for ((o1, f1), (o2, f2)) in small_frames.iter().zip(&frames) {
            assert_eq!((o1, &f1.bytes, &f1.packet), (o2, &f2.bytes, &f2.packet));
            assert!(f1.bytes.len() <= 64);
        }
    }
});

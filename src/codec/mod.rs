//! The MQTT codec: MQTT 3.1 (`MQIsdp`, level 3), 3.1.1 (level 4) and 5.0 (level 5).
//!
//! - [`packet`]: a typed model of all fifteen packet types; [`properties`]: every 5.0
//!   property with its type and the packets it may appear in; [`reason`]: return and
//!   reason codes with their names.
//! - [`decode_packet`]: a **strict** decoder. The first violation is returned as a
//!   [`DecodeError`] naming the normative statement *for that protocol version*, the byte
//!   offset and a short message.
//! - [`decode_frame`]: the same decoder for the framing paths, which hand it the fixed
//!   header they already parsed; it consumes the frame, whose memory the PUBLISH payload
//!   and topic ([`ByteStr`]) then share.
//! - [`framing`]: streaming framing for byte buffers and tokio streams, bounded by a
//!   configurable maximum packet size, with memory that grows only with bytes received.
//! - [`encode()`]: the encoder for every typed packet; [`RawBuilder`]: deliberately wrong
//!   packets.
//! - [`statements`]: every normative statement of 3.1.1 and 5.0, paraphrased.
//!
//! # What the decoder checks
//!
//! Each row is one check; the statement is the one the error names (3.1 is judged by the
//! 3.1.1 statements, having none of its own). "§" marks checks the specification states
//! without a numbered statement. Tests live in `tests/it/codec_vectors.rs` unless noted.
//!
//! | check | 3.1.1 | 5.0 | test |
//! |---|---|---|---|
//! | reserved packet type 0 (and 15 before 5.0) | §2.2.1 | §2.1.2 | `reserved_packet_types` |
//! | fixed-header flags of each type | MQTT-2.2.2-1, PUBREL 3.6.1-1, SUBSCRIBE 3.8.1-1, UNSUBSCRIBE 3.10.1-1, DISCONNECT 3.14.1-1 | MQTT-2.1.3-1, 3.6.1-1, 3.8.1-1, 3.10.1-1, 3.14.1-1, AUTH 3.15.1-1 | `invalid_flags_every_type` |
//! | PUBLISH QoS 3 | MQTT-3.3.1-4 | MQTT-3.3.1-4 | `publish_qos3` |
//! | PUBLISH DUP at QoS 0 | MQTT-3.3.1-2 | MQTT-3.3.1-2 | `publish_dup_qos0` |
//! | Remaining Length over four bytes | §2.2.3 | §1.5.5 | `remaining_length_five_bytes` |
//! | Remaining Length not minimal | §2.2.3 | MQTT-1.5.5-1 | `remaining_length_non_minimal` |
//! | packet over the configured maximum | §2.2.3 | §3.1.2.11.4 | `framing::oversize_refused_before_body` |
//! | field past the end / bytes after the last field | §2.2.3 | §2.1.4 | `truncated_fields`, `trailing_bytes` |
//! | ill-formed UTF-8, encoded surrogates | MQTT-1.5.3-1 | MQTT-1.5.4-1 | `utf8_ill_formed`, `utf8_surrogate` |
//! | U+0000 in a string | MQTT-1.5.3-2 | MQTT-1.5.4-2 | `utf8_null` |
//! | protocol name | MQTT-3.1.2-1 | MQTT-3.1.2-1 | `connect_protocol_name` |
//! | protocol level | MQTT-3.1.2-2 | MQTT-3.1.2-2 | `connect_protocol_level` |
//! | CONNECT reserved flag | MQTT-3.1.2-3 | MQTT-3.1.2-3 | `connect_reserved_flag` |
//! | Will QoS without Will Flag | MQTT-3.1.2-13 | MQTT-3.1.2-11 | `connect_will_combinations` |
//! | Will QoS 3 | MQTT-3.1.2-14 | MQTT-3.1.2-12 | `connect_will_combinations` |
//! | Will Retain without Will Flag | MQTT-3.1.2-15 | MQTT-3.1.2-13 | `connect_will_combinations` |
//! | Password without User Name | MQTT-3.1.2-22 | allowed | `connect_password_without_username` |
//! | Will Topic non-empty, no wildcards | MQTT-4.7.3-1, MQTT-3.3.2-2 | same | `connect_will_topic` |
//! | packet identifier non-zero | MQTT-2.3.1-1 (acks 2.3.1-6/-7) | MQTT-2.2.1-3 (acks 2.2.1-5/-6) | `zero_packet_ids` |
//! | topic name non-empty | MQTT-4.7.3-1 | MQTT-4.7.3-1 (unless a Topic Alias) | `publish_topic_rules` |
//! | wildcard in a topic name | MQTT-3.3.2-2 | MQTT-3.3.2-2 | `publish_topic_rules` |
//! | `#` placement in a filter | MQTT-4.7.1-2 | MQTT-4.7.1-1 | `filter_rules` |
//! | `+` placement in a filter | MQTT-4.7.1-3 | MQTT-4.7.1-2 | `filter_rules` |
//! | shared subscription syntax | n/a | MQTT-4.8.2-2 | `shared_subscription_syntax` |
//! | empty SUBSCRIBE / UNSUBSCRIBE | MQTT-3.8.3-3 / MQTT-3.10.3-2 | MQTT-3.8.3-2 / MQTT-3.10.3-2 | `empty_subscribe_unsubscribe` |
//! | subscription options reserved bits | MQTT-3-8.3-4 | MQTT-3.8.3-5 | `subscription_options` |
//! | requested QoS 3 | MQTT-3-8.3-4 | §3.8.3.1 | `subscription_options` |
//! | Retain Handling 3, No Local on shared | n/a | §3.8.3.1, MQTT-3.8.3-4 | `subscription_options` |
//! | SUBACK return codes | MQTT-3.9.3-2 | MQTT-3.9.3-2 | `suback_codes` |
//! | CONNACK return code 0–5 | §3.2.2.3 | MQTT-3.2.2-8 | `connack_codes` |
//! | CONNACK reserved flag bits | §3.2.2.1 | MQTT-3.2.2-1 | `connack_codes` |
//! | Session Present with a failure | MQTT-3.2.2-4 | MQTT-3.2.2-6 | `connack_codes` |
//! | reason code allowed in the packet | n/a | MQTT-3.4.2-1, 3.5.2-1, 3.6.2-1, 3.7.2-1, 3.11.3-2, 3.14.2-1, 3.15.2-1 | `reason_codes_per_packet` |
//! | SUBACK / UNSUBACK without codes | MQTT-3.8.4-5 | MQTT-3.8.4-6, §3.11.3 | `empty_ack_payloads` |
//! | unknown property, property not allowed in packet, duplicate property | n/a | §2.2.2.2 | `properties_*` |
//! | property value range (booleans, Receive Maximum / Maximum Packet Size / Subscription Identifier 0, Topic Alias 0) | n/a | §2.2.2.2, MQTT-3.3.2-8 | `properties_values` |
//! | Authentication Data without Method | n/a | §3.1.2.11.10 | `properties_auth_data_without_method` |
//! | AUTH before 5.0 | §2.2.1 | n/a | `reserved_packet_types` |

pub mod bytestr;
pub mod decode;
pub mod encode;
pub mod error;
pub mod framing;
pub mod hex_text;
pub mod packet;
pub mod packet_type;
pub mod properties;
mod raw;
mod reader;
pub mod reason;
pub mod statements;
pub mod topic;
pub mod varint;
pub mod version;

pub use bytestr::ByteStr;
pub use decode::{FixedHeader, decode_frame, decode_packet, decode_slice};
pub use encode::{EncodeError, encode, encode_to_vec};
pub use error::{DecodeError, SpecRef, Violation};
pub use framing::{
    Frame, Framer, InputEnd, PacketReader, VersionTracker, split_frames, split_input,
};
pub use hex_text::parse_hex;
pub use packet::*;
pub use properties::{Properties, Property, PropertyId, PropertyScope, PropertyValue};
pub use raw::RawBuilder;
pub use version::ProtocolVersion;

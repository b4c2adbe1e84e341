//! Normative statements of MQTT 3.1.1 and 5.0.
//!
//! The OASIS specifications tag each conformance requirement with an identifier of the
//! form `[MQTT-x.y.z-n]`, where `x.y.z` is (roughly) the section and `n` counts the
//! statements within it. This module lists every such statement of
//! [MQTT Version 3.1.1] (OASIS Standard, 29 October 2014) and of [MQTT Version 5.0]
//! (OASIS Standard, 7 March 2019), each with the section it is printed in and a short
//! paraphrase in our own words. The paraphrases are summaries for reports; the
//! specification text is the authority.
//!
//! Identifiers are reused between the two versions with different meanings (for
//! example `MQTT-3.1.2-24` is the keep-alive timeout in 3.1.1 but the Maximum Packet
//! Size rule in 5.0), so every look-up goes through a [`Spec`].
//!
//! The decoder uses these tables to name the statement an input violates, and the
//! `--coverage` command lists every statement with the tests that cite it, grouped by the
//! [`Party`] it binds.
//!
//! [MQTT Version 3.1.1]: http://docs.oasis-open.org/mqtt/mqtt/v3.1.1/os/mqtt-v3.1.1-os.html
//! [MQTT Version 5.0]: https://docs.oasis-open.org/mqtt/mqtt/v5.0/os/mqtt-v5.0-os.html

/// Which specification a statement belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Spec {
    /// MQTT Version 3.1.1 (OASIS Standard, 29 October 2014).
    V3_1_1,
    /// MQTT Version 5.0 (OASIS Standard, 7 March 2019).
    V5_0,
}

/// One normative statement: its identifier as the specification prints it (without brackets),
/// the section it sits in, and a one-line paraphrase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Statement {
    /// Identifier as printed, without the surrounding brackets, e.g. `"MQTT-3.1.2-24"`.
    pub id: &'static str,
    /// Number of the section the statement is printed in, e.g. `"3.1.2.10"`.
    pub section: &'static str,
    /// One-line paraphrase of the requirement (not the specification's wording).
    pub summary: &'static str,
    /// The party the statement binds, as far as a test over the wire can tell.
    pub binds: Party,
}

/// Which party a statement binds, from the point of view of a conformance test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Party {
    /// Only the Client: checked on a device (passive rules, device tests).
    Client,
    /// Only the Server: checked on a broker (broker tests).
    Server,
    /// Either one, as the sender or receiver of a packet both may send: checked on both.
    Both,
    /// Nothing a packet can show; the reason says why no over-the-wire test can check it.
    OffWire(&'static str),
}

impl Party {
    /// Whether a test of a Client can check the statement.
    #[must_use]
    pub fn binds_client(self) -> bool {
        matches!(self, Party::Client | Party::Both)
    }

    /// Whether a test of a Server can check the statement.
    #[must_use]
    pub fn binds_server(self) -> bool {
        matches!(self, Party::Server | Party::Both)
    }
}

/// Supporting a transport is a property of the implementation: every connection presumes it.
const SUPPORTS_A_TRANSPORT: &str = "must support at least one transport: any test's connection presumes it, no packet can show its absence";
/// The transient errors meant are internal to the receiver.
const TRANSIENT_ERROR: &str =
    "a transient error inside the receiver cannot be provoked or seen over the wire";
/// A bridge is judged by testing its client half and its server half, each on its side.
const BRIDGE_AS_A_WHOLE: &str =
    "a requirement on a bridging Server as a whole; each of its roles is tested on its own side";
/// CONNECT payload fields carry no tags.
const UNTAGGED_CONNECT_FIELDS: &str = "the payload's fields are length-prefixed strings without tags: fields out of order read as each other";
/// A topic's length prefix is two bytes.
const TOPIC_LENGTH_PREFIX: &str = "a two-byte length prefix cannot state more than 65,535 bytes: no encoded Topic Name or Topic Filter can break the limit";
/// Reliance on extensions is a property of an implementation, not of a packet.
const NO_EXTENSIONS_NEEDED: &str =
    "a requirement on implementations (no dependence on extensions), not on any packet";

impl Spec {
    /// All statements of this specification.
    #[must_use]
    pub fn statements(self) -> &'static [Statement] {
        match self {
            Spec::V3_1_1 => MQTT_3_1_1,
            Spec::V5_0 => MQTT_5_0,
        }
    }

    /// Looks up a statement by its ID (with or without surrounding brackets).
    ///
    /// An exact match is tried first. Failing that, the ID is compared by its
    /// numbers alone, ignoring whether `.` or `-` separates them and ignoring the
    /// case of the `MQTT` prefix, so that the misprinted 3.1.1 identifiers
    /// (`MQTT-3-8.3-4`, `MQTT-3.1.2.7`) are also found under their regular spellings
    /// (`MQTT-3.8.3-4`, `MQTT-3.1.2-7`). Within each specification no two
    /// statements share the same numbers, so this never picks the wrong one.
    #[must_use]
    pub fn lookup(self, id: &str) -> Option<&'static Statement> {
        let id = id.trim();
        let id = id.strip_prefix('[').unwrap_or(id);
        let id = id.strip_suffix(']').unwrap_or(id).trim();
        let statements = self.statements();
        statements
            .iter()
            .find(|s| s.id == id)
            .or_else(|| statements.iter().find(|s| same_numbers(s.id, id)))
    }
}

/// The numeric components of an ID such as `MQTT-3.1.2-24`, or `None` if it does
/// not start with `MQTT` or contains anything other than digits, `.` and `-`.
fn id_numbers(id: &str) -> Option<impl Iterator<Item = &str>> {
    let prefix = id.get(..4)?;
    if !prefix.eq_ignore_ascii_case("mqtt") {
        return None;
    }
    let rest = &id[4..];
    if rest.is_empty()
        || !rest
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-')
    {
        return None;
    }
    Some(rest.split(['.', '-']).filter(|part| !part.is_empty()))
}

/// Whether two IDs have the same numeric components in the same order.
fn same_numbers(a: &str, b: &str) -> bool {
    match (id_numbers(a), id_numbers(b)) {
        (Some(a), Some(b)) => a.eq(b),
        _ => false,
    }
}

/// Every normative statement of MQTT 3.1.1, in specification order.
///
/// The order and identifiers follow Appendix B of the specification; sections are
/// those of the body text where each statement is printed. There are 141 entries.
pub static MQTT_3_1_1: &[Statement] = &[
    Statement {
        id: "MQTT-1.5.3-1",
        section: "1.5.3",
        summary: "UTF-8 string data must be well-formed and must not encode surrogates U+D800..U+DFFF; a receiver of ill-formed UTF-8 must close the connection.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-1.5.3-2",
        section: "1.5.3",
        summary: "A UTF-8 string must not encode the null character U+0000; a receiver of one must close the connection.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-1.5.3-3",
        section: "1.5.3",
        summary: "The byte sequence EF BB BF always means U+FEFF (zero width no-break space); a receiver must not skip or strip it.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-2.2.2-1",
        section: "2.2.2",
        summary: "Fixed-header flag bits marked Reserved must carry exactly the values the flag table lists.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-2.2.2-2",
        section: "2.2.2",
        summary: "A receiver of invalid fixed-header flags must close the connection.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-2.3.1-1",
        section: "2.3.1",
        summary: "SUBSCRIBE, UNSUBSCRIBE and QoS>0 PUBLISH must carry a non-zero Packet Identifier.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-2.3.1-2",
        section: "2.3.1",
        summary: "A Client must give each new such packet a Packet Identifier not currently in use.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-2.3.1-3",
        section: "2.3.1",
        summary: "A Client re-sending a packet must reuse its Packet Identifier, which is freed only once the matching acknowledgement is processed.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-2.3.1-4",
        section: "2.3.1",
        summary: "The same Packet Identifier rules apply to a Server sending QoS>0 PUBLISH.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-2.3.1-5",
        section: "2.3.1",
        summary: "A QoS 0 PUBLISH must not carry a Packet Identifier.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-2.3.1-6",
        section: "2.3.1",
        summary: "PUBACK, PUBREC and PUBREL must carry the Packet Identifier of the original PUBLISH.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-2.3.1-7",
        section: "2.3.1",
        summary: "SUBACK and UNSUBACK must carry the Packet Identifier of the SUBSCRIBE or UNSUBSCRIBE they answer.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.1.0-1",
        section: "3.1",
        summary: "The first packet a Client sends on a new Network Connection must be CONNECT.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-3.1.0-2",
        section: "3.1",
        summary: "The Server must treat a second CONNECT as a protocol violation and disconnect the Client.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.1.2-1",
        section: "3.1.2.1",
        summary: "If the protocol name is wrong, the Server must not go on processing the CONNECT under this specification.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.1.2-2",
        section: "3.1.2.2",
        summary: "For an unsupported Protocol Level the Server must answer CONNACK 0x01 (unacceptable protocol level) and disconnect.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.1.2-3",
        section: "3.1.2.3",
        summary: "The Server must check that the reserved CONNECT flag is 0 and disconnect the Client if not.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.1.2-4",
        section: "3.1.2.4",
        summary: "With CleanSession 0 the Server must resume the existing Session (or create one), and both sides must keep the Session after disconnecting.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-3.1.2-5",
        section: "3.1.2.4",
        summary: "After a CleanSession 0 Session disconnects, the Server must store later QoS 1 and QoS 2 messages matching its subscriptions.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.1.2-6",
        section: "3.1.2.4",
        summary: "With CleanSession 1 both sides must drop any previous Session and start a new one whose state is never reused.",
        binds: Party::Both,
    },
    // The specification prints this ID with a dot before the counter ("3.1.2.7"),
    // both in section 3.1.2.4 and in Appendix B; it is kept exactly as printed.
    // `Spec::lookup` also finds it as "MQTT-3.1.2-7".
    Statement {
        id: "MQTT-3.1.2.7",
        section: "3.1.2.4",
        summary: "Retained messages are not Session state and must not be deleted when a Session ends.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.1.2-8",
        section: "3.1.2.5",
        summary: "With Will Flag 1 an accepted connection's Will Message must be stored and published when the connection closes, unless removed by a DISCONNECT.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.1.2-9",
        section: "3.1.2.5",
        summary: "With Will Flag 1 the Will Topic and Will Message must be present in the payload.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-3.1.2-10",
        section: "3.1.2.5",
        summary: "The Server must remove the stored Will Message once published or once DISCONNECT is received.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.1.2-11",
        section: "3.1.2.5",
        summary: "With Will Flag 0 the Will QoS and Will Retain bits must be 0 and no Will Topic or Will Message may be present.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-3.1.2-12",
        section: "3.1.2.5",
        summary: "With Will Flag 0 no Will Message may be published when the connection ends.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.1.2-13",
        section: "3.1.2.6",
        summary: "With Will Flag 0 the Will QoS must be 0.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-3.1.2-14",
        section: "3.1.2.6",
        summary: "With Will Flag 1 the Will QoS may be 0, 1 or 2 but must not be 3.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-3.1.2-15",
        section: "3.1.2.7",
        summary: "With Will Flag 0 the Will Retain bit must be 0.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-3.1.2-16",
        section: "3.1.2.7",
        summary: "With Will Flag 1 and Will Retain 0 the Server must publish the Will Message as non-retained.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.1.2-17",
        section: "3.1.2.7",
        summary: "With Will Flag 1 and Will Retain 1 the Server must publish the Will Message as retained.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.1.2-18",
        section: "3.1.2.8",
        summary: "With User Name Flag 0 no user name may appear in the payload.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-3.1.2-19",
        section: "3.1.2.8",
        summary: "With User Name Flag 1 a user name must appear in the payload.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-3.1.2-20",
        section: "3.1.2.9",
        summary: "With Password Flag 0 no password may appear in the payload.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-3.1.2-21",
        section: "3.1.2.9",
        summary: "With Password Flag 1 a password must appear in the payload.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-3.1.2-22",
        section: "3.1.2.9",
        summary: "With User Name Flag 0 the Password Flag must also be 0.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-3.1.2-23",
        section: "3.1.2.10",
        summary: "The Client must keep gaps between its packets within Keep Alive, sending PINGREQ when it has nothing else to send.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-3.1.2-24",
        section: "3.1.2.10",
        summary: "With a non-zero Keep Alive, a Server that hears nothing from the Client for one and a half Keep Alive periods must disconnect it as if the network failed.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.1.3-1",
        section: "3.1.3",
        summary: "CONNECT payload fields that are present must appear in the order Client Identifier, Will Topic, Will Message, User Name, Password.",
        binds: Party::OffWire(UNTAGGED_CONNECT_FIELDS),
    },
    Statement {
        id: "MQTT-3.1.3-2",
        section: "3.1.3.1",
        summary: "Clients and Servers must use the ClientId to identify the Session state they hold.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-3.1.3-3",
        section: "3.1.3.1",
        summary: "The ClientId must be present as the first field of the CONNECT payload.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-3.1.3-4",
        section: "3.1.3.1",
        summary: "The ClientId field must use UTF-8 string encoding.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-3.1.3-5",
        section: "3.1.3.1",
        summary: "The Server must accept ClientIds of 1 to 23 bytes made only of ASCII digits and letters.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.1.3-6",
        section: "3.1.3.1",
        summary: "A Server accepting a zero-length ClientId must assign the Client a unique ClientId and proceed as if it had been supplied.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.1.3-7",
        section: "3.1.3.1",
        summary: "A Client sending a zero-length ClientId must also set CleanSession to 1.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-3.1.3-8",
        section: "3.1.3.1",
        summary: "For a zero-length ClientId with CleanSession 0 the Server must answer CONNACK 0x02 (identifier rejected) and close the connection.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.1.3-9",
        section: "3.1.3.1",
        summary: "A Server rejecting the ClientId must answer CONNACK 0x02 (identifier rejected) and close the connection.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.1.3-10",
        section: "3.1.3.2",
        summary: "The Will Topic field must use UTF-8 string encoding.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-3.1.3-11",
        section: "3.1.3.4",
        summary: "The User Name field must use UTF-8 string encoding.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-3.1.4-1",
        section: "3.1.4",
        summary: "The Server must check that CONNECT conforms to section 3.1 and otherwise close the connection without sending CONNACK.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.1.4-2",
        section: "3.1.4",
        summary: "If the ClientId is already connected, the Server must disconnect the existing Client.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.1.4-3",
        section: "3.1.4",
        summary: "After successful validation the Server must carry out the CleanSession handling of section 3.1.2.4.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.1.4-4",
        section: "3.1.4",
        summary: "After successful validation the Server must acknowledge CONNECT with a CONNACK carrying return code 0.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.1.4-5",
        section: "3.1.4",
        summary: "After rejecting a CONNECT the Server must not process anything the Client sent after it.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.2.0-1",
        section: "3.2",
        summary: "CONNACK must be the Server's first packet to the Client.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.2.2-1",
        section: "3.2.2.2",
        summary: "When accepting a CleanSession 1 connection, the Server must set Session Present to 0 along with return code 0.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.2.2-2",
        section: "3.2.2.2",
        summary: "When accepting a CleanSession 0 connection with stored Session state, the Server must set Session Present to 1.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.2.2-3",
        section: "3.2.2.2",
        summary: "When accepting a CleanSession 0 connection without stored Session state, the Server must set Session Present to 0 along with return code 0.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.2.2-4",
        section: "3.2.2.2",
        summary: "A CONNACK with a non-zero return code must have Session Present 0.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.2.2-5",
        section: "3.2.2.3",
        summary: "After sending a CONNACK with a non-zero return code, the Server must close the connection.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.2.2-6",
        section: "3.2.2.3",
        summary: "If no defined return code fits, the Server must close the connection without sending CONNACK.",
        binds: Party::Server,
    },
    // Section 3.3.1.1 prints this tag as "MQTT-3.3.1.-1"; Appendix B prints
    // "MQTT-3.3.1-1", which is the form used here.
    Statement {
        id: "MQTT-3.3.1-1",
        section: "3.3.1.1",
        summary: "The sender must set DUP to 1 when re-delivering a PUBLISH.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-3.3.1-2",
        section: "3.3.1.1",
        summary: "Any QoS 0 PUBLISH must have DUP cleared.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-3.3.1-3",
        section: "3.3.1.1",
        summary: "DUP on an outgoing PUBLISH depends only on whether that packet is a retransmission, not on the incoming DUP.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-3.3.1-4",
        section: "3.3.1.2",
        summary: "A PUBLISH must not have both QoS bits set; a receiver of one must close the connection.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-3.3.1-5",
        section: "3.3.1.3",
        summary: "On a client PUBLISH with RETAIN 1 the Server must store the message and its QoS for future matching subscribers.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.3.1-6",
        section: "3.3.1.3",
        summary: "When a new subscription is made, the last retained message on each matching topic must be sent to the subscriber.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.3.1-7",
        section: "3.3.1.3",
        summary: "On a QoS 0 PUBLISH with RETAIN 1 the Server must discard any previously retained message for that topic.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.3.1-8",
        section: "3.3.1.3",
        summary: "A message sent because a new subscription was made must have RETAIN set to 1.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.3.1-9",
        section: "3.3.1.3",
        summary: "A message sent because it matches an established subscription must have RETAIN set to 0, whatever the publisher set.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.3.1-10",
        section: "3.3.1.3",
        summary: "A RETAIN 1 PUBLISH with an empty payload is delivered normally but must remove the topic's retained message.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.3.1-11",
        section: "3.3.1.3",
        summary: "The Server must not store a zero-byte message as a retained message.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.3.1-12",
        section: "3.3.1.3",
        summary: "On a client PUBLISH with RETAIN 0 the Server must neither store it as retained nor remove or replace an existing retained message.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.3.2-1",
        section: "3.3.2.1",
        summary: "The Topic Name must be the first field of the PUBLISH variable header and be a UTF-8 encoded string.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-3.3.2-2",
        section: "3.3.2.1",
        summary: "A PUBLISH Topic Name may not contain the wildcards '#' or '+'.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-3.3.2-3",
        section: "3.3.2.1",
        summary: "A Topic Name the Server sends to a subscriber must match that subscription's Topic Filter.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.3.4-1",
        section: "3.3.4",
        summary: "The receiver of a PUBLISH must answer with the packet its QoS calls for (none, PUBACK or PUBREC).",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-3.3.5-1",
        section: "3.3.5",
        summary: "When several of a Client's subscriptions overlap, the Server must deliver the message honouring the highest QoS among the matches.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.3.5-2",
        section: "3.3.5",
        summary: "A Server refusing to authorize a PUBLISH must either acknowledge it normally per its QoS or close the connection.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.6.1-1",
        section: "3.6.1",
        summary: "PUBREL fixed-header flags must be 0010; the Server must treat any other value as malformed and close the connection.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-3.8.1-1",
        section: "3.8.1",
        summary: "SUBSCRIBE fixed-header flags must be 0010; the Server must treat any other value as malformed and close the connection.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-3.8.3-1",
        section: "3.8.3",
        summary: "Every SUBSCRIBE Topic Filter must use UTF-8 string encoding.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-3.8.3-2",
        section: "3.8.3",
        summary: "A Server that does not support wildcard Topic Filters must reject any subscription using them.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.8.3-3",
        section: "3.8.3",
        summary: "The SUBSCRIBE payload must hold at least one Topic Filter/QoS pair; an empty payload is a protocol violation.",
        binds: Party::Client,
    },
    // Misspelled in the specification (a hyphen after the first "3", in both
    // section 3.8.3 and Appendix B); kept exactly as printed.
    // `Spec::lookup` also finds it as "MQTT-3.8.3-4".
    Statement {
        id: "MQTT-3-8.3-4",
        section: "3.8.3",
        summary: "The Server must treat a SUBSCRIBE as malformed and close the connection if reserved payload bits are set or a requested QoS is not 0, 1 or 2.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.8.4-1",
        section: "3.8.4",
        summary: "The Server must answer every SUBSCRIBE with a SUBACK.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.8.4-2",
        section: "3.8.4",
        summary: "The SUBACK must carry the Packet Identifier of the SUBSCRIBE it acknowledges.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.8.4-3",
        section: "3.8.4",
        summary: "A Topic Filter identical to an existing subscription's must replace it; matching retained messages must be re-sent without interrupting the flow of publications.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.8.4-4",
        section: "3.8.4",
        summary: "A SUBSCRIBE with several Topic Filters must be handled like a series of SUBSCRIBEs whose answers are merged into one SUBACK.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.8.4-5",
        section: "3.8.4",
        summary: "The SUBACK must hold one return code per Topic Filter/QoS pair, giving the granted maximum QoS or failure.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.8.4-6",
        section: "3.8.4",
        summary: "Messages delivered for a subscription must use the lower of the published QoS and the granted maximum QoS.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.9.3-1",
        section: "3.9.3",
        summary: "SUBACK return codes must be in the same order as the SUBSCRIBE's Topic Filters.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.9.3-2",
        section: "3.9.3",
        summary: "A SUBACK may only use return codes 0x00, 0x01, 0x02 or 0x80; all others are reserved.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.10.1-1",
        section: "3.10.1",
        summary: "UNSUBSCRIBE fixed-header flags must be 0010; the Server must treat any other value as malformed and close the connection.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-3.10.3-1",
        section: "3.10.3",
        summary: "Every UNSUBSCRIBE Topic Filter must use UTF-8 string encoding.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-3.10.3-2",
        section: "3.10.3",
        summary: "The UNSUBSCRIBE payload must hold at least one Topic Filter; an empty payload is a protocol violation.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-3.10.4-1",
        section: "3.10.4",
        summary: "UNSUBSCRIBE filters must be compared character by character with the Client's filters, and an exact match deletes that subscription.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.10.4-2",
        section: "3.10.4",
        summary: "Once a subscription is deleted the Server must stop queueing new messages for it to the Client.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.10.4-3",
        section: "3.10.4",
        summary: "Once a subscription is deleted the Server must still finish delivering QoS 1/2 messages it had started sending.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.10.4-4",
        section: "3.10.4",
        summary: "The Server must answer UNSUBSCRIBE with an UNSUBACK carrying the same Packet Identifier.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.10.4-5",
        section: "3.10.4",
        summary: "The Server must send UNSUBACK even when no subscription was deleted.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.10.4-6",
        section: "3.10.4",
        summary: "An UNSUBSCRIBE with several filters must be handled like a series of UNSUBSCRIBEs answered by a single UNSUBACK.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.12.4-1",
        section: "3.12.4",
        summary: "Every PINGREQ must be answered by the Server with a PINGRESP.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.14.1-1",
        section: "3.14.1",
        summary: "The Server must check that DISCONNECT's reserved fixed-header bits are 0 and disconnect the Client if not.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.14.4-1",
        section: "3.14.4",
        summary: "After sending DISCONNECT the Client must close the Network Connection.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-3.14.4-2",
        section: "3.14.4",
        summary: "After sending DISCONNECT the Client must send no further packets on that connection.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-3.14.4-3",
        section: "3.14.4",
        summary: "On receiving DISCONNECT the Server must discard the connection's Will Message without publishing it.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-4.1.0-1",
        section: "4.1",
        summary: "Client and Server must keep Session state for the whole life of the Session.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-4.1.0-2",
        section: "4.1",
        summary: "A Session must last at least as long as its Network Connection is active.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-4.3.1-1",
        section: "4.3.1",
        summary: "A QoS 0 sender must send PUBLISH with QoS 0 and DUP 0.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-4.3.2-1",
        section: "4.3.2",
        summary: "A QoS 1 sender must use a fresh unused Packet Identifier, send with QoS 1 and DUP 0, and treat the PUBLISH as unacknowledged until PUBACK.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-4.3.2-2",
        section: "4.3.2",
        summary: "A QoS 1 receiver must take ownership and answer PUBACK with the Packet Identifier, then treat a later PUBLISH with that identifier as new whatever its DUP flag.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-4.3.3-1",
        section: "4.3.3",
        summary: "A QoS 2 sender must use a fresh unused Packet Identifier, send with QoS 2 and DUP 0, await PUBREC, answer it with PUBREL, await PUBCOMP, and never re-send the PUBLISH after PUBREL.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-4.3.3-2",
        section: "4.3.3",
        summary: "A QoS 2 receiver must answer PUBREC, re-acknowledge repeats without duplicate onward delivery until PUBREL, answer PUBREL with PUBCOMP, then treat the identifier as new.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-4.4.0-1",
        section: "4.4",
        summary: "On reconnecting with CleanSession 0, Client and Server must re-send unacknowledged QoS>0 PUBLISH and PUBREL packets with their original Packet Identifiers.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-4.5.0-1",
        section: "4.5",
        summary: "When the Server takes ownership of an incoming message it must add it to the Session state of every Client with a matching subscription.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-4.5.0-2",
        section: "4.5",
        summary: "The Client must acknowledge every PUBLISH it receives per its QoS, whether or not it processes the message.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-4.6.0-1",
        section: "4.6",
        summary: "A Client re-sending PUBLISH packets (QoS 1 and 2) must re-send them in their original order.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-4.6.0-2",
        section: "4.6",
        summary: "PUBACKs from a Client must follow the arrival order of the QoS 1 PUBLISHes they answer.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-4.6.0-3",
        section: "4.6",
        summary: "PUBRECs from a Client must follow the arrival order of the QoS 2 PUBLISHes they answer.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-4.6.0-4",
        section: "4.6",
        summary: "PUBRELs from a Client must follow the arrival order of the PUBRECs they answer.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-4.6.0-5",
        section: "4.6",
        summary: "By default the Server must treat every topic as an Ordered Topic.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-4.6.0-6",
        section: "4.6",
        summary: "For an Ordered Topic the Server must forward messages to subscribers (same topic and QoS) in the order received from each Client.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-4.7.1-1",
        section: "4.7.1",
        summary: "Wildcards are allowed only in Topic Filters, never in a Topic Name.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-4.7.1-2",
        section: "4.7.1.2",
        summary: "The multi-level wildcard '#' must stand alone or follow a '/', and must be the last character of the Topic Filter.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-4.7.1-3",
        section: "4.7.1.3",
        summary: "The single-level wildcard '+' must occupy a whole level of the Topic Filter.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-4.7.2-1",
        section: "4.7.2",
        summary: "The Server must not match Topic Filters starting with '#' or '+' against Topic Names starting with '$'.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-4.7.3-1",
        section: "4.7.3",
        summary: "Empty Topic Names and Topic Filters are not allowed (minimum length is one character).",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-4.7.3-2",
        section: "4.7.3",
        summary: "Topic Names and Topic Filters may not contain U+0000.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-4.7.3-3",
        section: "4.7.3",
        summary: "An encoded Topic Name or Topic Filter is limited to 65,535 bytes.",
        binds: Party::OffWire(TOPIC_LENGTH_PREFIX),
    },
    Statement {
        id: "MQTT-4.7.3-4",
        section: "4.7.3",
        summary: "When matching subscriptions the Server must not normalize topics or alter or substitute unrecognized characters.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-4.8.0-1",
        section: "4.8",
        summary: "Unless stated otherwise, a Client or Server meeting a protocol violation must close the connection on which the offending packet arrived.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-4.8.0-2",
        section: "4.8",
        summary: "A Client or Server hitting a transient error while processing an inbound packet must close the connection it arrived on.",
        binds: Party::OffWire(TRANSIENT_ERROR),
    },
    Statement {
        id: "MQTT-6.0.0-1",
        section: "6",
        summary: "Over WebSocket, MQTT packets must travel in binary data frames; on any other data frame the recipient must close the connection.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-6.0.0-2",
        section: "6",
        summary: "A WebSocket receiver must not assume MQTT packets are aligned with WebSocket frame boundaries.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-6.0.0-3",
        section: "6",
        summary: "The client must offer \"mqtt\" among its WebSocket subprotocols.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-6.0.0-4",
        section: "6",
        summary: "The server must select and return \"mqtt\" as the WebSocket subprotocol.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-7.0.0-1",
        section: "7",
        summary: "A Server that also makes outbound connections to other Servers must conform as both Client and Server.",
        binds: Party::OffWire(BRIDGE_AS_A_WHOLE),
    },
    Statement {
        id: "MQTT-7.0.0-2",
        section: "7",
        summary: "Conformant implementations must not depend on extensions outside this specification to interoperate.",
        binds: Party::OffWire(NO_EXTENSIONS_NEEDED),
    },
    Statement {
        id: "MQTT-7.1.1-1",
        section: "7.1.1",
        summary: "A conformant Server must support at least one transport giving an ordered, lossless byte stream in both directions.",
        binds: Party::OffWire(SUPPORTS_A_TRANSPORT),
    },
    Statement {
        id: "MQTT-7.1.2-1",
        section: "7.1.2",
        summary: "A conformant Client must support at least one transport giving an ordered, lossless byte stream in both directions.",
        binds: Party::OffWire(SUPPORTS_A_TRANSPORT),
    },
];

/// Every normative statement of MQTT 5.0, in specification order.
///
/// Identifiers and sections are taken from the body text of the specification, in
/// the order they appear there. There are 251 entries.
pub static MQTT_5_0: &[Statement] = &[
    Statement {
        id: "MQTT-1.5.4-1",
        section: "1.5.4",
        summary: "UTF-8 string data must be well-formed UTF-8 and must not encode surrogate code points U+D800..U+DFFF.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-1.5.4-2",
        section: "1.5.4",
        summary: "A UTF-8 string must not contain an encoded null character U+0000.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-1.5.4-3",
        section: "1.5.4",
        summary: "The byte sequence EF BB BF is always U+FEFF (zero width no-break space); a receiver must not skip or strip it.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-1.5.5-1",
        section: "1.5.5",
        summary: "A Variable Byte Integer must be encoded in the fewest bytes that can represent its value.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-1.5.7-1",
        section: "1.5.7",
        summary: "Both the name and the value of a UTF-8 String Pair must satisfy the UTF-8 Encoded String rules.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-2.1.3-1",
        section: "2.1.3",
        summary: "Fixed-header flag bits marked Reserved must carry exactly the values the flag table lists.",
        binds: Party::Both,
    },
    // There is no MQTT-2.2.1-1 in MQTT 5.0; numbering in 2.2.1 starts at 2.
    Statement {
        id: "MQTT-2.2.1-2",
        section: "2.2.1",
        summary: "A QoS 0 PUBLISH must not carry a Packet Identifier.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-2.2.1-3",
        section: "2.2.1",
        summary: "A Client must give each new SUBSCRIBE, UNSUBSCRIBE or QoS>0 PUBLISH a non-zero Packet Identifier not currently in use.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-2.2.1-4",
        section: "2.2.1",
        summary: "A Server must give each new QoS>0 PUBLISH it sends a non-zero Packet Identifier not currently in use.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-2.2.1-5",
        section: "2.2.1",
        summary: "PUBACK, PUBREC, PUBREL and PUBCOMP must carry the Packet Identifier of the PUBLISH they answer.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-2.2.1-6",
        section: "2.2.1",
        summary: "SUBACK and UNSUBACK must carry the Packet Identifier of the SUBSCRIBE or UNSUBSCRIBE they answer.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-2.2.2-1",
        section: "2.2.2.1",
        summary: "When a packet has no properties it must still include a Property Length of zero.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-3.1.0-1",
        section: "3.1",
        summary: "The first packet a Client sends on a new Network Connection must be CONNECT.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-3.1.0-2",
        section: "3.1",
        summary: "The Server must treat a second CONNECT on the same connection as a Protocol Error and close the connection.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.1.2-1",
        section: "3.1.2.1",
        summary: "The protocol name must be the UTF-8 string \"MQTT\"; a Server rejecting the CONNECT may answer CONNACK 0x84 and must then close the connection.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.1.2-2",
        section: "3.1.2.2",
        summary: "If the protocol version is not 5 and the Server rejects the CONNECT, it may send CONNACK 0x84 and must then close the connection.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.1.2-3",
        section: "3.1.2.3",
        summary: "The Server must check that the reserved bit of the CONNECT flags is 0 (otherwise a Malformed Packet).",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.1.2-4",
        section: "3.1.2.4",
        summary: "On a CONNECT with Clean Start 1, Client and Server must drop any existing Session and begin a new one.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-3.1.2-5",
        section: "3.1.2.4",
        summary: "On a CONNECT with Clean Start 0 and an existing Session for the ClientID, the Server must resume that Session.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.1.2-6",
        section: "3.1.2.4",
        summary: "On a CONNECT with Clean Start 0 and no Session for the ClientID, the Server must create a new Session.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.1.2-7",
        section: "3.1.2.5",
        summary: "With Will Flag 1 the Server must store the Will Message and associate it with the Session.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.1.2-8",
        section: "3.1.2.5",
        summary: "After the connection closes, the Will Message must be published once the Will Delay Interval elapses or the Session ends, unless a normal DISCONNECT or a timely reconnection removed it.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.1.2-9",
        section: "3.1.2.5",
        summary: "With Will Flag 1, the Will Properties, Will Topic and Will Payload must be present in the CONNECT payload.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-3.1.2-10",
        section: "3.1.2.5",
        summary: "The Server must drop the stored Will Message once it has been published or a DISCONNECT with reason 0x00 has been received.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.1.2-11",
        section: "3.1.2.6",
        summary: "With Will Flag 0 the Will QoS bits must be 0.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-3.1.2-12",
        section: "3.1.2.6",
        summary: "With Will Flag 1 the Will QoS may be 0, 1 or 2 (3 is a Malformed Packet).",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-3.1.2-13",
        section: "3.1.2.7",
        summary: "With Will Flag 0 the Will Retain bit must be 0.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-3.1.2-14",
        section: "3.1.2.7",
        summary: "With Will Flag 1 and Will Retain 0 the Server must publish the Will Message as non-retained.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.1.2-15",
        section: "3.1.2.7",
        summary: "With Will Flag 1 and Will Retain 1 the Server must publish the Will Message as retained.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.1.2-16",
        section: "3.1.2.8",
        summary: "With User Name Flag 0 no User Name may appear in the payload.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-3.1.2-17",
        section: "3.1.2.8",
        summary: "With User Name Flag 1 a User Name must appear in the payload.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-3.1.2-18",
        section: "3.1.2.9",
        summary: "With Password Flag 0 no Password may appear in the payload.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-3.1.2-19",
        section: "3.1.2.9",
        summary: "With Password Flag 1 a Password must appear in the payload.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-3.1.2-20",
        section: "3.1.2.10",
        summary: "With a non-zero Keep Alive, a Client that has nothing else to send must send PINGREQ.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-3.1.2-21",
        section: "3.1.2.10",
        summary: "If CONNACK carries Server Keep Alive, the Client must use it in place of the Keep Alive it sent.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-3.1.2-22",
        section: "3.1.2.10",
        summary: "With a non-zero Keep Alive, a Server that hears nothing from the Client for one and a half Keep Alive periods must close the connection as if the network failed.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.1.2-23",
        section: "3.1.2.11.2",
        summary: "Client and Server must keep the Session State after the connection closes when the Session Expiry Interval is above 0.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-3.1.2-24",
        section: "3.1.2.11.4",
        summary: "The Server must not send the Client any packet larger than the Client's Maximum Packet Size.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.1.2-25",
        section: "3.1.2.11.4",
        summary: "A packet too large to send must be discarded unsent by the Server, which then behaves as if delivery of that message completed.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.1.2-26",
        section: "3.1.2.11.5",
        summary: "The Server must not send a Topic Alias greater than the Client's Topic Alias Maximum.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.1.2-27",
        section: "3.1.2.11.5",
        summary: "If the Client's Topic Alias Maximum is absent or 0, the Server must send no Topic Aliases.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.1.2-28",
        section: "3.1.2.11.6",
        summary: "Request Response Information 0 means the Server must not return Response Information.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.1.2-29",
        section: "3.1.2.11.7",
        summary: "With Request Problem Information 0, the Server must not send Reason String or User Properties on any packet other than PUBLISH, CONNACK or DISCONNECT.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.1.2-30",
        section: "3.1.2.11.9",
        summary: "A Client that set an Authentication Method must send only AUTH or DISCONNECT until it has received CONNACK.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-3.1.3-1",
        section: "3.1.3",
        summary: "CONNECT payload fields that are present must appear in the order ClientID, Will Properties, Will Topic, Will Payload, User Name, Password.",
        binds: Party::OffWire(UNTAGGED_CONNECT_FIELDS),
    },
    Statement {
        id: "MQTT-3.1.3-2",
        section: "3.1.3.1",
        summary: "Clients and Servers must use the ClientID to identify the Session state they hold for each other.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-3.1.3-3",
        section: "3.1.3.1",
        summary: "The ClientID must be present as the first field of the CONNECT payload.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-3.1.3-4",
        section: "3.1.3.1",
        summary: "The ClientID field must use UTF-8 string encoding.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-3.1.3-5",
        section: "3.1.3.1",
        summary: "The Server must accept ClientIDs of 1 to 23 bytes made only of ASCII digits and letters.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.1.3-6",
        section: "3.1.3.1",
        summary: "A Server accepting a zero-length ClientID must treat it specially and assign the Client a unique ClientID.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.1.3-7",
        section: "3.1.3.1",
        summary: "The Server must then handle the CONNECT as if that unique ClientID had been supplied and return it as Assigned Client Identifier in CONNACK.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.1.3-8",
        section: "3.1.3.1",
        summary: "A Server rejecting the ClientID may answer CONNACK 0x85 (Client Identifier not valid) and must then close the connection.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.1.3-9",
        section: "3.1.3.2.2",
        summary: "If the Session is reconnected before the Will Delay Interval passes, the Server must not send the Will Message.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.1.3-10",
        section: "3.1.3.2.8",
        summary: "The Server must keep the order of the Will's User Properties when publishing the Will Message.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.1.3-11",
        section: "3.1.3.3",
        summary: "The Will Topic field must use UTF-8 string encoding.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-3.1.3-12",
        section: "3.1.3.5",
        summary: "The User Name field must use UTF-8 string encoding.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-3.1.4-1",
        section: "3.1.4",
        summary: "The Server must check that CONNECT is well-formed per section 3.1 and close the connection if it is not.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.1.4-2",
        section: "3.1.4",
        summary: "If further checks on the CONNECT (such as authentication or authorization) fail, the Server must close the connection.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.1.4-3",
        section: "3.1.4",
        summary: "If the ClientID is already connected, the Server sends the existing Client DISCONNECT 0x8E (Session taken over) and must close its connection.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.1.4-4",
        section: "3.1.4",
        summary: "The Server must carry out the Clean Start handling of section 3.1.2.4.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.1.4-5",
        section: "3.1.4",
        summary: "The Server must acknowledge an accepted CONNECT with a CONNACK whose Reason Code is 0x00 (Success).",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.1.4-6",
        section: "3.1.4",
        summary: "After rejecting a CONNECT the Server must not process anything the Client sent after it except AUTH packets.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.2.0-1",
        section: "3.2",
        summary: "The Server must send a successful CONNACK before sending any packet other than AUTH.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.2.0-2",
        section: "3.2",
        summary: "The Server must not send more than one CONNACK on a Network Connection.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.2.2-1",
        section: "3.2.2.1",
        summary: "Bits 7-1 of the CONNACK Connect Acknowledge Flags are reserved and must be 0.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.2.2-2",
        section: "3.2.2.1.1",
        summary: "When accepting a Clean Start 1 connection, the Server must set Session Present to 0 along with Reason Code 0x00.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.2.2-3",
        section: "3.2.2.1.1",
        summary: "When accepting a Clean Start 0 connection, Session Present must be 1 if the Server holds Session State for the ClientID and 0 otherwise, with Reason Code 0x00.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.2.2-4",
        section: "3.2.2.1.1",
        summary: "A Client with no Session State that receives Session Present 1 must close the connection.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-3.2.2-5",
        section: "3.2.2.1.1",
        summary: "A Client with Session State that receives Session Present 0 must discard its Session State if it keeps the connection.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-3.2.2-6",
        section: "3.2.2.1.1",
        summary: "A CONNACK with a non-zero Reason Code must have Session Present 0.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.2.2-7",
        section: "3.2.2.2",
        summary: "After sending a CONNACK with a Reason Code of 128 (0x80) or above, the Server must close the connection.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.2.2-8",
        section: "3.2.2.2",
        summary: "The Server must use only the defined Connect Reason Code values in CONNACK.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.2.2-9",
        section: "3.2.2.3.4",
        summary: "A Server lacking QoS 1 or QoS 2 support must send Maximum QoS in CONNACK giving the highest QoS it supports.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.2.2-10",
        section: "3.2.2.3.4",
        summary: "A Server lacking QoS 1 or 2 support must still accept SUBSCRIBE requesting QoS 0, 1 or 2.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.2.2-11",
        section: "3.2.2.3.4",
        summary: "A Client that received Maximum QoS must not send PUBLISH above that QoS.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-3.2.2-12",
        section: "3.2.2.3.4",
        summary: "A Server that cannot support the requested Will QoS must reject the connection (ideally CONNACK 0x9B) and close it.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.2.2-13",
        section: "3.2.2.3.5",
        summary: "A Server without retained-message support must reject a CONNECT whose Will Retain is 1 (ideally CONNACK 0x9A) and close the connection.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.2.2-14",
        section: "3.2.2.3.5",
        summary: "A Client told Retain Available 0 must not send PUBLISH with RETAIN 1.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-3.2.2-15",
        section: "3.2.2.3.6",
        summary: "The Client must not send the Server any packet larger than the Server's Maximum Packet Size.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-3.2.2-16",
        section: "3.2.2.3.7",
        summary: "For a zero-length ClientID the Server must return an Assigned Client Identifier not used by any other current Session.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.2.2-17",
        section: "3.2.2.3.8",
        summary: "The Client must not send a Topic Alias greater than the Server's Topic Alias Maximum.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-3.2.2-18",
        section: "3.2.2.3.8",
        summary: "If the Server's Topic Alias Maximum is absent or 0, the Client must send no Topic Aliases.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-3.2.2-19",
        section: "3.2.2.3.9",
        summary: "The Server must not add a Reason String to CONNACK if that would exceed the Client's Maximum Packet Size.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.2.2-20",
        section: "3.2.2.3.10",
        summary: "The Server must not add User Properties to CONNACK if that would exceed the Client's Maximum Packet Size.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.2.2-21",
        section: "3.2.2.3.14",
        summary: "If CONNACK carries Server Keep Alive, the Client must use it instead of the Keep Alive it sent.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-3.2.2-22",
        section: "3.2.2.3.14",
        summary: "If the Server sends no Server Keep Alive, it must use the Keep Alive the Client sent in CONNECT.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.3.1-1",
        section: "3.3.1.1",
        summary: "The sender must set DUP to 1 when re-delivering a PUBLISH.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-3.3.1-2",
        section: "3.3.1.1",
        summary: "Any QoS 0 PUBLISH must have DUP cleared.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-3.3.1-3",
        section: "3.3.1.1",
        summary: "DUP on an outgoing PUBLISH depends only on whether that packet is a retransmission, not on the incoming DUP.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-3.3.1-4",
        section: "3.3.1.2",
        summary: "A PUBLISH must not have both QoS bits set (QoS 3 is a Malformed Packet).",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-3.3.1-5",
        section: "3.3.1.3",
        summary: "On a client PUBLISH with RETAIN 1 the Server must replace any retained message for the topic with this message.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.3.1-6",
        section: "3.3.1.3",
        summary: "A RETAIN 1 PUBLISH with empty payload is delivered normally but must remove the topic's retained message.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.3.1-7",
        section: "3.3.1.3",
        summary: "The Server must not store a zero-byte payload as a retained message.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.3.1-8",
        section: "3.3.1.3",
        summary: "On a client PUBLISH with RETAIN 0 the Server must neither store it as retained nor remove or replace an existing retained message.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.3.1-9",
        section: "3.3.1.3",
        summary: "With Retain Handling 0 the Server must send matching retained messages when the subscription is made.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.3.1-10",
        section: "3.3.1.3",
        summary: "With Retain Handling 1 the Server must send matching retained messages only if the subscription did not already exist.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.3.1-11",
        section: "3.3.1.3",
        summary: "With Retain Handling 2 the Server must not send retained messages on subscribe.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.3.1-12",
        section: "3.3.1.3",
        summary: "With Retain As Published 0 the Server must clear RETAIN when forwarding a message.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.3.1-13",
        section: "3.3.1.3",
        summary: "With Retain As Published 1 the Server must forward RETAIN as it was in the received PUBLISH.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.3.2-1",
        section: "3.3.2.1",
        summary: "The Topic Name must be the first field of the PUBLISH variable header and be a UTF-8 Encoded String.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-3.3.2-2",
        section: "3.3.2.1",
        summary: "A PUBLISH Topic Name may not contain the wildcards '#' or '+'.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-3.3.2-3",
        section: "3.3.2.1",
        summary: "A Topic Name the Server sends to a subscriber must match that subscription's Topic Filter.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.3.2-4",
        section: "3.3.2.3.2",
        summary: "The Server must pass the Payload Format Indicator unchanged to every receiving subscriber.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.3.2-5",
        section: "3.3.2.3.3",
        summary: "Once the Message Expiry Interval has passed without onward delivery starting, the Server must delete that subscriber's copy.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.3.2-6",
        section: "3.3.2.3.3",
        summary: "A forwarded PUBLISH must carry the Message Expiry Interval reduced by the time the message waited in the Server.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.3.2-7",
        section: "3.3.2.3.4",
        summary: "A receiver must not carry Topic Alias mappings over from one Network Connection to another.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-3.3.2-8",
        section: "3.3.2.3.4",
        summary: "A sender must not send a PUBLISH with Topic Alias 0.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-3.3.2-9",
        section: "3.3.2.3.4",
        summary: "A Client must not send a Topic Alias above the Topic Alias Maximum from the Server's CONNACK.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-3.3.2-10",
        section: "3.3.2.3.4",
        summary: "A Client must accept every Topic Alias from 1 up to the Topic Alias Maximum it sent in CONNECT.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-3.3.2-11",
        section: "3.3.2.3.4",
        summary: "A Server must not send a Topic Alias above the Topic Alias Maximum from the Client's CONNECT.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.3.2-12",
        section: "3.3.2.3.4",
        summary: "A Server must accept every Topic Alias from 1 up to the Topic Alias Maximum it returned in CONNACK.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.3.2-13",
        section: "3.3.2.3.5",
        summary: "The Response Topic property must use UTF-8 string encoding.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-3.3.2-14",
        section: "3.3.2.3.5",
        summary: "A Response Topic may not contain the wildcards '#' or '+'.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-3.3.2-15",
        section: "3.3.2.3.5",
        summary: "The Server must pass the Response Topic unchanged to every receiving subscriber.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.3.2-16",
        section: "3.3.2.3.6",
        summary: "The Server must pass the Correlation Data unchanged to every receiving subscriber.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.3.2-17",
        section: "3.3.2.3.7",
        summary: "The Server must forward all User Properties of a PUBLISH unchanged.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.3.2-18",
        section: "3.3.2.3.7",
        summary: "The Server must keep the order of User Properties when forwarding a message.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.3.2-19",
        section: "3.3.2.3.9",
        summary: "The Content Type property must use UTF-8 string encoding.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-3.3.2-20",
        section: "3.3.2.3.9",
        summary: "The Server must pass the Content Type unchanged to every receiving subscriber.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.3.4-1",
        section: "3.3.4",
        summary: "The receiver of a PUBLISH must answer with the packet its QoS calls for (none, PUBACK or PUBREC).",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-3.3.4-2",
        section: "3.3.4",
        summary: "When several of a Client's subscriptions overlap, the Server must deliver the message honouring the highest QoS among the matches.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.3.4-3",
        section: "3.3.4",
        summary: "When overlapping subscriptions carry Subscription Identifiers, the Server must include those identifiers in the resulting publication.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.3.4-4",
        section: "3.3.4",
        summary: "If the Server sends one copy for overlapping subscriptions, it must include the Subscription Identifiers of all matching subscriptions that have one.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.3.4-5",
        section: "3.3.4",
        summary: "If the Server sends a copy per matching subscription, each copy must carry that subscription's Subscription Identifier if it has one.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.3.4-6",
        section: "3.3.4",
        summary: "A PUBLISH from Client to Server must not contain a Subscription Identifier.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-3.3.4-7",
        section: "3.3.4",
        summary: "The Client must not have more unacknowledged QoS 1/2 PUBLISH packets outstanding than the Server's Receive Maximum.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-3.3.4-8",
        section: "3.3.4",
        summary: "The Client must not hold back non-PUBLISH packets because its Receive Maximum quota is used up.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-3.3.4-9",
        section: "3.3.4",
        summary: "The Server must not have more unacknowledged QoS 1/2 PUBLISH packets outstanding than the Client's Receive Maximum.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.3.4-10",
        section: "3.3.4",
        summary: "The Server must not hold back non-PUBLISH packets because its Receive Maximum quota is used up.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.4.2-1",
        section: "3.4.2.1",
        summary: "The sender of PUBACK must use one of the defined PUBACK Reason Codes.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-3.4.2-2",
        section: "3.4.2.2.2",
        summary: "A Reason String must not be added to PUBACK if it would exceed the receiver's Maximum Packet Size.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-3.4.2-3",
        section: "3.4.2.2.3",
        summary: "User Properties must not be added to PUBACK if they would exceed the receiver's Maximum Packet Size.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-3.5.2-1",
        section: "3.5.2.1",
        summary: "The sender of PUBREC must use one of the defined PUBREC Reason Codes.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-3.5.2-2",
        section: "3.5.2.2.2",
        summary: "A Reason String must not be added to PUBREC if it would exceed the receiver's Maximum Packet Size.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-3.5.2-3",
        section: "3.5.2.2.3",
        summary: "User Properties must not be added to PUBREC if they would exceed the receiver's Maximum Packet Size.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-3.6.1-1",
        section: "3.6.1",
        summary: "PUBREL fixed-header flags must be 0010; the Server must treat any other value as malformed and close the connection.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-3.6.2-1",
        section: "3.6.2.1",
        summary: "The sender of PUBREL must use one of the defined PUBREL Reason Codes.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-3.6.2-2",
        section: "3.6.2.2.2",
        summary: "A Reason String must not be added to PUBREL if it would exceed the receiver's Maximum Packet Size.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-3.6.2-3",
        section: "3.6.2.2.3",
        summary: "User Properties must not be added to PUBREL if they would exceed the receiver's Maximum Packet Size.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-3.7.2-1",
        section: "3.7.2.1",
        summary: "The sender of PUBCOMP must use one of the defined PUBCOMP Reason Codes.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-3.7.2-2",
        section: "3.7.2.2.2",
        summary: "A Reason String must not be added to PUBCOMP if it would exceed the receiver's Maximum Packet Size.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-3.7.2-3",
        section: "3.7.2.2.3",
        summary: "User Properties must not be added to PUBCOMP if they would exceed the receiver's Maximum Packet Size.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-3.8.1-1",
        section: "3.8.1",
        summary: "SUBSCRIBE fixed-header flags must be 0010; the Server must treat any other value as malformed and close the connection.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-3.8.3-1",
        section: "3.8.3",
        summary: "Every SUBSCRIBE Topic Filter must use UTF-8 string encoding.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-3.8.3-2",
        section: "3.8.3",
        summary: "The SUBSCRIBE payload must hold at least one Topic Filter and Subscription Options pair.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-3.8.3-3",
        section: "3.8.3.1",
        summary: "With No Local set, messages must not be forwarded to a connection whose ClientID equals the publisher's.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.8.3-4",
        section: "3.8.3.1",
        summary: "Setting No Local on a Shared Subscription is a Protocol Error.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-3.8.3-5",
        section: "3.8.3.1",
        summary: "The Server must treat a SUBSCRIBE as malformed if any reserved bit of its payload (Subscription Options bits 6-7) is non-zero.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.8.4-1",
        section: "3.8.4",
        summary: "The Server must answer every SUBSCRIBE with a SUBACK.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.8.4-2",
        section: "3.8.4",
        summary: "The SUBACK must carry the Packet Identifier of the SUBSCRIBE it acknowledges.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.8.4-3",
        section: "3.8.4",
        summary: "A SUBSCRIBE with a Topic Filter identical to an existing non-shared subscription of the Session must replace that subscription.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.8.4-4",
        section: "3.8.4",
        summary: "On such a replacement with Retain Handling 0, matching retained messages must be re-sent and no Application Messages may be lost.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.8.4-5",
        section: "3.8.4",
        summary: "A SUBSCRIBE with several Topic Filters must be handled like a series of SUBSCRIBEs whose answers are merged into one SUBACK.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.8.4-6",
        section: "3.8.4",
        summary: "The SUBACK must contain one Reason Code per Topic Filter/Subscription Options pair.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.8.4-7",
        section: "3.8.4",
        summary: "Each SUBACK Reason Code must give the granted maximum QoS or indicate failure.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.8.4-8",
        section: "3.8.4",
        summary: "Messages delivered for a subscription must use the lower of the published QoS and the granted maximum QoS.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.9.2-1",
        section: "3.9.2.1.2",
        summary: "The Server must not add a Reason String to SUBACK if it would exceed the Client's Maximum Packet Size.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.9.2-2",
        section: "3.9.2.1.3",
        summary: "The Server must not add User Properties to SUBACK if they would exceed the Client's Maximum Packet Size.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.9.3-1",
        section: "3.9.3",
        summary: "SUBACK Reason Codes must be in the same order as the SUBSCRIBE's Topic Filters.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.9.3-2",
        section: "3.9.3",
        summary: "The Server must use one of the defined Subscribe Reason Codes for each Topic Filter.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.10.1-1",
        section: "3.10.1",
        summary: "UNSUBSCRIBE fixed-header flags must be 0010; the Server must treat any other value as malformed and close the connection.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-3.10.3-1",
        section: "3.10.3",
        summary: "Every UNSUBSCRIBE Topic Filter must use UTF-8 string encoding.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-3.10.3-2",
        section: "3.10.3",
        summary: "The UNSUBSCRIBE payload must hold at least one Topic Filter.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-3.10.4-1",
        section: "3.10.4",
        summary: "UNSUBSCRIBE filters are compared character by character with the Client's filters, and any exact match must have its subscription deleted.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.10.4-2",
        section: "3.10.4",
        summary: "On UNSUBSCRIBE the Server must stop queueing new messages matching the filters for that Client.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.10.4-3",
        section: "3.10.4",
        summary: "On UNSUBSCRIBE the Server must finish delivering matching QoS 1/2 messages it has already started sending.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.10.4-4",
        section: "3.10.4",
        summary: "The Server must answer every UNSUBSCRIBE with an UNSUBACK.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.10.4-5",
        section: "3.10.4",
        summary: "The UNSUBACK must carry the UNSUBSCRIBE's Packet Identifier and must be sent even when nothing was deleted.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.10.4-6",
        section: "3.10.4",
        summary: "An UNSUBSCRIBE with several filters must be handled like a series of UNSUBSCRIBEs answered by a single UNSUBACK.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.11.2-1",
        section: "3.11.2.1.2",
        summary: "The Server must not add a Reason String to UNSUBACK if it would exceed the Client's Maximum Packet Size.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.11.2-2",
        section: "3.11.2.1.3",
        summary: "The Server must not add User Properties to UNSUBACK if they would exceed the Client's Maximum Packet Size.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.11.3-1",
        section: "3.11.3",
        summary: "UNSUBACK Reason Codes must be in the same order as the UNSUBSCRIBE's Topic Filters.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.11.3-2",
        section: "3.11.3",
        summary: "The Server must use one of the defined Unsubscribe Reason Codes for each Topic Filter.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.12.4-1",
        section: "3.12.4",
        summary: "Every PINGREQ must be answered by the Server with a PINGRESP.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.14.0-1",
        section: "3.14",
        summary: "The Server must not send DISCONNECT before it has sent a CONNACK with a Reason Code below 0x80.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.14.1-1",
        section: "3.14.1",
        summary: "Client and Server must check that DISCONNECT's reserved fixed-header bits are 0, otherwise sending DISCONNECT 0x81 (Malformed Packet).",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-3.14.2-1",
        section: "3.14.2.1",
        summary: "The sender of DISCONNECT must use one of the defined Disconnect Reason Codes.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-3.14.2-2",
        section: "3.14.2.2.2",
        summary: "The Server must not include Session Expiry Interval in a DISCONNECT it sends.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.14.2-3",
        section: "3.14.2.2.3",
        summary: "A Reason String must not be added to DISCONNECT if it would exceed the receiver's Maximum Packet Size.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-3.14.2-4",
        section: "3.14.2.2.4",
        summary: "User Properties must not be added to DISCONNECT if they would exceed the receiver's Maximum Packet Size.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-3.14.4-1",
        section: "3.14.4",
        summary: "After sending DISCONNECT the sender must send no further packets on that connection.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-3.14.4-2",
        section: "3.14.4",
        summary: "After sending DISCONNECT the sender must close the Network Connection.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-3.14.4-3",
        section: "3.14.4",
        summary: "On DISCONNECT with Reason Code 0x00 the Server must discard the connection's Will Message without publishing it.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-3.15.1-1",
        section: "3.15.1",
        summary: "AUTH fixed-header flag bits must all be 0; any other value must be treated as malformed and the connection closed.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-3.15.2-1",
        section: "3.15.2.1",
        summary: "The sender of AUTH must use one of the defined Authenticate Reason Codes.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-3.15.2-2",
        section: "3.15.2.2.4",
        summary: "A Reason String must not be added to AUTH if it would exceed the receiver's Maximum Packet Size.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-3.15.2-3",
        section: "3.15.2.2.5",
        summary: "User Properties must not be added to AUTH if they would exceed the receiver's Maximum Packet Size.",
        binds: Party::Both,
    },
    // Numbered 4.1.0 but printed under section 4.1.1 (Storing Session State).
    Statement {
        id: "MQTT-4.1.0-1",
        section: "4.1.1",
        summary: "Client and Server must not discard the Session State while the Network Connection is open.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-4.1.0-2",
        section: "4.1.1",
        summary: "The Server must discard the Session State once the connection is closed and the Session Expiry Interval has elapsed.",
        binds: Party::Server,
    },
    // This ID has only two section components, as printed.
    Statement {
        id: "MQTT-4.2-1",
        section: "4.2",
        summary: "Client and Server must support at least one transport giving an ordered, lossless byte stream in both directions.",
        binds: Party::OffWire(SUPPORTS_A_TRANSPORT),
    },
    Statement {
        id: "MQTT-4.3.1-1",
        section: "4.3.1",
        summary: "A QoS 0 sender must send PUBLISH with QoS 0 and DUP 0.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-4.3.2-1",
        section: "4.3.2",
        summary: "A QoS 1 sender must assign an unused Packet Identifier to each new Application Message.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-4.3.2-2",
        section: "4.3.2",
        summary: "A QoS 1 sender must send the PUBLISH with that Packet Identifier, QoS 1 and DUP 0.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-4.3.2-3",
        section: "4.3.2",
        summary: "A QoS 1 sender must treat the PUBLISH as unacknowledged until the matching PUBACK arrives.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-4.3.2-4",
        section: "4.3.2",
        summary: "A QoS 1 receiver must take ownership and answer with a PUBACK carrying the PUBLISH's Packet Identifier.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-4.3.2-5",
        section: "4.3.2",
        summary: "After sending PUBACK, a QoS 1 receiver must treat a later PUBLISH with the same Packet Identifier as a new message, whatever its DUP flag.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-4.3.3-1",
        section: "4.3.3",
        summary: "A QoS 2 sender must assign an unused Packet Identifier to each new Application Message.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-4.3.3-2",
        section: "4.3.3",
        summary: "A QoS 2 sender must send the PUBLISH with that Packet Identifier, QoS 2 and DUP 0.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-4.3.3-3",
        section: "4.3.3",
        summary: "A QoS 2 sender must treat the PUBLISH as unacknowledged until the matching PUBREC arrives.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-4.3.3-4",
        section: "4.3.3",
        summary: "On a PUBREC with Reason Code below 0x80, a QoS 2 sender must send PUBREL with the original Packet Identifier.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-4.3.3-5",
        section: "4.3.3",
        summary: "A QoS 2 sender must treat the PUBREL as unacknowledged until the matching PUBCOMP arrives.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-4.3.3-6",
        section: "4.3.3",
        summary: "A QoS 2 sender must not re-send the PUBLISH after it has sent the PUBREL.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-4.3.3-7",
        section: "4.3.3",
        summary: "A QoS 2 sender must not apply message expiry once the PUBLISH has been sent.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-4.3.3-8",
        section: "4.3.3",
        summary: "A QoS 2 receiver must take ownership and answer with a PUBREC carrying the PUBLISH's Packet Identifier.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-4.3.3-9",
        section: "4.3.3",
        summary: "After sending a PUBREC with Reason Code 0x80 or above, the receiver must treat a later PUBLISH with that Packet Identifier as a new message.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-4.3.3-10",
        section: "4.3.3",
        summary: "Until PUBREL arrives, the receiver must answer repeat PUBLISHes with that Packet Identifier with PUBREC and must not deliver duplicates onward.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-4.3.3-11",
        section: "4.3.3",
        summary: "A QoS 2 receiver must answer PUBREL with a PUBCOMP carrying the same Packet Identifier.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-4.3.3-12",
        section: "4.3.3",
        summary: "After sending PUBCOMP, the receiver must treat a later PUBLISH with that Packet Identifier as a new message.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-4.3.3-13",
        section: "4.3.3",
        summary: "A QoS 2 receiver must complete the acknowledgement sequence even if it has applied message expiry.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-4.4.0-1",
        section: "4.4",
        summary: "On reconnection with Clean Start 0 and an existing session, both sides must resend unacknowledged QoS>0 PUBLISH and PUBREL with the original Packet Identifiers, and never resend otherwise.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-4.4.0-2",
        section: "4.4",
        summary: "A PUBLISH answered by PUBACK or PUBREC with Reason Code 0x80 or above counts as acknowledged and must not be retransmitted.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-4.5.0-1",
        section: "4.5",
        summary: "When the Server takes ownership of an incoming message it must add it to the Session State of every Client with a matching subscription.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-4.5.0-2",
        section: "4.5",
        summary: "The Client must acknowledge every PUBLISH it receives per its QoS, whether or not it processes the message.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-4.6.0-1",
        section: "4.6",
        summary: "A Client re-sending PUBLISH packets (QoS 1 and 2) must re-send them in their original order.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-4.6.0-2",
        section: "4.6",
        summary: "PUBACKs from a Client must follow the arrival order of the QoS 1 PUBLISHes they answer.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-4.6.0-3",
        section: "4.6",
        summary: "PUBRECs from a Client must follow the arrival order of the QoS 2 PUBLISHes they answer.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-4.6.0-4",
        section: "4.6",
        summary: "PUBRELs from a Client must follow the arrival order of the PUBRECs they answer.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-4.6.0-5",
        section: "4.6",
        summary: "For an Ordered Topic the Server must forward messages to subscribers (same topic and QoS) in the order received from each Client.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-4.6.0-6",
        section: "4.6",
        summary: "By default the Server must treat every topic as an Ordered Topic when forwarding on non-shared subscriptions.",
        binds: Party::Server,
    },
    // Numbered 4.7.0 but printed under section 4.7.1 (Topic wildcards).
    Statement {
        id: "MQTT-4.7.0-1",
        section: "4.7.1",
        summary: "Wildcards are allowed only in Topic Filters, never in a Topic Name.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-4.7.1-1",
        section: "4.7.1.2",
        summary: "The multi-level wildcard '#' must stand alone or follow a '/', and must be the last character of the Topic Filter.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-4.7.1-2",
        section: "4.7.1.3",
        summary: "The single-level wildcard '+' must occupy a whole level of the Topic Filter.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-4.7.2-1",
        section: "4.7.2",
        summary: "The Server must not match Topic Filters starting with '#' or '+' against Topic Names starting with '$'.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-4.7.3-1",
        section: "4.7.3",
        summary: "Empty Topic Names and Topic Filters are not allowed (minimum length is one character).",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-4.7.3-2",
        section: "4.7.3",
        summary: "Topic Names and Topic Filters may not contain U+0000.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-4.7.3-3",
        section: "4.7.3",
        summary: "An encoded Topic Name or Topic Filter is limited to 65,535 bytes.",
        binds: Party::OffWire(TOPIC_LENGTH_PREFIX),
    },
    Statement {
        id: "MQTT-4.7.3-4",
        section: "4.7.3",
        summary: "When matching subscriptions the Server must not normalize topics or alter or substitute unrecognized characters.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-4.8.2-1",
        section: "4.8.2",
        summary: "A Shared Subscription Topic Filter must begin with \"$share/\" followed by a ShareName of at least one character.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-4.8.2-2",
        section: "4.8.2",
        summary: "The ShareName must not contain '/', '+' or '#' and must be followed by '/' and then a Topic Filter.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-4.8.2-3",
        section: "4.8.2",
        summary: "When delivering via a Shared Subscription the Server must respect the QoS granted to the receiving Client's subscription.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-4.8.2-4",
        section: "4.8.2",
        summary: "If the connection breaks mid-way through a shared QoS 2 delivery, the Server must complete it to that same Client on reconnection.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-4.8.2-5",
        section: "4.8.2",
        summary: "If that Client's Session ends before it reconnects, the Server must not send the QoS 2 message to any other subscriber.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-4.8.2-6",
        section: "4.8.2",
        summary: "If a Client answers a shared delivery with PUBACK or PUBREC of 0x80 or above, the Server must discard the message and not offer it to another subscriber.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-4.9.0-1",
        section: "4.9",
        summary: "Client and Server must start with a non-zero send quota no greater than the peer's Receive Maximum.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-4.9.0-2",
        section: "4.9",
        summary: "When the send quota reaches zero, no further QoS>0 PUBLISH may be sent.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-4.9.0-3",
        section: "4.9",
        summary: "Client and Server must keep processing and answering all other packets while the send quota is zero.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-4.12.0-1",
        section: "4.12",
        summary: "If the Server does not support the Client's Authentication Method it may send CONNACK 0x8C or 0x87 and must close the connection.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-4.12.0-2",
        section: "4.12",
        summary: "An AUTH the Server sends to request more authentication data must carry Reason Code 0x18 (Continue authentication).",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-4.12.0-3",
        section: "4.12",
        summary: "An AUTH the Client sends in reply to the Server's AUTH must carry Reason Code 0x18 (Continue authentication).",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-4.12.0-4",
        section: "4.12",
        summary: "A Server rejecting the authentication at any point may send CONNACK 0x80 or above and must close the connection.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-4.12.0-5",
        section: "4.12",
        summary: "If CONNECT carried an Authentication Method, every AUTH and any successful CONNACK must carry the same Authentication Method.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-4.12.0-6",
        section: "4.12",
        summary: "If CONNECT had no Authentication Method, the Server must send no AUTH and no Authentication Method in CONNACK.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-4.12.0-7",
        section: "4.12",
        summary: "If CONNECT had no Authentication Method, the Client must not send AUTH.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-4.12.1-1",
        section: "4.12.1",
        summary: "A Client starting re-authentication must use the same Authentication Method as the original authentication.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-4.12.1-2",
        section: "4.12.1",
        summary: "If re-authentication fails the Client or Server must close the Network Connection (a DISCONNECT should precede it).",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-4.13.1-1",
        section: "4.13.1",
        summary: "When a Server detects a Malformed Packet or Protocol Error for which the spec gives a Reason Code, it must close the connection.",
        binds: Party::Server,
    },
    Statement {
        id: "MQTT-4.13.2-1",
        section: "4.13.2",
        summary: "When CONNACK or DISCONNECT carries a Reason Code of 0x80 or above, the connection must be closed whether or not that packet was sent.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-6.0.0-1",
        section: "6",
        summary: "Over WebSocket, MQTT packets must travel in binary data frames; on any other data frame the recipient must close the connection.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-6.0.0-2",
        section: "6",
        summary: "A WebSocket receiver must not assume MQTT packets are aligned with WebSocket frame boundaries.",
        binds: Party::Both,
    },
    Statement {
        id: "MQTT-6.0.0-3",
        section: "6",
        summary: "The Client must offer \"mqtt\" among its WebSocket subprotocols.",
        binds: Party::Client,
    },
    Statement {
        id: "MQTT-6.0.0-4",
        section: "6",
        summary: "The Server must select and return \"mqtt\" as the WebSocket subprotocol.",
        binds: Party::Server,
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// IDs of 3.1.1 that the specification misprints and which are kept as printed.
    const V3_1_1_MISPRINTS: [&str; 2] = ["MQTT-3-8.3-4", "MQTT-3.1.2.7"];

    fn is_number(s: &str) -> bool {
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
    }

    /// `MQTT-<digits>(.<digits>)*-<digits>`
    fn well_formed(id: &str) -> bool {
        let Some(rest) = id.strip_prefix("MQTT-") else {
            return false;
        };
        let Some((section, counter)) = rest.rsplit_once('-') else {
            return false;
        };
        is_number(counter) && section.split('.').all(is_number)
    }

    fn numbers(id: &str) -> Vec<u32> {
        id_numbers(id)
            .expect("well-formed id")
            .map(|n| n.parse().expect("number"))
            .collect()
    }

    fn both() -> [(Spec, &'static [Statement]); 2] {
        [(Spec::V3_1_1, MQTT_3_1_1), (Spec::V5_0, MQTT_5_0)]
    }

    #[test]
    fn counts() {
        assert_eq!(MQTT_3_1_1.len(), 141);
        assert_eq!(MQTT_5_0.len(), 251);
        assert_eq!(Spec::V3_1_1.statements().len(), MQTT_3_1_1.len());
        assert_eq!(Spec::V5_0.statements().len(), MQTT_5_0.len());
    }

    #[test]
    fn ids_are_unique_even_by_numbers() {
        for (spec, statements) in both() {
            let mut ids = HashSet::new();
            let mut nums = HashSet::new();
            for s in statements {
                assert!(ids.insert(s.id), "{spec:?}: duplicate id {}", s.id);
                assert!(
                    nums.insert(numbers(s.id)),
                    "{spec:?}: ambiguous id {}",
                    s.id
                );
            }
        }
    }

    #[test]
    fn ids_are_well_formed() {
        for (spec, statements) in both() {
            for s in statements {
                let misprint = spec == Spec::V3_1_1 && V3_1_1_MISPRINTS.contains(&s.id);
                assert!(well_formed(s.id) || misprint, "{spec:?}: bad id {}", s.id);
                assert!(
                    !well_formed(s.id) || !misprint,
                    "{} is not misprinted",
                    s.id
                );
            }
        }
    }

    #[test]
    fn statements_are_in_specification_order() {
        for (spec, statements) in both() {
            for pair in statements.windows(2) {
                assert!(
                    numbers(pair[0].id) < numbers(pair[1].id),
                    "{spec:?}: {} before {}",
                    pair[0].id,
                    pair[1].id
                );
            }
        }
    }

    #[test]
    fn sections_and_summaries_are_sane() {
        for (spec, statements) in both() {
            for s in statements {
                assert!(s.section.split('.').all(is_number), "{spec:?}: {}", s.id);
                let chapter = s.section.split('.').next();
                assert_eq!(chapter, s.id[5..].split(['.', '-']).next(), "{}", s.id);
                assert!(!s.summary.is_empty() && s.summary.len() <= 200, "{}", s.id);
                assert!(!s.summary.contains('\n'), "{}", s.id);
                assert!(
                    !s.summary.contains("MUST"),
                    "{}: paraphrase, not spec",
                    s.id
                );
            }
        }
    }

    #[test]
    fn every_statement_names_the_party_it_binds() {
        for (_, statements) in both() {
            for s in statements {
                match s.binds {
                    Party::OffWire(reason) => {
                        assert!(!reason.is_empty() && reason.len() <= 120, "{}", s.id);
                        assert!(!s.binds.binds_client() && !s.binds.binds_server());
                    }
                    party => assert!(party.binds_client() || party.binds_server(), "{}", s.id),
                }
            }
            // Nearly everything is on the wire: a slip of a whole table to OffWire shows here.
            let off_wire = statements
                .iter()
                .filter(|s| matches!(s.binds, Party::OffWire(_)))
                .count();
            assert!(off_wire <= 7, "{off_wire} statements off the wire");
        }
    }

    #[test]
    fn parties_of_well_known_statements() {
        let binds = |spec: Spec, id: &str| spec.lookup(id).expect(id).binds;
        use Spec::{V3_1_1, V5_0};
        // The first packet of a client is CONNECT; the first of a server is CONNACK.
        assert_eq!(binds(V3_1_1, "MQTT-3.1.0-1"), Party::Client);
        assert_eq!(binds(V3_1_1, "MQTT-3.2.0-1"), Party::Server);
        assert_eq!(binds(V3_1_1, "MQTT-3.1.0-2"), Party::Server);
        assert_eq!(binds(V3_1_1, "MQTT-3.1.3-7"), Party::Client);
        assert_eq!(binds(V3_1_1, "MQTT-3.1.3-8"), Party::Server);
        assert_eq!(binds(V3_1_1, "MQTT-4.6.0-2"), Party::Client);
        assert_eq!(binds(V3_1_1, "MQTT-3.3.1-1"), Party::Both);
        assert_eq!(binds(V3_1_1, "MQTT-3.14.4-2"), Party::Client);
        assert!(matches!(binds(V3_1_1, "MQTT-7.1.2-1"), Party::OffWire(_)));
        assert_eq!(binds(V5_0, "MQTT-3.2.2-15"), Party::Client);
        assert_eq!(binds(V5_0, "MQTT-3.1.2-24"), Party::Server);
        assert_eq!(binds(V5_0, "MQTT-3.3.2-8"), Party::Both);
        assert_eq!(binds(V5_0, "MQTT-3.3.4-7"), Party::Client);
        assert_eq!(binds(V5_0, "MQTT-3.3.4-9"), Party::Server);
        assert_eq!(binds(V5_0, "MQTT-4.3.3-11"), Party::Both);
        assert_eq!(binds(V5_0, "MQTT-4.12.0-7"), Party::Client);
        assert!(matches!(binds(V5_0, "MQTT-4.2-1"), Party::OffWire(_)));
    }

    #[test]
    fn meanings_differ_between_versions() {
        let v3 = Spec::V3_1_1
            .lookup("MQTT-3.1.2-24")
            .expect("3.1.1 keep alive");
        assert_eq!(v3.section, "3.1.2.10");
        assert!(v3.summary.contains("Keep Alive"));
        assert!(v3.summary.contains("one and a half"));

        let v5 = Spec::V5_0
            .lookup("MQTT-3.1.2-24")
            .expect("5.0 maximum packet size");
        assert!(v5.summary.contains("Maximum Packet Size"));

        let v5 = Spec::V5_0.lookup("MQTT-3.1.2-22").expect("5.0 keep alive");
        assert_eq!(v5.section, "3.1.2.10");
        assert!(v5.summary.contains("Keep Alive"));
        assert!(v5.summary.contains("one and a half"));

        let v5 = Spec::V5_0.lookup("MQTT-3.8.3-4").expect("5.0 no local");
        assert!(v5.summary.contains("No Local"));
        let v3 = Spec::V3_1_1
            .lookup("MQTT-3-8.3-4")
            .expect("3.1.1 subscribe qos");
        assert!(v3.summary.contains("malformed"));

        let v5 = Spec::V5_0.lookup("MQTT-4.7.3-3").expect("topic length");
        assert!(v5.summary.contains("65,535"));
        let v3 = Spec::V3_1_1
            .lookup("MQTT-4.8.0-1")
            .expect("protocol violation");
        assert_eq!(v3.section, "4.8");
        assert!(Spec::V5_0.lookup("MQTT-4.8.0-1").is_none());
        assert!(Spec::V3_1_1.lookup("MQTT-3.15.1-1").is_none());
    }

    #[test]
    fn lookup_accepts_brackets_and_regular_spellings() {
        for (spec, statements) in both() {
            for s in statements {
                let bracketed = format!("[{}]", s.id);
                assert_eq!(spec.lookup(s.id), Some(s));
                assert_eq!(spec.lookup(&bracketed), Some(s));
                assert_eq!(spec.lookup(&format!(" {bracketed} ")), Some(s));
            }
        }
        let typo = Spec::V3_1_1
            .lookup("[MQTT-3.8.3-4]")
            .expect("regular spelling");
        assert_eq!(typo.id, "MQTT-3-8.3-4");
        let typo = Spec::V3_1_1
            .lookup("MQTT-3.1.2-7")
            .expect("regular spelling");
        assert_eq!(typo.id, "MQTT-3.1.2.7");
        let typo = Spec::V3_1_1.lookup("MQTT-3.3.1.-1").expect("body spelling");
        assert_eq!(typo.id, "MQTT-3.3.1-1");
        assert_eq!(
            Spec::V5_0.lookup("mqtt-1.5.4-1").map(|s| s.id),
            Some("MQTT-1.5.4-1")
        );
        assert!(Spec::V5_0.lookup("MQTT-9.9.9-9").is_none());
        assert!(Spec::V5_0.lookup("").is_none());
        assert!(Spec::V5_0.lookup("[]").is_none());
        assert!(Spec::V5_0.lookup("MQTT").is_none());
        assert!(Spec::V5_0.lookup("MQTT-1.5.4-x").is_none());
    }
}

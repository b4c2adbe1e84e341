//! The client's duties that a conversation can show kept or broken, each with the
//! normative statements it stands for in MQTT 3.1.1 (and 3.1, checked against 3.1.1's
//! statements) and in MQTT 5.0.

use crate::codec::PacketType;

/// One obligation of a client, as the conversation shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Duty {
    /// The first packet on a connection is CONNECT.
    FirstPacketConnect,
    /// One CONNECT per connection (the statement names the server's reaction to a second).
    OneConnect,
    /// A zero-length client id comes with Clean Session 1 (3.1.1).
    EmptyClientIdClean,
    /// A new SUBSCRIBE, UNSUBSCRIBE or QoS>0 PUBLISH uses a packet identifier not in use.
    FreshPacketId,
    /// A new QoS 1 message gets an identifier not in use.
    Qos1FreshPacketId,
    /// A new QoS 2 message gets an identifier not in use.
    Qos2FreshPacketId,
    /// A QoS 1 PUBLISH sent keeps its identifier in use until the PUBACK.
    InUseUntilPuback,
    /// A QoS 2 PUBLISH sent keeps its identifier in use until the PUBREC.
    InUseUntilPubrec,
    /// A PUBREL sent keeps its identifier in use until the PUBCOMP.
    InUseUntilPubcomp,
    /// An acknowledgement (PUBACK, PUBREC, PUBREL, PUBCOMP) carries the identifier of the
    /// flow it belongs to.
    AckMatchesPacketId,
    /// A first QoS 1 sending has DUP 0.
    Qos1FirstSendingDup0,
    /// A first QoS 2 sending has DUP 0.
    Qos2FirstSendingDup0,
    /// A re-delivery carries DUP 1.
    RedeliveryDup1,
    /// After a PUBREC (below 0x80) the sender answers PUBREL.
    ReleaseAfterPubrec,
    /// No PUBLISH again once its PUBREL went out.
    NoPublishAfterPubrel,
    /// A QoS 1 PUBLISH received is answered with PUBACK.
    AcknowledgeQos1,
    /// A QoS 2 PUBLISH received is answered with PUBREC.
    AcknowledgeQos2,
    /// A PUBREL received is answered with PUBCOMP.
    CompleteQos2,
    /// The acknowledgement is the one the PUBLISH's QoS calls for.
    AckKindPerQos,
    /// PUBACKs follow the arrival order of their PUBLISHes.
    PubackOrder,
    /// PUBRECs follow the arrival order of their PUBLISHes.
    PubrecOrder,
    /// PUBRELs follow the order of the PUBRECs they answer.
    PubrelOrder,
    /// On a resumed session the unacknowledged PUBLISH and PUBREL packets are re-sent.
    ResendOnResume,
    /// Re-sent with their original packet identifiers (3.1.1 names it on its own).
    ResendSameId,
    /// A client that started a new session (Clean Session / Clean Start 1) re-sends
    /// nothing of an earlier one.
    NoStaleSession,
    /// A client with a session the CONNACK says is not present (Session Present 0 to Clean
    /// Start 0) discards it: it re-sends nothing of it.
    DiscardAbsentSession,
    /// Re-sent in their original order.
    ResendOrder,
    /// A PUBLISH refused by a PUBACK or PUBREC of 0x80 or above is not re-sent (5.0).
    NoResendAfterRefusal,
    /// Nothing after DISCONNECT.
    NothingAfterDisconnect,
    /// The client closes the connection after its DISCONNECT.
    CloseAfterDisconnect,
    /// After a CONNACK or DISCONNECT of 0x80 or above, the client closes (5.0).
    CloseAfterErrorCode,
    /// A client without a session closes on Session Present 1 (5.0).
    CloseOnUnexpectedSession,
    /// No PUBLISH above the CONNACK's Maximum QoS (5.0).
    MaximumQos,
    /// No retained PUBLISH when the CONNACK says Retain Available 0 (5.0).
    RetainAvailable,
    /// No packet above the CONNACK's Maximum Packet Size (5.0).
    MaximumPacketSize,
    /// No Topic Alias 0 (5.0).
    TopicAliasNonZero,
    /// Topic Aliases at most the CONNACK's Topic Alias Maximum (5.0).
    TopicAliasWithinMaximum,
    /// No Topic Alias at all when the CONNACK allows none (5.0).
    TopicAliasNoneAllowed,
    /// No Subscription Identifier on a PUBLISH to the server (5.0).
    NoSubscriptionIdentifier,
    /// No wildcard in a Response Topic (5.0).
    ResponseTopicNoWildcard,
    /// Unacknowledged QoS>0 PUBLISH packets at most the CONNACK's Receive Maximum (5.0).
    ReceiveMaximum,
    /// Other packets are not held back while the send quota is used up (5.0).
    NotHeldBackByQuota,
    /// No AUTH unless the CONNECT named an Authentication Method (5.0).
    NoAuthWithoutMethod,
    /// Every AUTH names the CONNECT's Authentication Method (5.0).
    SameAuthMethod,
    /// An AUTH answering the server's AUTH carries 0x18 Continue authentication (5.0).
    AuthContinue,
    /// Only AUTH or DISCONNECT before the CONNACK when authenticating (5.0).
    OnlyAuthBeforeConnack,
    /// A new QoS 1 PUBLISH reusing the identifier of one acknowledged is acknowledged (5.0).
    ReuseAfterPuback,
    /// A new QoS 2 PUBLISH reusing the identifier of a completed flow is acknowledged (5.0).
    ReuseAfterPubcomp,
    /// A new PUBLISH reusing the identifier of one refused with PUBREC 0x80 or above is
    /// acknowledged (5.0).
    ReuseAfterRefusedPubrec,
    /// A QoS 2 PUBLISH repeated before PUBREL is answered with PUBREC again (5.0).
    RepeatAcknowledged,
    /// A QoS 2 flow is completed even for a message that may expire (5.0).
    CompleteDespiteExpiry,
    /// A PUBLISH from the server naming its topic by a Topic Alias set on the connection is
    /// accepted (5.0).
    AcceptTopicAlias,
    /// A Topic Alias not set on this connection is not taken from an earlier one: such a
    /// PUBLISH is a protocol error, the client closes (5.0).
    NoAliasCarriedOver,
    /// A Reason String is added to an acknowledgement, DISCONNECT or AUTH only within the
    /// server's Maximum Packet Size (5.0).
    ReasonStringFits(PacketType),
    /// User Properties likewise (5.0).
    UserPropertiesFit(PacketType),
    /// A malformed packet or protocol violation from the server makes the client close
    /// (3.1.1).
    CloseOnViolation,
    /// A failed re-authentication (the server's DISCONNECT of 0x80 or above after the
    /// client's AUTH) makes the client close (5.0).
    CloseOnFailedReauthentication,
    /// A QoS 2 sender releases an expiring message all the same (5.0).
    ReleaseDespiteExpiry,
    /// Only packets a client may send: no CONNACK, SUBACK, UNSUBACK or PINGRESP. No
    /// numbered statement: the packet tables (3.1.1 §2.2.1, 5.0 §2.1.2).
    OnlyClientPackets,
    /// A DISCONNECT does not set a Session Expiry Interval where the CONNECT's was 0. No
    /// numbered statement: §3.14.2.2.2 of 5.0 calls it a Protocol Error.
    NoExpiryRaisedOnDisconnect,
    /// Over WebSocket, MQTT goes in binary messages only.
    BinaryMessagesOnly,
    /// Over WebSocket, a text message from the server makes the client close.
    CloseOnNonBinary,
    /// The WebSocket handshake offers the `mqtt` subprotocol.
    OfferMqttSubprotocol,
    /// So do invalid fixed-header flags (3.1.1 names them on their own).
    CloseOnInvalidFlags,
}

impl Duty {
    /// The statements the duty stands for, in MQTT 5.0 (`v5`) or in 3.1.1 (and 3.1).
    /// Empty: the version has no such statement.
    pub fn statements(self, v5: bool) -> &'static [&'static str] {
        use Duty as D;
        if v5 {
            match self {
                D::FirstPacketConnect => &["MQTT-3.1.0-1"],
                D::OneConnect => &["MQTT-3.1.0-2"],
                D::EmptyClientIdClean => &[],
                D::FreshPacketId => &["MQTT-2.2.1-3"],
                D::Qos1FreshPacketId => &["MQTT-4.3.2-1"],
                D::Qos2FreshPacketId => &["MQTT-4.3.3-1"],
                D::InUseUntilPuback => &["MQTT-4.3.2-3"],
                D::InUseUntilPubrec => &["MQTT-4.3.3-3"],
                D::InUseUntilPubcomp => &["MQTT-4.3.3-5"],
                D::AckMatchesPacketId => &["MQTT-2.2.1-5"],
                D::Qos1FirstSendingDup0 => &["MQTT-4.3.2-2"],
                D::Qos2FirstSendingDup0 => &["MQTT-4.3.3-2"],
                D::RedeliveryDup1 => &["MQTT-3.3.1-1"],
                D::ReleaseAfterPubrec => &["MQTT-4.3.3-4", "MQTT-4.1.0-1"],
                D::NoPublishAfterPubrel => &["MQTT-4.3.3-6"],
                D::AcknowledgeQos1 => &["MQTT-4.5.0-2", "MQTT-4.3.2-4"],
                D::AcknowledgeQos2 => &["MQTT-4.5.0-2", "MQTT-4.3.3-8"],
                D::CompleteQos2 => &["MQTT-4.3.3-11"],
                D::AckKindPerQos => &["MQTT-3.3.4-1"],
                D::PubackOrder => &["MQTT-4.6.0-2"],
                D::PubrecOrder => &["MQTT-4.6.0-3"],
                D::PubrelOrder => &["MQTT-4.6.0-4"],
                D::ResendOnResume => &["MQTT-4.4.0-1", "MQTT-3.1.2-23", "MQTT-3.1.3-2"],
                D::ResendSameId => &["MQTT-4.4.0-1"],
                D::NoStaleSession => &["MQTT-3.1.2-4", "MQTT-3.2.2-5"],
                D::DiscardAbsentSession => &["MQTT-3.2.2-5"],
                D::ResendOrder => &["MQTT-4.6.0-1"],
                D::NoResendAfterRefusal => &["MQTT-4.4.0-2"],
                D::NothingAfterDisconnect => &["MQTT-3.14.4-1"],
                D::CloseAfterDisconnect => &["MQTT-3.14.4-2"],
                D::CloseAfterErrorCode => &["MQTT-4.13.2-1"],
                D::CloseOnUnexpectedSession => &["MQTT-3.2.2-4"],
                D::MaximumQos => &["MQTT-3.2.2-11"],
                D::RetainAvailable => &["MQTT-3.2.2-14"],
                D::MaximumPacketSize => &["MQTT-3.2.2-15"],
                D::TopicAliasNonZero => &["MQTT-3.3.2-8"],
                D::TopicAliasWithinMaximum => &["MQTT-3.3.2-9", "MQTT-3.2.2-17"],
                D::TopicAliasNoneAllowed => &["MQTT-3.2.2-18"],
                D::NoSubscriptionIdentifier => &["MQTT-3.3.4-6"],
                D::ResponseTopicNoWildcard => &["MQTT-3.3.2-14"],
                D::ReceiveMaximum => &["MQTT-3.3.4-7", "MQTT-4.9.0-1", "MQTT-4.9.0-2"],
                D::NotHeldBackByQuota => &["MQTT-3.3.4-8", "MQTT-4.9.0-3"],
                D::NoAuthWithoutMethod => &["MQTT-4.12.0-7"],
                D::SameAuthMethod => &["MQTT-4.12.0-5", "MQTT-4.12.1-1"],
                D::AuthContinue => &["MQTT-4.12.0-3"],
                D::OnlyAuthBeforeConnack => &["MQTT-3.1.2-30"],
                D::CloseOnViolation | D::CloseOnInvalidFlags => &[],
                D::CloseOnFailedReauthentication => &["MQTT-4.12.1-2", "MQTT-4.13.2-1"],
                D::ReleaseDespiteExpiry => &["MQTT-4.3.3-7"],
                D::BinaryMessagesOnly | D::CloseOnNonBinary => &["MQTT-6.0.0-1"],
                D::OfferMqttSubprotocol => &["MQTT-6.0.0-3"],
                D::OnlyClientPackets | D::NoExpiryRaisedOnDisconnect => &[],
                D::ReuseAfterPuback => &["MQTT-4.3.2-5"],
                D::ReuseAfterPubcomp => &["MQTT-4.3.3-12"],
                D::ReuseAfterRefusedPubrec => &["MQTT-4.3.3-9"],
                D::RepeatAcknowledged => &["MQTT-4.3.3-10"],
                D::CompleteDespiteExpiry => &["MQTT-4.3.3-13"],
                D::AcceptTopicAlias => &["MQTT-3.3.2-10"],
                D::NoAliasCarriedOver => &["MQTT-3.3.2-7"],
                D::ReasonStringFits(p) => match p {
                    PacketType::PubAck => &["MQTT-3.4.2-2"],
                    PacketType::PubRec => &["MQTT-3.5.2-2"],
                    PacketType::PubRel => &["MQTT-3.6.2-2"],
                    PacketType::PubComp => &["MQTT-3.7.2-2"],
                    PacketType::Disconnect => &["MQTT-3.14.2-3"],
                    PacketType::Auth => &["MQTT-3.15.2-2"],
                    _ => &[],
                },
                D::UserPropertiesFit(p) => match p {
                    PacketType::PubAck => &["MQTT-3.4.2-3"],
                    PacketType::PubRec => &["MQTT-3.5.2-3"],
                    PacketType::PubRel => &["MQTT-3.6.2-3"],
                    PacketType::PubComp => &["MQTT-3.7.2-3"],
                    PacketType::Disconnect => &["MQTT-3.14.2-4"],
                    PacketType::Auth => &["MQTT-3.15.2-3"],
                    _ => &[],
                },
            }
        } else {
            match self {
                D::FirstPacketConnect => &["MQTT-3.1.0-1"],
                D::OneConnect => &["MQTT-3.1.0-2"],
                D::EmptyClientIdClean => &["MQTT-3.1.3-7"],
                D::FreshPacketId => &["MQTT-2.3.1-2"],
                // 3.1.1 says "unused identifier" and "unacknowledged until" in one statement
                // per QoS.
                D::Qos1FreshPacketId | D::InUseUntilPuback => &["MQTT-4.3.2-1"],
                D::Qos2FreshPacketId | D::InUseUntilPubrec | D::InUseUntilPubcomp => {
                    &["MQTT-4.3.3-1"]
                }
                D::AckMatchesPacketId => &["MQTT-2.3.1-6"],
                D::Qos1FirstSendingDup0 => &["MQTT-4.3.2-1"],
                D::Qos2FirstSendingDup0 | D::NoPublishAfterPubrel => &["MQTT-4.3.3-1"],
                // A flow carried through to its end shows the session state kept while
                // the connection lasts.
                D::ReleaseAfterPubrec => &["MQTT-4.3.3-1", "MQTT-4.1.0-1", "MQTT-4.1.0-2"],
                D::RedeliveryDup1 => &["MQTT-3.3.1-1"],
                D::AcknowledgeQos1 => &["MQTT-4.5.0-2", "MQTT-4.3.2-2"],
                D::AcknowledgeQos2 | D::CompleteQos2 => &["MQTT-4.5.0-2", "MQTT-4.3.3-2"],
                D::AckKindPerQos => &["MQTT-3.3.4-1"],
                D::PubackOrder => &["MQTT-4.6.0-2"],
                D::PubrecOrder => &["MQTT-4.6.0-3"],
                D::PubrelOrder => &["MQTT-4.6.0-4"],
                D::ResendOnResume => &["MQTT-4.4.0-1", "MQTT-3.1.2-4", "MQTT-3.1.3-2"],
                D::ResendSameId => &["MQTT-2.3.1-3"],
                D::NoStaleSession => &["MQTT-3.1.2-6"],
                D::ResendOrder => &["MQTT-4.6.0-1"],
                D::NothingAfterDisconnect => &["MQTT-3.14.4-2"],
                D::CloseAfterDisconnect => &["MQTT-3.14.4-1"],
                D::CloseOnViolation => &["MQTT-4.8.0-1"],
                D::CloseOnInvalidFlags => &["MQTT-4.8.0-1", "MQTT-2.2.2-2"],
                D::BinaryMessagesOnly | D::CloseOnNonBinary => &["MQTT-6.0.0-1"],
                D::OfferMqttSubprotocol => &["MQTT-6.0.0-3"],
                _ => &[],
            }
        }
    }

    /// True for a duty the specification states without a numbered statement (a table, or
    /// a sentence calling something a Protocol Error): judged by `protocol_errors` rules.
    pub fn unnumbered(self) -> bool {
        matches!(
            self,
            Duty::OnlyClientPackets | Duty::NoExpiryRaisedOnDisconnect
        )
    }

    /// Every duty, for tables and load-time checks.
    pub const ALL: [Duty; 74] = [
        Duty::FirstPacketConnect,
        Duty::OneConnect,
        Duty::EmptyClientIdClean,
        Duty::FreshPacketId,
        Duty::Qos1FreshPacketId,
        Duty::Qos2FreshPacketId,
        Duty::InUseUntilPuback,
        Duty::InUseUntilPubrec,
        Duty::InUseUntilPubcomp,
        Duty::AckMatchesPacketId,
        Duty::Qos1FirstSendingDup0,
        Duty::Qos2FirstSendingDup0,
        Duty::RedeliveryDup1,
        Duty::ReleaseAfterPubrec,
        Duty::NoPublishAfterPubrel,
        Duty::AcknowledgeQos1,
        Duty::AcknowledgeQos2,
        Duty::CompleteQos2,
        Duty::AckKindPerQos,
        Duty::PubackOrder,
        Duty::PubrecOrder,
        Duty::PubrelOrder,
        Duty::ResendOnResume,
        Duty::ResendSameId,
        Duty::NoStaleSession,
        Duty::DiscardAbsentSession,
        Duty::ResendOrder,
        Duty::NoResendAfterRefusal,
        Duty::NothingAfterDisconnect,
        Duty::CloseAfterDisconnect,
        Duty::CloseAfterErrorCode,
        Duty::CloseOnUnexpectedSession,
        Duty::MaximumQos,
        Duty::RetainAvailable,
        Duty::MaximumPacketSize,
        Duty::TopicAliasNonZero,
        Duty::TopicAliasWithinMaximum,
        Duty::TopicAliasNoneAllowed,
        Duty::NoSubscriptionIdentifier,
        Duty::ResponseTopicNoWildcard,
        Duty::ReceiveMaximum,
        Duty::NotHeldBackByQuota,
        Duty::NoAuthWithoutMethod,
        Duty::SameAuthMethod,
        Duty::AuthContinue,
        Duty::OnlyAuthBeforeConnack,
        Duty::ReuseAfterPuback,
        Duty::ReuseAfterPubcomp,
        Duty::ReuseAfterRefusedPubrec,
        Duty::RepeatAcknowledged,
        Duty::CompleteDespiteExpiry,
        Duty::AcceptTopicAlias,
        Duty::NoAliasCarriedOver,
        Duty::ReasonStringFits(PacketType::PubAck),
        Duty::ReasonStringFits(PacketType::PubRec),
        Duty::ReasonStringFits(PacketType::PubRel),
        Duty::ReasonStringFits(PacketType::PubComp),
        Duty::ReasonStringFits(PacketType::Disconnect),
        Duty::ReasonStringFits(PacketType::Auth),
        Duty::UserPropertiesFit(PacketType::PubAck),
        Duty::UserPropertiesFit(PacketType::PubRec),
        Duty::UserPropertiesFit(PacketType::PubRel),
        Duty::UserPropertiesFit(PacketType::PubComp),
        Duty::UserPropertiesFit(PacketType::Disconnect),
        Duty::UserPropertiesFit(PacketType::Auth),
        Duty::CloseOnViolation,
        Duty::CloseOnInvalidFlags,
        Duty::CloseOnFailedReauthentication,
        Duty::ReleaseDespiteExpiry,
        Duty::OnlyClientPackets,
        Duty::NoExpiryRaisedOnDisconnect,
        Duty::BinaryMessagesOnly,
        Duty::CloseOnNonBinary,
        Duty::OfferMqttSubprotocol,
    ];

    /// True when some duty stands for `statement` in the given version.
    pub fn judges(statement: &str, v5: bool) -> bool {
        Self::ALL
            .iter()
            .any(|d| d.statements(v5).contains(&statement))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::statements::Spec;

    #[test]
    fn every_statement_a_duty_names_exists_and_binds_the_client() {
        for (v5, spec) in [(false, Spec::V3_1_1), (true, Spec::V5_0)] {
            for duty in Duty::ALL {
                for id in duty.statements(v5) {
                    let s = spec
                        .lookup(id)
                        .unwrap_or_else(|| panic!("{duty:?}: {id} is not a statement of {spec:?}"));
                    // The one statement on a second CONNECT speaks of the server's reaction;
                    // the client's side of it is not numbered.
                    let servers_reaction = duty == Duty::OneConnect;
                    assert!(
                        s.binds.binds_client() || servers_reaction,
                        "{duty:?}: {id} does not bind the client"
                    );
                }
            }
        }
    }

    #[test]
    fn both_versions_name_the_ordering_duties_alike() {
        for d in [Duty::PubackOrder, Duty::PubrecOrder, Duty::PubrelOrder] {
            assert_eq!(d.statements(false), d.statements(true));
        }
        assert!(Duty::MaximumQos.statements(false).is_empty());
        assert!(Duty::judges("MQTT-3.1.3-7", false));
        assert!(!Duty::judges("MQTT-3.1.3-7", true));
    }

    /// Every variant is in [`Duty::ALL`] (the judge reaches rules through it): the match
    /// below is exhaustive, so a new duty cannot be added without this test naming it.
    #[test]
    fn every_duty_is_listed() {
        let listed = |d: Duty| match d {
            Duty::FirstPacketConnect
            | Duty::OneConnect
            | Duty::EmptyClientIdClean
            | Duty::FreshPacketId
            | Duty::Qos1FreshPacketId
            | Duty::Qos2FreshPacketId
            | Duty::AckMatchesPacketId
            | Duty::Qos1FirstSendingDup0
            | Duty::Qos2FirstSendingDup0
            | Duty::RedeliveryDup1
            | Duty::ReleaseAfterPubrec
            | Duty::NoPublishAfterPubrel
            | Duty::AcknowledgeQos1
            | Duty::AcknowledgeQos2
            | Duty::CompleteQos2
            | Duty::AckKindPerQos
            | Duty::PubackOrder
            | Duty::PubrecOrder
            | Duty::PubrelOrder
            | Duty::ResendOnResume
            | Duty::ResendSameId
            | Duty::NoStaleSession
            | Duty::ResendOrder
            | Duty::NoResendAfterRefusal
            | Duty::NothingAfterDisconnect
            | Duty::CloseAfterDisconnect
            | Duty::CloseAfterErrorCode
            | Duty::CloseOnUnexpectedSession
            | Duty::MaximumQos
            | Duty::RetainAvailable
            | Duty::MaximumPacketSize
            | Duty::TopicAliasNonZero
            | Duty::TopicAliasWithinMaximum
            | Duty::TopicAliasNoneAllowed
            | Duty::NoSubscriptionIdentifier
            | Duty::ResponseTopicNoWildcard
            | Duty::ReceiveMaximum
            | Duty::NotHeldBackByQuota
            | Duty::NoAuthWithoutMethod
            | Duty::SameAuthMethod
            | Duty::AuthContinue
            | Duty::OnlyAuthBeforeConnack
            | Duty::ReuseAfterPuback
            | Duty::ReuseAfterPubcomp
            | Duty::ReuseAfterRefusedPubrec
            | Duty::RepeatAcknowledged
            | Duty::CompleteDespiteExpiry
            | Duty::AcceptTopicAlias
            | Duty::NoAliasCarriedOver
            | Duty::CloseOnViolation
            | Duty::CloseOnFailedReauthentication
            | Duty::ReleaseDespiteExpiry
            | Duty::OnlyClientPackets
            | Duty::NoExpiryRaisedOnDisconnect
            | Duty::CloseOnInvalidFlags
            | Duty::InUseUntilPuback
            | Duty::InUseUntilPubrec
            | Duty::InUseUntilPubcomp
            | Duty::DiscardAbsentSession
            | Duty::BinaryMessagesOnly
            | Duty::CloseOnNonBinary
            | Duty::OfferMqttSubprotocol => Duty::ALL.contains(&d),
            Duty::ReasonStringFits(p) | Duty::UserPropertiesFit(p) => {
                [
                    PacketType::PubAck,
                    PacketType::PubRec,
                    PacketType::PubRel,
                    PacketType::PubComp,
                    PacketType::Disconnect,
                    PacketType::Auth,
                ]
                .contains(&p)
                    && Duty::ALL.contains(&d)
            }
        };
        for d in Duty::ALL {
            assert!(listed(d), "{d:?}");
        }
        let every_kind = [
            Duty::FirstPacketConnect,
            Duty::OneConnect,
            Duty::EmptyClientIdClean,
            Duty::FreshPacketId,
            Duty::Qos1FreshPacketId,
            Duty::Qos2FreshPacketId,
            Duty::AckMatchesPacketId,
            Duty::Qos1FirstSendingDup0,
            Duty::Qos2FirstSendingDup0,
            Duty::RedeliveryDup1,
            Duty::ReleaseAfterPubrec,
            Duty::NoPublishAfterPubrel,
            Duty::AcknowledgeQos1,
            Duty::AcknowledgeQos2,
            Duty::CompleteQos2,
            Duty::AckKindPerQos,
            Duty::PubackOrder,
            Duty::PubrecOrder,
            Duty::PubrelOrder,
            Duty::ResendOnResume,
            Duty::ResendSameId,
            Duty::NoStaleSession,
            Duty::ResendOrder,
            Duty::NoResendAfterRefusal,
            Duty::NothingAfterDisconnect,
            Duty::CloseAfterDisconnect,
            Duty::CloseAfterErrorCode,
            Duty::CloseOnUnexpectedSession,
            Duty::MaximumQos,
            Duty::RetainAvailable,
            Duty::MaximumPacketSize,
            Duty::TopicAliasNonZero,
            Duty::TopicAliasWithinMaximum,
            Duty::TopicAliasNoneAllowed,
            Duty::NoSubscriptionIdentifier,
            Duty::ResponseTopicNoWildcard,
            Duty::ReceiveMaximum,
            Duty::NotHeldBackByQuota,
            Duty::NoAuthWithoutMethod,
            Duty::SameAuthMethod,
            Duty::AuthContinue,
            Duty::OnlyAuthBeforeConnack,
            Duty::ReuseAfterPuback,
            Duty::ReuseAfterPubcomp,
            Duty::ReuseAfterRefusedPubrec,
            Duty::RepeatAcknowledged,
            Duty::CompleteDespiteExpiry,
            Duty::AcceptTopicAlias,
            Duty::NoAliasCarriedOver,
            Duty::CloseOnViolation,
            Duty::CloseOnFailedReauthentication,
            Duty::ReleaseDespiteExpiry,
            Duty::OnlyClientPackets,
            Duty::NoExpiryRaisedOnDisconnect,
            Duty::CloseOnInvalidFlags,
            Duty::InUseUntilPuback,
            Duty::InUseUntilPubrec,
            Duty::InUseUntilPubcomp,
            Duty::DiscardAbsentSession,
        ];
        for d in every_kind {
            assert!(listed(d), "{d:?} is not in Duty::ALL");
        }
    }
}

//! 5.0 enhanced authentication in the server: the challenge round of `mqtt-conform-echo`
//! before the CONNACK, re-authentication after it, and the refusals a wrong answer, another
//! method or a packet out of turn get.

use crate::support::server::{Raw, WAIT, start_profile};
use mqtt_conform::codec::{
    Auth, ConnAck, Connect, Packet, Properties, PropertyId, PropertyValue, ProtocolVersion,
};
use mqtt_conform::server::{ECHO_METHOD, ServerHandle};
use mqtt_conform::suite::profile::Profile;

const V5: ProtocolVersion = ProtocolVersion::V5;

async fn server(offered: bool) -> ServerHandle {
    start_profile(Profile {
        enhanced_authentication: offered,
        ..Profile::default()
    })
    .await
}

fn connect(id: &str, method: &str) -> Packet {
    let mut c = Connect::new(V5, id);
    c.properties = c.properties.with(
        PropertyId::AuthenticationMethod,
        PropertyValue::String(method.to_owned().into()),
    );
    Packet::Connect(c.into())
}

fn auth(reason_code: u8, method: &str, data: Option<&[u8]>) -> Packet {
    let mut properties = Properties::new().with(
        PropertyId::AuthenticationMethod,
        PropertyValue::String(method.to_owned().into()),
    );
    if let Some(d) = data {
        properties = properties.with(
            PropertyId::AuthenticationData,
            PropertyValue::Binary(d.to_vec().into()),
        );
    }
    Packet::Auth(Auth {
        reason_code,
        properties,
    })
}

/// The server's AUTH of `reason`: its Authentication Data (the challenge).
async fn expect_auth(c: &mut Raw, reason: u8) -> Vec<u8> {
    match c.recv().await {
        Packet::Auth(a) => {
            assert_eq!(a.reason_code, reason, "{a:?}");
            assert_eq!(
                a.properties.get_str(PropertyId::AuthenticationMethod),
                Some(ECHO_METHOD),
                "every AUTH carries the CONNECT's method [MQTT-4.12.0-5]"
            );
            match a.properties.get(PropertyId::AuthenticationData) {
                Some(PropertyValue::Binary(b)) => b.to_vec(),
                _ => Vec::new(),
            }
        }
        other => panic!("expected AUTH {reason:#04x}, got {other:?}"),
    }
}

async fn expect_connack(c: &mut Raw) -> ConnAck {
    match c.recv().await {
        Packet::ConnAck(a) => a,
        other => panic!("expected CONNACK, got {other:?}"),
    }
}

/// Connects with the echo method and answers the challenge: CONNACK 0x00.
async fn authenticated(server: &ServerHandle, id: &str) -> Raw {
    let mut c = Raw::open(server.local_addr, V5).await;
    c.send(&connect(id, ECHO_METHOD)).await;
    let challenge = expect_auth(&mut c, 0x18).await;
    c.send(&auth(0x18, ECHO_METHOD, Some(&challenge))).await;
    let ack = expect_connack(&mut c).await;
    assert_eq!(ack.code, 0, "{ack:?}");
    c
}

#[tokio::test]
async fn a_client_answering_the_challenge_is_accepted_and_may_re_authenticate() {
    let server = server(true).await;
    let mut c = Raw::open(server.local_addr, V5).await;
    c.send(&connect("echo", ECHO_METHOD)).await;
    let first = expect_auth(&mut c, 0x18).await;
    assert_eq!(first.len(), 16, "a challenge of 16 random bytes");
    c.send(&auth(0x18, ECHO_METHOD, Some(&first))).await;
    let ack = expect_connack(&mut c).await;
    assert_eq!(ack.code, 0);
    assert_eq!(
        ack.properties.get_str(PropertyId::AuthenticationMethod),
        Some(ECHO_METHOD),
        "the successful CONNACK names the method [MQTT-4.12.0-5]"
    );
    // Re-authentication: a new challenge, answered, then AUTH 0x00.
    c.send(&auth(0x19, ECHO_METHOD, None)).await;
    let second = expect_auth(&mut c, 0x18).await;
    assert_ne!(second, first, "each round has its own challenge");
    c.send(&auth(0x18, ECHO_METHOD, Some(&second))).await;
    expect_auth(&mut c, 0x00).await;
    c.ping().await;
}

#[tokio::test]
async fn a_wrong_answer_another_method_or_a_packet_out_of_turn_is_refused() {
    let server = server(true).await;
    // The challenge not sent back: Not authorized.
    let mut c = Raw::open(server.local_addr, V5).await;
    c.send(&connect("wrong", ECHO_METHOD)).await;
    expect_auth(&mut c, 0x18).await;
    c.send(&auth(0x18, ECHO_METHOD, Some(b"not the challenge")))
        .await;
    assert_eq!(expect_connack(&mut c).await.code, 0x87);
    // A PUBLISH before the CONNACK: only AUTH or DISCONNECT may come [MQTT-3.1.2-30].
    let mut c = Raw::open(server.local_addr, V5).await;
    c.send(&connect("early", ECHO_METHOD)).await;
    expect_auth(&mut c, 0x18).await;
    c.send(&Packet::PingReq).await;
    assert_eq!(expect_connack(&mut c).await.code, 0x82);
    // A method the server does not offer.
    let mut c = Raw::open(server.local_addr, V5).await;
    c.send(&connect("other", "SCRAM-SHA-1")).await;
    assert_eq!(expect_connack(&mut c).await.code, 0x8C);
    // A failed re-authentication: DISCONNECT 0x87, then the close [MQTT-4.12.1-2].
    let mut c = authenticated(&server, "reauth").await;
    c.send(&auth(0x19, ECHO_METHOD, None)).await;
    expect_auth(&mut c, 0x18).await;
    c.send(&auth(0x18, ECHO_METHOD, Some(b"wrong"))).await;
    match c.closed(WAIT).await.as_slice() {
        [Packet::Disconnect(d)] => assert_eq!(d.reason_code, 0x87),
        other => panic!("expected DISCONNECT 0x87 then close, saw {other:?}"),
    }
    // Re-authentication under another method: a Protocol Error [MQTT-4.12.1-1].
    let mut c = authenticated(&server, "switch").await;
    c.send(&auth(0x19, "SCRAM-SHA-1", None)).await;
    match c.closed(WAIT).await.as_slice() {
        [Packet::Disconnect(d)] => assert_eq!(d.reason_code, 0x82),
        other => panic!("expected DISCONNECT 0x82 then close, saw {other:?}"),
    }
}

#[tokio::test]
async fn without_the_profile_offering_it_every_method_is_refused() {
    let server = server(false).await;
    let mut c = Raw::open(server.local_addr, V5).await;
    c.send(&connect("off", ECHO_METHOD)).await;
    assert_eq!(expect_connack(&mut c).await.code, 0x8C);
}

//! Events from the server (both directions, opens and closes with their initiator),
//! statistics, and TLS.

use crate::support::server as support;

use mqtt_conform::codec::{Connect, Packet, PacketType, ProtocolVersion, QoS, encode_to_vec};
use mqtt_conform::event::{Event, EventKind, Side};
use mqtt_conform::server::{ServerConfig, ServerHandle, tls_config};
use mqtt_conform::suite::profile::Profile;
use std::sync::Arc;
use support::{Raw, Rumq, WAIT, start};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const V4: ProtocolVersion = ProtocolVersion::V3_1_1;

/// Events of connection `conn` up to and including its close.
async fn events_until_closed(server: &mut ServerHandle, conn: u64) -> Vec<Event> {
    let mut out = Vec::new();
    loop {
        let e = tokio::time::timeout(WAIT, server.events().recv())
            .await
            .expect("event in time")
            .expect("events on");
        if e.conn != conn {
            continue;
        }
        let closed = matches!(e.kind, EventKind::Closed { .. });
        out.push(e);
        if closed {
            return out;
        }
    }
}

/// (from, packet type) of the packet events.
fn packets(events: &[Event]) -> Vec<(Side, PacketType)> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Packet { packet: Ok(p), .. } => Some((e.from, p.packet_type())),
            _ => None,
        })
        .collect()
}

fn closed_by(events: &[Event]) -> Option<Side> {
    match events.last().map(|e| &e.kind) {
        Some(EventKind::Closed { by, .. }) => *by,
        other => panic!("last event is not a close: {other:?}"),
    }
}

#[tokio::test]
async fn events_cover_both_directions_and_the_close_initiator() {
    let mut server = start(ServerConfig::new(Profile::default())).await;
    let addr = server.local_addr;

    // Connection 1: a full conversation, closed by the client.
    let connect = Connect::new(V4, "ev");
    let connect_bytes = encode_to_vec(&Packet::Connect(connect.clone().into()), V4).unwrap();
    let (mut c, _) = Raw::connect(addr, connect).await;
    c.subscribe(1, &[("e", QoS::AtLeastOnce)]).await;
    c.publish("e", b"x", QoS::AtLeastOnce, false).await;
    let p = c.recv_publish().await;
    c.send(&Packet::PubAck(mqtt_conform::codec::PubResponse::new(
        p.packet_id.unwrap(),
    )))
    .await;
    c.disconnect().await;
    let events = events_until_closed(&mut server, 1).await;
    assert!(matches!(
        events[0],
        Event {
            conn: 1,
            from: Side::Client,
            kind: EventKind::Opened {
                endpoints: Some(_),
                from_start: true,
            },
            ..
        }
    ));
    use PacketType as T;
    let seen = packets(&events);
    assert_eq!(
        seen[..4],
        [
            (Side::Client, T::Connect),
            (Side::Server, T::ConnAck),
            (Side::Client, T::Subscribe),
            (Side::Server, T::SubAck),
        ]
    );
    // The publish, its PUBACK and the delivery to the own subscription (either order
    // of the last two), then the delivery's PUBACK and DISCONNECT.
    let mut middle = seen[4..8].to_vec();
    middle.sort_by_key(|(s, t)| (*t as u8, *s as u8));
    assert_eq!(
        middle,
        [
            (Side::Client, T::Publish),
            (Side::Server, T::Publish),
            (Side::Client, T::PubAck),
            (Side::Server, T::PubAck),
        ]
    );
    assert_eq!(seen[8..], [(Side::Client, T::Disconnect)]);
    match &events[1].kind {
        EventKind::Packet { bytes, .. } => assert_eq!(&bytes[..], &connect_bytes[..]),
        other => panic!("{other:?}"),
    }
    assert_eq!(closed_by(&events), Some(Side::Client));
    assert!(events.windows(2).all(|w| w[0].at <= w[1].at));

    // Connection 2: a malformed packet is reported with its decode error, and the server
    // closes.
    let mut c = Raw::connected(addr, V4, "bad").await;
    c.send_raw(&[0x82, 0x04, 0x00, 0x01, 0x00, 0x00]).await;
    c.closed(WAIT).await;
    let events = events_until_closed(&mut server, 2).await;
    assert!(events.iter().any(|e| matches!(
        &e.kind,
        EventKind::Packet { packet: Err(_), .. } if e.from == Side::Client
    )));
    assert_eq!(closed_by(&events), Some(Side::Server));

    // Connection 3: an abrupt client close.
    drop(Raw::connected(addr, V4, "gone").await);
    let events = events_until_closed(&mut server, 3).await;
    assert_eq!(closed_by(&events), Some(Side::Client));

    support::eventually(|| server.stats().connections_open == 0).await;
    let stats = server.stats();
    assert_eq!(stats.connections_total, 3);
    assert_eq!((stats.packets_in, stats.packets_out), (8, 6), "{stats:?}");
    assert!(stats.bytes_in > 0 && stats.bytes_out > 0);
    assert_eq!(stats.events_dropped, 0);
    assert_eq!(
        stats.buffer_bytes, 0,
        "closed connections release their buffers"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn events_off_buffers_nothing() {
    let mut config = ServerConfig::new(Profile::default());
    config.emit_events = false;
    let mut server = start(config).await;
    let mut c = Raw::connected(server.local_addr, V4, "quiet").await;
    c.ping().await;
    assert!(server.events().recv().await.is_none());
    assert_eq!(server.stats().events_dropped, 0);
}

#[tokio::test]
async fn a_full_event_channel_drops_and_counts() {
    let mut config = ServerConfig::new(Profile::default());
    config.event_capacity = 4;
    let server = start(config).await;
    let mut c = Raw::connected(server.local_addr, V4, "many").await;
    for _ in 0..10 {
        c.ping().await;
    }
    assert!(server.stats().events_dropped > 0);
}

#[tokio::test]
async fn shutdown_closes_connections() {
    let server = start(ServerConfig::new(Profile::default())).await;
    let mut c = Raw::connected(server.local_addr, ProtocolVersion::V5, "s").await;
    server.shutdown().await;
    match c.closed(WAIT).await.as_slice() {
        [Packet::Disconnect(d)] => assert_eq!(d.reason_code, 0x8B),
        other => panic!("expected DISCONNECT 0x8B, saw {other:?}"),
    }
}

fn write_pki(name: &str) -> (std::path::PathBuf, std::path::PathBuf, Vec<u8>) {
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
        .expect("certificate");
    let dir =
        std::env::temp_dir().join(format!("mqtt-conform-server-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    (cert_path, key_path, cert.cert.der().to_vec())
}

fn client_tls(ca_der: Vec<u8>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca_der.into()).unwrap();
    Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth(),
    )
}

#[tokio::test]
async fn tls_with_an_rcgen_certificate() {
    let (cert, key, der) = write_pki("tls");
    let mut config = ServerConfig::new(Profile::default());
    config.tls = Some(tls_config(&cert, &key).expect("TLS config"));
    let mut server = start(config).await;
    let addr = server.local_addr;

    let mut o = Rumq::options(addr, "tls-client");
    o.set_transport(rumqttc::Transport::tls_with_config(
        rumqttc::TlsConfiguration::Rustls(client_tls(der)),
    ));
    let mut c = Rumq::connect(o).await;
    c.subscribe("secure/t", rumqttc::QoS::AtLeastOnce).await;
    c.client
        .publish(
            "secure/t",
            rumqttc::QoS::AtLeastOnce,
            false,
            b"over tls".to_vec(),
        )
        .await
        .unwrap();
    assert_eq!(&c.next_publish().await.payload[..], b"over tls");

    // A plain-TCP client fails the handshake: reported as a close.
    let mut plain = tokio::net::TcpStream::connect(addr).await.unwrap();
    let hello = encode_to_vec(&Packet::Connect(Connect::new(V4, "plain").into()), V4).unwrap();
    plain.write_all(&hello).await.unwrap();
    let mut answer = Vec::new();
    // The server answers with a TLS alert (not MQTT) and closes.
    tokio::time::timeout(WAIT, plain.read_to_end(&mut answer))
        .await
        .expect("closed in time")
        .ok();
    let events = events_until_closed(&mut server, 2).await;
    match &events.last().unwrap().kind {
        EventKind::Closed { detail, .. } => assert!(detail.contains("TLS"), "{detail}"),
        other => panic!("{other:?}"),
    }
    assert!(
        tls_config(&key, &key).is_err(),
        "a key is not a certificate"
    );
    if let Some(dir) = cert.parent() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

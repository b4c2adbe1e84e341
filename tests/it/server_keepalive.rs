//! Keep-alive enforcement: the server's per-connection timer closes a silent connection
//! after `server_timeout × Keep Alive`, measured here against tight bounds.

use crate::support::server as support;

use mqtt_conform::codec::{Connect, Packet, ProtocolVersion};
use mqtt_conform::suite::profile::Profile;
use std::time::Duration;
use support::{Raw, WAIT, start_profile};
use tokio::time::Instant;

/// Our own timer: the close comes after factor × KA and at most this much later (room for
/// a loaded machine's scheduling; a timer counted from an earlier packet closes before the
/// window, a wrong factor misses it by 0.5 × KA or more).
const SLACK: Duration = Duration::from_millis(1500);

/// Connects with `keep_alive`, stays silent, and returns how long until the server closed
/// (measured from just before the CONNECT was sent) and what it sent before closing.
async fn silent_until_closed(
    profile: Profile,
    version: ProtocolVersion,
    keep_alive: u16,
) -> (Duration, Vec<Packet>) {
    let server = start_profile(profile).await;
    let mut c = Raw::open(server.local_addr, version).await;
    let mut connect = Connect::new(version, "ka");
    connect.keep_alive = keep_alive;
    let sent = Instant::now();
    c.send(&Packet::Connect(connect.into())).await;
    let seen = c.closed(WAIT).await;
    (sent.elapsed(), seen)
}

fn assert_window(took: Duration, expected: Duration) {
    eprintln!("closed after {took:?} (expected {expected:?})");
    assert!(
        took >= expected,
        "closed after {took:?}, before {expected:?}"
    );
    assert!(
        took <= expected + SLACK,
        "closed after {took:?}, later than {:?}",
        expected + SLACK
    );
}

#[tokio::test]
async fn closes_after_one_and_a_half_keepalive() {
    let (took, seen) = silent_until_closed(Profile::default(), ProtocolVersion::V3_1_1, 2).await;
    assert_window(took, Duration::from_millis(3000));
    assert!(matches!(seen.as_slice(), [Packet::ConnAck(_)]), "{seen:?}");
}

#[tokio::test]
async fn closes_after_two_and_a_half_keepalive_for_tuya() {
    let mut profile = Profile::default();
    profile.keepalive.server_timeout = 2.5;
    let (took, _) = silent_until_closed(profile, ProtocolVersion::V3_1_1, 1).await;
    assert_window(took, Duration::from_millis(2500));
}

#[tokio::test]
async fn mqtt5_gets_disconnect_0x8d_first() {
    let (took, seen) = silent_until_closed(Profile::default(), ProtocolVersion::V5, 1).await;
    assert_window(took, Duration::from_millis(1500));
    match seen.as_slice() {
        [Packet::ConnAck(_), Packet::Disconnect(d)] => assert_eq!(d.reason_code, 0x8D),
        other => panic!("expected CONNACK, DISCONNECT 0x8D; saw {other:?}"),
    }
}

#[tokio::test]
async fn every_packet_resets_the_timer() {
    let server = start_profile(Profile::default()).await;
    let mut c = Raw::open(server.local_addr, ProtocolVersion::V3_1_1).await;
    let mut connect = Connect::new(ProtocolVersion::V3_1_1, "ka");
    connect.keep_alive = 1;
    c.send(&Packet::Connect(connect.into())).await;
    assert!(matches!(c.recv().await, Packet::ConnAck(_)));
    // 2.4 s of traffic every 0.6 s: well past 1.5 s, never closed. The timer restarts
    // when the server reads the last PINGREQ, after it was sent.
    let mut last = Instant::now();
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(600)).await;
        last = Instant::now();
        c.ping().await;
    }
    c.closed(WAIT).await;
    assert_window(last.elapsed(), Duration::from_millis(1500));
}

#[tokio::test]
async fn keepalive_zero_disables_the_timer() {
    let server = start_profile(Profile::default()).await;
    let mut connect = Connect::new(ProtocolVersion::V3_1_1, "ka0");
    connect.keep_alive = 0;
    let (mut c, _) = Raw::connect(server.local_addr, connect).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    c.ping().await;
}

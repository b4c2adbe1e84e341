//! The client's conduct in device mode: for each `conduct` rule of the mqtt-3.1.1 and
//! mqtt-5 suites, a raw device that breaks exactly that statement is flagged with exactly
//! that rule (a behaviour that breaks two statements at once, e.g. an acknowledgement
//! never sent, is flagged with both), and a raw device that keeps every duty is flagged
//! with none.

use crate::support::cloud::Cloud;
use crate::support::raw_device::{RawDevice, failed};
use mqtt_conform::codec::{Packet, Properties, ProtocolVersion, QoS, RawBuilder};
use mqtt_conform::conduct::{ACK_WINDOW, CLOSE_WINDOW};
use std::time::Duration;

const V311: ProtocolVersion = ProtocolVersion::V3_1_1;
const V5: ProtocolVersion = ProtocolVersion::V5;

fn suite_of(version: ProtocolVersion) -> &'static str {
    if version.is_v5() {
        "mqtt-5"
    } else {
        "mqtt-3.1.1"
    }
}

/// Runs device mode for `version`'s baseline suite with `extra` flags, lets `device` play
/// its connections (`connections` of them), and returns the failed rules.
fn flagged_after(
    version: ProtocolVersion,
    tag: &str,
    connections: usize,
    extra: &[&str],
    device: impl FnOnce(&Cloud),
) -> Vec<String> {
    let cloud = Cloud::start_suite_for(
        suite_of(version),
        tag,
        connections,
        Duration::from_secs(40),
        extra,
    );
    device(&cloud);
    failed(&cloud.verdicts())
}

/// A device logged in (clean, client id `tag`) that sends `bytes` and closes.
fn sends(version: ProtocolVersion, tag: &str, bytes: &[u8]) -> Vec<String> {
    flagged_after(version, tag, 1, &[], |cloud| {
        let (mut d, _) = RawDevice::login(cloud, version, tag, true, Properties::new());
        d.send_bytes(bytes);
        d.close();
    })
}

fn ids(list: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = list.iter().map(|s| (*s).to_owned()).collect();
    v.sort();
    v
}

#[test]
fn a_device_keeping_every_duty_is_flagged_with_nothing() {
    for version in [V311, V5] {
        let flagged = flagged_after(version, "conforming", 1, &[], |cloud| {
            let (mut d, _) =
                RawDevice::login(cloud, version, "conforming", true, Properties::new());
            let delivered = d.delivered_to_self("c/1", QoS::AtLeastOnce, 1);
            d.ack(delivered.packet_id.unwrap(), Packet::PubAck);
            d.send(&Packet::Disconnect(Default::default()));
        });
        assert_eq!(flagged, Vec::<String>::new(), "MQTT {version}");
    }
}

#[test]
fn a_first_packet_other_than_connect_breaks_mqtt_3_1_0_1() {
    for version in [V311, V5] {
        // A device that never logs in does not count as one: the run ends on its duration.
        let cloud = Cloud::start_suite_for(
            suite_of(version),
            "first-packet",
            1,
            Duration::from_secs(3),
            &[],
        );
        let mut d = RawDevice::open(&cloud, version);
        d.send(&Packet::PingReq);
        assert!(d.closed_by_cloud());
        let run = cloud.finish();
        let verdicts: Vec<(String, String)> = run
            .groups
            .iter()
            .flat_map(|(_, cases)| cases)
            .map(|c| {
                (
                    c["id"].as_str().unwrap_or_default().to_owned(),
                    c["verdict"]["status"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                )
            })
            .collect();
        // DEVICE-LOGIN may fail too (no device logged in during the run): not a rule.
        let verdicts: Vec<(String, String)> = verdicts
            .into_iter()
            .filter(|(id, _)| id != "DEVICE-LOGIN")
            .collect();
        assert_eq!(
            failed(&verdicts),
            ids(&["MQTT-3.1.0-1"]),
            "MQTT {version}: exit {:?}",
            run.exit_code
        );
    }
}

#[test]
fn a_second_connect_breaks_mqtt_3_1_0_2() {
    for version in [V311, V5] {
        let flagged = flagged_after(version, "second-connect", 1, &[], |cloud| {
            let (mut d, _) =
                RawDevice::login(cloud, version, "second-connect", true, Properties::new());
            let again = mqtt_conform::codec::Connect::new(version, "second-connect");
            d.send(&Packet::Connect(Box::new(again)));
            d.closed_by_cloud();
        });
        assert_eq!(flagged, ids(&["MQTT-3.1.0-2"]), "MQTT {version}");
    }
}

#[test]
fn a_packet_after_disconnect_breaks_the_nothing_after_disconnect_statement() {
    for (version, rule) in [(V311, "MQTT-3.14.4-2"), (V5, "MQTT-3.14.4-1")] {
        let mut bytes = vec![0xE0, 0x00];
        bytes.extend_from_slice(&[0xC0, 0x00]);
        assert_eq!(
            sends(version, "after-disconnect", &bytes),
            ids(&[rule]),
            "MQTT {version}"
        );
    }
}

#[test]
fn a_device_that_stays_after_its_disconnect_breaks_the_close_statement() {
    for (version, rule) in [(V311, "MQTT-3.14.4-1"), (V5, "MQTT-3.14.4-2")] {
        let flagged = flagged_after(version, "stays", 1, &[], |cloud| {
            let (mut d, _) = RawDevice::login(cloud, version, "stays", true, Properties::new());
            d.send(&Packet::Disconnect(Default::default()));
            let stayed = d.hold_open(CLOSE_WINDOW + Duration::from_secs(3));
            assert!(!stayed, "the cloud closes after its wait");
        });
        assert_eq!(flagged, ids(&[rule]), "MQTT {version}");
    }
}

#[test]
fn a_packet_identifier_in_use_breaks_the_fresh_identifier_statement() {
    for (version, rule) in [(V311, "MQTT-2.3.1-2"), (V5, "MQTT-2.2.1-3")] {
        // The cloud withholds its PUBACK, so packet id 1 stays in use.
        let flagged = flagged_after(version, "in-use", 1, &["--withhold-puback"], |cloud| {
            let (mut d, _) = RawDevice::login(cloud, version, "in-use", true, Properties::new());
            d.publish("a/1", "x", QoS::AtLeastOnce, Some(1), false);
            d.publish("a/2", "y", QoS::AtLeastOnce, Some(1), false);
            d.hold_open(Duration::from_millis(300));
        });
        // The QoS 1 flow names the fresh identifier in MQTT-4.3.2-1 as well, and 5.0 the
        // identifier in use until its PUBACK in MQTT-4.3.2-3.
        let expected: &[&str] = if version.is_v5() {
            &[rule, "MQTT-4.3.2-1", "MQTT-4.3.2-3"]
        } else {
            &[rule, "MQTT-4.3.2-1"]
        };
        assert_eq!(flagged, ids(expected), "MQTT {version}");
    }
}

#[test]
fn acknowledgements_out_of_order_break_mqtt_4_6_0_2() {
    for version in [V311, V5] {
        let flagged = flagged_after(version, "ack-order", 1, &[], |cloud| {
            let (mut d, _) = RawDevice::login(cloud, version, "ack-order", true, Properties::new());
            let first = d.delivered_to_self("o/1", QoS::AtLeastOnce, 1);
            d.publish("o/1", "second", QoS::AtLeastOnce, Some(2), false);
            let Packet::Publish(second) =
                d.recv_until("the second delivery", |p| matches!(p, Packet::Publish(_)))
            else {
                unreachable!()
            };
            d.ack(second.packet_id.unwrap(), Packet::PubAck);
            d.ack(first.packet_id.unwrap(), Packet::PubAck);
            d.send(&Packet::Disconnect(Default::default()));
        });
        assert_eq!(flagged, ids(&["MQTT-4.6.0-2"]), "MQTT {version}");
    }
}

#[test]
fn a_delivery_never_acknowledged_breaks_the_acknowledgement_statements() {
    for (version, rule) in [(V311, "MQTT-4.3.2-2"), (V5, "MQTT-4.3.2-4")] {
        let flagged = flagged_after(version, "no-ack", 1, &[], |cloud| {
            let (mut d, _) = RawDevice::login(cloud, version, "no-ack", true, Properties::new());
            d.delivered_to_self("n/1", QoS::AtLeastOnce, 1);
            d.hold_open(ACK_WINDOW + Duration::from_millis(500));
        });
        assert_eq!(flagged, ids(&[rule, "MQTT-4.5.0-2"]), "MQTT {version}");
    }
}

#[test]
fn malformed_packets_are_flagged_with_the_statement_the_decoder_names() {
    // (version, rule, bytes after the login)
    let cases: Vec<(ProtocolVersion, &str, Vec<u8>)> = vec![
        (V311, "MQTT-2.2.2-1", vec![0xC1, 0x00]),
        (V5, "MQTT-2.1.3-1", vec![0xC1, 0x00]),
        (
            V311,
            "MQTT-3.3.1-2",
            RawBuilder::new(0x38).string("t").build(),
        ),
        (
            V311,
            "MQTT-3.3.2-2",
            RawBuilder::new(0x30).string("a/+").build(),
        ),
        (
            V311,
            "MQTT-2.3.1-1",
            RawBuilder::new(0x82).u16(0).string("a").byte(0).build(),
        ),
    ];
    for (version, rule, bytes) in cases {
        // A DUP flag on a QoS 0 PUBLISH also breaks the QoS 0 sender's own statement, a
        // wildcard in a topic name the topic rules' one.
        let also: &[&str] = match rule {
            "MQTT-3.3.1-2" => &["MQTT-4.3.1-1"],
            "MQTT-3.3.2-2" => &["MQTT-4.7.1-1"],
            _ => &[],
        };
        let expected: Vec<&str> = std::iter::once(rule).chain(also.iter().copied()).collect();
        assert_eq!(
            sends(version, "malformed", &bytes),
            ids(&expected),
            "MQTT {version} {rule}"
        );
    }
}

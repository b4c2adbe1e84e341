//! Capture mode end to end: `--pcap` judges recorded conversations with the same rules,
//! and gets the same verdicts, as device mode judging them live.
//!
//! Two sources of captures: our own `--capture` of a device-mode run, and a real capture
//! (tshark on the loopback interface) of real clients talking to mosquitto.

use crate::support::capture_cli;
use crate::support::cloud;
use crate::support::loopback::LoopbackCapture;
use crate::support::mosquitto;

use capture_cli::{judge_capture, rank};
use cloud::{Cloud, DEVICE_ID, SECRET, credentials, temp_dir};
use mosquitto::Mosquitto;
use mqtt_conform::auth::tuya::SignMethod;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const REPORT_BODY: &str =
    r#"{"msgId":"1","time":1626197189638,"data":{"c":{"value":1,"time":1626197189638}}}"#;

/// The suite without TLS, for captures whose MQTT must be readable.
fn plain_suite() -> String {
    format!(
        "{}/fixtures/suites/tuya-plain.yaml",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// The three devices every test plays: a conforming publish, one with Keep Alive 10 (below
/// Tuya's 30), one retained publish.
fn play_devices(port: u16, ca: Option<&Path>) {
    let topic = format!("tylink/{DEVICE_ID}/thing/property/report");
    for extra in [
        vec!["-q", "1"],
        vec!["-q", "1", "-k", "10"],
        vec!["-q", "1", "-r"],
    ] {
        let (id, user, pw) = credentials(SignMethod::HmacSha256, SECRET);
        let mut cmd = Command::new("mosquitto_pub");
        cmd.args(["-h", "127.0.0.1", "-p", &port.to_string(), "-V", "mqttv311"]);
        if let Some(ca) = ca {
            cmd.arg("--cafile").arg(ca);
        }
        let status = cmd
            .args([
                "-i",
                &id,
                "-u",
                &user,
                "-P",
                &pw,
                "-t",
                &topic,
                "-m",
                REPORT_BODY,
            ])
            .args(&extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("mosquitto_pub is installed (Debian package mosquitto-clients)");
        assert!(status.success(), "mosquitto_pub {extra:?}: {status}");
    }
}

/// Rule id → the worst verdict over every report group of the device (groups named after
/// its client id), leaving out `skip` (rules about the server, which differs).
fn worst_by_rule(groups: &[Value], skip: &[&str]) -> BTreeMap<String, String> {
    let client_id = format!("tuyalink_{DEVICE_ID}");
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for group in groups {
        if !group["name"]
            .as_str()
            .unwrap_or_default()
            .starts_with(&client_id)
        {
            continue;
        }
        for case in group["cases"].as_array().expect("cases") {
            let id = case["id"].as_str().unwrap_or_default();
            if skip.contains(&id) {
                continue;
            }
            let status = case["verdict"]["status"].as_str().unwrap_or_default();
            let slot = out.entry(id.to_owned()).or_default();
            if rank(status) > rank(slot) {
                *slot = status.to_owned();
            }
        }
    }
    out
}

fn groups(doc: &Value) -> Vec<Value> {
    doc["suites"].as_array().expect("suites").clone()
}

/// The flags the three devices must raise, and nothing else.
fn assert_expected_flags(by_rule: &BTreeMap<String, String>) {
    let flagged: Vec<(&str, &str)> = by_rule
        .iter()
        .filter(|(_, s)| s.as_str() != "passed")
        .map(|(id, s)| (id.as_str(), s.as_str()))
        .collect();
    assert_eq!(
        flagged,
        vec![("TUYA-FLAG-01", "warning"), ("TUYA-KA-01", "failed")],
        "{by_rule:?}"
    );
}

#[test]
fn a_capture_of_a_device_mode_run_gets_the_live_verdicts() {
    let dir = temp_dir("capture-live");
    let capture = dir.join("live.pcapng");
    let capture_arg = capture.to_string_lossy().into_owned();
    let cloud = Cloud::start("capture-live", 3, &["--capture", &capture_arg]);
    play_devices(cloud.port, Some(&cloud.ca));
    let live: Vec<Value> = vec![serde_json::json!({
        "name": format!("tuyalink_{DEVICE_ID}"),
        "cases": cloud.cases(),
    })];
    let live = worst_by_rule(&live, &[]);
    assert_expected_flags(&live);

    // The capture holds the MQTT as the cloud saw it (after TLS), on the cloud's port.
    let recorded = judge_capture("tuya", &[&capture], &[], &[SECRET]);
    let groups = groups(&recorded);
    let connections = groups
        .iter()
        .filter(|g| {
            g["name"]
                .as_str()
                .unwrap_or_default()
                .contains(" → 127.0.0.1:")
        })
        .count();
    assert_eq!(
        connections, 3,
        "one report group per connection: {groups:#?}"
    );
    assert_eq!(worst_by_rule(&groups, &[]), live);

    // The same file cut inside its last record: verdicts for everything before the cut,
    // and the broken tail named as an error.
    let bytes = std::fs::read(&capture).expect("capture");
    let cut = dir.join("cut.pcapng");
    std::fs::write(&cut, &bytes[..bytes.len() - 10]).expect("cut capture");
    let recorded = judge_capture("tuya", &[&cut], &[], &[SECRET]);
    let cut_groups = self::groups(&recorded);
    let truncated = cut_groups
        .iter()
        .flat_map(|g| g["cases"].as_array().expect("cases"))
        .find(|c| c["id"] == "CAPTURE-TRUNCATED")
        .unwrap_or_else(|| panic!("no CAPTURE-TRUNCATED case: {cut_groups:#?}"));
    assert_eq!(truncated["verdict"]["status"], "error", "{truncated}");
    assert!(
        truncated["verdict"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("1 × the capture file ends inside a record"),
        "{truncated}"
    );
    assert_eq!(worst_by_rule(&cut_groups, &[]), live);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_real_capture_of_clients_talking_to_mosquitto_gets_the_device_mode_verdicts() {
    let suite = plain_suite();
    // Device mode: the three clients judged live by the emulated cloud.
    let cloud = Cloud::start_suite(&suite, "capture-device", 3, &[]);
    play_devices(cloud.port, None);
    let device = worst_by_rule(
        &[serde_json::json!({
            "name": format!("tuyalink_{DEVICE_ID}"),
            "cases": cloud.cases(),
        })],
        &[],
    );
    assert_expected_flags(&device);

    // The same clients against mosquitto, captured off the wire by dumpcap.
    let broker = Mosquitto::start("capture-mosquitto", "allow_anonymous true");
    let wire = LoopbackCapture::start(broker.port, broker.dir.join("wire.pcapng"));
    play_devices(broker.port, None);
    let file = wire.stop();
    let port = broker.port.to_string();
    let recorded = judge_capture(&suite, &[&file], &["--port", &port], &[SECRET]);
    // Rules about the server judge mosquitto there and the emulator here: left out. So is
    // the client's close after its DISCONNECT: mosquitto closes at once, leaving the client
    // nothing to do, where the emulator waits to see the client close.
    let server_rules = ["TUYA-KA-02-SERVER", "TUYA-SESS-01", "MQTT-3.14.4-1"];
    assert_eq!(
        worst_by_rule(&groups(&recorded), &server_rules),
        worst_by_rule(
            &[
                serde_json::json!({"name": format!("tuyalink_{DEVICE_ID}"), "cases": device
                .iter()
                .map(|(id, s)| serde_json::json!({"id": id, "verdict": {"status": s}}))
                .collect::<Vec<_>>()})
            ],
            &server_rules
        ),
    );
}

/// One TCP segment taken out of a capture, owned.
#[derive(Clone)]
struct Seg {
    at: Duration,
    src: std::net::SocketAddr,
    dst: std::net::SocketAddr,
    seq: u32,
    ack: u32,
    flags: u8,
    payload: Vec<u8>,
}

fn segments_of(file: &Path) -> Vec<Seg> {
    let mut out = Vec::new();
    mqtt_conform::capture::read::read_paths(&[file], |item| {
        if let mqtt_conform::capture::read::Item::Segment(s) = item {
            out.push(Seg {
                at: s.at,
                src: s.src,
                dst: s.dst,
                seq: s.seq,
                ack: s.ack,
                flags: s.flags.0,
                payload: s.payload.to_vec(),
            });
        }
    })
    .expect("the capture reads");
    out
}

/// The IPv6 address standing for an IPv4 one (distinct per port so the flows stay apart).
fn v6(addr: std::net::SocketAddr) -> [u8; 16] {
    let mut a = [0u8; 16];
    a[0] = 0xfd;
    a[14..].copy_from_slice(&addr.port().to_be_bytes());
    a
}

/// Writes `segs` as a classic pcap (µs, little-endian) of Linux cooked (SLL) frames over
/// IPv6.
fn write_sll_ipv6_pcap(path: &Path, segs: &[Seg]) {
    use etherparse::{LinuxSllPacketType, PacketBuilder};
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&262_144u32.to_le_bytes());
    out.extend_from_slice(&113u32.to_le_bytes()); // LINKTYPE_LINUX_SLL
    for s in segs {
        let mut b = PacketBuilder::linux_sll(LinuxSllPacketType::OUTGOING, 6, [0; 8])
            .ipv6(v6(s.src), v6(s.dst), 64)
            .tcp(s.src.port(), s.dst.port(), s.seq, 65_535);
        if s.flags & 0x10 != 0 {
            b = b.ack(s.ack);
        }
        if s.flags & 0x02 != 0 {
            b = b.syn();
        }
        if s.flags & 0x01 != 0 {
            b = b.fin();
        }
        if s.flags & 0x04 != 0 {
            b = b.rst();
        }
        if s.flags & 0x08 != 0 {
            b = b.psh();
        }
        let mut frame = Vec::with_capacity(b.size(s.payload.len()));
        b.write(&mut frame, &s.payload).expect("frame");
        out.extend_from_slice(&(s.at.as_secs() as u32).to_le_bytes());
        out.extend_from_slice(&s.at.subsec_micros().to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&frame);
    }
    std::fs::write(path, out).expect("pcap written");
}

/// The capture of a device-mode run, rewritten the hard way — every data segment split in
/// two, each first half sent again (a retransmission), a 3-byte overlap resent with the
/// second half, neighbouring segments of a direction swapped (reordering), pairs of
/// segments merged (several packets in one segment), as Linux cooked frames over IPv6 in a
/// classic pcap — still gets exactly the verdicts of the clean capture.
#[test]
fn a_mangled_capture_over_sll_and_ipv6_gets_the_clean_verdicts() {
    let dir = temp_dir("capture-mangled");
    let clean = dir.join("clean.pcapng");
    let clean_arg = clean.to_string_lossy().into_owned();
    let cloud = Cloud::start("capture-mangled", 3, &["--capture", &clean_arg]);
    play_devices(cloud.port, Some(&cloud.ca));
    let _ = cloud.cases();
    let expected = worst_by_rule(
        &groups(&judge_capture("tuya", &[&clean], &[], &[SECRET])),
        &[],
    );
    assert_expected_flags(&expected);

    let segs = segments_of(&clean);
    let mut mangled: Vec<Seg> = Vec::new();
    let mut pending: Option<Seg> = None;
    for (i, s) in segs.into_iter().enumerate() {
        if s.payload.len() < 8 {
            if let Some(p) = pending.take() {
                mangled.push(p);
            }
            mangled.push(s);
            continue;
        }
        let half = s.payload.len() / 2;
        let first = Seg {
            payload: s.payload[..half].to_vec(),
            ..s.clone()
        };
        let second = Seg {
            seq: s.seq.wrapping_add(half as u32 - 3),
            payload: s.payload[half - 3..].to_vec(),
            ..s.clone()
        };
        match i % 3 {
            // Split, with the first half retransmitted and the second overlapping it.
            0 => mangled.extend([first.clone(), first, second]),
            // Split and reordered: the second half arrives first.
            1 => mangled.extend([second, first]),
            // Held back and merged with the next data segment of the same direction.
            _ => match pending.take() {
                Some(p)
                    if p.src == s.src && p.seq.wrapping_add(p.payload.len() as u32) == s.seq =>
                {
                    let mut merged = p;
                    merged.payload.extend_from_slice(&s.payload);
                    mangled.push(merged);
                }
                Some(p) => {
                    mangled.push(p);
                    pending = Some(s);
                }
                None => pending = Some(s),
            },
        }
    }
    if let Some(p) = pending {
        mangled.push(p);
    }
    let mangled_file = dir.join("mangled.pcap");
    write_sll_ipv6_pcap(&mangled_file, &mangled);
    let report = judge_capture("tuya", &[&mangled_file], &[], &[SECRET]);
    let groups = groups(&report);
    assert!(
        !groups.iter().any(|g| g["name"] == "capture"),
        "retransmissions, overlaps and reordering lose nothing: {groups:#?}"
    );
    assert_eq!(worst_by_rule(&groups, &[]), expected);
    let _ = std::fs::remove_dir_all(&dir);
}

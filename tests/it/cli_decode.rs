//! `mqtt-conform decode` as a user runs it: the real binary, arguments, stdin, exit codes.

use std::io::Write;
use std::process::{Command, Stdio};

fn decode(args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mqtt-conform"));
    cmd.arg("decode").args(args);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("binary runs");
    let mut input = child.stdin.take().expect("stdin");
    input
        .write_all(stdin.unwrap_or("").as_bytes())
        .expect("stdin written");
    drop(input);
    let out = child.wait_with_output().expect("binary exits");
    (
        out.status.code().expect("exit code"),
        String::from_utf8(out.stdout).expect("utf-8 stdout"),
        String::from_utf8(out.stderr).expect("utf-8 stderr"),
    )
}

#[test]
fn text_lists_fields_and_exits_zero() {
    let (code, out, _) = decode(
        &[
            "10 19 0004 4d515454 04 c2 003c 0003 636964 0004 75736572 0002 7077",
            "32 09 0003 612f62 000a 6869",
        ],
        None,
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.starts_with("CONNECT (MQTT 3.1.1, bytes 0..27)\n  protocol: \"3.1.1\"\n"),
        "{out}"
    );
    assert!(out.contains("client_id: \"cid\""), "{out}");
    assert!(out.contains("PUBLISH (MQTT 3.1.1, bytes 27..38)"), "{out}");
    assert!(out.contains("payload: 2 bytes \"hi\""), "{out}");
    assert!(out.ends_with("ok: 2 packet(s), no violation\n"), "{out}");
}

#[test]
fn violation_names_statement_offset_and_exits_one() {
    let (code, out, _) = decode(&["10 0d 0004 4d515454 04 03 003c 0001 63"], None);
    assert_eq!(code, 1);
    assert!(
        out.contains("violation [MQTT-3.1.2-3] at byte 9: CONNECT reserved flag (bit 0) is set"),
        "{out}"
    );
}

#[test]
fn json_document_shape() {
    let (code, out, _) = decode(&["--format", "json", "c0 00 30 07 0003 612f23 6869"], None);
    assert_eq!(code, 1);
    let doc: serde_json::Value = serde_json::from_str(&out).expect("one JSON document");
    assert_eq!(doc["packets"][0]["type"], "PINGREQ");
    assert_eq!(doc["packets"].as_array().map(Vec::len), Some(1));
    assert_eq!(doc["error"]["statement"], "MQTT-3.3.2-2");
    assert_eq!(
        doc["error"]["offset"], 4,
        "offset counts from the start of the input"
    );
    assert!(
        doc["error"]["message"]
            .as_str()
            .unwrap()
            .contains("wildcard")
    );

    let (code, out, _) = decode(&["--format", "json", "20 02 00 00"], None);
    assert_eq!(code, 0);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["error"], serde_json::Value::Null);
    assert_eq!(doc["packets"][0]["type"], "CONNACK");
    assert_eq!(doc["packets"][0]["code"], 0);
}

#[test]
fn reads_stdin_and_takes_the_version_from_a_connect() {
    // 5.0 CONNECT then a PUBACK with reason code 0x10: valid only as 5.0.
    let (code, out, _) = decode(
        &[],
        Some("10 0d 0004 4d515454 05 02 003c 00 0000\n40 03 000a 10\n"),
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("PUBACK (MQTT 5.0"), "{out}");
    assert!(
        out.contains("reason_code: 0x10 (No matching subscribers)"),
        "{out}"
    );
}

#[test]
fn protocol_flag_overrides() {
    let (code, _, _) = decode(&["--protocol", "5", "20 03 00 00 00"], None);
    assert_eq!(code, 0);
    let (code, out, _) = decode(&["--protocol", "3.1.1", "20 03 00 00 00"], None);
    assert_eq!(code, 1);
    assert!(out.contains("unexpected byte"), "{out}");
    let (code, _, err) = decode(&["--protocol", "6", "c0 00"], None);
    assert_eq!(code, 2);
    assert!(err.contains("unknown MQTT protocol version"), "{err}");
}

#[test]
fn bad_hex_and_truncated_input_are_named() {
    let (code, _, err) = decode(&["c0 0"], None);
    assert_eq!(code, 2);
    assert!(err.contains("odd number of hex digits"), "{err}");
    let (code, _, err) = decode(&["xyz"], None);
    assert_eq!(code, 2);
    assert!(err.contains("not a hex digit"), "{err}");
    let (code, out, _) = decode(&["30 07 0003"], None);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("incomplete: the PUBLISH at byte 0 is 9 bytes long"),
        "{out}"
    );
    let (code, _, err) = decode(&[], Some(""));
    assert_eq!(code, 2);
    assert!(err.contains("no bytes"), "{err}");
}

#[test]
fn max_packet_size_is_enforced_from_the_header() {
    let (code, out, _) = decode(&["--max-packet-size", "16", "30 ff ff ff 7f"], None);
    assert_eq!(code, 1);
    assert!(out.contains("exceeds the maximum of 16 bytes"), "{out}");
}

#[test]
fn input_that_ends_early_is_incomplete_not_a_violation() {
    // Remaining Length 5, three bytes given: nothing in it breaks the protocol.
    let (code, out, _) = decode(&["30 05 00 01 74"], None);
    assert_eq!(code, 2, "{out}");
    assert_eq!(
        out,
        "incomplete: the PUBLISH at byte 0 is 7 bytes long but the input ends after 5 of them \
         (2 more needed); not a protocol violation\n"
    );
    assert!(!out.contains("violation MQTT"), "{out}");
    // Inside the fixed header, after a complete packet.
    let (code, out, _) = decode(&["c0 00 30"], None);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.starts_with("PINGREQ (MQTT 3.1.1, bytes 0..2)\n"),
        "{out}"
    );
    assert!(
        out.contains("the input ends inside the fixed header of the PUBLISH at byte 2"),
        "{out}"
    );
    let (code, out, _) = decode(&["--format", "json", "30 05 00 01 74"], None);
    assert_eq!(code, 2, "{out}");
    let doc: serde_json::Value = serde_json::from_str(&out).expect("one JSON document");
    assert_eq!(doc["error"], serde_json::Value::Null);
    assert_eq!(doc["incomplete"]["offset"], 0);
    assert_eq!(doc["incomplete"]["have"], 5);
    assert_eq!(doc["incomplete"]["need"], 7);
    assert_eq!(doc["incomplete"]["type"], "PUBLISH");
    // A real framing violation is still one.
    let (code, out, _) = decode(&["30 ff ff ff ff 01"], None);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("violation"), "{out}");
}

#[test]
fn mqtt311_packets_show_no_mqtt5_reason_codes() {
    // A 3.1.1 DISCONNECT and PUBACK: neither has a reason code on the wire.
    let (code, out, _) = decode(&["e0 00 40 02 00 01"], None);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("reason_code"), "{out}");
    assert!(!out.contains("Success"), "{out}");
    assert!(
        out.contains("PUBACK (MQTT 3.1.1, bytes 2..6)\n  packet_id: 1\n"),
        "{out}"
    );
    // The same DISCONNECT as 5.0 names its reason.
    let (code, out, _) = decode(&["--protocol", "5", "e0 00"], None);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("reason_code: 0x00 (Normal disconnection)"),
        "{out}"
    );
}

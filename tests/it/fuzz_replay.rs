//! The fuzz targets' checks (`fuzz/fuzz_targets/*_check.rs`) over fixed, deterministic
//! inputs, so that every `cargo test` runs them without cargo-fuzz or a nightly toolchain:
//! the built-in suites cut short and with bytes changed, and device sessions (a CONNECT
//! with the platform's example credentials, then SUBSCRIBE, PUBLISH at each QoS, PINGREQ
//! and DISCONNECT) cut short, with bytes changed and written in several chunk sizes.
//!
//! `cargo test --test it -- --ignored fuzz_replay::` also writes the session inputs and small
//! suites cut from the built-in ones to `fuzz/corpus/` as the fuzzers' starting corpora
//! (see the README).

#[path = "../../fuzz/fuzz_targets/session_check.rs"]
mod session_check;
#[path = "../../fuzz/fuzz_targets/suite_check.rs"]
mod suite_check;

use mqtt_conform::codec::{
    Connect, Disconnect, Packet, Publish, QoS, Subscribe, Subscription, encode_to_vec,
};
use std::collections::BTreeMap;

/// A fixed pseudo-random sequence (xorshift64): the same inputs on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// `count` variants of `input`: cut at a random point, or with a few bytes changed.
fn mutations(input: &[u8], rng: &mut Rng, count: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| {
            let mut v = input.to_vec();
            if i % 2 == 0 {
                v.truncate(rng.below(input.len() + 1));
            } else {
                for _ in 0..1 + rng.below(4) {
                    let at = rng.below(v.len());
                    v[at] = rng.next() as u8;
                }
            }
            v
        })
        .collect()
}

/// A topic matching `pattern`: wildcards replaced by a level.
fn topic_of(pattern: &str) -> String {
    pattern.replace(['+', '#'], "x")
}

/// A conforming session of the platform's example device, as the bytes it sends.
fn session(suite_name: &str) -> Vec<u8> {
    let suite = mqtt_conform::suite::load(suite_name).expect("a built-in suite");
    let params = suite
        .resolve_params(&BTreeMap::new(), true)
        .expect("examples");
    let session = mqtt_conform::session::Session::new(&suite, &params).expect("a session");
    let creds = session.credentials(&suite).expect("credentials");
    let vars = &session.vars;
    let version = suite.protocol;
    let mut connect = Connect::new(version, creds.client_id.unwrap_or("fuzz".into()));
    connect.username = creds.username;
    connect.password = creds.password.map(Into::into);
    connect.keep_alive = suite.keepalive;
    let profile = suite.profile.clone();
    let pattern = |list: &[String]| {
        list.first()
            .map(|p| topic_of(&vars.interpolate(p).expect("known variables")))
            .unwrap_or_else(|| "a/b".into())
    };
    let publish_topic = pattern(&profile.topics.publish);
    let filter = match profile.topics.subscribe.first() {
        Some(p) => vars.interpolate(p).expect("known variables"),
        None => publish_topic.clone(),
    };
    let mut packets = vec![
        Packet::Connect(connect.into()),
        Packet::Subscribe(Subscribe {
            packet_id: 1,
            properties: Default::default(),
            subscriptions: vec![Subscription::new(filter, QoS::AtLeastOnce)],
        }),
    ];
    for (pid, qos) in [
        (0, QoS::AtMostOnce),
        (2, QoS::AtLeastOnce),
        (3, QoS::ExactlyOnce),
    ] {
        let mut p = Publish::new(publish_topic.clone(), r#"{"id":"1","method":"m"}"#);
        p.qos = qos;
        p.packet_id = (pid != 0).then_some(pid);
        packets.push(Packet::Publish(p));
    }
    packets.push(Packet::PingReq);
    packets.push(Packet::Disconnect(Disconnect::default()));
    let mut bytes = Vec::new();
    for p in &packets {
        bytes.extend(encode_to_vec(p, version).expect("encodes"));
    }
    bytes
}

/// Session inputs: platform byte, chunk-size byte, then a session or a variant of it.
fn session_inputs() -> Vec<Vec<u8>> {
    let mut rng = Rng(0x5eed_cafe_f00d_d00d);
    let mut out = Vec::new();
    for (index, name) in session_check::SUITES.iter().enumerate() {
        let whole = session(name);
        let mut bodies = vec![whole.clone()];
        bodies.extend(mutations(&whole, &mut rng, 24));
        for (i, body) in bodies.into_iter().enumerate() {
            let chunk = [255u8, 1, 7][i % 3];
            let mut input = vec![index as u8, chunk];
            input.extend(body);
            out.push(input);
        }
    }
    out
}

#[test]
fn device_sessions_of_every_platform_pass_the_session_checks() {
    let inputs = session_inputs();
    assert!(inputs.len() >= 150, "{} inputs", inputs.len());
    for (i, input) in inputs.iter().enumerate() {
        let served = session_check::check(input);
        // Every 25th input is a whole session: the example device gets in and is answered
        // (CONNACK, SUBACK, PUBACK at least; a platform without QoS 2 closes on it), so
        // the variants reach that far too.
        if i % 25 == 0 {
            assert!(
                served.accepted && served.server_packets >= 3,
                "{}: {served:?}",
                session_check::SUITES[usize::from(input[0])]
            );
        }
    }
}

#[test]
fn built_in_suites_and_their_variants_pass_the_loader_checks() {
    let mut rng = Rng(0x0dd5_eed5_1234_5678);
    let mut checked = 0;
    for path in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/suites")).expect("suites/")
    {
        let text = std::fs::read(path.expect("an entry").path()).expect("a suite file");
        suite_check::check(&text);
        for variant in mutations(&text, &mut rng, 8) {
            suite_check::check(&variant);
            checked += 1;
        }
    }
    assert!(checked >= 40, "{checked} variants");
}

/// Small suites cut from the built-in ones, as the suite fuzzer's seeds: each top-level
/// section (`extends` and `name` left out, so that no seed re-reads a large built-in suite)
/// in pieces of whole list items, each seed at most 1 KiB.
fn suite_seeds() -> Vec<String> {
    let mut seeds = Vec::new();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/suites");
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .expect("suites/")
        .map(|e| e.expect("an entry").path())
        .collect();
    paths.sort();
    for path in paths {
        let text = std::fs::read_to_string(&path).expect("a suite file");
        let header = "name: seed\nprotocol: \"3.1.1\"\n";
        for section in text
            .split("\n")
            .fold(Vec::<String>::new(), |mut acc, line| {
                let top_level = line.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
                if top_level || acc.is_empty() {
                    acc.push(String::new());
                }
                let last = acc.last_mut().expect("one section");
                last.push_str(line);
                last.push('\n');
                acc
            })
        {
            if section.starts_with("extends:") || section.starts_with("name:") {
                continue;
            }
            let mut items = section.split("\n  - ");
            let key = items.next().unwrap_or_default().to_owned();
            let mut piece = key.clone();
            for item in items {
                if header.len() + piece.len() + item.len() > 1000 {
                    seeds.push(format!("{header}{piece}\n"));
                    piece = key.lines().next().unwrap_or_default().to_owned();
                }
                piece.push_str("\n  - ");
                piece.push_str(item);
            }
            seeds.push(format!("{header}{piece}\n"));
        }
    }
    seeds.retain(|s| s.len() <= 1024);
    seeds
}

/// Writes the fuzzers' starting corpora: the session inputs to `fuzz/corpus/session`, the
/// suite seeds to `fuzz/corpus/suite`.
#[test]
#[ignore = "writes files: run it before fuzzing the suite and session targets"]
fn write_the_fuzz_corpora() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/corpus");
    for (target, inputs) in [
        ("session", session_inputs()),
        (
            "suite",
            suite_seeds().into_iter().map(String::into_bytes).collect(),
        ),
    ] {
        let dir = format!("{root}/{target}");
        std::fs::create_dir_all(&dir).expect("the corpus directory");
        for (i, input) in inputs.iter().enumerate() {
            std::fs::write(format!("{dir}/seed-{i:04}"), input).expect("a corpus file");
        }
    }
}

#[test]
fn the_suite_seeds_are_small_and_many() {
    let seeds = suite_seeds();
    assert!(seeds.len() >= 200, "{} seeds", seeds.len());
    assert!(seeds.iter().all(|s| !s.contains("\nextends:")));
}

//! Real handshakes between a rustls client and server, every supported version and
//! suite, decrypted from the key log rustls writes.

use super::*;

use std::io::{ErrorKind, Read, Write};
use std::sync::{Mutex, OnceLock};

use rustls::crypto::ring::{cipher_suite as cs, default_provider, kx_group};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{
    ClientConfig, ClientConnection, Connection, HandshakeKind, RootCertStore, ServerConfig,
    ServerConnection, SupportedCipherSuite, SupportedProtocolVersion,
};

/// Collects the NSS key log lines rustls hands out.
#[derive(Debug, Default)]
struct Lines(Mutex<String>);

impl rustls::KeyLog for Lines {
    fn log(&self, label: &str, client_random: &[u8], secret: &[u8]) {
        let line = format!(
            "{label} {} {}\n",
            hex::encode(client_random),
            hex::encode(secret)
        );
        self.0.lock().unwrap().push_str(&line);
    }
}

fn certificate() -> &'static (CertificateDer<'static>, Vec<u8>) {
    static CERT: OnceLock<(CertificateDer<'static>, Vec<u8>)> = OnceLock::new();
    CERT.get_or_init(|| {
        let made = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        (made.cert.der().clone(), made.signing_key.serialize_der())
    })
}

#[derive(Clone)]
struct Configs {
    client: Arc<ClientConfig>,
    server: Arc<ServerConfig>,
    keys: Arc<Lines>,
}

/// Client and server restricted to one version and suite; `hello_retry`: the server
/// only accepts a group the client does not send a key share for.
fn configs(
    version: &'static SupportedProtocolVersion,
    suite: SupportedCipherSuite,
    hello_retry: bool,
) -> Configs {
    let (cert, key) = certificate();
    let mut provider = default_provider();
    provider.cipher_suites = vec![suite];
    let mut server_provider = provider.clone();
    if hello_retry {
        provider.kx_groups = vec![kx_group::X25519, kx_group::SECP256R1];
        server_provider.kx_groups = vec![kx_group::SECP256R1];
    }
    let mut roots = RootCertStore::empty();
    roots.add(cert.clone()).unwrap();
    let keys = Arc::new(Lines::default());
    let mut client = ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&[version])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    client.key_log = keys.clone();
    let server = ServerConfig::builder_with_provider(Arc::new(server_provider))
        .with_protocol_versions(&[version])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.clone())),
        )
        .unwrap();
    Configs {
        client: Arc::new(client),
        server: Arc::new(server),
        keys,
    }
}

/// A recorded connection.
struct Session {
    /// Every write of either side, in the order produced.
    chunks: Vec<(bool, Vec<u8>)>,
    /// The application data each side's peer read: [client→server, server→client].
    received: [Vec<u8>; 2],
    keylog: String,
    kind: Option<HandshakeKind>,
    early_accepted: bool,
}

struct Pair {
    conns: [Connection; 2],
    chunks: Vec<(bool, Vec<u8>)>,
    received: [Vec<u8>; 2],
}

impl Pair {
    /// Moves bytes both ways until neither side has anything to write.
    fn pump(&mut self) {
        loop {
            let [client, server] = &mut self.conns;
            let a = move_tls(
                client,
                server,
                true,
                &mut self.chunks,
                &mut self.received[0],
            );
            let b = move_tls(
                server,
                client,
                false,
                &mut self.chunks,
                &mut self.received[1],
            );
            if !a && !b {
                return;
            }
        }
    }

    fn send(&mut self, client: bool, data: &[u8]) {
        self.conns[usize::from(!client)]
            .writer()
            .write_all(data)
            .unwrap();
        self.pump();
    }
}

fn move_tls(
    from: &mut Connection,
    to: &mut Connection,
    from_client: bool,
    chunks: &mut Vec<(bool, Vec<u8>)>,
    received: &mut Vec<u8>,
) -> bool {
    let mut moved = false;
    while from.wants_write() {
        let mut buf = Vec::new();
        from.write_tls(&mut buf).unwrap();
        if buf.is_empty() {
            break;
        }
        let mut rest = &buf[..];
        while !rest.is_empty() {
            if to.read_tls(&mut rest).unwrap() == 0 {
                break;
            }
            to.process_new_packets().unwrap();
        }
        let mut tmp = [0u8; 4096];
        loop {
            match to.reader().read(&mut tmp) {
                Ok(0) => break,
                Ok(n) => received.extend_from_slice(&tmp[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => panic!("{e}"),
            }
        }
        if let Connection::Server(s) = to {
            // Early data is read (and not counted as ordinary application data).
            if let Some(mut early) = s.early_data() {
                let mut sink = Vec::new();
                early.read_to_end(&mut sink).unwrap();
            }
        }
        chunks.push((from_client, buf));
        moved = true;
    }
    moved
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(7).wrapping_add(seed))
        .collect()
}

/// A handshake, application data both ways (one message larger than a record), a
/// key update each way when `key_update`, and close_notify both ways.
fn converse(cfg: &Configs, early: Option<&[u8]>, key_update: bool) -> Session {
    cfg.keys.0.lock().unwrap().clear();
    let mut client =
        ClientConnection::new(cfg.client.clone(), "localhost".try_into().unwrap()).unwrap();
    if let Some(data) = early {
        client
            .early_data()
            .expect("0-RTT possible")
            .write_all(data)
            .unwrap();
    }
    let server = ServerConnection::new(cfg.server.clone()).unwrap();
    let mut pair = Pair {
        conns: [Connection::Client(client), Connection::Server(server)],
        chunks: Vec::new(),
        received: [Vec::new(), Vec::new()],
    };
    pair.pump();
    let mut sent = [Vec::new(), Vec::new()];
    let mut send = |pair: &mut Pair, client: bool, data: &[u8]| {
        sent[usize::from(!client)].extend_from_slice(data);
        pair.send(client, data);
    };
    send(&mut pair, true, b"CONNECT from the client");
    send(&mut pair, false, b"CONNACK from the server");
    send(&mut pair, true, &pattern(20_000, 1));
    if key_update {
        pair.conns[0].refresh_traffic_keys().unwrap();
        pair.pump();
        pair.conns[1].refresh_traffic_keys().unwrap();
        pair.pump();
    }
    send(&mut pair, true, b"after the key update");
    send(&mut pair, false, &pattern(17_000, 2));
    send(&mut pair, false, b"bye");
    pair.conns[0].send_close_notify();
    pair.pump();
    pair.conns[1].send_close_notify();
    pair.pump();
    let Connection::Client(client) = &pair.conns[0] else {
        unreachable!()
    };
    let early_accepted = client.is_early_data_accepted();
    let kind = client.handshake_kind();
    // The harness itself: each side read what the other sent.
    same(&pair.received[0], &sent[0], "rustls client→server");
    same(&pair.received[1], &sent[1], "rustls server→client");
    Session {
        chunks: pair.chunks,
        received: pair.received,
        keylog: cfg.keys.0.lock().unwrap().clone(),
        kind,
        early_accepted,
    }
}

/// Decrypts `session` in every split and checks the plaintext both ways.
fn check(session: &Session, version: u16, suite: u16) {
    let keys = KeyLog::parse(&session.keylog, "rustls").unwrap();
    assert_eq!(keys.len(), 1);
    for split in SPLITS {
        let (plain, status) = decrypt(&keys, &session.chunks, split);
        same(
            &plain[0],
            &session.received[0],
            &format!("{split:?} client→server"),
        );
        same(
            &plain[1],
            &session.received[1],
            &format!("{split:?} server→client"),
        );
        assert_eq!(
            status.client.state,
            DirState::Closed(CLOSE_NOTIFY),
            "{split:?}"
        );
        assert_eq!(
            status.server.state,
            DirState::Closed(CLOSE_NOTIFY),
            "{split:?}"
        );
        assert_eq!(status.negotiated(), Some(version));
        assert_eq!(status.cipher_suite(), Some(suite));
        assert_eq!(status.sni(), Some("localhost"));
    }
}

#[test]
fn rustls_tls13_all_suites_with_key_updates() {
    for (suite, code) in [
        (cs::TLS13_AES_128_GCM_SHA256, 0x1301),
        (cs::TLS13_AES_256_GCM_SHA384, 0x1302),
        (cs::TLS13_CHACHA20_POLY1305_SHA256, 0x1303),
    ] {
        let cfg = configs(&rustls::version::TLS13, suite, false);
        let session = converse(&cfg, None, true);
        assert_eq!(session.kind, Some(HandshakeKind::Full));
        check(&session, 0x0304, code);
        let (_, status) = decrypt(
            &KeyLog::parse(&session.keylog, "k").unwrap(),
            &session.chunks,
            Split::AsWritten,
        );
        assert!(status.client.key_updates >= 1 && status.server.key_updates >= 1);
    }
}

#[test]
fn rustls_tls12_all_suites() {
    for (suite, code) in [
        (cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, 0xC02B),
        (cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, 0xC02C),
        (cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, 0xCCA9),
    ] {
        let cfg = configs(&rustls::version::TLS12, suite, false);
        let session = converse(&cfg, None, false);
        check(&session, 0x0303, code);
    }
}

#[test]
fn rustls_hello_retry_request() {
    let cfg = configs(&rustls::version::TLS13, cs::TLS13_AES_128_GCM_SHA256, true);
    let session = converse(&cfg, None, false);
    assert_eq!(session.kind, Some(HandshakeKind::FullWithHelloRetryRequest));
    check(&session, 0x0304, 0x1301);
    let keys = KeyLog::parse(&session.keylog, "k").unwrap();
    let (_, status) = decrypt(&keys, &session.chunks, Split::AsWritten);
    assert!(status.hello_retry);
    assert!(!status.server_hello.unwrap().hello_retry);
}

#[test]
fn rustls_resumed_sessions() {
    for (version, suite, code, v) in [
        (
            &rustls::version::TLS12,
            cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            0xC02B,
            0x0303,
        ),
        (
            &rustls::version::TLS13,
            cs::TLS13_AES_256_GCM_SHA384,
            0x1302,
            0x0304,
        ),
    ] {
        let cfg = configs(version, suite, false);
        converse(&cfg, None, false);
        let session = converse(&cfg, None, false);
        assert_eq!(session.kind, Some(HandshakeKind::Resumed), "{v:#x}");
        check(&session, v, code);
    }
}

#[test]
fn rustls_accepted_early_data_stops_the_client_direction() {
    let mut cfg = configs(&rustls::version::TLS13, cs::TLS13_AES_128_GCM_SHA256, false);
    let mut client = (*cfg.client).clone();
    client.enable_early_data = true;
    cfg.client = Arc::new(client);
    let mut server = (*cfg.server).clone();
    server.max_early_data_size = 1 << 14;
    cfg.server = Arc::new(server);
    converse(&cfg, None, false);
    let session = converse(&cfg, Some(b"0-RTT CONNECT"), false);
    assert!(session.early_accepted);
    let keys = KeyLog::parse(&session.keylog, "k").unwrap();
    let (plain, status) = decrypt(&keys, &session.chunks, Split::AsWritten);
    assert_eq!(status.early_data_accepted, Some(true));
    assert_eq!(
        status.client.state,
        DirState::Stopped(StopReason::EarlyData)
    );
    assert!(plain[0].is_empty());
    same(&plain[1], &session.received[1], "server→client");

    // Rejected: the server discards the 0-RTT records, so can the decryptor.
    let mut server = (*cfg.server).clone();
    server.max_early_data_size = 0;
    let rejecting = Configs {
        server: Arc::new(server),
        ..cfg.clone()
    };
    converse(&cfg, None, false);
    let session = converse(&rejecting, Some(b"0-RTT CONNECT"), false);
    assert!(!session.early_accepted);
    let keys = KeyLog::parse(&session.keylog, "k").unwrap();
    for split in [Split::AsWritten, Split::Bytes, Split::Random(3)] {
        let (plain, status) = decrypt(&keys, &session.chunks, split);
        assert_eq!(status.early_data_accepted, Some(false));
        assert!(status.client.skipped_early_records >= 1);
        same(&plain[0], &session.received[0], "client→server");
        same(&plain[1], &session.received[1], "server→client");
        assert_eq!(status.client.state, DirState::Closed(CLOSE_NOTIFY));
    }
}

// --- Hostile input -------------------------------------------------------------------

/// Two recorded sessions to corrupt: TLS 1.3 with key updates, TLS 1.2 ChaCha20.
fn recorded() -> &'static [Session; 2] {
    static SESSIONS: OnceLock<[Session; 2]> = OnceLock::new();
    SESSIONS.get_or_init(|| {
        [
            converse(
                &configs(&rustls::version::TLS13, cs::TLS13_AES_128_GCM_SHA256, false),
                None,
                true,
            ),
            converse(
                &configs(
                    &rustls::version::TLS12,
                    cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
                    false,
                ),
                None,
                false,
            ),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Corrupt one byte anywhere: never a panic, and what comes out is a prefix of
    /// the real plaintext (authentication lets nothing forged through).
    #[test]
    fn corrupted_sessions_yield_a_prefix_of_the_plaintext(
        which in 0usize..2,
        at in any::<prop::sample::Index>(),
        flip in 1u8..=255,
        seed in any::<u64>(),
    ) {
        let session = &recorded()[which];
        let mut chunks = session.chunks.clone();
        let total: usize = chunks.iter().map(|(_, b)| b.len()).sum();
        let mut at = at.index(total);
        for (_, b) in &mut chunks {
            if at < b.len() {
                b[at] ^= flip;
                break;
            }
            at -= b.len();
        }
        let keys = KeyLog::parse(&session.keylog, "k").unwrap();
        let (plain, _) = decrypt(&keys, &chunks, Split::Random(seed));
        prop_assert!(session.received[0].starts_with(&plain[0]));
        prop_assert!(session.received[1].starts_with(&plain[1]));
    }

    /// Random bytes after real hellos, in random chunks: no panic, no plaintext.
    #[test]
    fn garbage_never_panics_nor_decrypts(
        client in prop::collection::vec(any::<u8>(), 0..3000),
        server in prop::collection::vec(any::<u8>(), 0..3000),
        hellos in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let keys = KeyLog::parse(&rfc_keylog(), "k").unwrap();
        let mut chunks = Vec::new();
        if hellos {
            chunks.push((true, rfc_ch_record()));
            chunks.push((false, hex(RFC_SH_REC)));
        }
        chunks.push((true, client));
        chunks.push((false, server));
        let (plain, status) = decrypt(&keys, &chunks, Split::Random(seed));
        prop_assert!(plain[0].is_empty() && plain[1].is_empty());
        prop_assert!(status.client.records == 0 && status.server.records == 0);
    }

    /// Records with plausible headers and random bodies (and the hellos first).
    #[test]
    fn random_records_never_panic(
        records in prop::collection::vec(
            (any::<bool>(), 20u8..=24, prop::collection::vec(any::<u8>(), 0..200)),
            0..40,
        ),
        seed in any::<u64>(),
    ) {
        let keys = KeyLog::parse(&rfc_keylog(), "k").unwrap();
        let mut chunks = vec![(true, rfc_ch_record()), (false, hex(RFC_SH_REC))];
        for (client, ty, body) in records {
            let mut r = vec![ty, 3, 3];
            r.extend(u16::try_from(body.len()).unwrap().to_be_bytes());
            r.extend(body);
            chunks.push((client, r));
        }
        let (plain, _) = decrypt(&keys, &chunks, Split::Random(seed));
        prop_assert!(plain[0].is_empty() && plain[1].is_empty());
    }
}

//! Unit tests of the TLS reader and decryptor: RFC 8448 traces, known answers, failures
//! and the key log here; real rustls handshakes in `handshakes`.

mod handshakes;

use super::decrypt::*;
use super::status::*;
use super::*;

use proptest::prelude::*;

fn hex(s: &str) -> Vec<u8> {
    let digits: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    let mut out = vec![0; digits.len() / 2];
    decode_hex(&digits, &mut out).expect("hex");
    out
}

const CLOSE_NOTIFY: Alert = Alert {
    level: 1,
    description: 0,
};

/// Where two byte strings first differ (assert_eq! on 20 KB is unreadable).
#[track_caller]
fn same(got: &[u8], want: &[u8], what: &str) {
    if got != want {
        let at = got.iter().zip(want).position(|(a, b)| a != b);
        panic!(
            "{what}: got {} bytes, want {}; first difference at {at:?}",
            got.len(),
            want.len()
        );
    }
}

// --- RFC 8448 section 3, "Simple 1-RTT Handshake" -----------------------------------

const RFC_RANDOM: &str = "cb34ecb1e78163ba1c38c6dacb196a6dffa21a8d9912ec18a2ef6283024dece7";
const RFC_CHTS: &str = "b3eddb126e067f35a780b3abf45e2d8f3b1a950738f52e9600746a0e27a55a21";
const RFC_SHTS: &str = "b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38";
const RFC_CATS: &str = "9e40646ce79a7f9dc05af8889bce6552875afa0b06df0087f792ebb7c17504a5";
const RFC_SATS: &str = "a11af9f05531f856ad47116b45a950328204b4f44bfb6b3a4b4f1f3fcb631643";

/// The ClientHello handshake message (header included).
const RFC_CH: &str = "010000c00303cb34ecb1e78163ba1c38c6dacb196a6dffa21a8d9912ec18a2ef6283024dece7000006130113031302010000910000000b0009000006736572766572ff01000100000a00140012001d0017001800190100010101020103010400230000003300260024001d002099381de560e4bd43d23d8e435a7dbafeb3c06e51c13cae4d5413691e529aaf2c002b0003020304000d0020001e040305030603020308040805080604010501060102010402050206020202002d00020101001c00024001";
const RFC_SH_REC: &str = "160303005a020000560303a6af06a4121860dc5e6e60249cd34c95930c8ac5cb1434dac155772ed3e2692800130100002e00330024001d0020c9828876112095fe66762bdbf7c672e156d6cc253b833df1dd69b1b04e751f0f002b00020304";
/// EncryptedExtensions, Certificate, CertificateVerify, Finished in one record.
const RFC_FLIGHT_REC: &str = "17030302a2d1ff334a56f5bff6594a07cc87b580233f500f45e489e7f33af35edf7869fcf40aa40aa2b8ea73f848a7ca07612ef9f945cb960b4068905123ea78b111b429ba9191cd05d2a389280f526134aadc7fc78c4b729df828b5ecf7b13bd9aefb0e57f271585b8ea9bb355c7c79020716cfb9b1183ef3ab20e37d57a6b9d7477609aee6e122a4cf51427325250c7d0e509289444c9b3a648f1d71035d2ed65b0e3cdd0cbae8bf2d0b227812cbb360987255cc744110c453baa4fcd610928d809810e4b7ed1a8fd991f06aa6248204797e36a6a73b70a2559c09ead686945ba246ab66e5edd8044b4c6de3fcf2a89441ac66272fd8fb330ef8190579b3684596c960bd596eea520a56a8d650f563aad27409960dca63d3e688611ea5e22f4415cf9538d51a200c27034272968a264ed6540c84838d89f72c24461aad6d26f59ecaba9acbbb317b66d902f4f292a36ac1b639c637ce343117b659622245317b49eeda0c6258f100d7d961ffb138647e92ea330faeea6dfa31c7a84dc3bd7e1b7a6c7178af36879018e3f252107f243d243dc7339d5684c8b0378bf30244da8c87c843f5e56eb4c5e8280a2b48052cf93b16499a66db7cca71e4599426f7d461e66f99882bd89fc50800becca62d6c74116dbd2972fda1fa80f85df881edbe5a37668936b335583b599186dc5c6918a396fa48a181d6b6fa4f9d62d513afbb992f2b992f67f8afe67f76913fa388cb5630c8ca01e0c65d11c66a1e2ac4c85977b7c7a6999bbf10dc35ae69f5515614636c0b9b68c19ed2e31c0b3b66763038ebba42f3b38edc0399f3a9f23faa63978c317fc9fa66a73f60f0504de93b5b845e275592c12335ee340bbc4fddd502784016e4b3be7ef04dda49f4b440a30cb5d2af939828fd4ae3794e44f94df5a631ede42c1719bfdabf0253fe5175be898e750edc53370d2b";
const RFC_FIN_REC: &str = "170303003575ec4dc238cce60b298044a71e219c56cc77b0517fe9b93c7a4bfc44d87f38f80338ac98fc46deb384bd1caeacab6867d726c40546";
const RFC_TICKET_REC: &str = "17030300de3a6b8f90414a97d6959c3487680de5134a2b240e6cffac116e95d41d6af8f6b580dcf3d11d63c758db289a015940252f55713e061dc13e078891a38efbcf5753ad8ef170ad3c7353d16d9da773b9ca7f2b9fa1b6c0d4a3d03f75e09c30ba1e62972ac46f75f7b981be63439b2999ce13064615139891d5e4c5b406f16e3fc181a77ca475840025db2f0a77f81b5ab05b94c01346755f69232c86519d86cbeeac87aac347d143f9605d64f650db4d023e70e952ca49fe5137121c74bc2697687e248746d6df353005f3bce18696129c8153556b3b6c6779b37bf15985684f";
const RFC_CLIENT_APP_REC: &str = "1703030043a23f7054b62c94d0affafe8228ba55cbefacea42f914aa66bcab3f2b9819a8a5b46b395bd54a9a20441e2b62974e1f5a6292a2977014bd1e3deae63aeebb21694915e4";
const RFC_SERVER_APP_REC: &str = "17030300432e937e11ef4ac740e538ad36005fc4a46932fc3225d05f82aa1b36e30efaf97d90e6dffc602dcb501a59a8fcc49c4bf2e5f0a21c0047c2abf332540dd032e167c2955d";
const RFC_SERVER_ALERT_REC: &str = "1703030013b58fd67166ebf599d24720cfbe7efa7a8864a9";
const RFC_CLIENT_ALERT_REC: &str = "1703030013c9872760655666b74d7ff1153efd6db6d0b0e3";

fn rfc_keylog() -> String {
    format!(
        "# RFC 8448 section 3\n\
         CLIENT_HANDSHAKE_TRAFFIC_SECRET {RFC_RANDOM} {RFC_CHTS}\n\
         SERVER_HANDSHAKE_TRAFFIC_SECRET {RFC_RANDOM} {RFC_SHTS}\n\
         CLIENT_TRAFFIC_SECRET_0 {RFC_RANDOM} {RFC_CATS}\n\
         SERVER_TRAFFIC_SECRET_0 {RFC_RANDOM} {RFC_SATS}\n"
    )
}

fn rfc_ch_record() -> Vec<u8> {
    let mut rec = hex("16030100c4");
    rec.extend(hex(RFC_CH));
    rec
}

/// The trace's records in the order they crossed the wire.
fn rfc_chunks() -> Vec<(bool, Vec<u8>)> {
    let mut flight = hex(RFC_SH_REC);
    flight.extend(hex(RFC_FLIGHT_REC));
    vec![
        (true, rfc_ch_record()),
        (false, flight),
        (true, hex(RFC_FIN_REC)),
        (false, hex(RFC_TICKET_REC)),
        (true, hex(RFC_CLIENT_APP_REC)),
        (false, hex(RFC_SERVER_APP_REC)),
        (false, hex(RFC_SERVER_ALERT_REC)),
        (true, hex(RFC_CLIENT_ALERT_REC)),
    ]
}

/// The trace's application data, both ways: 00 01 … 31.
fn rfc_payload() -> Vec<u8> {
    (0u8..=0x31).collect()
}

// --- Feeding -------------------------------------------------------------------------

/// A small deterministic generator for chunk sizes.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

/// How the recorded streams are handed to the decryptor.
#[derive(Debug, Clone, Copy)]
enum Split {
    /// Each write as it was produced, interleaved as produced.
    AsWritten,
    /// One byte per call.
    Bytes,
    /// Each write cut at random points.
    Random(u64),
    /// Consecutive writes of a direction merged, as TCP would.
    Coalesced,
    /// The client's first write, then the server's whole stream, then the rest of
    /// the client's.
    WholeStreams,
}

const SPLITS: [Split; 6] = [
    Split::AsWritten,
    Split::Bytes,
    Split::Random(1),
    Split::Random(0x5eed),
    Split::Coalesced,
    Split::WholeStreams,
];

fn decrypt(keys: &KeyLog, chunks: &[(bool, Vec<u8>)], split: Split) -> ([Vec<u8>; 2], TlsStatus) {
    let mut dec = TlsDecryptor::new(Arc::new(keys.clone()));
    let mut plain = [Vec::new(), Vec::new()];
    let mut feed = |from_client: bool, bytes: &[u8]| {
        dec.feed(from_client, bytes, &mut plain[usize::from(!from_client)]);
    };
    match split {
        Split::AsWritten => chunks.iter().for_each(|(c, b)| feed(*c, b)),
        Split::Bytes => {
            for (c, b) in chunks {
                b.chunks(1).for_each(|x| feed(*c, x));
            }
        }
        Split::Random(seed) => {
            let mut rng = Rng(seed | 1);
            for (c, b) in chunks {
                let mut rest = &b[..];
                while !rest.is_empty() {
                    let max = if rng.below(4) == 0 { 6 } else { 3000 };
                    let n = 1 + rng.below(max.min(rest.len()));
                    feed(*c, &rest[..n]);
                    rest = &rest[n..];
                }
            }
        }
        Split::Coalesced => {
            let mut pending: Option<(bool, Vec<u8>)> = None;
            for (c, b) in chunks {
                match &mut pending {
                    Some((pc, pb)) if pc == c => pb.extend_from_slice(b),
                    _ => {
                        if let Some((pc, pb)) = pending.take() {
                            feed(pc, &pb);
                        }
                        pending = Some((*c, b.clone()));
                    }
                }
            }
            if let Some((pc, pb)) = pending {
                feed(pc, &pb);
            }
        }
        Split::WholeStreams => {
            let first = chunks.iter().position(|(c, _)| *c).expect("a client write");
            feed(true, &chunks[first].1);
            let server: Vec<u8> = chunks
                .iter()
                .filter(|(c, _)| !c)
                .flat_map(|(_, b)| b.clone())
                .collect();
            feed(false, &server);
            let client: Vec<u8> = chunks
                .iter()
                .enumerate()
                .filter(|(i, (c, _))| *c && *i != first)
                .flat_map(|(_, (_, b))| b.clone())
                .collect();
            feed(true, &client);
        }
    }
    dec.flush(true, &mut plain[0]);
    dec.flush(false, &mut plain[1]);
    let status = dec.status();
    (plain, status)
}

#[test]
fn the_public_types_can_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<TlsDecryptor>();
    send_sync::<KeyLog>();
    send_sync::<TlsStatus>();
    send_sync::<KeyLogError>();
}

// --- Key derivation known answers ----------------------------------------------------

#[test]
fn expand_label_gives_rfc8448_traffic_keys() {
    let suite = find_suite(0x1301, TLS13).unwrap();
    let (mut key, mut iv) = ([0u8; 16], [0u8; 12]);
    expand_label(suite.hash, &hex(RFC_SHTS), b"key", &mut key).unwrap();
    expand_label(suite.hash, &hex(RFC_SHTS), b"iv", &mut iv).unwrap();
    assert_eq!(key.to_vec(), hex("3fce516009c21727d0f2e4e86ee403bc"));
    assert_eq!(iv.to_vec(), hex("5d313eb2671276ee13000b30"));
    expand_label(suite.hash, &hex(RFC_CATS), b"key", &mut key).unwrap();
    expand_label(suite.hash, &hex(RFC_CATS), b"iv", &mut iv).unwrap();
    assert_eq!(key.to_vec(), hex("17422dda596ed5d9acd890e3c63f5051"));
    assert_eq!(iv.to_vec(), hex("5b78923dee08579033e523d9"));
}

#[test]
fn prf_gives_the_published_tls12_sha256_vector() {
    let mut out = [0u8; 100];
    prf(
        Hash::Sha256,
        &hex("9bbe436ba940f017b17652849a71db35"),
        b"test label",
        [&hex("a0ba9f936cda311827a6f796ffd5198c"), &[]],
        &mut out,
    );
    assert_eq!(
        out.to_vec(),
        hex(
            "e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a\
             6b301791e90d35c9c9a46b4e14baf9af0fa022f7077def17abfd3797c0564bab\
             4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff701\
             87347b66"
        )
    );
}

// --- Hellos --------------------------------------------------------------------------

#[test]
fn hellos_of_rfc8448_parse() {
    let ch = parse_client_hello(&hex(RFC_CH)[4..]).unwrap();
    assert_eq!(ch.random.to_vec(), hex(RFC_RANDOM));
    assert_eq!(ch.sni.as_deref(), Some("server"));
    assert_eq!(ch.offered, vec![0x0304]);
    assert!(!ch.early_data);
    let sh = parse_server_hello(&hex(RFC_SH_REC)[9..]).unwrap();
    assert_eq!(sh.random[..4], [0xa6, 0xaf, 0x06, 0xa4]);
    assert_eq!(
        (sh.cipher_suite, sh.version, sh.hello_retry),
        (0x1301, 0x0304, false)
    );
}

/// A ServerHello body: `version` as legacy, `supported` in supported_versions.
fn server_hello_body(random: [u8; 32], suite: u16, legacy: u16, supported: Option<u16>) -> Vec<u8> {
    let mut b = legacy.to_be_bytes().to_vec();
    b.extend(random);
    b.push(0); // session id
    b.extend(suite.to_be_bytes());
    b.push(0); // compression
    let ext: Vec<u8> = supported.map_or(Vec::new(), |v| {
        let mut e = vec![0, 43, 0, 2];
        e.extend(v.to_be_bytes());
        e
    });
    b.extend(u16::try_from(ext.len()).unwrap().to_be_bytes());
    b.extend(ext);
    b
}

/// A handshake record around one message.
fn handshake_record(ty: u8, body: &[u8]) -> Vec<u8> {
    let len = u32::try_from(body.len()).unwrap().to_be_bytes();
    let mut r = vec![22, 3, 3];
    r.extend(u16::try_from(body.len() + 4).unwrap().to_be_bytes());
    r.push(ty);
    r.extend(&len[1..]);
    r.extend(body);
    r
}

#[test]
fn hello_variants_parse_as_flows_did() {
    // No supported_versions: the legacy version alone, as before.
    let sh = parse_server_hello(&server_hello_body([7; 32], 0xC02F, 0x0303, None)).unwrap();
    assert_eq!((sh.version, sh.hello_retry), (0x0303, false));
    let hrr = parse_server_hello(&server_hello_body(
        HELLO_RETRY_RANDOM,
        0x1301,
        0x0303,
        Some(0x0304),
    ))
    .unwrap();
    assert_eq!((hrr.version, hrr.hello_retry), (0x0304, true));
    // GREASE is not a version; early_data is seen.
    let mut ch = hex(RFC_CH)[4..].to_vec();
    let ext_at = ch.len() - 0x91;
    let extra = [
        0x00, 0x2a, 0x00, 0x00, 0x00, 0x2b, 0x00, 0x05, 0x04, 0x1a, 0x1a, 0x03, 0x03,
    ];
    ch.extend(extra);
    let len = u16::from_be_bytes([ch[ext_at - 2], ch[ext_at - 1]]) + extra.len() as u16;
    ch[ext_at - 2..ext_at].copy_from_slice(&len.to_be_bytes());
    let parsed = parse_client_hello(&ch).unwrap();
    assert!(parsed.early_data);
    // The last supported_versions extension wins, GREASE dropped.
    assert_eq!(parsed.offered, vec![0x0303]);
    assert!(parse_client_hello(&ch[..40]).is_none());
}

// --- RFC 8448 through the decryptor --------------------------------------------------

#[test]
fn rfc8448_simple_1rtt_decrypts_both_directions() {
    let keys = KeyLog::parse(&rfc_keylog(), "rfc8448.keys").unwrap();
    assert_eq!(keys.len(), 1);
    for split in SPLITS {
        let (plain, status) = decrypt(&keys, &rfc_chunks(), split);
        same(&plain[0], &rfc_payload(), &format!("{split:?} client"));
        same(&plain[1], &rfc_payload(), &format!("{split:?} server"));
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
        // Finished, application data, alert; flight, ticket, application data, alert.
        assert_eq!((status.client.records, status.server.records), (3, 4));
        assert_eq!(
            (status.client.plaintext_bytes, status.server.plaintext_bytes),
            (50, 50)
        );
        assert_eq!(status.sni(), Some("server"));
        assert_eq!(status.negotiated(), Some(0x0304));
        assert_eq!(status.cipher_suite(), Some(0x1301));
        assert!(!status.hello_retry);
        let info = status.info();
        assert_eq!(info.offered, vec![0x0304]);
        assert_eq!(info.negotiated, Some(0x0304));
    }
}

#[test]
fn client_records_before_the_server_hello_wait_then_decrypt() {
    let keys = Arc::new(KeyLog::parse(&rfc_keylog(), "k").unwrap());
    let mut dec = TlsDecryptor::new(keys);
    let (mut client, mut server) = (Vec::new(), Vec::new());
    let chunks = rfc_chunks();
    for (_, b) in chunks.iter().filter(|(c, _)| *c) {
        dec.feed(true, b, &mut client);
    }
    assert!(client.is_empty());
    assert!(matches!(
        dec.status().client.state,
        DirState::Waiting { hello: "ServerHello", queued } if queued > 0
    ));
    for (_, b) in chunks.iter().filter(|(c, _)| !*c) {
        dec.feed(false, b, &mut server);
    }
    same(&server, &rfc_payload(), "server");
    dec.flush(true, &mut client);
    same(&client, &rfc_payload(), "client");
    assert_eq!(dec.status().client.state, DirState::Closed(CLOSE_NOTIFY));
}

// --- Failures ------------------------------------------------------------------------

#[test]
fn unknown_client_random_is_no_keys_for_both_directions() {
    let other = rfc_keylog().replace(RFC_RANDOM, &"ab".repeat(32));
    let keys = KeyLog::parse(&other, "k").unwrap();
    let (plain, status) = decrypt(&keys, &rfc_chunks(), Split::AsWritten);
    assert!(plain[0].is_empty() && plain[1].is_empty());
    let random: [u8; 32] = hex(RFC_RANDOM).try_into().unwrap();
    let want = StopReason::NoKeys {
        client_random: random,
    };
    assert_eq!(status.client.state, DirState::Stopped(want.clone()));
    assert_eq!(status.server.state, DirState::Stopped(want.clone()));
    // The hellos are still known.
    assert_eq!(status.sni(), Some("server"));
    let text = want.to_string();
    assert_eq!(text, "no key for client random cb34…ece7 in the key log");
    assert!(!text.contains(RFC_RANDOM));
}

#[test]
fn a_wrong_secret_fails_authentication_of_its_direction_only() {
    let mut wrong = hex(RFC_SHTS);
    wrong[0] ^= 1;
    let text = rfc_keylog().replace(RFC_SHTS, &hex::encode(wrong));
    let keys = KeyLog::parse(&text, "k").unwrap();
    let (plain, status) = decrypt(&keys, &rfc_chunks(), Split::AsWritten);
    assert_eq!(
        status.server.state,
        DirState::Stopped(StopReason::DecryptFailed { record: 1 })
    );
    assert!(plain[1].is_empty());
    same(&plain[0], &rfc_payload(), "client");

    // The application secret wrong: the handshake decrypts, the first application
    // record (the ticket, the server's second protected record) does not.
    let mut wrong = hex(RFC_SATS);
    wrong[31] ^= 0x80;
    let text = rfc_keylog().replace(RFC_SATS, &hex::encode(wrong));
    let keys = KeyLog::parse(&text, "k").unwrap();
    let (_, status) = decrypt(&keys, &rfc_chunks(), Split::AsWritten);
    assert_eq!(
        status.server.state,
        DirState::Stopped(StopReason::DecryptFailed { record: 2 })
    );
}

#[test]
fn a_missing_label_names_it() {
    let text: String = rfc_keylog()
        .lines()
        .filter(|l| !l.starts_with("SERVER_TRAFFIC"))
        .map(|l| format!("{l}\n"))
        .collect();
    let keys = KeyLog::parse(&text, "k").unwrap();
    let (_, status) = decrypt(&keys, &rfc_chunks(), Split::AsWritten);
    let DirState::Stopped(reason) = status.server.state else {
        panic!("{:?}", status.server.state)
    };
    assert_eq!(
        reason.to_string(),
        "the key log has client random cb34…ece7 but no SERVER_TRAFFIC_SECRET_0"
    );
    assert_eq!(status.client.state, DirState::Closed(CLOSE_NOTIFY));
}

#[test]
fn a_gap_stops_its_direction() {
    let keys = Arc::new(KeyLog::parse(&rfc_keylog(), "k").unwrap());
    let mut dec = TlsDecryptor::new(keys);
    let mut plain = [Vec::new(), Vec::new()];
    for (i, (c, b)) in rfc_chunks().into_iter().enumerate() {
        if i == 2 {
            dec.gap(true);
        }
        dec.feed(c, &b, &mut plain[usize::from(!c)]);
    }
    assert_eq!(
        dec.status().client.state,
        DirState::Stopped(StopReason::Gap)
    );
    assert!(plain[0].is_empty());
    same(&plain[1], &rfc_payload(), "server");
    // A closed direction stays closed.
    dec.gap(false);
    assert_eq!(dec.status().server.state, DirState::Closed(CLOSE_NOTIFY));
    assert!(!dec.is_active(true) && !dec.is_active(false));
}

fn fresh() -> TlsDecryptor {
    TlsDecryptor::new(Arc::new(KeyLog::parse(&rfc_keylog(), "k").unwrap()))
}

#[test]
fn a_record_over_the_limit_is_too_large() {
    let mut dec = fresh();
    let mut plain = Vec::new();
    dec.feed(true, &[23, 3, 3, 0x80], &mut plain);
    assert_eq!(dec.status().client.state, DirState::Decrypting);
    dec.feed(true, &[0x00, 1, 2, 3], &mut plain);
    assert_eq!(
        dec.status().client.state,
        DirState::Stopped(StopReason::TooLarge { length: 32768 })
    );
    // The largest allowed length is fine.
    let mut dec = fresh();
    dec.feed(true, &rfc_ch_record(), &mut plain);
    dec.feed(true, &[22, 3, 3, 0x41, 0x00], &mut plain);
    assert_eq!(dec.status().client.state, DirState::Decrypting);
}

#[test]
fn bytes_that_are_not_tls_are_malformed() {
    let mut dec = fresh();
    let mut plain = Vec::new();
    dec.feed(true, b"GET / HTTP/1.1\r\n", &mut plain);
    let DirState::Stopped(StopReason::Malformed(what)) = dec.status().client.state else {
        panic!("{:?}", dec.status().client.state)
    };
    assert!(what.contains("not a TLS record"), "{what}");
}

#[test]
fn protected_records_without_a_server_hello_are_held_back_up_to_64_kib() {
    let mut dec = fresh();
    let mut plain = Vec::new();
    dec.feed(true, &rfc_ch_record(), &mut plain);
    let mut rec = vec![23, 3, 3, 0x40, 0x00];
    rec.resize(5 + 0x4000, 0xAA);
    for _ in 0..3 {
        dec.feed(true, &rec, &mut plain);
    }
    assert_eq!(
        dec.status().client.state,
        DirState::Waiting {
            hello: "ServerHello",
            queued: 3 * rec.len()
        }
    );
    for _ in 0..2 {
        dec.feed(true, &rec, &mut plain);
    }
    assert_eq!(
        dec.status().client.state,
        DirState::Stopped(StopReason::HelloNotSeen("ServerHello"))
    );
    assert!(plain.is_empty());

    // The server direction gone: no point waiting.
    let mut dec = fresh();
    dec.feed(true, &rfc_ch_record(), &mut plain);
    dec.gap(false);
    dec.feed(true, &hex(RFC_FIN_REC), &mut plain);
    assert_eq!(
        dec.status().client.state,
        DirState::Stopped(StopReason::HelloNotSeen("ServerHello"))
    );
}

#[test]
fn unsupported_suites_and_versions_stop_both_directions() {
    for (body, want, text) in [
        (
            server_hello_body([1; 32], 0xC013, 0x0303, None),
            StopReason::UnsupportedCipherSuite(0xC013),
            "cipher suite 0xc013 is not supported",
        ),
        (
            server_hello_body([1; 32], 0xC02F, 0x0302, None),
            StopReason::UnsupportedVersion(0x0302),
            "TLS 1.1 (0x0302) is not supported",
        ),
        (
            // A TLS 1.2 code point under TLS 1.3.
            server_hello_body([1; 32], 0xC02F, 0x0303, Some(0x0304)),
            StopReason::UnsupportedCipherSuite(0xC02F),
            "0xc02f",
        ),
    ] {
        let mut dec = fresh();
        let mut plain = Vec::new();
        dec.feed(true, &rfc_ch_record(), &mut plain);
        dec.feed(false, &handshake_record(2, &body), &mut plain);
        let status = dec.status();
        assert_eq!(status.client.state, DirState::Stopped(want.clone()));
        assert_eq!(status.server.state, DirState::Stopped(want.clone()));
        assert!(want.to_string().contains(text), "{want}");
        assert!(status.server_hello.is_some());
    }
}

#[test]
fn alerts_display_by_name() {
    assert_eq!(CLOSE_NOTIFY.to_string(), "close_notify");
    let fatal = Alert {
        level: 2,
        description: 40,
    };
    assert_eq!(fatal.to_string(), "fatal handshake_failure (40)");
    assert_eq!(
        Alert {
            level: 1,
            description: 200
        }
        .to_string(),
        "warning alert 200"
    );
}

#[test]
fn a_plaintext_fatal_alert_closes_the_direction() {
    let mut dec = fresh();
    let mut plain = Vec::new();
    dec.feed(true, &rfc_ch_record(), &mut plain);
    dec.feed(false, &[21, 3, 3, 0, 2, 2, 40], &mut plain);
    let fatal = Alert {
        level: 2,
        description: 40,
    };
    assert_eq!(dec.status().server.state, DirState::Closed(fatal));
    assert_eq!(dec.status().server.alert, Some(fatal));
}

// --- Key log -------------------------------------------------------------------------

#[test]
fn key_log_errors_name_the_line_and_column() {
    let random = "0".repeat(64);
    let master = "1".repeat(96);
    let cases = [
        (
            format!("# keys\n\nCLIENT_RANDOM {random}\n"),
            "keys.log:3:",
            "expected 3 fields",
        ),
        (
            format!("CLIENT_RANDOM {random} {master} extra\n"),
            "keys.log:1:",
            "found more",
        ),
        (
            format!("CLIENT_RANDOM abcd {master}\n"),
            "keys.log:1:15:",
            "64 hex digits",
        ),
        (
            format!("\nCLIENT_RANDOM {} {master}\n", "g".repeat(64)),
            "keys.log:2:15:",
            "not all hex",
        ),
        (
            format!("CLIENT_RANDOM {random} {}\n", "2".repeat(64)),
            "keys.log:1:80:",
            "48 bytes",
        ),
        (
            format!("SERVER_TRAFFIC_SECRET_0 {random} {}zz\n", "3".repeat(62)),
            "keys.log:1:",
            "not hex",
        ),
    ];
    for (text, at, what) in cases {
        let err = KeyLog::parse(&text, "keys.log").unwrap_err().to_string();
        assert!(err.starts_with(at), "{err:?} should start with {at}");
        assert!(err.contains(what), "{err:?} should say {what}");
        assert!(
            !err.contains(&master) && !err.contains(&"3".repeat(62)),
            "{err}"
        );
    }
}

#[test]
fn key_log_skips_comments_unknown_labels_and_accepts_crlf() {
    let r1 = "01".repeat(32);
    let r2 = "02".repeat(32);
    let text = format!(
        "\u{feff}# SSL/TLS secrets log file\r\n\
         CLIENT_RANDOM {r1} {}\r\n\
         EXPORTER_SECRET {r2} {}\r\n\
         RSA 0102030405060708 {}\r\n\
         \r\n\
         \tSERVER_TRAFFIC_SECRET_0 {r2} {}  \r\n",
        "aa".repeat(48),
        "bb".repeat(32),
        "cc".repeat(48),
        "dd".repeat(48),
    );
    let keys = KeyLog::parse(&text, "k").unwrap();
    assert_eq!(keys.len(), 2);
    assert!(!keys.is_empty());
    assert!(keys.contains(&[1; 32]) && keys.contains(&[2; 32]));
    assert!(KeyLog::parse("", "k").unwrap().is_empty());
}

#[test]
fn key_log_from_a_missing_file_names_it() {
    let err = KeyLog::from_file(Path::new("/nonexistent/keys.log")).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("/nonexistent/keys.log: cannot read"),
        "{err}"
    );
}

#[test]
fn key_log_from_a_file_reads_it() {
    let path = std::env::temp_dir().join(format!("tls-decrypt-keys-{}.log", std::process::id()));
    std::fs::write(&path, rfc_keylog()).unwrap();
    let keys = KeyLog::from_file(&path);
    std::fs::remove_file(&path).unwrap();
    assert_eq!(keys.unwrap().len(), 1);
}

#[test]
fn debug_output_never_shows_a_secret() {
    let keys = KeyLog::parse(&rfc_keylog(), "k").unwrap();
    let shown = format!("{keys:?}");
    assert_eq!(shown, "KeyLog { client_randoms: 1, secrets: 4 }");
    let keys = Arc::new(keys);
    let mut dec = TlsDecryptor::new(keys);
    let mut plain = Vec::new();
    for (c, b) in rfc_chunks().into_iter().take(4) {
        dec.feed(c, &b, &mut plain);
    }
    let shown = format!("{dec:?} {:?}", dec.status());
    for secret in [RFC_CHTS, RFC_SHTS, RFC_CATS, RFC_SATS] {
        assert!(!shown.contains(&secret[..16]), "{shown}");
    }
    assert!(shown.contains("TlsDecryptor"));
    let secret = Secret::new(&hex(RFC_SATS)).unwrap();
    assert_eq!(format!("{secret:?}"), "Secret(32 bytes)");
}

#[test]
fn the_record_framer_hands_out_the_same_records_in_any_chunking() {
    let mut stream = Vec::new();
    for (ty, len) in [(22u8, 3usize), (20, 0), (23, 300)] {
        stream.extend([ty, 3, 3]);
        stream.extend((len as u16).to_be_bytes());
        stream.extend((0..len).map(|i| i as u8));
    }
    let frame = |chunk: usize| -> Vec<(u8, Vec<u8>)> {
        let mut framer = RecordFramer::default();
        let mut records: Vec<(u8, Vec<u8>)> = Vec::new();
        for mut data in stream.chunks(chunk) {
            while let Some(piece) = framer.next(&mut data) {
                match piece {
                    RecordPiece::Header(header) => records.push((header[0], Vec::new())),
                    RecordPiece::Body(body) => records
                        .last_mut()
                        .expect("a body follows its header")
                        .1
                        .extend_from_slice(body),
                }
            }
            assert!(data.is_empty());
        }
        assert!(framer.record_complete());
        records
    };
    let whole = frame(stream.len());
    let shape: Vec<(u8, usize)> = whole.iter().map(|(ty, body)| (*ty, body.len())).collect();
    assert_eq!(shape, [(22, 3), (20, 0), (23, 300)]);
    for chunk in [1, 2, 4, 5, 6, 7, 299] {
        assert_eq!(frame(chunk), whole, "chunks of {chunk} bytes");
    }
}

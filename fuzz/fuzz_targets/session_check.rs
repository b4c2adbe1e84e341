//! What the `session` fuzz target checks for one input, shared with the deterministic replay
//! in `tests/it/fuzz_replay.rs`. A device-mode server session in-process: the input is what a
//! device sends.
//!
//! The first byte picks the emulated platform (the built-in suites' profiles, identities
//! and rules: mqtt-3.1.1, mqtt-5, tuya, aliyun, onenet, watson; TLS off), the second the
//! size of the writes the rest is cut into. The rest goes to one connection of a real
//! [`Server`] through an in-memory pipe ([`ServerHandle::serve_stream`]), the device's
//! side of the pipe is read to its end, and every event goes to the suite's [`Judge`].
//!
//! For every input:
//! - nothing panics, and the session ends within an hour of the server's (paused,
//!   auto-advancing) clock: every wait of the server has a deadline;
//! - the events keep their order: `Opened` first and once, `Closed` last and once, no
//!   empty packet; every packet the server sends decodes under our strict decoder;
//! - when the session is over, no connection is counted open and its buffers are
//!   released;
//! - the judge takes every event and gives its verdicts.

use mqtt_conform::codec::Packet;
use mqtt_conform::emulator::server_config;
use mqtt_conform::event::{Event, EventKind, Side};
use mqtt_conform::judge::{Grouping, Judge};
use mqtt_conform::server::{Server, ServerConfig};
use mqtt_conform::session::Session;
use mqtt_conform::suite::{Suite, load};
use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The platforms a session may be served as, by the first byte of the input.
pub const SUITES: [&str; 6] = ["mqtt-3.1.1", "mqtt-5", "tuya", "aliyun", "onenet", "watson"];

/// One platform: its suite, server configuration and judge inputs.
struct Platform {
    suite: Suite,
    config: ServerConfig,
    session: Session,
}

impl Platform {
    fn new(name: &str) -> Self {
        let suite = load(name).expect("a built-in suite loads");
        let params = suite
            .resolve_params(&BTreeMap::new(), true)
            .expect("built-in suites have examples");
        let (mut config, _certificate) = server_config(&suite, &params).expect("a server config");
        config.tls = None;
        let session = Session::new(&suite, &params).expect("a session");
        Self {
            suite,
            config,
            session,
        }
    }

    fn judge(&self) -> Judge {
        self.session.judge(&self.suite).expect("a judge")
    }
}

fn platforms() -> &'static [Platform] {
    static ALL: OnceLock<Vec<Platform>> = OnceLock::new();
    ALL.get_or_init(|| SUITES.iter().map(|n| Platform::new(n)).collect())
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("a runtime")
    })
}

/// Per-connection event order.
#[derive(Default)]
struct Order {
    opened: bool,
    closed: bool,
}

impl Order {
    fn check(&mut self, e: &Event) {
        assert!(!self.closed, "{:?} after Closed", e.kind);
        match &e.kind {
            EventKind::Opened { .. } => {
                assert!(!self.opened, "opened twice");
                self.opened = true;
            }
            kind => {
                assert!(self.opened, "{kind:?} before Opened");
                match kind {
                    EventKind::Closed { .. } => self.closed = true,
                    EventKind::Packet { bytes, packet } => {
                        assert!(!bytes.is_empty(), "an empty packet");
                        if e.from == Side::Server {
                            assert!(
                                packet.is_ok(),
                                "the server sent a packet it cannot decode: {packet:?} {bytes:02x?}"
                            );
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}

/// What a checked session came to.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Served {
    /// The server accepted the CONNECT (CONNACK 0).
    pub accepted: bool,
    /// Packets the server sent.
    pub server_packets: usize,
}

/// Checks one input (see the module documentation).
pub fn check(data: &[u8]) -> Served {
    let [which, chunk, input @ ..] = data else {
        return Served::default();
    };
    let platform = &platforms()[usize::from(*which) % SUITES.len()];
    let chunk = usize::from(*chunk).max(1);
    let mut served = Served::default();
    runtime().block_on(async {
        let mut server = Server::bind("127.0.0.1:0".parse().unwrap(), platform.config.clone())
            .await
            .expect("bind a loopback port");
        let (device, cloud) = tokio::io::duplex(16 * 1024);
        let serving = tokio::spawn(server.serve_stream(cloud));
        let (mut rd, mut wr) = tokio::io::split(device);
        let write = async {
            for part in input.chunks(chunk) {
                if wr.write_all(part).await.is_err() {
                    break;
                }
            }
            let _ = wr.shutdown().await;
        };
        let read = async {
            let mut buf = vec![0u8; 8192];
            while let Ok(n) = rd.read(&mut buf).await {
                if n == 0 {
                    break;
                }
            }
        };
        let session = async {
            let (_, _, served) = tokio::join!(write, read, serving);
            served.expect("the session task does not panic");
        };
        tokio::time::timeout(Duration::from_secs(3600), session)
            .await
            .expect("the session ends");
        let stats = server.stats();
        assert_eq!(stats.connections_open, 0, "{stats:?}");
        assert_eq!(stats.buffer_bytes, 0, "{stats:?}");

        let mut judge = platform.judge();
        let mut order = Order::default();
        while let Ok(event) = server.events().try_recv() {
            order.check(&event);
            if let (Side::Server, EventKind::Packet { packet, .. }) = (event.from, &event.kind) {
                served.server_packets += 1;
                if let Ok(Packet::ConnAck(ack)) = packet {
                    served.accepted = ack.code == 0;
                }
            }
            let _ = judge.observe(&event);
        }
        assert!(
            order.opened && order.closed,
            "the session opened and closed"
        );
        let _ = judge.finish(Grouping::ClientId);
        server.shutdown().await;
    });
    served
}

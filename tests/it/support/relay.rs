//! A recording TCP relay: clients connect to it, it connects each of them to the target
//! and copies bytes both ways, noting every chunk it forwarded (when, which way). The
//! recording is written as a pcapng capture through `CaptureWriter`, so a test can judge
//! real traffic — TLS included, bytes as they crossed the wire — without capture
//! privileges.
//!
//! A chunk is recorded before it is forwarded, under one lock for all connections, so the
//! recording is in causal order: an answer is never recorded before what it answers.

#![allow(dead_code)]

use mqtt_conform::event::{Endpoints, Event, EventKind, Side};
use mqtt_conform::report::pcapng::CaptureWriter;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

/// How long connecting to the target may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// What the relay saw, in the order it happened.
enum Record {
    /// Connection `conn` accepted from `client`.
    Opened { client: SocketAddr },
    /// Bytes forwarded from `from`.
    Data { from: Side, bytes: Vec<u8> },
    /// `from` ended its direction (EOF) or the connection failed (`reset`).
    Ended { from: Side, reset: bool },
}

/// The shared recording.
#[derive(Default)]
struct Log {
    /// (connection, time since the relay started, what).
    records: Vec<(u64, Duration, Record)>,
    /// Connections accepted.
    accepted: u64,
    /// Connections whose both directions ended.
    closed: u64,
    /// Per connection (index conn − 1): directions ended so far.
    ended: Vec<u8>,
    /// Sockets to shut down when the relay is dropped (so no copy thread outlives it).
    sockets: Vec<TcpStream>,
}

struct Shared {
    log: Mutex<Log>,
    /// Signalled when a connection closes.
    changed: Condvar,
    started: Instant,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Log> {
        // A copy thread that panicked leaves the recording usable.
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records under the lock, time taken under the lock: times never go backwards.
    fn record(&self, conn: u64, record: Record) {
        let mut log = self.lock();
        let at = self.started.elapsed();
        let ended = matches!(record, Record::Ended { .. });
        log.records.push((conn, at, record));
        if ended {
            let slot = &mut log.ended[(conn - 1) as usize];
            *slot += 1;
            if *slot == 2 {
                log.closed += 1;
                self.changed.notify_all();
            }
        }
    }
}

/// A running relay to one target; stops (and cuts its connections) when dropped.
pub struct Relay {
    /// Clients connect to `127.0.0.1:port`.
    pub port: u16,
    target: SocketAddr,
    shared: Arc<Shared>,
    /// Wall-clock time of `shared.started`, the capture's start.
    start: SystemTime,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl Relay {
    /// Listens on a free loopback port and relays every connection to `target`.
    pub fn start(target: SocketAddr) -> Self {
        Self::start_with(target, false)
    }

    /// Like [`Relay::start`], but the target's close is not passed on: the client's side
    /// stays open until the client closes it — a server that leaves the close after a
    /// DISCONNECT to the client, as MQTT-3.14.4-1 makes it the client's duty.
    pub fn start_leaving_close_to_client(target: SocketAddr) -> Self {
        Self::start_with(target, true)
    }

    fn start_with(target: SocketAddr, leave_close_to_client: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("relay listens");
        let port = listener.local_addr().expect("relay address").port();
        let shared = Arc::new(Shared {
            log: Mutex::new(Log::default()),
            changed: Condvar::new(),
            started: Instant::now(),
        });
        let start = SystemTime::now();
        let stop = Arc::new(AtomicBool::new(false));
        let acceptor = {
            let (shared, stop) = (shared.clone(), stop.clone());
            std::thread::spawn(move || {
                accept_loop(listener, target, shared, stop, leave_close_to_client)
            })
        };
        Self {
            port,
            target,
            shared,
            start,
            stop,
            acceptor: Some(acceptor),
        }
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Waits until `n` connections were accepted and all of them closed in both
    /// directions; panics after `timeout`.
    pub fn wait_closed(&self, n: u64, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut log = self.shared.lock();
        while !(log.accepted >= n && log.closed == log.accepted) {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "relay to {}: {} connection(s) accepted, {} closed after {timeout:?} (waiting for {n})",
                self.target,
                log.accepted,
                log.closed
            );
            log = self
                .shared
                .changed
                .wait_timeout(log, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Every byte the relay forwarded `from` one side, over all connections, in order.
    pub fn bytes_from(&self, from: Side) -> Vec<u8> {
        let log = self.shared.lock();
        log.records
            .iter()
            .filter_map(|(_, _, record)| match record {
                Record::Data { from: f, bytes } if *f == from => Some(bytes.as_slice()),
                _ => None,
            })
            .flatten()
            .copied()
            .collect()
    }

    /// Writes the recording as a pcapng file: each connection from the client address
    /// the relay accepted to `127.0.0.1:server_port` (the port the capture should show,
    /// e.g. 8883 for MQTT over TLS), every chunk as TCP payload at the time it was
    /// forwarded, closed by the side that ended first.
    pub fn write_pcapng(&self, path: &Path, server_port: u16) {
        self.write_pcapng_from(path, server_port, true);
    }

    /// [`Relay::write_pcapng`] as a capture that began after every connection opened:
    /// no TCP handshake is written, so the capture shows each connection joined midway.
    pub fn write_pcapng_joined_midway(&self, path: &Path, server_port: u16) {
        self.write_pcapng_from(path, server_port, false);
    }

    fn write_pcapng_from(&self, path: &Path, server_port: u16, from_start: bool) {
        let log = self.shared.lock();
        let server = SocketAddr::from(([127, 0, 0, 1], server_port));
        let mut writer = CaptureWriter::create(path, self.start).expect("capture file");
        // The first side to end each connection closed it.
        let mut first_end: Vec<Option<(Side, bool)>> = vec![None; log.ended.len()];
        for (conn, at, record) in &log.records {
            let index = (*conn - 1) as usize;
            let event = |from: Side, kind: EventKind| Event {
                conn: *conn,
                at: *at,
                from,
                kind,
            };
            match record {
                Record::Opened { client } => writer
                    .event(&event(
                        Side::Client,
                        EventKind::Opened {
                            endpoints: Some(Endpoints {
                                client: *client,
                                server,
                            }),
                            from_start,
                        },
                    ))
                    .expect("opening written"),
                Record::Data { from, bytes } => writer
                    .stream_bytes(*conn, *at, *from, bytes)
                    .expect("bytes written"),
                Record::Ended { from, reset } => match first_end[index] {
                    None => first_end[index] = Some((*from, *reset)),
                    Some((by, reset_first)) => {
                        let detail = if reset_first || *reset {
                            "connection reset or failed"
                        } else {
                            "EOF"
                        };
                        writer
                            .event(&event(
                                by,
                                EventKind::Closed {
                                    by: Some(by),
                                    detail: detail.into(),
                                },
                            ))
                            .expect("close written");
                    }
                },
            }
        }
        writer.finish().expect("capture flushed");
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept; it sees `stop` and returns.
        let _ = TcpStream::connect_timeout(&self.addr(), Duration::from_secs(1));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        for socket in &self.shared.lock().sockets {
            let _ = socket.shutdown(Shutdown::Both);
        }
    }
}

fn accept_loop(
    listener: TcpListener,
    target: SocketAddr,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    leave_close_to_client: bool,
) {
    for accepted in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = accepted else { continue };
        let Ok(client_addr) = client.peer_addr() else {
            continue;
        };
        // A target that refuses is a test failure the client sees as a closed connection.
        let Ok(server) = TcpStream::connect_timeout(&target, CONNECT_TIMEOUT) else {
            continue;
        };
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        let conn = {
            let mut log = shared.lock();
            log.accepted += 1;
            log.ended.push(0);
            let conn = log.accepted;
            for s in [&client, &server] {
                if let Ok(clone) = s.try_clone() {
                    log.sockets.push(clone);
                }
            }
            conn
        };
        shared.record(
            conn,
            Record::Opened {
                client: client_addr,
            },
        );
        let (Ok(client2), Ok(server2)) = (client.try_clone(), server.try_clone()) else {
            shared.record(
                conn,
                Record::Ended {
                    from: Side::Client,
                    reset: true,
                },
            );
            shared.record(
                conn,
                Record::Ended {
                    from: Side::Server,
                    reset: true,
                },
            );
            continue;
        };
        for (from, src, dst) in [
            (Side::Client, client, server),
            (Side::Server, server2, client2),
        ] {
            let shared = shared.clone();
            let pass_end = !(leave_close_to_client && from == Side::Server);
            std::thread::spawn(move || copy(conn, from, src, dst, &shared, pass_end));
        }
    }
}

/// Copies `src` to `dst` until EOF or an error, recording each chunk before forwarding
/// it; then, with `pass_end`, ends `dst`'s sending side (EOF) or, after an error, the whole
/// connection.
fn copy(
    conn: u64,
    from: Side,
    mut src: TcpStream,
    mut dst: TcpStream,
    shared: &Shared,
    pass_end: bool,
) {
    let mut buf = vec![0u8; 64 * 1024];
    let reset = loop {
        match src.read(&mut buf) {
            Ok(0) => break false,
            Ok(n) => {
                shared.record(
                    conn,
                    Record::Data {
                        from,
                        bytes: buf[..n].to_vec(),
                    },
                );
                if dst.write_all(&buf[..n]).is_err() {
                    break true;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break true,
        }
    };
    shared.record(conn, Record::Ended { from, reset });
    if !pass_end {
        return;
    }
    if reset {
        let _ = src.shutdown(Shutdown::Both);
        let _ = dst.shutdown(Shutdown::Both);
    } else {
        let _ = dst.shutdown(Shutdown::Write);
    }
}

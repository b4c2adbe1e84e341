//! One TCP connection of a capture: deciding what it carries (MQTT, TLS or neither)
//! from its ports and first bytes, and handing its stream to the matching reader.

use super::*;

/// The connection in `slot`, when it is `conn`.
#[inline]
fn conn_at(conns: &mut [Option<Conn>], slot: usize, conn: u64) -> Option<&mut Conn> {
    conns
        .get_mut(slot)
        .and_then(Option::as_mut)
        .filter(|c| c.id == conn)
}

/// Dispatches one reassembly item to its connection (`slot`: its flow's slot).
pub(super) fn handle(
    conns: &mut Vec<Option<Conn>>,
    slot: usize,
    sh: &mut Shared,
    item: StreamItem<'_>,
    out: &mut Out,
) {
    match item {
        StreamItem::Opened {
            conn,
            a,
            b,
            handshake,
            at,
            frame,
        } => {
            sh.stats.flows += 1;
            let port_match = sh.is_mqtt_port(a.port()) || sh.is_mqtt_port(b.port());
            if !port_match && !sh.config.detect_connect {
                sh.stats.other_flows += 1;
                sh.ignore.push((slot, conn));
                return;
            }
            // The client: the SYN's sender, else the side not on the MQTT port.
            let client = if handshake {
                Some(Dir::FromA)
            } else if port_match && sh.is_mqtt_port(a.port()) != sh.is_mqtt_port(b.port()) {
                Some(if sh.is_mqtt_port(b.port()) {
                    Dir::FromA
                } else {
                    Dir::FromB
                })
            } else {
                None
            };
            if conns.len() <= slot {
                conns.resize_with(slot + 1, || None);
            }
            conns[slot] = Some(Conn {
                id: conn,
                slot,
                a,
                b,
                handshake,
                first_at: at,
                first_frame: frame,
                port_match,
                client,
                state: State::Pending(Box::default()),
                closed: false,
                after_close: 0,
                dir_bytes: [0; 2],
                last_frame: frame,
                last_at: at,
                info: None,
            });
        }
        StreamItem::Data {
            conn,
            dir,
            bytes,
            at,
            frame,
        } => {
            if let Some(c) = conn_at(conns, slot, conn) {
                c.data(dir, bytes, Ctx { at, frame }, sh, out);
            }
        }
        StreamItem::Gap {
            conn,
            dir,
            bytes,
            at,
            frame,
        } => {
            if let Some(c) = conn_at(conns, slot, conn) {
                c.gap(dir, bytes, Ctx { at, frame }, sh, out);
            }
        }
        StreamItem::Fin {
            conn,
            dir,
            at,
            frame,
        } => {
            if let Some(c) = conn_at(conns, slot, conn) {
                c.fin(dir, false, Ctx { at, frame }, sh, out);
            }
        }
        StreamItem::Rst {
            conn,
            dir,
            at,
            frame,
        } => {
            if let Some(c) = conn_at(conns, slot, conn) {
                c.fin(dir, true, Ctx { at, frame }, sh, out);
            }
        }
        StreamItem::Closed {
            conn,
            reason,
            at,
            frame,
        } => {
            if conn_at(conns, slot, conn).is_some() {
                if let Some(mut c) = conns.get_mut(slot).and_then(Option::take) {
                    c.end(reason, Ctx { at, frame }, sh, out);
                }
            }
        }
        StreamItem::Notice(n) => sh.push_notice(n),
    }
}

/// One connection being analysed.
#[derive(Debug)]
pub(super) struct Conn {
    pub(super) id: u64,
    /// The reassembler's flow slot.
    slot: usize,
    a: SocketAddr,
    b: SocketAddr,
    handshake: bool,
    pub(super) first_at: Duration,
    pub(super) first_frame: u64,
    port_match: bool,
    /// The direction the client sends in, once known.
    client: Option<Dir>,
    pub(super) state: State,
    /// The Closed event was emitted: nothing more is.
    closed: bool,
    /// Stream bytes that arrived after the Closed event (not analysed).
    after_close: u64,
    /// Stream bytes per direction (for the report).
    dir_bytes: [u64; 2],
    /// Last frame that carried data, a loss or an end (for the report).
    last_frame: u64,
    /// Its timestamp.
    last_at: Duration,
    /// Index of its [`ConnectionInfo`], once recognised.
    info: Option<usize>,
}

#[derive(Debug)]
pub(super) enum State {
    /// Not decided yet: the first bytes of each direction are held.
    Pending(Box<Pending>),
    Mqtt(Box<MqttConn>),
    Tls(Box<TlsConn>),
    Ws(Box<WsConn>),
    Other,
}

#[derive(Debug, Default)]
pub(super) struct Pending {
    held: [Held; 2],
    /// The direction ended (FIN) or lost bytes before deciding.
    ended: [bool; 2],
}

/// Stream items held while a connection is being recognised.
#[derive(Debug, Default)]
struct Held {
    items: Vec<HeldItem>,
    /// The first bytes (up to 16, or up to [`ws::DECIDE_HOLD`] for an HTTP request),
    /// before any gap.
    prefix: Vec<u8>,
    gapped: bool,
    bytes: usize,
}

#[derive(Debug)]
enum HeldItem {
    Data(Ctx, Vec<u8>),
    Gap(Ctx, u64),
}

/// What a direction's first bytes look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Look {
    /// Nothing yet.
    Empty,
    /// Not enough bytes to tell.
    NeedMore,
    /// An MQTT CONNECT.
    Connect,
    /// A TLS record.
    Tls,
    /// An HTTP GET request (perhaps a WebSocket upgrade).
    Http,
    /// Something else.
    Plain,
}

/// What the first bytes of a stream are: a CONNECT, a TLS record, or neither.
pub(super) fn look(prefix: &[u8], ended: bool) -> Look {
    let Some(&first) = prefix.first() else {
        return if ended { Look::Plain } else { Look::Empty };
    };
    let verdict = match first {
        0x10 => connect_prefix(prefix),
        0x14..=0x17 => match (prefix.get(1), prefix.get(2)) {
            (Some(3), Some(minor)) if *minor <= 4 => Look::Tls,
            (Some(3), None) | (None, _) => Look::NeedMore,
            _ => Look::Plain,
        },
        b'G' if prefix.starts_with(b"GET ") => Look::Http,
        b'G' if b"GET ".starts_with(prefix) => Look::NeedMore,
        _ => Look::Plain,
    };
    if verdict == Look::NeedMore && ended {
        Look::Plain
    } else {
        verdict
    }
}

/// Whether `b` starts like a CONNECT: type 1 with flags 0, a valid Remaining Length, then
/// the protocol name `MQTT` or `MQIsdp` and a level byte.
fn connect_prefix(b: &[u8]) -> Look {
    let len_bytes = match FixedHeader::parse(b) {
        Ok(Some(h)) => h.length_bytes,
        Ok(None) if b.len() < 5 => return Look::NeedMore,
        _ => return Look::Plain,
    };
    let rest = b.get(1 + len_bytes..).unwrap_or_default();
    let mut need_more = false;
    for name in [&b"\x00\x04MQTT"[..], b"\x00\x06MQIsdp"] {
        let n = rest.len().min(name.len());
        if rest[..n] == name[..n] {
            if rest.len() > name.len() {
                return Look::Connect;
            }
            need_more = true;
        }
    }
    if need_more {
        Look::NeedMore
    } else {
        Look::Plain
    }
}

impl HeldItem {
    fn frame(&self) -> u64 {
        match self {
            Self::Data(ctx, _) | Self::Gap(ctx, _) => ctx.frame,
        }
    }
}

impl Held {
    fn data(&mut self, ctx: Ctx, bytes: &[u8]) {
        let http = self.prefix.iter().chain(bytes).take(4).eq(b"GET ".iter());
        let cap = if http { ws::DECIDE_HOLD } else { 16 };
        if !self.gapped && self.prefix.len() < cap {
            let n = (cap - self.prefix.len()).min(bytes.len());
            self.prefix.extend_from_slice(&bytes[..n]);
        }
        self.bytes += bytes.len();
        self.items.push(HeldItem::Data(ctx, bytes.to_vec()));
    }

    fn look(&self, ended: bool) -> Look {
        look(&self.prefix, ended || self.gapped)
    }
}

/// What a pending connection turns out to be.
enum Decision {
    Mqtt { client: Dir, connect: bool },
    Tls { client: Dir },
    WebSocket { client: Dir, detection: Detection },
    Other,
}

impl Conn {
    pub(super) fn cref(&self) -> ConnRef {
        ConnRef {
            id: self.id,
            slot: self.slot,
            info: self.info,
        }
    }

    fn side(&self, dir: Dir) -> Side {
        if self.client == Some(dir) {
            Side::Client
        } else {
            Side::Server
        }
    }

    fn endpoints(&self) -> Endpoints {
        let (client, server) = if self.client == Some(Dir::FromB) {
            (self.b, self.a)
        } else {
            (self.a, self.b)
        };
        Endpoints { client, server }
    }

    /// Counts stream bytes and the last frame. Kept here rather than in the report,
    /// which is elsewhere in memory (a cache miss per segment): [`Conn::sync_info`]
    /// copies them over when the connection ends.
    fn touch(&mut self, dir: Dir, bytes: usize, ctx: Ctx) {
        self.last_frame = self.last_frame.max(ctx.frame);
        self.last_at = self.last_at.max(ctx.at);
        self.dir_bytes[dir.index()] += bytes as u64;
    }

    /// Brings the report's byte counts and last frame up to date.
    fn sync_info(&self, sh: &mut Shared) {
        let client = self.client.unwrap_or(Dir::FromA);
        let (cb, sb) = (
            self.dir_bytes[client.index()],
            self.dir_bytes[client.reverse().index()],
        );
        let packets = match &self.state {
            State::Mqtt(m) => Some(m.proto.packets),
            State::Ws(w) => Some(w.mqtt.proto.packets),
            State::Tls(t) => t.decrypting.as_ref().map(|d| match &d.ws {
                Some(w) => w.mqtt.proto.packets,
                None => d.mqtt.proto.packets,
            }),
            _ => None,
        };
        if let Some(info) = sh.info(self.info) {
            info.last_frame = info.last_frame.max(self.last_frame);
            info.last_at = info.last_at.max(self.last_at);
            info.client_bytes = cb;
            info.server_bytes = sb;
            if let Some(n) = packets {
                info.packets = n;
            }
        }
    }

    fn data(&mut self, dir: Dir, bytes: &[u8], ctx: Ctx, sh: &mut Shared, out: &mut Out) {
        self.touch(dir, bytes.len(), ctx);
        if self.closed {
            // A WebSocket side answering the other's Close frame after its FIN completes
            // the closing handshake; that carries no MQTT to leave unanalysed.
            if !(matches!(self.state, State::Ws(_)) && super::ws::only_control_frames(bytes)) {
                self.after_close += bytes.len() as u64;
            }
            return;
        }
        let side = self.side(dir);
        let cref = self.cref();
        match &mut self.state {
            State::Pending(p) => {
                p.held[dir.index()].data(ctx, bytes);
                self.classify(false, sh, out);
            }
            State::Mqtt(m) => m.data(dir, side, bytes, ctx, cref, sh, out),
            State::Tls(t) => t.data(dir, bytes, ctx, cref, sh, out),
            State::Ws(w) => w.data(dir, bytes, ctx, cref, sh, out),
            State::Other => {}
        }
    }

    fn gap(&mut self, dir: Dir, bytes: u64, ctx: Ctx, sh: &mut Shared, out: &mut Out) {
        self.touch(dir, 0, ctx);
        let side = self.side(dir);
        let cref = self.cref();
        let closed = self.closed;
        match &mut self.state {
            State::Pending(p) => {
                let h = &mut p.held[dir.index()];
                h.gapped = true;
                h.items.push(HeldItem::Gap(ctx, bytes));
                self.classify(false, sh, out);
            }
            State::Mqtt(m) => m.gap(dir, side, bytes, closed, ctx, cref, sh, out),
            State::Tls(t) => t.gap(dir, ctx, cref, sh, out),
            State::Ws(w) => w.gap(dir, bytes, closed, ctx, cref, sh, out),
            State::Other => {}
        }
    }

    /// A FIN (or, with `reset`, a RST) travelling in `dir`.
    fn fin(&mut self, dir: Dir, reset: bool, ctx: Ctx, sh: &mut Shared, out: &mut Out) {
        if let State::Pending(p) = &mut self.state {
            p.ended[dir.index()] = true;
            if reset {
                p.ended = [true, true];
            }
            self.classify(true, sh, out);
        }
        self.touch(dir, 0, ctx);
        let cref = self.cref();
        let client = self.client;
        match &mut self.state {
            State::Mqtt(m) => {
                // The first FIN ends the conversation for the judge (its Closed follows): both
                // directions' complete packets are framed now, so none comes after Closed;
                // what either side sends later is counted as not analysed.
                let dirs: &[Dir] = if reset || !self.closed {
                    &[Dir::FromA, Dir::FromB]
                } else {
                    std::slice::from_ref(&dir)
                };
                m.stream_end(dirs, client, ctx, cref, sh, out);
            }
            State::Tls(t) => {
                let dirs: &[Dir] = if reset || !self.closed {
                    &[Dir::FromA, Dir::FromB]
                } else {
                    std::slice::from_ref(&dir)
                };
                t.stream_end(dirs, ctx, cref, sh, out);
            }
            State::Ws(w) => {
                let dirs: &[Dir] = if reset || !self.closed {
                    &[Dir::FromA, Dir::FromB]
                } else {
                    std::slice::from_ref(&dir)
                };
                w.stream_end(dirs, ctx, cref, sh, out);
            }
            State::Pending(_) | State::Other => return,
        }
        if !self.closed {
            self.closed = true;
            let mut by = self.side(dir);
            let mut how = if reset { "RST" } else { "FIN" }.to_owned();
            let mut closed = format!("{how} by {}", side_name(by));
            // Over WebSocket the side whose Close frame came first closed the connection.
            if let State::Ws(w) = &self.state {
                if let Some(closer) = w.first_close.filter(|s| *s != by) {
                    how = format!(
                        "WebSocket Close frame by the {}, then {closed}",
                        side_name(closer)
                    );
                    closed = how.clone();
                    by = closer;
                }
            }
            if let Some(info) = sh.info(self.info) {
                info.closed = Some(closed);
            }
            let ev = sh.event(
                self.id,
                ctx.at,
                by,
                EventKind::Closed {
                    by: Some(by),
                    detail: how.to_owned(),
                },
            );
            out(ev);
        }
    }

    /// The reassembler stopped tracking the connection.
    pub(super) fn end(&mut self, reason: CloseReason, ctx: Ctx, sh: &mut Shared, out: &mut Out) {
        if let State::Pending(p) = &mut self.state {
            p.ended = [true, true];
            self.classify(true, sh, out);
        }
        let cref = self.cref();
        let client = self.client;
        match &mut self.state {
            State::Mqtt(m) => m.stream_end(&[Dir::FromA, Dir::FromB], client, ctx, cref, sh, out),
            State::Tls(t) => t.stream_end(&[Dir::FromA, Dir::FromB], ctx, cref, sh, out),
            State::Ws(w) => w.stream_end(&[Dir::FromA, Dir::FromB], ctx, cref, sh, out),
            State::Pending(_) | State::Other => return,
        }
        // After the last packets were framed.
        self.sync_info(sh);
        if self.after_close > 0 {
            let n = self.after_close;
            sh.notice(
                NoticeKind::NotAnalysed,
                ctx,
                format!(
                    "connection {}: {n} bytes sent after the connection was closed were not analysed",
                    self.id
                ),
            );
        }
        if reason == CloseReason::Replaced && !self.closed {
            self.closed = true;
            let detail = "a new connection took its addresses (its end is not in the capture)";
            if let Some(info) = sh.info(self.info) {
                info.closed = Some(detail.to_owned());
            }
            let ev = sh.event(
                self.id,
                ctx.at,
                Side::Client,
                EventKind::Closed {
                    by: None,
                    detail: detail.to_owned(),
                },
            );
            out(ev);
        }
    }

    /// Decides what a pending connection is, when its bytes allow (or `force`).
    fn classify(&mut self, force: bool, sh: &mut Shared, out: &mut Out) {
        let State::Pending(p) = &self.state else {
            return;
        };
        let mut looks = [
            p.held[0].look(p.ended[0] || force),
            p.held[1].look(p.ended[1] || force),
        ];
        let dirs = [Dir::FromA, Dir::FromB];
        // An HTTP request first: MQTT over WebSocket, or not MQTT (or, on an MQTT port
        // without an upgrade, MQTT that does not frame).
        let http = dirs
            .into_iter()
            .find(|d| looks[d.index()] == Look::Http && self.client.is_none_or(|c| c == *d));
        if let Some(d) = http {
            let h = &p.held[d.index()];
            let ended = force || p.ended[d.index()] || h.gapped;
            // The server may answer before the client's first frame; not at length.
            let other = &p.held[d.reverse().index()];
            let detection = match ws::decide(&h.prefix, ended, self.port_match) {
                ws::WsLook::NeedMore if other.bytes <= ws::DECIDE_HOLD => return,
                ws::WsLook::Subprotocol => Some(Detection::Subprotocol),
                ws::WsLook::Upgrade if self.port_match => Some(Detection::Port),
                ws::WsLook::Connect => Some(Detection::Connect),
                _ => None,
            };
            if let Some(detection) = detection {
                let decision = Decision::WebSocket {
                    client: d,
                    detection,
                };
                return self.decided(decision, sh, out);
            }
            looks[d.index()] = Look::Plain;
        }
        let decision = if self.port_match {
            let decisive = dirs.into_iter().find_map(|d| match looks[d.index()] {
                Look::Tls => Some(Decision::Tls {
                    client: self.client.unwrap_or(d),
                }),
                Look::Connect => Some(Decision::Mqtt {
                    client: self.client.unwrap_or(d),
                    connect: self.client.is_none_or(|c| c == d),
                }),
                _ => None,
            });
            decisive.or_else(|| {
                (force || looks.contains(&Look::Plain)).then(|| Decision::Mqtt {
                    client: self.client.unwrap_or(Dir::FromA),
                    connect: false,
                })
            })
        } else {
            let candidates: &[Dir] = match &self.client {
                Some(c) => std::slice::from_ref(c),
                None => &dirs,
            };
            let possible: Vec<Dir> = candidates
                .iter()
                .copied()
                .filter(|d| {
                    matches!(
                        looks[d.index()],
                        Look::Empty | Look::NeedMore | Look::Connect
                    )
                })
                .collect();
            let talkative = dirs
                .iter()
                .any(|d| !possible.contains(d) && p.held[d.index()].bytes > HOLD_CAP);
            if let Some(&d) = possible.iter().find(|d| looks[d.index()] == Look::Connect) {
                Some(Decision::Mqtt {
                    client: d,
                    connect: true,
                })
            } else if possible.is_empty() || talkative || force {
                Some(Decision::Other)
            } else {
                None
            }
        };
        let Some(decision) = decision else {
            return;
        };
        self.decided(decision, sh, out);
    }

    /// Makes a pending connection what `decision` says, and replays what was held.
    fn decided(&mut self, decision: Decision, sh: &mut Shared, out: &mut Out) {
        let State::Pending(p) = std::mem::replace(&mut self.state, State::Other) else {
            return;
        };
        let mut websocket = None;
        let (kind, client, connect) = match decision {
            Decision::Other => {
                sh.stats.other_flows += 1;
                sh.ignore.push((self.slot, self.id));
                return;
            }
            Decision::Mqtt { client, connect } => (ConnectionKind::Mqtt, client, connect),
            Decision::Tls { client } => (ConnectionKind::Tls, client, false),
            Decision::WebSocket { client, detection } => {
                websocket = Some(detection);
                (ConnectionKind::Mqtt, client, true)
            }
        };
        self.client = Some(client);
        let mid_stream = !self.handshake;
        let first = Ctx {
            at: self.first_at,
            frame: self.first_frame,
        };
        let mut info = ConnectionInfo {
            id: self.id,
            kind,
            detection: match websocket {
                Some(d) => d,
                None if self.port_match => Detection::Port,
                None => Detection::Connect,
            },
            endpoints: self.endpoints(),
            mid_stream,
            version: None,
            version_source: None,
            tls: None,
            decryption: None,
            websocket: None,
            first_frame: self.first_frame,
            last_frame: self.first_frame,
            first_at: self.first_at,
            last_at: self.first_at,
            client_bytes: 0,
            server_bytes: 0,
            packets: 0,
            gaps: 0,
            closed: None,
        };
        match kind {
            ConnectionKind::Mqtt if websocket.is_some() => {
                sh.stats.mqtt_flows += 1;
                sh.stats.websocket_flows += 1;
                let w = WsConn::new(client, sh.config.protocol);
                info.version = Some(w.mqtt.proto.version);
                info.version_source = Some(w.mqtt.proto.source);
                self.state = State::Ws(Box::new(w));
            }
            ConnectionKind::Mqtt => {
                sh.stats.mqtt_flows += 1;
                // Read from a packet boundary when the stream's start is there.
                let from_start = !mid_stream || connect;
                let m = MqttConn::new(from_start, sh.config.protocol);
                info.version = Some(m.proto.version);
                info.version_source = Some(m.proto.source);
                self.state = State::Mqtt(Box::new(m));
            }
            ConnectionKind::Tls => {
                sh.stats.tls_flows += 1;
                let keys = sh.config.tls_keys.clone();
                self.state = State::Tls(Box::new(TlsConn::new(client, keys, sh.config.protocol)));
            }
        }
        sh.infos.push(info);
        self.info = Some(sh.infos.len() - 1);
        // A TLS connection's MQTT is read only by decrypting it, which starts at its
        // ClientHello: its plaintext starts at the stream's start even when the capture
        // missed the TCP handshake.
        let client_hello = kind == ConnectionKind::Tls
            && p.held[client.index()].prefix.first() == Some(&crate::capture::tls::CT_HANDSHAKE);
        let opened = sh.event(
            self.id,
            first.at,
            Side::Client,
            EventKind::Opened {
                endpoints: Some(self.endpoints()),
                // Likewise a WebSocket connection: its request is its stream's start.
                from_start: !mid_stream || client_hello || websocket.is_some(),
            },
        );
        out(opened);
        // Replay what was held, the client's stream first (its CONNECT comes first);
        // a WebSocket connection's in capture order (request, answer, first frames).
        let [h0, h1] = p.held;
        let held = if client == Dir::FromA {
            [(Dir::FromA, h0), (Dir::FromB, h1)]
        } else {
            [(Dir::FromB, h1), (Dir::FromA, h0)]
        };
        let mut items: Vec<(Dir, HeldItem)> = held
            .into_iter()
            .flat_map(|(dir, h)| h.items.into_iter().map(move |i| (dir, i)))
            .collect();
        if websocket.is_some() {
            // Stable: each direction's items keep their order.
            items.sort_by_key(|(_, i)| i.frame());
        }
        for (dir, item) in items {
            match item {
                HeldItem::Data(ctx, bytes) => {
                    // Counted when they arrived.
                    self.data_recognised(dir, &bytes, ctx, sh, out);
                }
                HeldItem::Gap(ctx, n) => self.gap(dir, n, ctx, sh, out),
            }
        }
    }

    /// [`Conn::data`] without the report update (for replayed bytes).
    fn data_recognised(
        &mut self,
        dir: Dir,
        bytes: &[u8],
        ctx: Ctx,
        sh: &mut Shared,
        out: &mut Out,
    ) {
        let side = self.side(dir);
        let cref = self.cref();
        match &mut self.state {
            State::Mqtt(m) => m.data(dir, side, bytes, ctx, cref, sh, out),
            State::Tls(t) => t.data(dir, bytes, ctx, cref, sh, out),
            State::Ws(w) => w.data(dir, bytes, ctx, cref, sh, out),
            State::Pending(_) | State::Other => {}
        }
    }
}

pub(super) fn side_name(side: Side) -> &'static str {
    match side {
        Side::Client => "client",
        Side::Server => "server",
    }
}

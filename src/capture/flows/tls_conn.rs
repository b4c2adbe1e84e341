//! MQTT over TLS: the hellos, and with a key log the records decrypted and their
//! plaintext framed as MQTT.

use super::*;

/// A TLS connection: its two hellos being read, and with a key log its records
/// decrypted and their plaintext framed as MQTT.
#[derive(Debug)]
pub(super) struct TlsConn {
    client: Dir,
    /// Without a key log: the hellos, read here.
    readers: [HelloReader; 2],
    info: TlsInfo,
    emitted: bool,
    /// With a key log.
    pub(super) decrypting: Option<Box<Decrypting>>,
}

/// A TLS connection being decrypted.
#[derive(Debug)]
pub(super) struct Decrypting {
    tls: TlsDecryptor,
    pub(super) mqtt: MqttConn,
    /// MQTT over WebSocket (`wss://`): the plaintext is unwrapped here instead of going
    /// straight to `mqtt`.
    pub(super) ws: Option<Box<WsConn>>,
    /// The client's first plaintext was looked at (an HTTP upgrade or MQTT).
    sniffed: bool,
    protocol: Option<ProtocolVersion>,
    /// Plaintext of the last records, reused.
    plain: Vec<u8>,
    /// Directions (by [`Dir::index`]) no longer decrypted, already reported.
    ended: [bool; 2],
    /// Payload is no longer wanted (both directions ended).
    ignored: bool,
}

impl TlsConn {
    pub(super) fn new(
        client: Dir,
        keys: Option<Arc<KeyLog>>,
        protocol: Option<ProtocolVersion>,
    ) -> Self {
        let mut readers = [HelloReader::new(1), HelloReader::new(2)];
        if client == Dir::FromB {
            readers.swap(0, 1);
        }
        Self {
            client,
            readers,
            info: TlsInfo::default(),
            emitted: false,
            decrypting: keys.map(|keys| {
                Box::new(Decrypting {
                    tls: TlsDecryptor::new(keys),
                    // The plaintext starts at its stream's start: a CONNECT comes first.
                    mqtt: MqttConn::new(true, protocol),
                    ws: None,
                    sniffed: false,
                    protocol,
                    plain: Vec::new(),
                    ended: [false; 2],
                    ignored: false,
                })
            }),
        }
    }

    fn side(&self, dir: Dir) -> Side {
        if dir == self.client {
            Side::Client
        } else {
            Side::Server
        }
    }

    pub(super) fn data(
        &mut self,
        dir: Dir,
        bytes: &[u8],
        ctx: Ctx,
        c: ConnRef,
        sh: &mut Shared,
        out: &mut Out,
    ) {
        if self.decrypting.is_some() {
            return self.decrypt(dir, Some(bytes), ctx, c, sh, out);
        }
        let r = &mut self.readers[dir.index()];
        if let Some(msg) = r.feed(bytes) {
            if dir == self.client {
                if let Some(hello) = parse_client_hello(&msg) {
                    self.info.sni = hello.sni;
                    self.info.offered = hello.offered;
                }
            } else if let Some(hello) = parse_server_hello(&msg) {
                self.info.negotiated = Some(hello.version);
            }
        }
        self.maybe_emit(ctx, c, sh, out);
    }

    /// Feeds one direction's ciphertext (`None`: flushes what waited for a hello) and
    /// frames the plaintext that comes out.
    fn decrypt(
        &mut self,
        dir: Dir,
        bytes: Option<&[u8]>,
        ctx: Ctx,
        c: ConnRef,
        sh: &mut Shared,
        out: &mut Out,
    ) {
        let side = self.side(dir);
        let from_client = side == Side::Client;
        let Some(d) = self.decrypting.as_deref_mut() else {
            return;
        };
        d.plain.clear();
        match bytes {
            Some(b) => d.tls.feed(from_client, b, &mut d.plain),
            None => d.tls.flush(from_client, &mut d.plain),
        }
        // The handshake is reported before the first packet it protects.
        if !self.emitted && d.tls.server_hello().is_some() {
            self.info = d.tls.status().info();
            self.emit_info(ctx, c, sh, out);
        }
        let Some(d) = self.decrypting.as_deref_mut() else {
            return;
        };
        if !d.plain.is_empty() {
            if !self.emitted {
                self.info = d.tls.status().info();
                self.emit_info(ctx, c, sh, out);
            }
            let Some(d) = self.decrypting.as_deref_mut() else {
                return;
            };
            if !d.sniffed && side == Side::Client {
                // Its first plaintext tells MQTT over WebSocket (an HTTP GET) from MQTT.
                d.sniffed = true;
                if d.plain.starts_with(b"GET ") {
                    sh.stats.websocket_flows += 1;
                    d.ws = Some(Box::new(WsConn::new(self.client, d.protocol)));
                }
            }
            let Decrypting {
                mqtt, plain, ws, ..
            } = d;
            match ws {
                Some(w) => w.data(dir, plain, ctx, c, sh, out),
                None => mqtt.data(dir, side, plain, ctx, c, sh, out),
            }
        }
        self.check_ended(dir, ctx, c, sh, out);
    }

    /// Reports a direction that is no longer decrypted (once); stops taking payload once
    /// neither is.
    fn check_ended(&mut self, dir: Dir, ctx: Ctx, c: ConnRef, sh: &mut Shared, out: &mut Out) {
        let side = self.side(dir);
        let Some(d) = self.decrypting.as_deref_mut() else {
            return;
        };
        let i = dir.index();
        if d.ended[i] || d.tls.is_active(side == Side::Client) {
            return;
        }
        d.ended[i] = true;
        let status = d.tls.status();
        let dir_status = if side == Side::Client {
            &status.client
        } else {
            &status.server
        };
        if let DirState::Stopped(reason) = &dir_status.state {
            sh.notice(
                NoticeKind::NotAnalysed,
                ctx,
                format!(
                    "connection {} {}: TLS decryption stopped after {} records: {reason}; the rest of the direction is not analysed",
                    c.id,
                    side_name(side),
                    dir_status.records
                ),
            );
            // What was not decrypted was sent at unknown times: silence is not measured.
            if dir_status.records > 0 {
                out(sh.event(c.id, ctx.at, side, EventKind::Gap { bytes: 0 }));
            }
        }
        if d.ended.iter().all(|e| *e) && !d.ignored {
            d.ignored = true;
            sh.ignore.push((c.slot, c.id));
        }
    }

    pub(super) fn gap(&mut self, dir: Dir, ctx: Ctx, c: ConnRef, sh: &mut Shared, out: &mut Out) {
        if let Some(d) = self.decrypting.as_deref_mut() {
            let from_client = dir == self.client;
            d.tls.gap(from_client);
            return self.check_ended(dir, ctx, c, sh, out);
        }
        self.readers[dir.index()].fail();
        self.maybe_emit(ctx, c, sh, out);
    }

    /// Directions ended: what waited for a hello is decrypted, the MQTT streams end, and
    /// the handshake is reported if it was not yet.
    pub(super) fn stream_end(
        &mut self,
        dirs: &[Dir],
        ctx: Ctx,
        c: ConnRef,
        sh: &mut Shared,
        out: &mut Out,
    ) {
        if self.decrypting.is_none() {
            return self.emit(ctx, c, sh, out);
        }
        for &dir in dirs {
            self.decrypt(dir, None, ctx, c, sh, out);
        }
        if !self.emitted {
            if let Some(d) = &self.decrypting {
                self.info = d.tls.status().info();
            }
            self.emit_info(ctx, c, sh, out);
        }
        let client = Some(self.client);
        if let Some(d) = self.decrypting.as_deref_mut() {
            match &mut d.ws {
                Some(w) => w.stream_end(dirs, ctx, c, sh, out),
                None => d.mqtt.stream_end(dirs, client, ctx, c, sh, out),
            }
            let decryption = TlsDecryption::of(&d.tls.status());
            if let Some(info) = sh.info(c.info) {
                info.decryption = Some(decryption);
            }
        }
    }

    /// Emits once both hellos have been read (or given up on).
    pub(super) fn maybe_emit(&mut self, ctx: Ctx, c: ConnRef, sh: &mut Shared, out: &mut Out) {
        if self.readers.iter().all(HelloReader::finished) {
            self.emit(ctx, c, sh, out);
        }
    }

    /// Emits what is known (once); without decryption the rest is opaque.
    pub(super) fn emit(&mut self, ctx: Ctx, c: ConnRef, sh: &mut Shared, out: &mut Out) {
        if self.emitted {
            return;
        }
        // The rest of the connection is opaque.
        sh.ignore.push((c.slot, c.id));
        self.emit_info(ctx, c, sh, out);
    }

    /// The handshake as an event and in the report (once).
    pub(super) fn emit_info(&mut self, ctx: Ctx, c: ConnRef, sh: &mut Shared, out: &mut Out) {
        if self.emitted {
            return;
        }
        self.emitted = true;
        if let Some(info) = sh.info(c.info) {
            info.tls = Some(self.info.clone());
        }
        let ev = sh.event(
            c.id,
            ctx.at,
            Side::Client,
            EventKind::Tls(self.info.clone()),
        );
        out(ev);
    }
}

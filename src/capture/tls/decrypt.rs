//! The decryptor: one connection's records, both directions, through the handshake
//! to the application data.

use super::*;

/// What a complete handshake message means here.
enum Message {
    ClientHello(Option<ClientHello>),
    ServerHello(Option<ServerHello>),
    EncryptedExtensions { early_data: bool },
    Finished,
    KeyUpdate { valid: bool },
    Other,
}

impl Message {
    fn new(ty: u8, body: &[u8]) -> Self {
        match ty {
            HS_CLIENT_HELLO => Message::ClientHello(parse_client_hello(body)),
            HS_SERVER_HELLO => Message::ServerHello(parse_server_hello(body)),
            HS_ENCRYPTED_EXTENSIONS => Message::EncryptedExtensions {
                early_data: accepts_early_data(body),
            },
            HS_FINISHED => Message::Finished,
            HS_KEY_UPDATE => Message::KeyUpdate {
                valid: matches!(body, [0 | 1]),
            },
            _ => Message::Other,
        }
    }
}

/// Whether a direction goes on.
enum Run {
    Active,
    Closed(Alert),
    Stopped(StopReason),
}

/// One direction of the connection.
struct Direction {
    /// Where the stream is in its records.
    framer: RecordFramer,
    /// The current record: header, then as much of the body as has arrived.
    rec: Vec<u8>,
    /// Complete records waiting for the other direction's hello, in order.
    backlog: Vec<u8>,
    /// The hello the backlog waits for.
    waiting_for: &'static str,
    pub(super) handshake: HandshakeReader,
    pub(super) protection: Option<Protection>,
    run: Run,
    /// Protected records tried (the number a DecryptFailed names).
    tried: u64,
    records: u64,
    plaintext: u64,
    key_updates: u32,
    alert: Option<Alert>,
    skipped_early: u64,
}

impl Direction {
    fn new() -> Self {
        Self {
            framer: RecordFramer::default(),
            rec: Vec::new(),
            backlog: Vec::new(),
            waiting_for: "",
            handshake: HandshakeReader::default(),
            protection: None,
            run: Run::Active,
            tried: 0,
            records: 0,
            plaintext: 0,
            key_updates: 0,
            alert: None,
            skipped_early: 0,
        }
    }

    fn active(&self) -> bool {
        matches!(self.run, Run::Active)
    }

    /// Ends the direction (keeping the first outcome) and frees its buffers.
    fn end(&mut self, run: Run) {
        if self.active() {
            self.run = run;
        }
        self.framer = RecordFramer::default();
        self.rec = Vec::new();
        self.backlog = Vec::new();
        self.handshake = HandshakeReader::default();
        self.protection = None;
    }

    fn status(&self) -> DirStatus {
        let state = match &self.run {
            Run::Closed(alert) => DirState::Closed(*alert),
            Run::Stopped(reason) => DirState::Stopped(reason.clone()),
            Run::Active if !self.backlog.is_empty() => DirState::Waiting {
                hello: self.waiting_for,
                queued: self.backlog.len(),
            },
            Run::Active => DirState::Decrypting,
        };
        DirStatus {
            state,
            records: self.records,
            plaintext_bytes: self.plaintext,
            key_updates: self.key_updates,
            alert: self.alert,
            skipped_early_records: self.skipped_early,
        }
    }

    fn application(&self) -> bool {
        matches!(
            self.protection,
            Some(Protection::Tls13 {
                application: true,
                ..
            })
        )
    }
}

/// What the hellos established for the whole connection.
#[derive(Default)]
struct Facts {
    client_hello: Option<ClientHello>,
    server_hello: Option<ServerHello>,
    hello_retry: bool,
    early_accepted: Option<bool>,
}

/// One TLS connection being decrypted, both directions.
///
/// Feed each direction's stream bytes in order with [`feed`](Self::feed), in any
/// chunking, both directions interleaved as captured; the application data of that
/// direction comes out. Records a direction can only decrypt once the other direction's
/// hello is known (a capture whose reassembly hands the client's stream over before the
/// server's) are held back, up to 64 KiB, and decrypted at that direction's next `feed`
/// or [`flush`](Self::flush).
pub struct TlsDecryptor {
    keys: Arc<KeyLog>,
    facts: Facts,
    dirs: [Direction; 2],
}

impl fmt::Debug for TlsDecryptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsDecryptor")
            .field("keys", &self.keys)
            .field("status", &self.status())
            .finish()
    }
}

impl TlsDecryptor {
    /// A decryptor for one connection, with the secrets of `keys`.
    pub fn new(keys: Arc<KeyLog>) -> Self {
        Self {
            keys,
            facts: Facts::default(),
            dirs: [Direction::new(), Direction::new()],
        }
    }

    /// Takes ciphertext stream bytes of one direction, in order (a record may be split
    /// across calls, several records may come in one) and appends that direction's
    /// decrypted application data to `plain`. Bytes of a direction that has stopped or
    /// closed are ignored.
    pub fn feed(&mut self, from_client: bool, mut bytes: &[u8], plain: &mut Vec<u8>) {
        let d = if from_client { CLIENT } else { SERVER };
        self.drain(d, plain);
        loop {
            let dir = &mut self.dirs[d];
            if !dir.active() {
                return;
            }
            match dir.framer.next(&mut bytes) {
                None => return,
                Some(RecordPiece::Header(header)) => {
                    if let Err(reason) = check_header(&header) {
                        self.stop(d, reason);
                        return;
                    }
                    self.dirs[d].rec.extend_from_slice(&header);
                }
                Some(RecordPiece::Body(body)) => self.dirs[d].rec.extend_from_slice(body),
            }
            let dir = &mut self.dirs[d];
            if !dir.framer.record_complete() {
                continue;
            }
            // Taken out so the record can be decrypted in place while `self` changes.
            let mut rec = std::mem::take(&mut dir.rec);
            self.record(d, &mut rec, plain);
            let dir = &mut self.dirs[d];
            if dir.active() {
                rec.clear();
                dir.rec = rec;
            }
        }
    }

    /// Decrypts the records of a direction that were waiting for the other direction's
    /// hello, if it has arrived since; appends the application data to `plain`.
    pub fn flush(&mut self, from_client: bool, plain: &mut Vec<u8>) {
        self.feed(from_client, &[], plain);
    }

    /// Bytes of a direction were lost: it cannot be decrypted any more (record
    /// boundaries and sequence numbers are gone). A direction already closed by an
    /// alert stays closed.
    pub fn gap(&mut self, from_client: bool) {
        let d = if from_client { CLIENT } else { SERVER };
        self.stop(d, StopReason::Gap);
    }

    /// Where the connection stands: the hellos seen and each direction's state.
    pub fn status(&self) -> TlsStatus {
        TlsStatus {
            client_hello: self.facts.client_hello.clone(),
            server_hello: self.facts.server_hello.clone(),
            hello_retry: self.facts.hello_retry,
            early_data_accepted: self.facts.early_accepted,
            client: self.dirs[CLIENT].status(),
            server: self.dirs[SERVER].status(),
        }
    }

    /// Whether a direction is still followed (not closed by an alert, not stopped).
    pub fn is_active(&self, from_client: bool) -> bool {
        self.dirs[if from_client { CLIENT } else { SERVER }].active()
    }

    /// The first ClientHello, once seen.
    pub fn client_hello(&self) -> Option<&ClientHello> {
        self.facts.client_hello.as_ref()
    }

    /// The ServerHello (the real one after a HelloRetryRequest), once seen.
    pub fn server_hello(&self) -> Option<&ServerHello> {
        self.facts.server_hello.as_ref()
    }

    fn stop(&mut self, d: usize, reason: StopReason) {
        self.dirs[d].end(Run::Stopped(reason));
    }

    fn stop_both(&mut self, reason: StopReason) {
        self.stop(CLIENT, reason.clone());
        self.stop(SERVER, reason);
    }

    /// The version the server chose (a HelloRetryRequest tells it too).
    fn version(&self) -> Option<u16> {
        self.facts.server_hello.as_ref().map(|s| s.version)
    }

    /// The hello a record of direction `d` and content type `ty` needs from the other
    /// direction before it can be processed, if not seen yet.
    fn missing(&self, d: usize, ty: u8) -> Option<&'static str> {
        if !matches!(ty, CT_CHANGE_CIPHER_SPEC | CT_APPLICATION_DATA) {
            return None;
        }
        if d == CLIENT && self.facts.server_hello.is_none() {
            Some("ServerHello")
        } else if d == SERVER
            && self.facts.client_hello.is_none()
            && self.dirs[SERVER].protection.is_none()
        {
            Some("ClientHello")
        } else {
            None
        }
    }

    /// A complete record of direction `d`: processed now, or held back in order.
    fn record(&mut self, d: usize, rec: &mut [u8], plain: &mut Vec<u8>) {
        let ty = rec[0];
        let missing = self.missing(d, ty);
        if self.dirs[d].backlog.is_empty() && missing.is_none() {
            self.process(d, rec, plain);
            return;
        }
        let other_active = self.dirs[if d == CLIENT { SERVER } else { CLIENT }].active();
        let dir = &mut self.dirs[d];
        if dir.backlog.is_empty() {
            dir.waiting_for = missing.unwrap_or("hello");
        }
        if dir.backlog.len() + rec.len() > MAX_BACKLOG || !other_active {
            // The other direction will never (or not soon enough) tell.
            let hello = dir.waiting_for;
            self.stop(d, StopReason::HelloNotSeen(hello));
        } else {
            dir.backlog.extend_from_slice(rec);
        }
    }

    /// Processes the held-back records the other direction's hello now allows.
    fn drain(&mut self, d: usize, plain: &mut Vec<u8>) {
        if self.dirs[d].backlog.is_empty() {
            return;
        }
        let mut queue = std::mem::take(&mut self.dirs[d].backlog);
        let mut at = 0;
        while at + HEADER <= queue.len() && self.dirs[d].active() {
            let end = (at + HEADER + record_len(&queue[at..])).min(queue.len());
            if self.missing(d, queue[at]).is_some() {
                break;
            }
            self.process(d, &mut queue[at..end], plain);
            at = end;
        }
        if self.dirs[d].active() {
            queue.drain(..at);
            self.dirs[d].backlog = queue;
        }
    }

    /// A complete record of direction `d` whose turn it is.
    fn process(&mut self, d: usize, rec: &mut [u8], plain: &mut Vec<u8>) {
        let ty = rec[0];
        let protected = self.dirs[d].protection.is_some();
        let body = HEADER..rec.len();
        if self.version() == Some(TLS13) {
            match ty {
                CT_APPLICATION_DATA => self.open(d, rec, plain),
                // Sent for middlebox compatibility only (RFC 8446 D.4).
                CT_CHANGE_CIPHER_SPEC | CT_HEARTBEAT => {}
                CT_ALERT => self.alerts(d, &rec[body]),
                // ClientHello (again after a HelloRetryRequest), ServerHello.
                CT_HANDSHAKE if !protected => self.handshake(d, &rec[body]),
                _ => self.stop(
                    d,
                    StopReason::Malformed("a plaintext handshake record after encryption".into()),
                ),
            }
        } else if protected {
            if ty == CT_CHANGE_CIPHER_SPEC {
                self.stop(d, StopReason::Renegotiation);
            } else {
                self.open(d, rec, plain);
            }
        } else {
            match ty {
                CT_HANDSHAKE => self.handshake(d, &rec[body]),
                CT_CHANGE_CIPHER_SPEC => self.change_cipher_spec(d),
                CT_ALERT => self.alerts(d, &rec[body]),
                CT_HEARTBEAT => {}
                _ => self.stop(
                    d,
                    StopReason::Malformed(
                        "application data before the handshake protected it".into(),
                    ),
                ),
            }
        }
    }

    /// TLS 1.2: this direction's records are encrypted from here on (RFC 5246 7.1).
    fn change_cipher_spec(&mut self, d: usize) {
        match self.tls12_protection(d) {
            Ok(p) => self.dirs[d].protection = Some(p),
            Err(reason) => self.stop(d, reason),
        }
    }

    pub(super) fn tls12_protection(&self, d: usize) -> Result<Protection, StopReason> {
        let (Some(ch), Some(sh)) = (&self.facts.client_hello, &self.facts.server_hello) else {
            return Err(StopReason::Malformed(
                "ChangeCipherSpec before the hellos".into(),
            ));
        };
        if sh.version != TLS12 {
            return Err(StopReason::UnsupportedVersion(sh.version));
        }
        let suite = find_suite(sh.cipher_suite, TLS12)
            .ok_or(StopReason::UnsupportedCipherSuite(sh.cipher_suite))?;
        let master = self.keys.secret(&ch.random, Label::ClientRandom)?;
        // AEAD suites have no MAC keys: client key, server key, client IV, server IV.
        let key_len = suite.cipher.key_len();
        let iv_len = if suite.cipher == Cipher::Chacha20Poly1305 {
            12
        } else {
            4
        };
        let mut block = [0u8; 2 * 32 + 2 * 12];
        let block = &mut block[..2 * (key_len + iv_len)];
        prf(
            suite.hash,
            master.as_bytes(),
            b"key expansion",
            [&sh.random, &ch.random],
            block,
        );
        let (keys, ivs) = block.split_at(2 * key_len);
        let (key, iv) = if d == CLIENT {
            (&keys[..key_len], &ivs[..iv_len])
        } else {
            (&keys[key_len..], &ivs[iv_len..])
        };
        let key = RecordKey::new(suite.cipher, key, iv);
        block.fill(0);
        Ok(Protection::Tls12 {
            key: key.ok_or_else(|| StopReason::Malformed("bad key length".into()))?,
            explicit_nonce: suite.cipher != Cipher::Chacha20Poly1305,
        })
    }

    /// TLS 1.3 protection of direction `d` under its handshake (or, `application`,
    /// its first application) traffic secret.
    fn tls13_protection(&self, d: usize, application: bool) -> Result<Protection, StopReason> {
        let (Some(ch), Some(sh)) = (&self.facts.client_hello, &self.facts.server_hello) else {
            return Err(StopReason::Malformed(
                "a protected record before the hellos".into(),
            ));
        };
        let suite = find_suite(sh.cipher_suite, TLS13)
            .ok_or(StopReason::UnsupportedCipherSuite(sh.cipher_suite))?;
        let label = match (d == CLIENT, application) {
            (true, false) => Label::ClientHandshake,
            (false, false) => Label::ServerHandshake,
            (true, true) => Label::ClientTraffic0,
            (false, true) => Label::ServerTraffic0,
        };
        let secret = self.keys.secret(&ch.random, label)?;
        Ok(Protection::Tls13 {
            key: tls13_key(suite, &secret)?,
            suite,
            secret,
            application,
        })
    }

    /// A protected record of direction `d`.
    fn open(&mut self, d: usize, rec: &mut [u8], plain: &mut Vec<u8>) {
        if self.dirs[d].protection.is_none() {
            // TLS 1.3: the first protected record of the direction.
            match self.tls13_protection(d, false) {
                Ok(p) => self.dirs[d].protection = Some(p),
                Err(reason) => return self.stop(d, reason),
            }
        }
        let dir = &mut self.dirs[d];
        let Some(protection) = dir.protection.as_mut() else {
            return;
        };
        let tls13 = matches!(protection, Protection::Tls13 { .. });
        match protection.open(rec) {
            Ok((ty, range)) => {
                dir.tried += 1;
                dir.records += 1;
                self.content(d, ty, &rec[range], plain);
            }
            Err(OpenError::Auth) => {
                let early = d == CLIENT
                    && tls13
                    && dir.records == 0
                    && self
                        .facts
                        .client_hello
                        .as_ref()
                        .is_some_and(|c| c.early_data);
                if !early {
                    let record = dir.tried + 1;
                    self.stop(d, StopReason::DecryptFailed { record });
                } else if self.facts.early_accepted == Some(true) {
                    self.stop(d, StopReason::EarlyData);
                } else {
                    // 0-RTT data under a key not logged: fine as long as the server
                    // rejects it (and discards it too, RFC 8446 4.2.10).
                    dir.skipped_early += 1;
                }
            }
            Err(OpenError::Short(n)) => self.stop(
                d,
                StopReason::Malformed(format!(
                    "a protected record of {n} bytes is too short for its tag"
                )),
            ),
            Err(OpenError::NoContentType) => self.stop(
                d,
                StopReason::Malformed("a protected record has no content type".into()),
            ),
        }
    }

    /// Decrypted content of direction `d`.
    fn content(&mut self, d: usize, ty: u8, data: &[u8], plain: &mut Vec<u8>) {
        let tls13 = self.version() == Some(TLS13);
        match ty {
            CT_APPLICATION_DATA if tls13 && !self.dirs[d].application() => self.stop(
                d,
                StopReason::Malformed("application data under the handshake keys".into()),
            ),
            CT_APPLICATION_DATA => {
                plain.extend_from_slice(data);
                self.dirs[d].plaintext += data.len() as u64;
            }
            CT_HANDSHAKE => self.handshake(d, data),
            CT_ALERT => self.alerts(d, data),
            CT_HEARTBEAT => {}
            CT_CHANGE_CIPHER_SPEC if !tls13 => self.stop(d, StopReason::Renegotiation),
            _ => self.stop(
                d,
                StopReason::Malformed(format!("a protected record of content type {ty}")),
            ),
        }
    }

    /// Alert messages of direction `d`.
    fn alerts(&mut self, d: usize, data: &[u8]) {
        let tls13 = self.version() == Some(TLS13);
        if data.is_empty() || data.len() % 2 != 0 {
            let what = format!("an alert record of {} bytes", data.len());
            return self.stop(d, StopReason::Malformed(what));
        }
        for pair in data.chunks_exact(2) {
            let alert = Alert {
                level: pair[0],
                description: pair[1],
            };
            self.dirs[d].alert = Some(alert);
            // TLS 1.3 alerts all end the connection but user_canceled (RFC 8446 6);
            // TLS 1.2 warnings do not.
            let ends = alert.is_close_notify()
                || alert.level == ALERT_LEVEL_FATAL
                || (tls13 && alert.description != ALERT_USER_CANCELED);
            if ends {
                self.dirs[d].end(Run::Closed(alert));
                return;
            }
        }
    }

    /// Handshake bytes of direction `d` (one record's worth).
    fn handshake(&mut self, d: usize, mut data: &[u8]) {
        loop {
            let message = match self.dirs[d].handshake.next(&mut data) {
                Err(reason) => return self.stop(d, reason),
                Ok(None) => return,
                Ok(Some((ty, body))) => Message::new(ty, body),
            };
            self.message(d, message, data.is_empty());
            if !self.dirs[d].active() {
                return;
            }
        }
    }

    /// A complete handshake message of direction `d`; `record_end`: nothing follows it
    /// in its record.
    fn message(&mut self, d: usize, message: Message, record_end: bool) {
        let tls13 = self.version() == Some(TLS13);
        let protected = self.dirs[d].protection.is_some();
        match message {
            Message::ClientHello(hello) if d == CLIENT && !protected => match hello {
                // The first one's random is the key log's index, also after a
                // HelloRetryRequest.
                Some(hello) if self.facts.client_hello.is_none() => {
                    self.facts.client_hello = Some(hello);
                }
                Some(_) => {}
                None => self.stop_both(StopReason::Malformed("an unreadable ClientHello".into())),
            },
            Message::ServerHello(hello) if d == SERVER && !protected => self.on_server_hello(hello),
            Message::EncryptedExtensions { early_data } if d == SERVER && tls13 => {
                self.facts.early_accepted = Some(early_data);
                if early_data && self.dirs[CLIENT].skipped_early > 0 {
                    self.stop(CLIENT, StopReason::EarlyData);
                }
            }
            Message::Finished if tls13 && protected && !self.dirs[d].application() => {
                self.switch_keys(d, record_end, |this, _| this.tls13_protection(d, true));
            }
            Message::KeyUpdate { valid } if tls13 && self.dirs[d].application() => {
                if !valid {
                    return self.stop(d, StopReason::Malformed("a malformed KeyUpdate".into()));
                }
                self.switch_keys(d, record_end, |_, old| {
                    let Some(Protection::Tls13 { suite, secret, .. }) = old else {
                        return Err(StopReason::Malformed("KeyUpdate out of place".into()));
                    };
                    // RFC 8446 7.2: the next generation of the traffic secret.
                    let mut next = [0u8; 48];
                    let next = &mut next[..suite.hash.len()];
                    expand_label(suite.hash, secret.as_bytes(), b"traffic upd", next)
                        .ok_or_else(|| StopReason::Malformed("KeyUpdate derivation".into()))?;
                    let secret = Secret::new(next)
                        .ok_or_else(|| StopReason::Malformed("KeyUpdate derivation".into()))?;
                    next.fill(0);
                    Ok(Protection::Tls13 {
                        key: tls13_key(*suite, &secret)?,
                        suite: *suite,
                        secret,
                        application: true,
                    })
                });
                if self.dirs[d].active() {
                    self.dirs[d].key_updates += 1;
                }
            }
            _ => {}
        }
    }

    /// TLS 1.3 key change after a Finished or KeyUpdate of direction `d`, which must end
    /// its record (RFC 8446 5.1).
    fn switch_keys(
        &mut self,
        d: usize,
        record_end: bool,
        make: impl FnOnce(&Self, Option<&Protection>) -> Result<Protection, StopReason>,
    ) {
        if !record_end || self.dirs[d].handshake.partial() {
            return self.stop(
                d,
                StopReason::Malformed("handshake data after a key change in its record".into()),
            );
        }
        match make(self, self.dirs[d].protection.as_ref()) {
            Ok(p) => self.dirs[d].protection = Some(p),
            Err(reason) => self.stop(d, reason),
        }
    }

    fn on_server_hello(&mut self, hello: Option<ServerHello>) {
        let Some(hello) = hello else {
            return self.stop_both(StopReason::Malformed("an unreadable ServerHello".into()));
        };
        if self
            .facts
            .server_hello
            .as_ref()
            .is_some_and(|s| !s.hello_retry)
        {
            return; // only one real ServerHello per connection
        }
        if hello.version != TLS12 && hello.version != TLS13 {
            self.facts.server_hello = Some(hello.clone());
            return self.stop_both(StopReason::UnsupportedVersion(hello.version));
        }
        let supported = find_suite(hello.cipher_suite, hello.version).is_some();
        if hello.hello_retry {
            self.facts.hello_retry = true;
            // The client cannot send 0-RTT data after a HelloRetryRequest.
            self.facts.early_accepted = Some(false);
        }
        let code = hello.cipher_suite;
        self.facts.server_hello = Some(hello);
        if !supported {
            self.stop_both(StopReason::UnsupportedCipherSuite(code));
        }
    }
}

/// The TLS 1.3 record key of a traffic secret.
pub(super) fn tls13_key(suite: Suite, secret: &Secret) -> Result<RecordKey, StopReason> {
    if secret.as_bytes().len() != suite.hash.len() {
        return Err(StopReason::Malformed(format!(
            "the key log's secret is {} bytes, {} needs {}",
            secret.as_bytes().len(),
            suite.name,
            suite.hash.len()
        )));
    }
    RecordKey::tls13(suite, secret.as_bytes())
        .ok_or_else(|| StopReason::Malformed("traffic key derivation".into()))
}

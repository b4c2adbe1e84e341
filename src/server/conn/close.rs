//! The end of a connection: the exit's close, the session detached or ended, the Will
//! published now or after its delay, the session's expiry.

use super::*;

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> Conn<S> {
    pub(super) async fn finish(mut self, exit: Exit) {
        let mut waiter = None;
        let lingers = matches!(exit, Exit::Disconnect { .. });
        let (mut by, mut detail, will, reason) = match exit {
            Exit::Peer(detail) => (Side::Client, detail, true, None),
            Exit::Disconnect { will } => {
                (Side::Client, "client sent DISCONNECT".into(), will, None)
            }
            Exit::Close {
                detail,
                reason,
                will,
            } => (Side::Server, detail, will, reason),
            Exit::Shutdown => (
                Side::Server,
                "server shutting down".into(),
                false,
                Some(code::SERVER_SHUTTING_DOWN),
            ),
            Exit::Disconnecting { reason, .. } => (
                Side::Server,
                format!("DISCONNECT {reason:#04x} sent"),
                true,
                None,
            ),
            Exit::TakenOver(tx) => {
                waiter = tx;
                let detail = "session taken over by a new connection".into();
                (Side::Server, detail, true, Some(code::SESSION_TAKEN_OVER))
            }
        };
        if by == Side::Server {
            if let (true, Some(code)) = (self.s.is_some() && self.version.is_v5(), reason) {
                self.send(Packet::Disconnect(Disconnect {
                    reason_code: code,
                    properties: Properties::new(),
                }));
            }
            let (wr, wbuf) = (&mut self.wr, &self.wbuf);
            let _ = tokio::time::timeout(CLOSE_FLUSH, async {
                wr.write_all(wbuf).await?;
                wr.shutdown().await
            })
            .await;
        }
        self.detach(will, waiter);
        if let (true, Some(limit)) = (lingers, self.sh.policy.behaviour.await_client_close) {
            if !self.linger(limit).await {
                by = Side::Server;
                detail = format!(
                    "closed by the server: the client had not closed the connection {:.1} s after its DISCONNECT",
                    limit.as_secs_f64()
                );
                let _ = tokio::time::timeout(CLOSE_FLUSH, self.wr.shutdown()).await;
            }
        }
        self.sh
            .links
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.id);
        self.sh.emit(
            self.id,
            by,
            EventKind::Closed {
                by: Some(by),
                detail,
            },
        );
        self.rbuf = BytesMut::new();
        self.wbuf = BytesMut::new();
        self.account();
    }

    /// After the client's DISCONNECT: waits up to `limit` for the client to close, reporting
    /// every packet it still sends (a peer's duty says it sends none); true when it closed.
    async fn linger(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            loop {
                match self.next_frame() {
                    Ok(Some(bytes)) => {
                        let _ = self.decode(bytes);
                    }
                    Ok(None) => break,
                    // Reported by the framer; nothing after it can be framed.
                    Err(_) => return false,
                }
            }
            self.prepare_buffers();
            match tokio::time::timeout_at(deadline, self.rd.read_buf(&mut self.rbuf)).await {
                Err(_) => return false,
                Ok(Ok(0) | Err(_)) => return true,
                Ok(Ok(_)) => {}
            }
        }
    }

    /// After a DISCONNECT a device test asked for: nothing more is sent (MQTT-3.14.4-1);
    /// what the client still sends is reported but not acted on, until it closes or
    /// `linger` passes.
    pub(super) async fn linger_after_disconnect(&mut self, reason: u8, linger: Duration) -> Exit {
        if self.version.is_v5() {
            self.send(Packet::Disconnect(Disconnect {
                reason_code: reason,
                properties: Properties::new(),
            }));
        }
        let deadline = Instant::now() + linger;
        let ended = |detail: String| Exit::Close {
            detail,
            reason: None,
            will: true,
        };
        loop {
            loop {
                match self.next_frame() {
                    Ok(Some(bytes)) => {
                        let _ = self.decode(bytes);
                    }
                    Ok(None) => break,
                    Err(Exit::Close { detail, .. }) => return ended(detail),
                    Err(exit) => return exit,
                }
            }
            self.prepare_buffers();
            let can_write = !self.wbuf.is_empty() || self.need_flush;
            tokio::select! {
                _ = stopped(&mut self.stop) => return ended("server shutting down".into()),
                _ = tokio::time::sleep_until(deadline) => {
                    return ended(format!(
                        "the client did not close within {:.3} s of the DISCONNECT {reason:#04x}",
                        linger.as_secs_f64()
                    ));
                }
                r = write_step(&mut self.wr, &self.wbuf), if can_write => {
                    if let Err(exit) = self.after_write(r) {
                        return exit;
                    }
                }
                r = self.rd.read_buf(&mut self.rbuf) => {
                    if let Err(exit) = self.after_read(r) {
                        return exit;
                    }
                }
            }
        }
    }

    /// Hands the session back (or ends it), publishes the Will, releases a take-over.
    fn detach(&mut self, will_goes: bool, waiter: Option<oneshot::Sender<()>>) {
        let Some(s) = self.s.take() else { return };
        if let Some(device) = &s.device {
            let mut devices = self.sh.devices.lock().unwrap_or_else(|e| e.into_inner());
            if devices.get(device) == Some(&self.id) {
                devices.remove(device);
            }
        }
        let mut waiter = waiter;
        let sh = self.sh.clone();
        {
            let mut st = sh.lock();
            let kept = st.detach(&s.key, self.id, s.expiry, s.carried, &sh.policy.limits);
            // A take-over that raced with our own end waits for us too. Taken under the
            // state lock, after the release: a newcomer that kicks later sees no link.
            if waiter.is_none() {
                if let Some(Kick::TakenOver(tx)) = s.ctl.take_reason() {
                    waiter = tx;
                }
            }
            if let Some(Expiry::After(d)) = kept {
                spawn_expiry(Arc::downgrade(&sh), s.key.clone(), self.id, d);
            }
            if let Some(will) = s.will.filter(|_| will_goes) {
                let delay = will
                    .properties
                    .get_int(PropertyId::WillDelayInterval)
                    .map_or(Duration::ZERO, |d| Duration::from_secs(u64::from(d)));
                // Until the delay passes or the session ends, whichever comes first.
                let delay = match kept {
                    None => Duration::ZERO,
                    Some(Expiry::After(d)) => delay.min(d),
                    Some(_) => delay,
                };
                let vars = ConnVars {
                    client_id: &s.client_id,
                    username: s.username.as_deref(),
                };
                if will_allowed(&sh, &will, vars) {
                    if delay.is_zero() {
                        publish_will(&sh, &mut st, will, &s.key);
                    } else {
                        spawn_will(Arc::downgrade(&sh), will, s.key.clone(), self.id, delay);
                    }
                }
            }
        }
        if let Some(tx) = waiter {
            let _ = tx.send(());
        }
    }
}

/// A Will goes only to a topic the device may publish to and within the payload cap.
fn will_allowed(sh: &Shared, will: &Will, vars: ConnVars<'_>) -> bool {
    let profile = &sh.policy.profile;
    sh.policy.acl.may_publish(&will.topic, vars)
        && profile.max_payload.is_none_or(|m| will.payload.len() <= m)
}

fn publish_will(sh: &Shared, st: &mut State, will: Will, key: &str) {
    let retain = will.retain && sh.policy.profile.retain == Feature::Supported;
    let (properties, expires_at) = forwarded_properties(&will.properties);
    let msg = Arc::new(Message {
        topic: will.topic,
        payload: will.payload,
        properties,
        expires_at,
        retain,
        topic_alias: false,
    });
    let ctx = RouteCtx {
        policy: &sh.policy,
        dropped: &sh.counters.messages_dropped,
    };
    if retain && !st.retain(&msg, will.qos, &sh.policy.limits) {
        sh.counters.messages_dropped.fetch_add(1, Ordering::Relaxed);
    }
    st.route(msg, will.qos, Some(key), &ctx);
}

/// Ends an offline session when its expiry interval passes (unless it was resumed).
fn spawn_expiry(sh: Weak<Shared>, key: Arc<str>, generation: u64, after: Duration) {
    tokio::spawn(async move {
        tokio::time::sleep(after).await;
        if let Some(sh) = sh.upgrade() {
            sh.lock().expire(&key, generation);
        }
    });
}

/// Publishes a Will after its delay unless a new connection resumed the session first.
fn spawn_will(sh: Weak<Shared>, will: Will, key: Arc<str>, generation: u64, after: Duration) {
    tokio::spawn(async move {
        tokio::time::sleep(after).await;
        let Some(sh) = sh.upgrade() else { return };
        let mut st = sh.lock();
        let resumed = st
            .sessions
            .get(&key)
            .is_some_and(|s| s.generation != generation);
        if !resumed {
            publish_will(&sh, &mut st, will, &key);
        }
    });
}

//! The CONNECT: waiting for it, refusing it with the right code, accepting it (the
//! profile's checks, credentials, the session taken over or begun).

use super::*;

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> Conn<S> {
    pub(super) async fn wait_connect(&mut self) -> Result<Connect, Exit> {
        let limit = self.sh.policy.limits.connect_timeout;
        let deadline = Instant::now() + limit;
        loop {
            if let Some(bytes) = self.next_frame()? {
                return match self.decode(bytes) {
                    Ok(Packet::Connect(c)) => Ok(*c),
                    Ok(p) => Err(Exit::refused(format!(
                        "first packet is {}, not CONNECT [MQTT-3.1.0-1]",
                        p.packet_type()
                    ))),
                    // MQTT-3.1.2-2: an unsupported level is answered with 0x01 first.
                    Err(e) if matches!(e.violation, Violation::UnsupportedProtocolLevel(_)) => {
                        self.send(Packet::ConnAck(ConnAck {
                            session_present: false,
                            code: v3::UNACCEPTABLE_PROTOCOL_VERSION,
                            properties: Properties::new(),
                        }));
                        Err(Exit::refused(format!(
                            "CONNACK 0x01: unsupported protocol level ({e})"
                        )))
                    }
                    Err(e) => Err(Exit::refused(format!("malformed CONNECT: {e}"))),
                };
            }
            self.prepare_buffers();
            tokio::select! {
                biased;
                _ = stopped(&mut self.stop) => return Err(Exit::Shutdown),
                _ = tokio::time::sleep_until(deadline) => {
                    return Err(Exit::refused(format!("no CONNECT within {limit:?}")));
                }
                r = self.rd.read_buf(&mut self.rbuf) => self.after_read(r)?,
            }
        }
    }

    /// Answers a CONNECT with a refusal and ends the connection. The Reason String `why`
    /// is left out where the client's Maximum Packet Size has no room for it
    /// (MQTT-3.2.2-19), and the CONNACK itself where it has no room even for a bare one.
    pub(super) fn refuse(
        &mut self,
        code: u8,
        detail: impl Into<String>,
        why: Option<String>,
    ) -> Exit {
        let mut properties = Properties::new();
        if let (true, Some(why)) = (self.version.is_v5(), why) {
            properties =
                properties.with(PropertyId::ReasonString, PropertyValue::String(why.into()));
        }
        let mut ack = ConnAck {
            session_present: false,
            code,
            properties,
        };
        match fit_connack(&mut ack, self.version, self.client_max_packet) {
            Ok(()) => {
                self.send(Packet::ConnAck(ack));
                Exit::refused(format!("CONNACK {code:#04x}: {}", detail.into()))
            }
            Err(smallest) => Exit::refused(format!(
                "{}: closed without CONNACK {code:#04x}, whose {smallest} bytes exceed the client's Maximum Packet Size of {} bytes [MQTT-3.1.2-24]",
                detail.into(),
                self.client_max_packet
            )),
        }
    }

    pub(super) async fn accept(&mut self, c: Connect) -> Result<(), Exit> {
        let sh = self.sh.clone();
        let policy = &sh.policy;
        let profile = &policy.profile;
        self.version = c.protocol;
        let v5 = c.protocol.is_v5();
        let pick = |v3: u8, v5c: u8| if v5 { v5c } else { v3 };
        self.client_max_packet = c
            .properties
            .get_int(PropertyId::MaximumPacketSize)
            .filter(|_| v5)
            .map_or(usize::MAX, |v| v as usize);

        if !policy.protocols.is_empty() && !policy.protocols.contains(&c.protocol) {
            // Answered the way a server without that version would (MQTT-3.1.2-2): a
            // 3.1.1 CONNACK 0x01, the one form every client version can read (0x84 would
            // need a 5.0 CONNACK, which only a 5.0 client could parse, and 5.0 is then
            // the version being refused).
            self.version = ProtocolVersion::V3_1_1;
            let detail = format!("protocol {} is not accepted by the profile", c.protocol);
            return Err(self.refuse(v3::UNACCEPTABLE_PROTOCOL_VERSION, detail, None));
        }
        if let (true, Some(method)) = (v5, c.properties.get_str(PropertyId::AuthenticationMethod)) {
            if !profile.enhanced_authentication || method != auth::ECHO_METHOD {
                let detail = format!("Authentication Method {method:?} is not offered");
                return Err(self.refuse(code::BAD_AUTHENTICATION_METHOD, detail, None));
            }
            self.authenticate(method).await?;
        }
        let mut assigned = None;
        let client_id = if c.client_id.is_empty() {
            if c.protocol == ProtocolVersion::V3_1 || (!v5 && !c.clean_session) {
                // The client broke MQTT-3.1.3-7; refusing with 0x02 is MQTT-3.1.3-8.
                let detail =
                    "empty client id with Clean Session 0 [MQTT-3.1.3-7], refused [MQTT-3.1.3-8]";
                return Err(self.refuse(v3::IDENTIFIER_REJECTED, detail, None));
            }
            let id = format!("mqtt-conform-{}", self.id);
            assigned = Some(id.clone());
            id
        } else {
            c.client_id.clone()
        };
        if let Some(auth) = &sh.auth {
            if let Err(r) = auth.check(&c) {
                let detail = format!("refused by the authenticator: {}", r.describe());
                return Err(self.refuse(pick(r.code_v3, r.code_v5), detail, Some(r.describe())));
            }
        }
        let device = sh
            .auth
            .as_ref()
            .filter(|_| profile.one_connection_per_identity)
            .and_then(|auth| auth.device_of(&c));
        // A device test may shape this CONNACK (3.x: Session Present only); plans are
        // made for the client id the device sends, an empty one included.
        let plan = self
            .sh
            .connack_plans
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&c.client_id)
            .copied()
            .unwrap_or_default();
        let plan_max_qos = plan.maximum_qos.filter(|q| v5 && *q < policy.max_qos);
        let retain_refused = profile.retain == Feature::Refused;
        let plan_retain_refused = v5 && plan.retain_available == Some(false) && !retain_refused;
        if let Some(w) = &c.will {
            if profile.will == Feature::Refused {
                let detail = "the profile refuses Will messages";
                return Err(self.refuse(
                    pick(v3::NOT_AUTHORIZED, code::NOT_AUTHORIZED),
                    detail,
                    None,
                ));
            }
            if w.retain && profile.retain == Feature::Refused {
                let detail = "Will Retain, and the profile refuses retained messages";
                return Err(self.refuse(
                    pick(v3::NOT_AUTHORIZED, code::RETAIN_NOT_SUPPORTED),
                    detail,
                    None,
                ));
            }
            if v5 && w.qos > policy.max_qos {
                let detail = format!("Will QoS {} above the maximum", w.qos.as_u8());
                return Err(self.refuse(code::QOS_NOT_SUPPORTED, detail, None));
            }
            // What a device test's CONNACK would announce binds the Will too.
            if let Some(max) = plan_max_qos.filter(|m| w.qos > *m) {
                let detail = format!(
                    "Will QoS {} above the Maximum QoS {} this CONNACK announces [MQTT-3.2.2-12]",
                    w.qos.as_u8(),
                    max.as_u8()
                );
                return Err(self.refuse(code::QOS_NOT_SUPPORTED, detail.clone(), Some(detail)));
            }
            if w.retain && plan_retain_refused {
                let detail =
                    "Will Retain, and this CONNACK announces Retain Available 0 [MQTT-3.2.2-13]";
                return Err(self.refuse(
                    code::RETAIN_NOT_SUPPORTED,
                    detail,
                    Some(detail.to_owned()),
                ));
            }
        }
        let ka = &profile.keepalive;
        let bounded = ka.min.is_some() || ka.max.is_some();
        let in_range = !bounded
            || (c.keep_alive != 0
                && ka.min.is_none_or(|m| c.keep_alive >= m)
                && ka.max.is_none_or(|m| c.keep_alive <= m));
        if !in_range && ka.out_of_range == RangeReaction::Refuse {
            // No return code means "keep alive refused" and MQTT-3.2.2-6 forbids
            // inventing one: close without CONNACK.
            return Err(Exit::refused(format!(
                "Keep Alive {} outside {}–{}: closed without CONNACK",
                c.keep_alive,
                ka.min.unwrap_or(0),
                ka.max.unwrap_or(u16::MAX)
            )));
        }

        let our_receive_max = match plan.receive_maximum.filter(|_| v5) {
            Some(r) => usize::from(r).min(MAX_AWAITING_REL),
            None => MAX_AWAITING_REL,
        };
        let topic_alias_max = match plan.topic_alias_maximum.filter(|_| v5) {
            Some(t) => t,
            // Absent means 0: no Topic Aliases (MQTT-3.2.2-17).
            None => profile.topic_alias_maximum.unwrap_or(TOPIC_ALIAS_MAX),
        };
        let max_packet = match plan.maximum_packet_size.filter(|_| v5) {
            Some(m) => {
                usize::try_from(m).map_or(policy.max_packet_size, |m| m.min(policy.max_packet_size))
            }
            None => policy.max_packet_size,
        };
        let server_keep_alive = plan.server_keep_alive.filter(|_| v5);
        let mut properties = Properties::new();
        if v5 {
            let mut add = |id, value| properties.0.push(crate::codec::Property::new(id, value));
            if let Some(id) = &assigned {
                add(
                    PropertyId::AssignedClientIdentifier,
                    PropertyValue::String(id.clone().into()),
                );
            }
            // MQTT-4.12.0-5: the method again in the successful CONNACK.
            if let Some(a) = &self.auth {
                add(
                    PropertyId::AuthenticationMethod,
                    PropertyValue::String(a.method.clone().into()),
                );
            }
            let max_qos = plan_max_qos.unwrap_or(policy.max_qos);
            if max_qos < QoS::ExactlyOnce {
                add(PropertyId::MaximumQos, PropertyValue::Byte(max_qos.as_u8()));
            }
            if retain_refused || plan_retain_refused {
                add(PropertyId::RetainAvailable, PropertyValue::Byte(0));
            }
            if let Some(k) = server_keep_alive {
                add(
                    PropertyId::ServerKeepAlive,
                    PropertyValue::TwoByteInteger(k),
                );
            }
            if profile.topics.no_wildcards {
                add(
                    PropertyId::WildcardSubscriptionAvailable,
                    PropertyValue::Byte(0),
                );
            }
            if profile.shared_subscriptions == SharedSubscriptions::Refused {
                add(
                    PropertyId::SharedSubscriptionAvailable,
                    PropertyValue::Byte(0),
                );
            }
            if topic_alias_max > 0 {
                add(
                    PropertyId::TopicAliasMaximum,
                    PropertyValue::TwoByteInteger(topic_alias_max),
                );
            }
            add(
                PropertyId::ReceiveMaximum,
                PropertyValue::TwoByteInteger(u16::try_from(our_receive_max).unwrap_or(u16::MAX)),
            );
            if let Ok(max) = u32::try_from(max_packet) {
                add(
                    PropertyId::MaximumPacketSize,
                    PropertyValue::FourByteInteger(max),
                );
            }
        }
        // Session Present takes no room: the CONNACK's size is known before the session.
        let mut ack = ConnAck {
            session_present: false,
            code: code::SUCCESS,
            properties,
        };
        if let Err(smallest) = fit_connack(&mut ack, self.version, self.client_max_packet) {
            // MQTT-3.1.2-24 forbids sending it and the limits it states cannot be left
            // out: the CONNECT is valid but not accepted (MQTT-3.1.4-2).
            let detail = format!(
                "the CONNACK stating the limits the client would be held to takes {smallest} bytes, above its Maximum Packet Size of {} bytes [MQTT-3.1.2-24]",
                self.client_max_packet
            );
            return Err(self.refuse(code::IMPLEMENTATION_SPECIFIC_ERROR, detail, None));
        }
        // Left out for want of room, a Topic Alias Maximum is 0: no alias is accepted.
        let topic_alias_max = if ack.properties.get(PropertyId::TopicAliasMaximum).is_some() {
            topic_alias_max
        } else {
            0
        };

        // Session: Clean Session / Clean Start and (5.0) Session Expiry Interval.
        let required_clean = profile.clean_session_required;
        let clean = c.clean_session || required_clean;
        let requested_expiry = c.properties.get_int(PropertyId::SessionExpiryInterval);
        let expiry = if required_clean {
            Expiry::AtClose
        } else if v5 {
            expiry_of(requested_expiry.unwrap_or(0))
        } else if clean {
            Expiry::AtClose
        } else {
            Expiry::Never
        };
        let ctl = Arc::new(ConnCtl::default());
        let (key, present, carried) = self.take_session(&client_id, clean, expiry, &ctl).await;
        self.sh
            .links
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(self.id, ctl.clone());
        // One connection per device credential: the device's older connection under
        // another client id is taken over too.
        if let Some(device) = &device {
            let older = self
                .sh
                .devices
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(device.clone(), self.id);
            let older_link = older.filter(|o| *o != self.id).and_then(|o| {
                let links = self.sh.links.lock().unwrap_or_else(|e| e.into_inner());
                links.get(&o).cloned()
            });
            if let Some(link) = older_link {
                link.kick(Kick::TakenOver(None));
            }
        }
        self.auto_subscribe(
            &key,
            ConnVars {
                client_id: &client_id,
                username: c.username.as_deref(),
            },
        );

        ack.session_present = present || plan.session_present;
        self.send(Packet::ConnAck(ack));

        let receive_max = c
            .properties
            .get_int(PropertyId::ReceiveMaximum)
            .map_or(usize::MAX, |v| v as usize);
        let will = match (profile.will, c.will) {
            (Feature::Supported, Some(mut w)) => {
                // 3.x has no refusal for it: publish at the maximum QoS instead.
                w.qos = w.qos.min(policy.max_qos);
                Some(w)
            }
            _ => None,
        };
        self.s = Some(Sess {
            key,
            device,
            ctl,
            client_id,
            username: c.username,
            // MQTT-3.2.2-21: a Server Keep Alive replaces the client's value.
            keep_alive: server_keep_alive.unwrap_or(c.keep_alive),
            will,
            expiry,
            expiry_was_zero: requested_expiry.unwrap_or(0) == 0,
            carried,
            window: usize::from(policy.limits.inflight_window.max(1)).min(receive_max),
            client_alias_max: u16::try_from(
                c.properties
                    .get_int(PropertyId::TopicAliasMaximum)
                    .unwrap_or(0),
            )
            .unwrap_or(u16::MAX),
            out_aliases: HashMap::new(),
            withheld_acks: std::collections::HashSet::new(),
            announced: Announced {
                max_qos: plan_max_qos,
                retain_refused: plan_retain_refused,
                receive_max: our_receive_max,
                topic_alias_max,
                // The client is held to the Maximum Packet Size it was told, after the
                // grace.
                max_packet,
                binding_from: Instant::now() + crate::conduct::CONNACK_GRACE,
            },
            aliases: HashMap::new(),
            maybe_pending: true,
            window_blocked: false,
        });
        if present {
            self.resend_inflight();
        }
        Ok(())
    }

    /// Subscribes a device the profile's `auto_subscribe` covers to its filters, as the
    /// platform does (no SUBSCRIBE from the device, no SUBACK from us). Done before the
    /// CONNACK goes out, so that whatever reacts to the CONNACK reaches the device.
    fn auto_subscribe(&self, key: &Arc<str>, vars: ConnVars<'_>) {
        let policy = &self.sh.policy;
        let Some(auto) = &policy.profile.auto_subscribe else {
            return;
        };
        if !auto.applies_to(vars.client_id) {
            return;
        }
        let entry = SubEntry {
            qos: policy.max_granted_qos,
            no_local: false,
            retain_as_published: false,
            id: None,
        };
        let mut st = self.sh.lock();
        for pattern in &policy.auto_subscribe {
            let Some(filter) = pattern.resolve(vars) else {
                continue;
            };
            if let Some(session) = st.sessions.get_mut(key) {
                session.subs.insert(filter.to_string(), entry);
            }
            st.subs.insert(&filter, key, entry);
        }
    }

    /// Finds, takes over or creates the session for `client_id`. Returns its key, Session
    /// Present, and the protocol state it carried.
    async fn take_session(
        &mut self,
        client_id: &str,
        clean: bool,
        expiry: Expiry,
        ctl: &Arc<ConnCtl>,
    ) -> (Arc<str>, bool, Carried) {
        let one_per_identity = self.sh.policy.profile.one_connection_per_identity;
        let mut key: Arc<str> = Arc::from(client_id);
        let (mut clean, mut expiry) = (clean, expiry);
        let mut attempts = 0;
        loop {
            let rx = {
                let mut st = self.sh.lock();
                let live = st
                    .sessions
                    .get(&key)
                    .and_then(|s| s.link.as_ref())
                    .map(|l| l.ctl.clone());
                let rx = match live {
                    Some(_) if !one_per_identity => {
                        // Both stay connected: the newcomer gets a private, clean session.
                        key = Arc::from(format!("{client_id}\u{0}{}", self.id));
                        (clean, expiry) = (true, Expiry::AtClose);
                        None
                    }
                    Some(old) if attempts < 3 => {
                        let (tx, rx) = oneshot::channel();
                        old.kick(Kick::TakenOver(Some(tx)));
                        Some(rx)
                    }
                    // Free, or the old connection did not let go in time: take it anyway.
                    _ => None,
                };
                match rx {
                    Some(rx) => rx,
                    None => {
                        let (present, carried) =
                            establish(&mut st, &key, self.id, ctl, clean, expiry);
                        return (key, present, carried);
                    }
                }
            };
            attempts += 1;
            let _ = tokio::time::timeout(TAKEOVER_WAIT, rx).await;
        }
    }

    // ----- the connected loop -----------------------------------------------------------
}

/// Leaves out of `ack` what the client's Maximum Packet Size `max` has no room for, where
/// leaving it out changes nothing the client is held to: first properties that state
/// their own default, then the Reason String and User Properties (MQTT-3.2.2-19, -20),
/// then the Topic Alias Maximum (absent, it is 0: the server accepts fewer aliases, never
/// more). Err with the smallest size the CONNACK can have when even that does not fit.
fn fit_connack(ack: &mut ConnAck, version: ProtocolVersion, max: usize) -> Result<(), usize> {
    let size = |ack: &ConnAck| {
        let mut out = Vec::new();
        encode(&Packet::ConnAck(ack.clone()), version, &mut out).map_or(usize::MAX, |()| out.len())
    };
    let droppable: [fn(&crate::codec::Property) -> bool; 4] = [
        states_its_default,
        |p| p.id == PropertyId::ReasonString,
        |p| p.id == PropertyId::UserProperty,
        |p| p.id == PropertyId::TopicAliasMaximum,
    ];
    let mut current = size(ack);
    for drop in droppable {
        if current <= max {
            return Ok(());
        }
        ack.properties.0.retain(|p| !drop(p));
        current = size(ack);
    }
    if current <= max { Ok(()) } else { Err(current) }
}

/// Whether a CONNACK property says only what its absence says.
fn states_its_default(p: &crate::codec::Property) -> bool {
    use PropertyId as P;
    match (p.id, &p.value) {
        (P::ReceiveMaximum, PropertyValue::TwoByteInteger(v)) => *v == u16::MAX,
        (P::MaximumPacketSize, PropertyValue::FourByteInteger(v)) => {
            usize::try_from(*v).is_ok_and(|v| v >= crate::codec::framing::DEFAULT_MAX_PACKET_SIZE)
        }
        (P::TopicAliasMaximum, PropertyValue::TwoByteInteger(v)) => *v == 0,
        (P::MaximumQos, PropertyValue::Byte(v)) => *v == 2,
        (
            P::RetainAvailable
            | P::WildcardSubscriptionAvailable
            | P::SubscriptionIdentifierAvailable
            | P::SharedSubscriptionAvailable,
            PropertyValue::Byte(v),
        ) => *v == 1,
        _ => false,
    }
}

/// The session expiry a 5.0 Session Expiry Interval asks for.
pub(super) fn expiry_of(secs: u32) -> Expiry {
    match secs {
        0 => Expiry::AtClose,
        u32::MAX => Expiry::Never,
        s => Expiry::After(Duration::from_secs(u64::from(s))),
    }
}

/// Attaches connection `conn` to the session `key`, creating it (or, with `clean`,
/// replacing it). Returns Session Present and the carried protocol state.
fn establish(
    st: &mut State,
    key: &Arc<str>,
    conn: u64,
    ctl: &Arc<ConnCtl>,
    clean: bool,
    expiry: Expiry,
) -> (bool, Carried) {
    if clean {
        st.remove_session(key);
    }
    let link = Link {
        conn,
        ctl: ctl.clone(),
    };
    if st.sessions.contains_key(key) {
        if let Some(session) = st.attach(key, link) {
            session.expiry = expiry;
            return (true, std::mem::take(&mut session.carried));
        }
        return (false, Carried::default());
    }
    let mut session = Session::new(conn, expiry);
    session.link = Some(link);
    st.sessions.insert(key.clone(), session);
    (false, Carried::default())
}

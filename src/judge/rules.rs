//! The judge's rules per client packet: CONNECT (credentials, protocol level, Keep Alive,
//! client id, one connection per identity), PUBLISH (topics, payloads, QoS, size) and
//! SUBSCRIBE (filters, QoS).

use super::*;

impl Judge {
    pub(super) fn connect(
        &mut self,
        event: &Event,
        c: &Connect,
        evidence: &Evidence<'_>,
        findings: &mut Vec<Finding>,
    ) {
        // Another open connection with this identity is being taken over: the device its
        // credentials name where the platform holds one connection per device credential,
        // else the client id. An empty client id is no identity: the server assigns each
        // such connection its own.
        let now = event.at;
        let device = self.auth.as_ref().and_then(|a| {
            a.scheme.device_of(&Presented::new(
                &c.client_id,
                c.username.as_deref(),
                c.password.as_deref(),
            ))
        });
        let identity = device
            .or_else(|| (!c.client_id.is_empty()).then(|| format!("client id {}", c.client_id)));
        if let Some(identity) = &identity {
            let same_id = self.open_by_client.entry(identity.clone()).or_default();
            for id in same_id.iter() {
                // One that sent DISCONNECT is leaving on its own: nothing to take over.
                if let Some(other) = self.conns.get_mut(id) {
                    if *id != event.conn && other.closed.is_none() && !other.disconnected {
                        other.taken_over_at.get_or_insert(now);
                    }
                }
            }
            if !same_id.contains(&event.conn) {
                same_id.push(event.conn);
            }
        }
        // Only the first connection after a drop is the reconnect the backoff rule times.
        let backoff_since = self.server_closes.remove(&c.client_id);
        {
            let state = self
                .conns
                .get_mut(&event.conn)
                .expect("connection state exists");
            state.version = c.protocol;
            state.identity = identity;
            state.label = if c.client_id.is_empty() {
                format!("connection {}", event.conn)
            } else {
                c.client_id.clone()
            };
            // Detached: the packet's bytes come from a source's shared buffer.
            state.connect = Some((now, c.detached()));
        }
        let profile = self.profile.clone();
        // Each credential rule on its own: checked and holding, broken, unchecked (with
        // why), or not concerning credentials of this kind.
        let credentials: HashMap<String, RuleOutcome> = match &self.auth {
            None => HashMap::new(),
            Some(a) => {
                let presented =
                    Presented::new(&c.client_id, c.username.as_deref(), c.password.as_deref());
                let now = self.epoch_unix + now.as_secs();
                let format = a.scheme.check_format(&presented, now);
                let verified = a
                    .identity
                    .as_ref()
                    .filter(|_| format.is_ok())
                    .map(|identity| identity.verify(&presented, now));
                self.rules
                    .iter()
                    .filter(|r| {
                        r.check
                            .value
                            .as_slice()
                            .iter()
                            .any(|c| matches!(c, Check::Credentials))
                    })
                    .map(|r| {
                        let id = r.id.value.as_str();
                        let outcome = if a.identity.as_ref().is_some_and(|i| i.leaves_open(id)) {
                            RuleOutcome::NotApplicable
                        } else {
                            a.scheme
                                .rule_outcome(id, &presented, &format, verified.as_ref())
                        };
                        (id.to_owned(), outcome)
                    })
                    .collect()
            }
        };
        self.each_rule(event.conn, findings, |check, rule_id| match check {
            Check::ProtocolVersion { allowed } => {
                let allowed = if allowed.is_empty() { &profile.protocols } else { allowed };
                if allowed.is_empty() {
                    return Some(None);
                }
                let ok = allowed.iter().any(|a| ProtocolVersion::from_str(a).is_ok_and(|v| v == c.protocol));
                Some((!ok).then(|| format!("{evidence}: MQTT {} is not among {}", c.protocol, allowed.join(", "))))
            }
            Check::Credentials => match credentials.get(rule_id)? {
                RuleOutcome::Holds => Some(None),
                RuleOutcome::Violated(e) => Some(Some(format!("{evidence}: {e}"))),
                RuleOutcome::NotApplicable | RuleOutcome::Unchecked(_) => None,
            },
            Check::KeepaliveRange { min, max, .. } => {
                let min = min.or(profile.keepalive.min);
                let max = max.or(profile.keepalive.max);
                let ka = c.keep_alive;
                let bad = min.is_some_and(|m| ka < m) || max.is_some_and(|m| ka > m);
                Some(bad.then(|| {
                    format!(
                        "{evidence}: keepalive {ka} s is outside {}–{} s",
                        min.map_or("0".into(), |m| m.to_string()),
                        max.map_or("65535".into(), |m| m.to_string())
                    )
                }))
            }
            Check::NoWill => Some(c.will.as_ref().map(|w| {
                format!("{evidence}: Will set (topic {:?}, QoS {}, retain {})", w.topic, w.qos.as_u8(), w.retain)
            })),
            Check::CleanSession => Some((!c.clean_session).then(|| format!("{evidence}: Clean Session is 0"))),
            Check::UserProperties { .. } | Check::RequestResponse { .. } if c.protocol.is_v5() => {
                let limits = property_limits(check, &profile)?;
                Some(c.will.as_ref().and_then(|w| limits.violation(&w.properties)).map(|why| format!("{evidence}: Will: {why}")))
            }
            Check::ReconnectBackoff { min_seconds } => backoff_since.map(|closed_at| {
                let waited = now.saturating_sub(closed_at).as_secs_f64();
                let tolerance = DEVICE_TIMER_TOLERANCE.as_secs_f64();
                (waited + tolerance < *min_seconds).then(|| {
                    format!("{evidence}: reconnected {waited:.2} s after the server closed the previous connection; at least {min_seconds:.2} s expected, less {tolerance:.2} s of tolerance (the device times from when it sees the close, a network away)")
                })
            }),
            _ => None,
        });
        // A warning below the recommended keepalive, whatever the rule's status.
        let state = self
            .conns
            .get_mut(&event.conn)
            .expect("connection state exists");
        for (i, rule) in self.rules.iter().enumerate() {
            if let Some(RuleOutcome::Unchecked(why)) = credentials.get(rule.id.value.as_str()) {
                let rs = &mut state.rules[i];
                if rs.violation().is_none() {
                    rs.applied = true;
                    rs.detail_mut().inconclusive = Some(format!("{evidence}: {why}"));
                }
            }
        }
        for (i, rule) in self.rules.iter().enumerate() {
            for check in rule.check.value.as_slice() {
                let Check::KeepaliveRange { warn_below, .. } = check else {
                    continue;
                };
                if let Some(w) = warn_below.or(profile.keepalive.warn_below) {
                    if c.keep_alive < w && state.rules[i].violation().is_none() {
                        state.rules[i].detail_mut().warning = Some(format!(
                            "{evidence}: keepalive {} s is below the recommended {w} s",
                            c.keep_alive
                        ));
                    }
                }
            }
        }
    }

    pub(super) fn publish(
        &mut self,
        event: &Event,
        p: &crate::codec::Publish,
        evidence: &Evidence<'_>,
        findings: &mut Vec<Finding>,
    ) {
        let at = event.at;
        let rate = if !self.tracks_rate {
            0
        } else {
            let state = self
                .conns
                .get_mut(&event.conn)
                .expect("connection state exists");
            state.publishes.push_back(at);
            while state
                .publishes
                .front()
                .is_some_and(|t| at.saturating_sub(*t) >= Duration::from_secs(1))
            {
                state.publishes.pop_front();
            }
            state.publishes.len()
        };
        let profile = self.profile.clone();
        let vars = self.vars.clone();
        let (v5, alias_max) = self
            .conns
            .get(&event.conn)
            .map_or((false, None), |s| (s.version.is_v5(), s.topic_alias_max));
        let allowed_topic = |patterns: &[String]| -> bool {
            patterns.is_empty()
                || patterns.iter().any(|pat| {
                    vars.interpolate(pat)
                        .is_ok_and(|pat| topic::matches(&pat, &p.topic))
                })
        };
        self.each_rule(event.conn, findings, |check, _| match check {
            Check::NoRetain => Some(p.retain.then(|| format!("{evidence}: RETAIN is set"))),
            Check::MaxQos { publish, .. } => {
                let max = publish.unwrap_or(profile.max_qos);
                Some(
                    (p.qos.as_u8() > max).then(|| {
                        format!("{evidence}: QoS {} above the maximum {max}", p.qos.as_u8())
                    }),
                )
            }
            Check::PublishTopics => Some((!allowed_topic(&profile.topics.publish)).then(|| {
                format!(
                    "{evidence}: topic {:?} is not one the device may publish to",
                    p.topic
                )
            })),
            Check::PayloadSize { max } => max.or(profile.max_payload).map(|max| {
                (p.payload.len() > max).then(|| {
                    format!(
                        "{evidence}: payload of {} bytes exceeds {max}",
                        p.payload.len()
                    )
                })
            }),
            Check::PublishRate { max_per_second } => {
                max_per_second.or(profile.max_publish_rate).map(|max| {
                    (rate as f64 > max).then(|| {
                        format!(
                            "{evidence}: {rate} PUBLISH within one second; at most {max} allowed"
                        )
                    })
                })
            }
            Check::UserProperties { .. } | Check::RequestResponse { .. } if v5 => {
                let limits = property_limits(check, &profile)?;
                Some(
                    limits
                        .violation(&p.properties)
                        .map(|why| format!("{evidence}: {why}")),
                )
            }
            Check::TopicAlias { max } if v5 => {
                let max = max.or(alias_max)?;
                let alias = p.properties.get_int(PropertyId::TopicAlias);
                Some(alias.filter(|a| *a > u32::from(max)).map(|a| {
                    if max == 0 {
                        format!("{evidence}: Topic Alias {a} used; the server allows none")
                    } else {
                        format!("{evidence}: Topic Alias {a} above the maximum {max}")
                    }
                }))
            }
            Check::TopicLength { max } => Some((p.topic.len() > *max).then(|| {
                format!(
                    "{evidence}: topic name of {} bytes; at most {max}",
                    p.topic.len()
                )
            })),
            Check::PayloadJson { topics, schema } => {
                let applies = topics.iter().any(|pat| {
                    vars.interpolate(pat)
                        .is_ok_and(|pat| topic::matches(&pat, &p.topic))
                });
                applies.then(
                    || match serde_json::from_slice::<serde_json::Value>(&p.payload) {
                        Err(e) => Some(format!("{evidence}: payload is not JSON ({e})")),
                        Ok(v) => shape::check(&v, schema, "$")
                            .err()
                            .map(|m| format!("{evidence}: {m}")),
                    },
                )
            }
            _ => None,
        });
    }

    pub(super) fn subscribe(
        &mut self,
        event: &Event,
        s: &crate::codec::Subscribe,
        evidence: &Evidence<'_>,
        findings: &mut Vec<Finding>,
    ) {
        let profile = self.profile.clone();
        let vars = self.vars.clone();
        // A filter whose wildcard comes too early belongs to the wildcard-depth rule when
        // the suite has one: the topic allow-list does not flag it a second time.
        let wildcard_min = self
            .rules
            .iter()
            .flat_map(|r| r.check.value.as_slice())
            .find_map(|c| match c {
                Check::WildcardDepth { min_level } => {
                    Some(min_level.or(profile.topics.wildcard_min_level))
                }
                _ => None,
            })
            .flatten();
        let too_shallow = |filter: &str| {
            wildcard_min.is_some_and(|min| {
                filter
                    .split('/')
                    .position(|l| l == "+" || l == "#")
                    .is_some_and(|first| first < min)
            })
        };
        self.each_rule(event.conn, findings, |check, _| match check {
            Check::MaxQos { subscribe, .. } => {
                let max = subscribe.unwrap_or(profile.max_qos);
                let over = s.subscriptions.iter().find(|x| x.options.qos.as_u8() > max);
                Some(over.map(|x| {
                    format!(
                        "{evidence}: {:?} requests QoS {} above the maximum {max}",
                        x.filter,
                        x.options.qos.as_u8()
                    )
                }))
            }
            Check::SubscribeTopics => {
                let patterns = &profile.topics.subscribe;
                if patterns.is_empty() {
                    return Some(None);
                }
                let bad = s.subscriptions.iter().find(|x| {
                    !too_shallow(&x.filter)
                        && !patterns.iter().any(|pat| {
                            vars.interpolate(pat)
                                .is_ok_and(|pat| covers(&pat, &x.filter))
                        })
                });
                Some(bad.map(|x| {
                    format!(
                        "{evidence}: filter {:?} is not one the device may subscribe to",
                        x.filter
                    )
                }))
            }
            Check::WildcardDepth { min_level } => {
                min_level.or(profile.topics.wildcard_min_level).map(|min| {
                    let bad = s.subscriptions.iter().find(|x| {
                        x.filter
                            .split('/')
                            .position(|l| l == "+" || l == "#")
                            .is_some_and(|first| first < min)
                    });
                    bad.map(|x| {
                        format!(
                            "{evidence}: {:?} has a wildcard before level {}",
                            x.filter,
                            min + 1
                        )
                    })
                })
            }
            _ => None,
        });
    }
}

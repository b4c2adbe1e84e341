//! PUBLISH from the client and the acknowledgements of its flows (QoS 1 and 2, topic
//! aliases, the profile's limits).

use super::*;

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> Conn<S> {
    /// A PUBACK (`stage` Qos1Sent) or PUBCOMP (`stage` Released) for an outbound message.
    pub(super) fn acknowledged(&mut self, pid: u16, stage: Stage) {
        let s = self.sess();
        if let Some(i) = s
            .carried
            .inflight
            .iter()
            .position(|i| i.pid == pid && i.stage == stage)
        {
            s.carried.inflight.remove(i);
            s.window_blocked = false;
        }
    }

    /// The first acknowledgement of an inbound PUBLISH at `qos`.
    fn ack(&mut self, qos: QoS, pid: Option<u16>, code: u8) {
        let Some(packet_id) = pid else { return };
        let v5 = self.version.is_v5();
        if self.misbehaves(Misbehaviour::WithholdPuback) {
            // 5.0: still unacknowledged, so it counts against our Receive Maximum.
            if v5 && qos != QoS::AtMostOnce {
                self.sess().withheld_acks.insert(packet_id);
            }
            return;
        }
        self.sess().withheld_acks.remove(&packet_id);
        let r = PubResponse {
            packet_id,
            reason_code: if self.version.is_v5() { code } else { 0 },
            properties: Properties::new(),
        };
        match qos {
            QoS::AtMostOnce => {}
            QoS::AtLeastOnce => self.send(Packet::PubAck(r)),
            QoS::ExactlyOnce => self.send(Packet::PubRec(r)),
        }
    }

    pub(super) fn on_publish(&mut self, mut p: Publish) -> Result<(), Exit> {
        let sh = self.sh.clone();
        let policy = &sh.policy;
        let profile = &policy.profile;
        let v5 = self.version.is_v5();
        if v5 {
            // Only the server adds Subscription Identifiers (MQTT-3.3.4-6).
            if p.properties
                .get_int(PropertyId::SubscriptionIdentifier)
                .is_some()
            {
                return Err(Exit::close(
                    "a client PUBLISH carries a Subscription Identifier [MQTT-3.3.4-6]",
                    code::PROTOCOL_ERROR,
                ));
            }
            let response_topic = p.properties.get_str(PropertyId::ResponseTopic);
            if response_topic.is_some_and(|t| t.contains(['+', '#'])) {
                return Err(Exit::close(
                    "the Response Topic contains a wildcard [MQTT-3.3.2-14]",
                    code::PROTOCOL_ERROR,
                ));
            }
            if let Some(alias) = p.properties.get_int(PropertyId::TopicAlias) {
                let s = self.sess();
                let alias = u16::try_from(alias).unwrap_or(0);
                // No grace here: before the CONNACK the client's maximum is 0 (absent), so an
                // alias above the announced one breaks a limit either way.
                let max = s.announced.topic_alias_max;
                if alias == 0 || alias > max {
                    return Err(Exit::close(
                        format!("Topic Alias {alias} above the maximum {max} [MQTT-3.3.2-9]"),
                        code::TOPIC_ALIAS_INVALID,
                    ));
                }
                if p.topic.is_empty() {
                    match s.aliases.get(&alias) {
                        Some(topic) => p.topic = topic.as_str().into(),
                        None => {
                            return Err(Exit::close(
                                format!("Topic Alias {alias} was never set"),
                                code::PROTOCOL_ERROR,
                            ));
                        }
                    }
                } else {
                    s.aliases.insert(alias, p.topic.to_string());
                }
            }
        }
        let pid = p.packet_id;
        let mut qos = p.qos;
        let announced = &self.sess().announced;
        let binds = announced.binds();
        if let Some(max) = announced.max_qos.filter(|m| qos > *m && binds) {
            return Err(Exit::close(
                format!(
                    "PUBLISH QoS {} above the Maximum QoS {} the CONNACK announced [MQTT-3.2.2-11]",
                    qos.as_u8(),
                    max.as_u8()
                ),
                code::QOS_NOT_SUPPORTED,
            ));
        }
        if p.retain && announced.retain_refused && binds {
            return Err(Exit::close(
                "retained PUBLISH after the CONNACK announced Retain Available 0 [MQTT-3.2.2-14]",
                code::RETAIN_NOT_SUPPORTED,
            ));
        }
        if qos > policy.max_qos {
            match profile.on_qos_above_max {
                QosReaction::Close => {
                    return Err(Exit::close(
                        format!(
                            "PUBLISH QoS {} above the profile's max_qos {}",
                            qos.as_u8(),
                            policy.max_qos.as_u8()
                        ),
                        code::QOS_NOT_SUPPORTED,
                    ));
                }
                QosReaction::Downgrade => qos = policy.max_qos,
                QosReaction::Ignore => return Ok(()),
            }
        }
        let mut retain = p.retain;
        if retain {
            match profile.retain {
                Feature::Supported => {}
                Feature::Ignored => retain = false,
                Feature::Refused => {
                    return Err(Exit::close(
                        "retained PUBLISH, and the profile refuses retained messages",
                        code::RETAIN_NOT_SUPPORTED,
                    ));
                }
            }
        }
        if !policy.acl.may_publish(&p.topic, self.sess().vars()) {
            match profile.topics.on_illegal_publish {
                TopicReaction::Drop => {
                    self.ack(qos, pid, code::NOT_AUTHORIZED);
                    return Ok(());
                }
                TopicReaction::Close => {
                    return Err(Exit::close(
                        format!("PUBLISH to {:?}, outside the profile's topics", p.topic),
                        code::NOT_AUTHORIZED,
                    ));
                }
            }
        }
        if let Some(max) = profile.max_payload.filter(|&m| p.payload.len() > m) {
            match profile.on_payload_too_large {
                TopicReaction::Drop => {
                    self.ack(qos, pid, code::QUOTA_EXCEEDED);
                    return Ok(());
                }
                TopicReaction::Close => {
                    return Err(Exit::close(
                        format!(
                            "PUBLISH payload of {} bytes above the profile's max_payload {max}",
                            p.payload.len()
                        ),
                        code::PACKET_TOO_LARGE,
                    ));
                }
            }
        }
        if let Some(why) = v5
            .then(|| profile.properties.violation(&p.properties))
            .flatten()
        {
            match profile.properties.on_violation {
                TopicReaction::Drop => {
                    self.ack(qos, pid, code::IMPLEMENTATION_SPECIFIC_ERROR);
                    return Ok(());
                }
                TopicReaction::Close => {
                    return Err(Exit::close(
                        format!("PUBLISH over the profile's property limits: {why}"),
                        code::IMPLEMENTATION_SPECIFIC_ERROR,
                    ));
                }
            }
        }
        if v5 && qos != QoS::AtMostOnce {
            // MQTT-3.3.4-7: no more unacknowledged QoS 1/2 PUBLISHes than we announced
            // (a re-sent one is no new message).
            let id = pid.unwrap_or(0);
            let s = self.sess();
            let outstanding = s.withheld_acks.len() + s.carried.awaiting_rel.len();
            let known = s.withheld_acks.contains(&id) || s.carried.awaiting_rel.contains(&id);
            let receive_max = s.announced.receive_max;
            if !known && outstanding >= receive_max && s.announced.binds() {
                return Err(Exit::close(
                    format!(
                        "more than the Receive Maximum of {receive_max} QoS 1/2 PUBLISHes unacknowledged [MQTT-3.3.4-7]"
                    ),
                    code::RECEIVE_MAXIMUM_EXCEEDED,
                ));
            }
        }
        if qos == QoS::ExactlyOnce {
            // Delivered on receipt ("method B", §4.3.3): remember only the identifier, and
            // do not route a re-sent PUBLISH again before its PUBREL.
            let id = pid.unwrap_or(0);
            let s = self.sess();
            if s.carried.awaiting_rel.contains(&id) {
                self.ack(qos, pid, code::SUCCESS);
                return Ok(());
            }
            // 3.x: the memory bound (5.0 was held to the Receive Maximum above).
            if s.carried.awaiting_rel.len() >= MAX_AWAITING_REL {
                return Err(Exit::close(
                    format!("more than {MAX_AWAITING_REL} QoS 2 messages await PUBREL"),
                    code::RECEIVE_MAXIMUM_EXCEEDED,
                ));
            }
            s.carried.awaiting_rel.insert(id);
        }
        let answer = policy
            .replies
            .answer(&p.topic, &p.payload, self.sess().vars());
        let (properties, expires_at) = forwarded_properties(&p.properties);
        let msg = Arc::new(Message {
            topic: p.topic.into(),
            payload: Bytes::copy_from_slice(&p.payload),
            properties,
            expires_at,
            retain,
            topic_alias: false,
        });
        {
            let key = self.sess().key.clone();
            let mut st = sh.lock();
            let ctx = RouteCtx {
                policy,
                dropped: &sh.counters.messages_dropped,
            };
            if retain && !st.retain(&msg, qos, &policy.limits) {
                sh.counters.messages_dropped.fetch_add(1, Ordering::Relaxed);
            }
            st.route(msg, qos, Some(&key), &ctx);
        }
        self.ack(qos, pid, code::SUCCESS);
        if let Some(reply) = answer {
            // The platform's answer, routed as a cloud message after the acknowledgement.
            let msg = Arc::new(Message {
                topic: reply.topic,
                payload: Bytes::from(reply.payload),
                properties: Properties::new(),
                expires_at: None,
                retain: false,
                topic_alias: false,
            });
            let ctx = RouteCtx {
                policy,
                dropped: &sh.counters.messages_dropped,
            };
            sh.lock().route(msg, reply.qos, None, &ctx);
        }
        Ok(())
    }
}

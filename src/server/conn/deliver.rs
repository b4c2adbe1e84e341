//! Delivering messages to the client: pulling from the session's queue within its
//! window, building the PUBLISH, resending what is in flight after a reconnect.

use super::*;

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> Conn<S> {
    /// Moves queued messages into the write buffer while the window and buffer allow.
    pub(super) fn pull(&mut self) {
        let batch = {
            let Some(s) = self.s.as_mut() else { return };
            if !s.maybe_pending || s.window_blocked || self.wbuf.len() >= LOW_WATER {
                return;
            }
            let room = s.window.saturating_sub(s.carried.inflight.len());
            let (batch, state) = self.sh.lock().pop_for(&s.key, self.id, room, PULL_BATCH);
            match state {
                PopState::Empty => s.maybe_pending = false,
                PopState::WindowFull => s.window_blocked = true,
                PopState::More => {}
            }
            batch
        };
        for d in batch {
            self.deliver(d);
        }
    }

    /// The PUBLISH for one delivery.
    fn publish_packet(&self, d: &Delivery, packet_id: Option<u16>, dup: bool) -> Publish {
        let mut properties = Properties::new();
        if self.version.is_v5() {
            properties = d.msg.properties.clone();
            if let Some(at) = d.msg.expires_at {
                // MQTT-3.3.2-6: the remaining lifetime.
                let left = at.saturating_duration_since(Instant::now());
                let secs = u32::try_from(left.as_secs() + u64::from(left.subsec_nanos() > 0))
                    .unwrap_or(u32::MAX);
                properties.0.push(crate::codec::Property::new(
                    PropertyId::MessageExpiryInterval,
                    PropertyValue::FourByteInteger(secs),
                ));
            }
            for id in &d.sub_ids {
                properties.0.push(crate::codec::Property::new(
                    PropertyId::SubscriptionIdentifier,
                    PropertyValue::VariableByteInteger(*id),
                ));
            }
        }
        Publish {
            dup,
            qos: d.qos,
            retain: d.retain,
            topic: d.msg.topic.as_str().into(),
            packet_id,
            properties,
            payload: d.msg.payload.clone(),
        }
    }

    fn deliver(&mut self, d: Delivery) {
        if d.msg.expired(Instant::now()) {
            return;
        }
        let pid = (d.qos != QoS::AtMostOnce).then(|| self.sess().next_pid());
        let mut publish = self.publish_packet(&d, pid, false);
        if d.msg.topic_alias && self.version.is_v5() {
            self.alias_topic(&mut publish);
        }
        let mut out = Vec::new();
        if encode(&Packet::Publish(publish.clone()), self.version, &mut out).is_err()
            || out.len() > self.client_max_packet
        {
            // MQTT-3.1.2-25: too big for the client; discarded as if sent.
            self.sh
                .counters
                .messages_dropped
                .fetch_add(1, Ordering::Relaxed);
            return;
        }
        if let Some(pid) = pid {
            let stage = if d.qos == QoS::AtLeastOnce {
                Stage::Qos1Sent
            } else {
                Stage::Qos2Sent
            };
            self.sess().carried.inflight.push_back(Inflight {
                pid,
                delivery: d,
                stage,
            });
        }
        self.push(out, Packet::Publish(publish));
    }

    /// Replaces the topic by a Topic Alias the client allows: the first PUBLISH on a topic
    /// sets the alias, later ones carry it alone. Never above the client's Topic Alias
    /// Maximum (MQTT-3.3.2-11); once every alias is taken, the topic goes in full.
    fn alias_topic(&mut self, publish: &mut Publish) {
        let s = self.sess();
        let topic = publish.topic.to_string();
        let alias = match s.out_aliases.get(&topic) {
            Some(&alias) => {
                publish.topic = "".into();
                alias
            }
            None if s.out_aliases.len() < usize::from(s.client_alias_max) => {
                let alias = u16::try_from(s.out_aliases.len() + 1).unwrap_or(u16::MAX);
                s.out_aliases.insert(topic, alias);
                alias
            }
            None => return,
        };
        publish.properties.0.push(crate::codec::Property::new(
            PropertyId::TopicAlias,
            PropertyValue::TwoByteInteger(alias),
        ));
    }

    /// On a resumed session, re-sends what was unacknowledged (MQTT-4.4.0-1).
    pub(super) fn resend_inflight(&mut self) {
        let pending: Vec<(u16, Stage, Delivery)> = self
            .sess()
            .carried
            .inflight
            .iter()
            .map(|i| (i.pid, i.stage, i.delivery.clone()))
            .collect();
        for (pid, stage, d) in pending {
            match stage {
                Stage::Qos1Sent | Stage::Qos2Sent => {
                    let publish = self.publish_packet(&d, Some(pid), true);
                    self.send(Packet::Publish(publish));
                }
                Stage::Released => self.send(Packet::PubRel(PubResponse::new(pid))),
            }
        }
    }

    // ----- closing ----------------------------------------------------------------------
}

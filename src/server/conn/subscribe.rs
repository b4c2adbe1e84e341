//! SUBSCRIBE and UNSUBSCRIBE: grants and refusals by the profile and the ACL.

use super::*;

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> Conn<S> {
    pub(super) fn on_subscribe(&mut self, sub: Subscribe) {
        let sh = self.sh.clone();
        let policy = &sh.policy;
        let v5 = self.version.is_v5();
        let sub_id = if v5 {
            sub.properties.get_int(PropertyId::SubscriptionIdentifier)
        } else {
            None
        };
        let retain_supported = policy.profile.retain == Feature::Supported;
        let reject_all = self.misbehaves(Misbehaviour::RejectSubscriptions);
        let mut codes = Vec::with_capacity(sub.subscriptions.len());
        {
            let s = self.s.as_mut().expect("a session exists after CONNACK");
            let key = s.key.clone();
            let mut st = sh.lock();
            for request in &sub.subscriptions {
                let filter = &request.filter;
                let verdict = if reject_all {
                    Err(if v5 {
                        code::UNSPECIFIED_ERROR
                    } else {
                        v3::SUBACK_FAILURE
                    })
                } else if let (true, Some(shared)) = (v5, shared_subscription(filter)) {
                    // The decoder has refused malformed shared filters and No Local on them.
                    match (policy.profile.shared_subscriptions, shared) {
                        (SharedSubscriptions::Refused, _) | (_, Err(())) => {
                            Err(code::SHARED_SUBSCRIPTIONS_NOT_SUPPORTED)
                        }
                        (SharedSubscriptions::WordNames, Ok((name, _)))
                            if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
                        {
                            Err(code::TOPIC_FILTER_INVALID)
                        }
                        (_, Ok((_, inner))) => match policy.acl.may_subscribe(inner, s.vars()) {
                            Ok(()) => Ok(request.options.qos.min(policy.max_granted_qos)),
                            Err(SubRefusal::Wildcard) => {
                                Err(code::WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED)
                            }
                            Err(SubRefusal::NotAllowed) => Err(code::NOT_AUTHORIZED),
                        },
                    }
                } else {
                    match policy.acl.may_subscribe(filter, s.vars()) {
                        Ok(()) => Ok(request.options.qos.min(policy.max_granted_qos)),
                        Err(SubRefusal::Wildcard) => Err(if v5 {
                            code::WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED
                        } else {
                            v3::SUBACK_FAILURE
                        }),
                        Err(SubRefusal::NotAllowed) => Err(if v5 {
                            code::NOT_AUTHORIZED
                        } else {
                            v3::SUBACK_FAILURE
                        }),
                    }
                };
                // Quota: per session and in all (5.0 0x97 Quota exceeded).
                let limits = &policy.limits;
                let count = st.sessions.get(&key).map_or(0, |x| x.subs.len());
                let known = st
                    .sessions
                    .get(&key)
                    .is_some_and(|x| x.subs.contains_key(filter));
                let verdict = verdict.and_then(|granted| {
                    let full = count >= limits.max_subscriptions_per_session
                        || st.subs.len() >= limits.max_subscriptions;
                    if full && !known {
                        Err(if v5 {
                            code::QUOTA_EXCEEDED
                        } else {
                            v3::SUBACK_FAILURE
                        })
                    } else {
                        Ok(granted)
                    }
                });
                let granted = match verdict {
                    Ok(granted) => granted,
                    Err(code) => {
                        codes.push(code);
                        continue;
                    }
                };
                codes.push(granted.as_u8());
                let entry = SubEntry {
                    qos: granted,
                    no_local: v5 && request.options.no_local,
                    retain_as_published: v5 && request.options.retain_as_published,
                    id: sub_id,
                };
                let existed = st
                    .sessions
                    .get_mut(&key)
                    .map(|session| session.subs.insert(filter.clone(), entry).is_some())
                    .unwrap_or(false);
                st.subs.insert(filter, &key, entry);
                // Retained messages are not sent for a shared subscription (MQTT 5.0
                // §4.8.2).
                let send_retained = retain_supported
                    && shared_subscription(filter).is_none()
                    && match request.options.retain_handling {
                        RetainHandling::SendAtSubscribe => true,
                        RetainHandling::SendIfNew => !existed,
                        RetainHandling::DoNotSend => false,
                    };
                if send_retained {
                    // Queued behind the SUBACK, which is written first (MQTT-3.3.1-8:
                    // RETAIN 1 for messages sent because of a new subscription).
                    let ctx = RouteCtx {
                        policy,
                        dropped: &sh.counters.messages_dropped,
                    };
                    for (msg, stored_qos) in st.retained_matching(filter) {
                        let d = Delivery {
                            qos: policy.downlink_qos.unwrap_or(stored_qos.min(granted)),
                            retain: true,
                            sub_ids: sub_id.into_iter().collect(),
                            msg,
                        };
                        st.enqueue(&key, d, &ctx, Bound::Retained);
                    }
                }
            }
            s.maybe_pending = true;
        }
        if !self.misbehaves(Misbehaviour::WithholdSuback) {
            self.send(Packet::SubAck(SubAck {
                packet_id: sub.packet_id,
                properties: Properties::new(),
                return_codes: codes,
            }));
        }
    }

    pub(super) fn on_unsubscribe(&mut self, u: Unsubscribe) {
        let sh = self.sh.clone();
        let key = self.sess().key.clone();
        let mut codes = Vec::new();
        {
            let mut st = sh.lock();
            for filter in &u.filters {
                let existed = st
                    .sessions
                    .get_mut(&key)
                    .is_some_and(|session| session.subs.remove(filter).is_some());
                st.subs.remove(filter, &key);
                codes.push(if existed {
                    code::SUCCESS
                } else {
                    code::NO_SUBSCRIPTION_EXISTED
                });
            }
        }
        // MQTT-3.10.4-5: UNSUBACK even when nothing matched.
        self.send(Packet::UnsubAck(UnsubAck {
            packet_id: u.packet_id,
            properties: Properties::new(),
            reason_codes: if self.version.is_v5() {
                codes
            } else {
                Vec::new()
            },
        }));
    }

    // ----- outbound messages ------------------------------------------------------------
}

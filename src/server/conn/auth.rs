//! 5.0 enhanced authentication (§4.12) with the one method the server offers,
//! [`ECHO_METHOD`]: a challenge round before the CONNACK, and re-authentication after it.
//! The method proves only that the client takes part in the exchange (it sends the
//! challenge back); what is tested is the protocol around it.

use super::*;

/// The Authentication Method the server offers when the profile enables enhanced
/// authentication: the server's AUTH 0x18 carries 16 random bytes as Authentication Data,
/// and the client's AUTH 0x18 must send the same bytes back.
pub const ECHO_METHOD: &str = "mqtt-conform-echo";

/// Bytes in a challenge.
const CHALLENGE_LEN: usize = 16;

/// A connection authenticated with enhanced authentication.
#[derive(Debug, Clone)]
pub(super) struct Authenticated {
    /// The CONNECT's Authentication Method.
    pub(super) method: String,
    /// The challenge of a re-authentication in progress.
    challenge: Option<Bytes>,
}

fn challenge() -> Bytes {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; CHALLENGE_LEN];
    // A failing system generator leaves zeros: still a challenge the client must echo.
    let _ = ring::rand::SystemRandom::new().fill(&mut bytes);
    Bytes::copy_from_slice(&bytes)
}

/// An AUTH of `reason` with `method` and, when given, `data`.
fn auth_packet(reason: u8, method: &str, data: Option<Bytes>) -> Packet {
    let mut properties = Properties::new().with(
        PropertyId::AuthenticationMethod,
        PropertyValue::String(method.to_owned().into()),
    );
    if let Some(data) = data {
        properties = properties.with(PropertyId::AuthenticationData, PropertyValue::Binary(data));
    }
    Packet::Auth(crate::codec::Auth {
        reason_code: reason,
        properties,
    })
}

/// Whether the client's AUTH sends `challenge` back, or why not.
fn answers(a: &crate::codec::Auth, method: &str, challenge: &[u8]) -> Result<(), (u8, String)> {
    if a.reason_code != code::CONTINUE_AUTHENTICATION {
        return Err((
            code::PROTOCOL_ERROR,
            format!(
                "AUTH {:#04x} in answer to the server's AUTH 0x18, which needs 0x18 [MQTT-4.12.0-3]",
                a.reason_code
            ),
        ));
    }
    let theirs = a.properties.get_str(PropertyId::AuthenticationMethod);
    if theirs != Some(method) {
        return Err((
            code::PROTOCOL_ERROR,
            format!(
                "AUTH with Authentication Method {theirs:?}, not the CONNECT's {method:?} [MQTT-4.12.0-5]"
            ),
        ));
    }
    match a.properties.get(PropertyId::AuthenticationData) {
        Some(PropertyValue::Binary(data)) if data[..] == *challenge => Ok(()),
        _ => Err((
            code::NOT_AUTHORIZED,
            "the AUTH's Authentication Data does not send the challenge back".to_owned(),
        )),
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> Conn<S> {
    /// Before the CONNACK: sends the challenge and waits for the client's answer (within the
    /// CONNECT timeout). A wrong answer is refused with the CONNACK it calls for.
    pub(super) async fn authenticate(&mut self, method: &str) -> Result<(), Exit> {
        let challenge = challenge();
        self.send(auth_packet(
            code::CONTINUE_AUTHENTICATION,
            method,
            Some(challenge.clone()),
        ));
        let limit = self.sh.policy.limits.connect_timeout;
        let deadline = Instant::now() + limit;
        loop {
            if let Some(bytes) = self.next_frame()? {
                match self.decode(bytes) {
                    Ok(Packet::Auth(a)) => {
                        return match answers(&a, method, &challenge) {
                            Ok(()) => {
                                self.auth = Some(Authenticated {
                                    method: method.to_owned(),
                                    challenge: None,
                                });
                                Ok(())
                            }
                            Err((code, why)) => Err(self.refuse(code, why.clone(), Some(why))),
                        };
                    }
                    Ok(Packet::Disconnect(_)) => {
                        return Err(Exit::refused(
                            "the client sent DISCONNECT instead of answering the AUTH challenge",
                        ));
                    }
                    Ok(p) => {
                        let why = format!(
                            "{} before the CONNACK of an enhanced authentication, where only AUTH or DISCONNECT may come [MQTT-3.1.2-30]",
                            p.packet_type()
                        );
                        return Err(self.refuse(code::PROTOCOL_ERROR, why.clone(), Some(why)));
                    }
                    Err(e) => {
                        return Err(self.refuse(
                            code::MALFORMED_PACKET,
                            format!("malformed packet during authentication: {e}"),
                            None,
                        ));
                    }
                }
            }
            self.prepare_buffers();
            let can_write = !self.wbuf.is_empty() || self.need_flush;
            tokio::select! {
                biased;
                _ = stopped(&mut self.stop) => return Err(Exit::Shutdown),
                _ = tokio::time::sleep_until(deadline) => {
                    return Err(Exit::refused(format!(
                        "no answer to the AUTH challenge within {limit:?}: closed without CONNACK"
                    )));
                }
                r = write_step(&mut self.wr, &self.wbuf), if can_write => self.after_write(r)?,
                r = self.rd.read_buf(&mut self.rbuf) => self.after_read(r)?,
            }
        }
    }

    /// An AUTH after the CONNACK: a re-authentication (0x19) gets a new challenge, its
    /// answer (0x18) AUTH 0x00, a wrong answer DISCONNECT 0x87 (MQTT-4.12.1-2); any other
    /// AUTH is a Protocol Error.
    pub(super) fn on_auth(&mut self, a: &crate::codec::Auth) -> Result<(), Exit> {
        let Some(state) = self.auth.as_mut() else {
            return Err(Exit::close(
                "AUTH on a connection whose CONNECT named no Authentication Method [MQTT-4.12.0-7]",
                code::PROTOCOL_ERROR,
            ));
        };
        let method = state.method.clone();
        let theirs = a.properties.get_str(PropertyId::AuthenticationMethod);
        match (a.reason_code, state.challenge.take()) {
            (code::RE_AUTHENTICATE, None) if theirs == Some(method.as_str()) => {
                let next = challenge();
                state.challenge = Some(next.clone());
                self.send(auth_packet(
                    code::CONTINUE_AUTHENTICATION,
                    &method,
                    Some(next),
                ));
                Ok(())
            }
            (code::RE_AUTHENTICATE, _) if theirs != Some(method.as_str()) => Err(Exit::close(
                format!(
                    "re-authentication with Authentication Method {theirs:?}, not the CONNECT's {method:?} [MQTT-4.12.1-1]"
                ),
                code::PROTOCOL_ERROR,
            )),
            (code::CONTINUE_AUTHENTICATION, Some(challenge)) => {
                match answers(a, &method, &challenge) {
                    Ok(()) => {
                        self.send(auth_packet(code::SUCCESS, &method, None));
                        Ok(())
                    }
                    Err((code::NOT_AUTHORIZED, why)) => Err(Exit::close(
                        format!("re-authentication failed: {why} [MQTT-4.12.1-2]"),
                        code::NOT_AUTHORIZED,
                    )),
                    Err((code, why)) => Err(Exit::close(why, code)),
                }
            }
            (reason, pending) => Err(Exit::close(
                format!(
                    "AUTH {reason:#04x} {}: a Protocol Error",
                    if pending.is_some() {
                        "while the server awaits the answer to its challenge"
                    } else {
                        "with no re-authentication in progress"
                    }
                ),
                code::PROTOCOL_ERROR,
            )),
        }
    }
}

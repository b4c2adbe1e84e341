//! The platform's answers to device messages (the profile's `replies`): Alink's
//! `…/post_reply`, OneNET's `…/dp/post/json/accepted`, published by the emulator as the
//! cloud.

use super::acl::{ConnVars, Pattern};
use crate::codec::QoS;
use crate::codec::topic::matches;
use crate::suite::profile::ReplyRule;
use crate::suite::vars::Vars;

/// The compiled reply rules.
#[derive(Debug, Default)]
pub(crate) struct Replies {
    rules: Vec<(Pattern, ReplyRule)>,
}

/// One answer to publish.
#[derive(Debug, PartialEq)]
pub(crate) struct Reply {
    pub(crate) topic: String,
    pub(crate) payload: String,
    pub(crate) qos: QoS,
}

impl Replies {
    /// Resolves the rules' topic patterns with `vars`; an unknown variable is an error.
    pub(crate) fn new(rules: &[ReplyRule], vars: &Vars) -> Result<Self, String> {
        let rules = rules
            .iter()
            .map(|r| Ok((Pattern::compile(&r.on, vars)?, r.clone())))
            .collect::<Result<_, String>>()?;
        Ok(Self { rules })
    }

    /// The answer to a PUBLISH on `topic` with `payload`, if a rule asks for one.
    pub(crate) fn answer(&self, topic: &str, payload: &[u8], ctx: ConnVars<'_>) -> Option<Reply> {
        let (_, rule) = self.rules.iter().find(|(on, _)| {
            on.resolve(ctx)
                .is_some_and(|pattern| matches(&pattern, topic))
        })?;
        let request: Option<serde_json::Map<String, serde_json::Value>> =
            serde_json::from_slice(payload).ok();
        Some(Reply {
            topic: render(&rule.topic, topic, request.as_ref())?,
            payload: render(&rule.payload, topic, request.as_ref())?,
            qos: QoS::from_u8(rule.qos.min(2)).unwrap_or(QoS::AtMostOnce),
        })
    }
}

/// `template` with `{topic}` and `{request.NAME}` filled in; `None` when a named field
/// is missing (or the request is not a JSON object).
fn render(
    template: &str,
    topic: &str,
    request: Option<&serde_json::Map<String, serde_json::Value>>,
) -> Option<String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        // Only `{topic}` and `{request.NAME}` are placeholders; any other brace (the JSON
        // around them) is text.
        let field_len = after.strip_prefix("request.").map(|f| {
            f.bytes()
                .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
                .count()
        });
        if let Some(tail) = after.strip_prefix("topic}") {
            out.push_str(topic);
            rest = tail;
        } else if let Some(n) = field_len.filter(|n| *n > 0 && after[8 + n..].starts_with('}')) {
            // As JSON text (a string keeps its quotes), so the answer stays JSON.
            out.push_str(&request?.get(&after[8..8 + n])?.to_string());
            rest = &after[8 + n + 1..];
        } else {
            out.push('{');
            rest = after;
        }
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CTX: ConnVars<'static> = ConnVars {
        client_id: "d1",
        username: None,
    };

    fn alink() -> Replies {
        let mut vars = Vars::new();
        vars.set("pk", "P");
        Replies::new(
            &[ReplyRule {
                on: "/sys/${pk}/${client_id}/thing/event/+/post".into(),
                topic: "{topic}_reply".into(),
                payload: r#"{"id":{request.id},"code":200,"data":{},"method":{request.method}}"#
                    .into(),
                qos: 0,
            }],
            &vars,
        )
        .expect("compiles")
    }

    #[test]
    fn an_alink_post_is_answered_on_its_reply_topic_with_its_id() {
        let reply = alink()
            .answer(
                "/sys/P/d1/thing/event/property/post",
                br#"{"id":"42","version":"1.0","params":{},"method":"thing.event.property.post"}"#,
                CTX,
            )
            .expect("an answer");
        assert_eq!(reply.topic, "/sys/P/d1/thing/event/property/post_reply");
        assert_eq!(
            reply.payload,
            r#"{"id":"42","code":200,"data":{},"method":"thing.event.property.post"}"#
        );
        assert_eq!(reply.qos, QoS::AtMostOnce);
        // A numeric id stays a number.
        let reply = alink()
            .answer(
                "/sys/P/d1/thing/event/property/post",
                br#"{"id":7,"method":"m"}"#,
                CTX,
            )
            .expect("an answer");
        assert!(
            reply.payload.starts_with(r#"{"id":7,"#),
            "{}",
            reply.payload
        );
    }

    #[test]
    fn no_answer_off_pattern_for_another_device_or_without_the_fields() {
        let r = alink();
        let body = br#"{"id":"1","method":"m"}"#;
        assert_eq!(
            r.answer("/sys/P/d2/thing/event/property/post", body, CTX),
            None
        );
        assert_eq!(
            r.answer("/sys/P/d1/thing/event/property/x", body, CTX),
            None
        );
        assert_eq!(
            r.answer("/sys/P/d1/thing/event/property/post", b"not json", CTX),
            None
        );
        assert_eq!(
            r.answer("/sys/P/d1/thing/event/property/post", br#"{"id":"1"}"#, CTX),
            None
        );
    }
}

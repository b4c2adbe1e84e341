//! PUBLISH packets on topics the receiving connection never subscribed to: set aside by
//! each test, reported once by the run.

use super::*;

/// Id of the finding that names PUBLISH packets delivered on topics the receiving
/// connection never subscribed to.
pub const UNSUBSCRIBED_PUBLISH: &str = "UNSUBSCRIBED-PUBLISH";

/// PUBLISH packets a server sent on topics the receiving connection never subscribed to.
/// Each test sets them aside and judges its own statement without them; the run reports
/// them once, as their own finding, instead of as failures of every test they crossed.
#[derive(Debug, Default)]
pub struct UnsubscribedDeliveries {
    /// How many arrived.
    pub count: usize,
    /// The tests they arrived in.
    pub tests: std::collections::BTreeSet<String>,
    /// The first one: test, connection and packet (redacted, bounded).
    pub first: Option<String>,
}

impl UnsubscribedDeliveries {
    /// The finding, when any arrived.
    pub fn finding(&self) -> Option<CaseReport> {
        let first = self.first.as_ref()?;
        let tests: Vec<&str> = self.tests.iter().map(String::as_str).take(10).collect();
        let more = self.tests.len().saturating_sub(tests.len());
        let message = format!(
            "the server sent {} PUBLISH packet(s) on topics the receiving connection never subscribed to, in {} test(s): {}{}; \
             a server sends an Application Message to the clients whose subscription matches its topic \
             (MQTT 3.1.1 §3.3.5 and §3.8.4, MQTT 5.0 §3.3.4); no normative statement forbids other deliveries, \
             so this is a warning, not a failure. \
             Each test set these packets aside and judged its own statement without them.\nfirst: {first}",
            self.count,
            self.tests.len(),
            tests.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        );
        Some(CaseReport {
            id: UNSUBSCRIBED_PUBLISH.into(),
            title: "PUBLISH on a topic this connection never subscribed to".into(),
            cites: Vec::new(),
            verdict: Verdict::Warning { message },
            branch: None,
            measured: None,
            duration: Duration::ZERO,
            trace: Vec::new(),
            timing: None,
        })
    }
}

//! Report groups of a replay: per connection, for errors and for capture notices.

use super::*;

pub(super) fn both(verdict: Verdict) -> Vec<CaseReport> {
    [
        (
            "REPLAY-RESPONSES",
            "the live server answers the recorded client's packets as the recorded server did",
        ),
        (
            "REPLAY-CLOSE",
            "the live connection ends as the recorded one did",
        ),
    ]
    .into_iter()
    .map(|(id, title)| CaseReport {
        id: id.into(),
        title: title.into(),
        cites: Vec::new(),
        verdict: verdict.clone(),
        branch: None,
        measured: None,
        duration: Duration::ZERO,
        trace: Vec::new(),
        timing: None,
    })
    .collect()
}

pub(super) fn group_of(
    name: String,
    properties: Vec<(String, String)>,
    cases: Vec<CaseReport>,
) -> SuiteReport {
    SuiteReport {
        name,
        classname: CLASSNAME.into(),
        properties,
        cases,
        duration: Duration::ZERO,
    }
}

pub(super) fn error_group(plan: &Plan, message: String) -> SuiteReport {
    group_of(
        plan.name.clone(),
        plan.properties.clone(),
        both(Verdict::Error { message }),
    )
}

/// What the capture lacked, recorded so no verdict hides it.
pub(super) fn notices_group(notices: &[Notice]) -> Option<SuiteReport> {
    if notices.is_empty() {
        return None;
    }
    let shown: Vec<String> = notices
        .iter()
        .take(DIFFERENCES_SHOWN)
        .map(|n| match n.frame {
            Some(f) => format!("file {} frame {f}: {}", n.file + 1, n.detail),
            None => format!("file {}: {}", n.file + 1, n.detail),
        })
        .collect();
    let mut message = format!(
        "{} notice(s) about the capture: {}",
        notices.len(),
        shown.join("; ")
    );
    if notices.len() > shown.len() {
        message.push_str(&format!("; … {} more", notices.len() - shown.len()));
    }
    Some(group_of(
        "capture".into(),
        Vec::new(),
        vec![CaseReport {
            id: "CAPTURE-NOTICES".into(),
            title: "what the capture files and streams lacked".into(),
            cites: Vec::new(),
            verdict: Verdict::Recorded { message },
            branch: None,
            measured: None,
            duration: Duration::ZERO,
            trace: Vec::new(),
            timing: None,
        }],
    ))
}

pub(super) fn side_name(s: Side) -> &'static str {
    match s {
        Side::Client => "client",
        Side::Server => "server",
    }
}

pub(super) fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

pub(super) fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

pub(super) fn speed_text(speed: f64) -> String {
    if speed == 0.0 || speed.is_infinite() {
        "as fast as possible".into()
    } else {
        format!("{speed}×")
    }
}

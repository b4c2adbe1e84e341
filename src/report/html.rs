//! The HTML report: one self-contained file (inline CSS and script, nothing fetched) with a
//! summary by status and by rule or test, filters, and for each case a sequence diagram of
//! its conversation drawn on demand.
//!
//! The run is embedded once, as JSON in a `<script type="application/json">`; the page's
//! script draws the list a page at a time and a case's diagram only when it is expanded,
//! so a run with tens of thousands of cases stays a file a browser opens quickly. From
//! [`COMPRESS_FROM`] bytes of JSON on (a 10,000-device run with a problem on every device
//! writes ~140 MB of it, its traces much alike) the JSON is embedded gzipped and
//! base64-encoded instead, ~30× smaller, and the page inflates it with the browser's own
//! `DecompressionStream` before drawing.

use super::json::Summary;
use super::{CaseReport, RunReport, Timing, Verdict};
use serde::Serialize;
use std::time::Duration;

/// Embedded JSON at least this long is gzipped (below it, the page holds readable JSON).
pub const COMPRESS_FROM: usize = 4 * 1024 * 1024;

const STYLE: &str = include_str!("html/report.css");
const SCRIPT: &str = include_str!("html/report.js");

/// Renders `report` as a self-contained HTML page titled `title`.
pub fn to_html(report: &RunReport, title: &str) -> String {
    let data = Data {
        title,
        duration: secs(report.duration),
        summary: Summary::of(report),
        groups: report
            .suites
            .iter()
            .map(|s| Group {
                name: &s.name,
                classname: &s.classname,
                properties: &s.properties,
                duration: secs(s.duration),
            })
            .collect(),
        cases: report
            .suites
            .iter()
            .enumerate()
            .flat_map(|(g, s)| s.cases.iter().map(move |c| Case::of(g, c)))
            .collect(),
    };
    let json = serde_json::to_string(&data).expect("the report data always serializes");
    let mut out = String::with_capacity(json.len() + STYLE.len() + SCRIPT.len() + 2048);
    out.push_str(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n<title>",
    );
    out.push_str(&escape_text(title));
    out.push_str("</title>\n<style>\n");
    out.push_str(STYLE);
    out.push_str("</style>\n</head>\n<body>\n<noscript>This report draws itself with JavaScript; the same run is in the JSON and JUnit reports.</noscript>\n<div id=\"app\"></div>\n");
    if json.len() >= COMPRESS_FROM {
        out.push_str(
            "<script type=\"application/octet-stream\" id=\"report-data\" data-encoding=\"gzip+base64\">",
        );
        out.push_str(&gzip_base64(json.as_bytes()));
    } else {
        out.push_str("<script type=\"application/json\" id=\"report-data\">");
        out.push_str(&script_safe(&json));
    }
    out.push_str("</script>\n<script>\n");
    out.push_str(SCRIPT);
    out.push_str("</script>\n</body>\n</html>\n");
    out
}

/// JSON made safe inside a `<script>` element: no `</script>` or `<!--` can end or bend
/// it (`\/` and `\u003c` are the same JSON strings).
fn script_safe(json: &str) -> String {
    json.replace("</", "<\\/").replace("<!--", "\\u003c!--")
}

/// `bytes` gzipped (level 6: ~0.5 s for 140 MB) and base64-encoded (no `<` in its
/// alphabet, so safe in a script element as it is).
fn gzip_base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    use std::io::Write as _;
    let mut gz = flate2::write::GzEncoder::new(
        Vec::with_capacity(bytes.len() / 16),
        flate2::Compression::new(6),
    );
    gz.write_all(bytes)
        .and_then(|()| gz.finish())
        .map(|packed| base64::engine::general_purpose::STANDARD.encode(packed))
        .expect("compressing into memory cannot fail")
}

fn escape_text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

#[derive(Serialize)]
struct Data<'a> {
    title: &'a str,
    duration: f64,
    summary: Summary,
    groups: Vec<Group<'a>>,
    cases: Vec<Case<'a>>,
}

#[derive(Serialize)]
struct Group<'a> {
    name: &'a str,
    classname: &'a str,
    properties: &'a [(String, String)],
    duration: f64,
}

/// One case, with short keys: a large run embeds tens of thousands of them.
#[derive(Serialize)]
struct Case<'a> {
    /// The group's index.
    g: usize,
    id: &'a str,
    /// Title.
    t: &'a str,
    /// Status.
    s: &'static str,
    /// The verdict's message.
    #[serde(skip_serializing_if = "Option::is_none")]
    m: Option<&'a str>,
    /// What was measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    me: Option<&'a str>,
    /// The branch taken.
    #[serde(skip_serializing_if = "Option::is_none")]
    b: Option<&'a str>,
    /// Cited statements.
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    c: &'a [String],
    /// Duration, seconds.
    d: f64,
    /// Trace lines: `[at, conn, direction, text]`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tr: Vec<(f64, &'a str, &'a str, &'a str)>,
    /// Timing.
    #[serde(skip_serializing_if = "Option::is_none")]
    tm: Option<&'a Timing>,
}

impl<'a> Case<'a> {
    fn of(g: usize, c: &'a CaseReport) -> Self {
        Case {
            g,
            id: &c.id,
            t: &c.title,
            s: status(&c.verdict),
            m: c.verdict.message(),
            me: c.measured.as_deref(),
            b: c.branch.as_deref(),
            c: &c.cites,
            d: secs(c.duration),
            tr: c
                .trace
                .iter()
                .map(|l| {
                    (
                        secs(l.at),
                        l.conn.as_str(),
                        l.direction.as_str(),
                        l.text.as_str(),
                    )
                })
                .collect(),
            tm: c.timing.as_ref(),
        }
    }
}

fn status(v: &Verdict) -> &'static str {
    match v {
        Verdict::Passed => "passed",
        Verdict::Failed { .. } => "failed",
        Verdict::Warning { .. } => "warning",
        Verdict::Recorded { .. } => "recorded",
        Verdict::Inconclusive { .. } => "inconclusive",
        Verdict::Skipped { .. } => "skipped",
        Verdict::Error { .. } => "error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{SuiteReport, TraceLine};

    fn report(text: &str) -> RunReport {
        let case = CaseReport {
            id: "T-01".into(),
            title: "a <b> title".into(),
            cites: vec!["MQTT-3.1.2-24".into()],
            verdict: Verdict::Failed {
                message: format!("saw {text}"),
            },
            branch: None,
            measured: Some("closed after 5.00 s; window 2.00 s–4.00 s".into()),
            duration: Duration::from_secs(5),
            trace: vec![TraceLine {
                at: Duration::from_millis(5000),
                conn: "main".into(),
                direction: "←".into(),
                text: text.into(),
            }],
            timing: Some(Timing {
                conn: Some("main".into()),
                anchor: Some(Duration::ZERO),
                from: Some(Duration::from_secs(2)),
                to: Some(Duration::from_secs(4)),
                measured: Some(Duration::from_secs(5)),
                what: "closed".into(),
                offending: Some(0),
            }),
        };
        RunReport {
            suites: vec![SuiteReport {
                name: "s".into(),
                classname: "s".into(),
                properties: vec![],
                cases: vec![case],
                duration: Duration::from_secs(5),
            }],
            duration: Duration::from_secs(5),
        }
    }

    #[test]
    fn the_page_embeds_the_run_as_json_nothing_can_break_out_of() {
        let hostile = "</script><script>alert(1)</script><!-- x";
        let page = to_html(&report(hostile), "run </title>");
        assert!(page.contains("<title>run &lt;/title&gt;</title>"));
        // Exactly the page's own two scripts end.
        assert_eq!(page.matches("</script>").count(), 2, "{page}");
        assert!(!page.contains("<!-- x"));
        let start = page.find("id=\"report-data\">").unwrap() + "id=\"report-data\">".len();
        let end = start + page[start..].find("</script>").unwrap();
        let v: serde_json::Value = serde_json::from_str(&page[start..end]).unwrap();
        assert_eq!(v["cases"][0]["tr"][0][3], hostile);
        assert_eq!(v["cases"][0]["s"], "failed");
        assert_eq!(v["cases"][0]["tm"]["from"], 2.0);
        assert_eq!(v["cases"][0]["tm"]["offending"], 0);
        assert_eq!(v["summary"]["failed"], 1);
    }

    #[test]
    fn a_large_run_is_embedded_gzipped_and_inflates_to_the_same_data() {
        use base64::Engine as _;
        use std::io::Read as _;
        let long = "</script><!-- PUBLISH [32 2c 00 13] ".repeat(COMPRESS_FROM / 30);
        let page = to_html(&report(&long), "large");
        assert!(page.len() < COMPRESS_FROM / 10, "{} bytes", page.len());
        assert_eq!(page.matches("</script>").count(), 2);
        let marker = "id=\"report-data\" data-encoding=\"gzip+base64\">";
        let start = page.find(marker).expect("the gzipped data") + marker.len();
        let end = start + page[start..].find("</script>").unwrap();
        let packed = base64::engine::general_purpose::STANDARD
            .decode(&page[start..end])
            .expect("base64");
        let mut json = String::new();
        flate2::read::GzDecoder::new(&packed[..])
            .read_to_string(&mut json)
            .expect("gzip");
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["cases"][0]["tr"][0][3], long);
        assert_eq!(v["summary"]["failed"], 1);
        // A small run stays readable JSON.
        let small = to_html(&report("x"), "t");
        assert!(!small.contains(marker) && small.contains("id=\"report-data\">{"));
    }

    #[test]
    fn the_page_fetches_nothing() {
        let page = to_html(&report("x"), "t");
        // (The SVG namespace is a name, not a fetch.)
        for needle in [
            "src=",
            "href=",
            "<link",
            "@import",
            "url(http",
            "url(//",
            "fetch(",
            "XMLHttpRequest",
        ] {
            assert!(!page.contains(needle), "{needle}");
        }
    }
}

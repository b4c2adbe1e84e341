//! `--explain ID`: one test, rule or device test of a suite in full — title, status, source,
//! each cited statement with its summary, the note, and its steps (a rule: its check) as
//! the suite's YAML gives them. An unknown id is an error naming the nearest ids.

use super::list::{self, Entry, Kind};
use crate::codec::ProtocolVersion;
use crate::codec::statements::Spec;
use crate::runner::Selection;
use crate::suite::Suite;
use std::fmt::Write as _;

/// What each status tag makes of a missed expectation.
fn status_meaning(tag: &str) -> &'static str {
    match tag {
        "DOC" => "documented: a miss fails the run",
        "DOC*" => "documented but ambiguous: a miss fails the run",
        "SDK" => "from the vendor's SDK: a miss is a warning",
        "2ND" => "from a secondary source: a miss is a warning",
        "OBS" => "observed by users: a miss is a warning",
        "INF" => "inferred: a miss is a warning",
        "NP" => "not pinned down: what the peer does is recorded",
        _ => "",
    }
}

/// One test, rule or device test explained: what `--explain` prints, as text or JSON.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Explanation {
    /// Its id.
    pub id: String,
    /// What it is, named as `--list` names it (`test`, `rule`, `device_test`).
    pub kind: Kind,
    /// The suite's name.
    pub suite: String,
    /// Its title.
    pub title: String,
    /// Its status tag (DOC, SDK, INF, NP, …).
    pub status: String,
    /// What the status makes of a miss.
    pub status_meaning: &'static str,
    /// Where the rule comes from, when the suite says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Why it is skipped, when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip: Option<String>,
    /// The statements and catalogue rules it cites, each with what it says.
    pub cites: Vec<Citation>,
    /// The suite's note on it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Its definition as the suite's YAML gives it, when found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub definition: Option<Definition>,
    /// What the definition holds: `steps`, `check` or `what the cloud does and expects`.
    #[serde(skip)]
    definition_holds: &'static str,
}

/// A cited statement or rule.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Citation {
    /// The statement or rule id.
    pub id: String,
    /// What it is: the statement's summary with its specification, or the rule's title.
    pub what: String,
}

/// Where an entry is defined and its fields as written.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Definition {
    /// The file (or built-in suite) it is in.
    pub origin: String,
    /// The line of its `- id:`.
    pub line: usize,
    /// Its other fields, dedented.
    pub body: Vec<String>,
}

/// The explanation of `id` in `suite`, whose texts (from [`crate::suite::sources`], nearest
/// first) give the definition as written; `Err` names near matches of an unknown id.
pub fn explain(
    suite: &Suite,
    sources: &[(String, String)],
    id: &str,
) -> Result<Explanation, String> {
    let entries = list::entries(suite, &Selection::default());
    let Some(entry) = entries.iter().find(|e| e.id == id) else {
        return Err(unknown(suite, &entries, id));
    };
    let what = match entry.kind {
        Kind::Test => "steps",
        Kind::Rule => "check",
        Kind::DeviceTest => "what the cloud does and expects",
    };
    let (source, note) = source_and_note(suite, entry);
    // A rule named after a statement checks that statement.
    let mut cited: Vec<&str> = Vec::new();
    if entry.kind == Kind::Rule && statement(suite, &entry.id).is_some() {
        cited.push(&entry.id);
    }
    cited.extend(entry.cites.iter().map(String::as_str));
    let cites = cited
        .into_iter()
        .map(|c| {
            let what = match (statement(suite, c), entries.iter().find(|e| e.id == c)) {
                (Some((spec, summary)), _) => format!("{spec} {summary}"),
                (None, Some(e)) if e.kind == Kind::Rule => format!("catalogue rule: {}", e.title),
                (None, Some(e)) if e.kind == Kind::Test => format!("test: {}", e.title),
                (None, Some(e)) => format!("device test: {}", e.title),
                (None, None) if c.starts_with("MQTT-") => {
                    "(not in the statement tables of MQTT 3.1.1 and 5.0)".into()
                }
                (None, None) => "(a rule of the platform's catalogue, no check of its own)".into(),
            };
            Citation {
                id: c.to_owned(),
                what,
            }
        })
        .collect();
    Ok(Explanation {
        id: entry.id.clone(),
        kind: entry.kind,
        suite: suite.name.clone(),
        title: entry.title.clone(),
        status: entry.status.to_owned(),
        status_meaning: status_meaning(entry.status),
        source,
        skip: entry.skip.clone(),
        cites,
        note: note.map(|n| n.trim_end().to_owned()),
        definition: definition(sources, &entry.id).map(|(origin, line, body)| Definition {
            origin,
            line,
            body,
        }),
        definition_holds: what,
    })
}

impl Explanation {
    /// The explanation for a reader.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let kind = match self.kind {
            Kind::Test => "test",
            Kind::Rule => "passive rule",
            Kind::DeviceTest => "device test",
        };
        let _ = writeln!(out, "{} — {kind} of suite `{}`", self.id, self.suite);
        let _ = writeln!(out, "title:  {}", self.title);
        let _ = writeln!(out, "status: {} ({})", self.status, self.status_meaning);
        if let Some(source) = &self.source {
            let _ = writeln!(out, "source: {source}");
        }
        if let Some(reason) = &self.skip {
            let _ = writeln!(out, "skip:   {reason}");
        }
        if !self.cites.is_empty() {
            out.push_str("cites:\n");
            let width = self.cites.iter().map(|c| c.id.len()).max().unwrap_or(0);
            for c in &self.cites {
                let _ = writeln!(out, "  {:<width$}  {}", c.id, c.what);
            }
        }
        if let Some(note) = &self.note {
            let _ = writeln!(out, "note:   {}", note.replace('\n', "\n        "));
        }
        match &self.definition {
            Some(d) => {
                let what = self.definition_holds;
                let _ = writeln!(out, "{what} ({}, line {}):", d.origin, d.line);
                for l in &d.body {
                    let _ = writeln!(out, "  {l}");
                }
            }
            None => {
                let _ = writeln!(
                    out,
                    "{}: not found as a `- id: {}` entry in the suite's files",
                    self.definition_holds, self.id
                );
            }
        }
        out
    }

    /// The explanation as one JSON document.
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).expect("an explanation always serializes")
    }
}

/// The statement `id` with its summary, from the suite's MQTT version first.
fn statement(suite: &Suite, id: &str) -> Option<(&'static str, &'static str)> {
    let (own, other) = match suite.protocol {
        ProtocolVersion::V5 => ((Spec::V5_0, "[MQTT 5.0]"), (Spec::V3_1_1, "[MQTT 3.1.1]")),
        _ => ((Spec::V3_1_1, "[MQTT 3.1.1]"), (Spec::V5_0, "[MQTT 5.0]")),
    };
    [own, other]
        .into_iter()
        .find_map(|(spec, name)| spec.lookup(id).map(|s| (name, s.summary)))
}

fn source_and_note(suite: &Suite, entry: &Entry) -> (Option<String>, Option<String>) {
    match entry.kind {
        Kind::Test => suite
            .tests
            .iter()
            .find(|t| t.id.value == entry.id)
            .map(|t| (t.source.clone(), t.note.clone())),
        Kind::Rule => suite
            .rules
            .iter()
            .find(|r| r.id.value == entry.id)
            .map(|r| (r.source.clone(), None)),
        Kind::DeviceTest => suite
            .device_tests
            .iter()
            .find(|d| d.id == entry.id)
            .map(|d| (d.source.clone(), d.note.clone())),
    }
    .unwrap_or((None, None))
}

/// Fields shown above the definition, left out of it.
const SHOWN: &[&str] = &["id", "title", "cites", "status", "source", "note", "skip"];

/// The `- id: ID` entry of the nearest source that has one: (origin, line of the id, the
/// entry's other fields as written, dedented).
fn definition(sources: &[(String, String)], id: &str) -> Option<(String, usize, Vec<String>)> {
    for (origin, text) in sources {
        let lines: Vec<&str> = text.lines().collect();
        let Some(start) = lines.iter().position(|l| {
            l.trim_start()
                .strip_prefix("- id:")
                .map(|v| v.trim().trim_matches(['"', '\'']))
                == Some(id)
        }) else {
            continue;
        };
        let dash = lines[start].len() - lines[start].trim_start().len();
        let key_indent = dash + 2;
        let mut body = Vec::new();
        let mut keep = false;
        for line in &lines[start + 1..] {
            let indent = line.len() - line.trim_start().len();
            let blank = line.trim().is_empty();
            if !blank && indent <= dash {
                break;
            }
            if !blank && indent == key_indent && !line.trim_start().starts_with('#') {
                let key = line.trim_start().split(':').next().unwrap_or_default();
                keep = !SHOWN.contains(&key);
            }
            if keep {
                body.push(
                    line.get(key_indent..)
                        .unwrap_or(line.trim_start())
                        .to_owned(),
                );
            }
        }
        while body.last().is_some_and(|l| l.trim().is_empty()) {
            body.pop();
        }
        return Some((origin.clone(), start + 1, body));
    }
    None
}

/// The error for an id the suite does not have, with the nearest ids it does.
fn unknown(suite: &Suite, entries: &[Entry], id: &str) -> String {
    let wanted = id.to_ascii_uppercase();
    let mut near: Vec<(usize, &str)> = entries
        .iter()
        .map(|e| {
            let upper = e.id.to_ascii_uppercase();
            let distance = if upper.contains(&wanted) || wanted.contains(&upper) {
                0
            } else {
                edit_distance(&upper, &wanted)
            };
            (distance, e.id.as_str())
        })
        .filter(|(d, _)| *d <= (wanted.len() / 3).max(2))
        .collect();
    near.sort();
    near.truncate(5);
    let mut message = format!(
        "suite `{}` has no test, rule or device test `{id}`",
        suite.name
    );
    if near.is_empty() {
        message.push_str(" (see --list)");
    } else {
        let names: Vec<&str> = near.iter().map(|(_, n)| *n).collect();
        let _ = write!(message, "; near matches: {}", names.join(", "));
    }
    message
}

/// Levenshtein distance between two strings, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_edits() {
        assert_eq!(edit_distance("KA-01", "KA-01"), 0);
        assert_eq!(edit_distance("KA-01", "KA-02"), 1);
        assert_eq!(edit_distance("KA-1", "KA-01"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    #[test]
    fn a_definition_keeps_its_steps_and_leaves_out_the_fields_shown_above_it() {
        let text = "tests:\n  - id: A-01\n    title: t\n    cites: [x]\n    steps:\n      - connect\n\n      - expect: { closed }\n\n  - id: A-02\n    steps: []\n";
        let sources = vec![("s.yaml".to_owned(), text.to_owned())];
        let (origin, line, body) = definition(&sources, "A-01").unwrap();
        assert_eq!((origin.as_str(), line), ("s.yaml", 2));
        assert_eq!(
            body,
            ["steps:", "  - connect", "", "  - expect: { closed }"]
        );
        assert!(definition(&sources, "A-03").is_none());
    }
}

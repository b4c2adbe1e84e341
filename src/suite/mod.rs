//! Suites: the YAML language, loading (built-in or from a path), `extends`, parameters and
//! validation with `file:line:col` errors.

pub mod check;
pub mod device_tests;
pub mod profile;
pub mod schema;
pub mod shape;
pub mod timing;
mod validate;
pub mod vars;

pub use validate::{DEFAULT_CONN, MATCH_OPERATORS, matcher_fields};

use crate::codec::ProtocolVersion;
use crate::secret::Secret;
use profile::Profile;
use schema::{AuthDef, ParamDef, SuiteFile, TestDef};
use serde_json::Value;
use serde_saphyr::Spanned;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use timing::TimeExpr;
use vars::Vars;

/// Suites compiled into the binary: (name, YAML).
pub const BUILTIN: &[(&str, &str)] = &[
    ("mqtt-3.1.1", include_str!("../../suites/mqtt-3.1.1.yaml")),
    ("mqtt-5", include_str!("../../suites/mqtt-5.yaml")),
    ("tuya", include_str!("../../suites/tuya.yaml")),
    ("aliyun", include_str!("../../suites/aliyun.yaml")),
    (
        "aliyun-mqtt5",
        include_str!("../../suites/aliyun-mqtt5.yaml"),
    ),
    ("onenet", include_str!("../../suites/onenet.yaml")),
    ("watson", include_str!("../../suites/watson.yaml")),
    (
        "watson-quickstart",
        include_str!("../../suites/watson-quickstart.yaml"),
    ),
];

/// How deep `extends` chains may go.
const MAX_EXTENDS_DEPTH: usize = 8;

/// Largest suite file read, in bytes: fifty times the largest built-in suite, and a bound
/// on what `--suite /dev/zero` or a wrong path to a capture costs.
pub const MAX_SUITE_BYTES: u64 = 4 * 1024 * 1024;

/// A suite that cannot be used, with where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuiteError {
    /// The file (or `builtin:NAME`).
    pub origin: String,
    /// 1-based line, 0 when unknown.
    pub line: u32,
    /// 1-based column, 0 when unknown.
    pub column: u32,
    /// What is wrong.
    pub message: String,
    /// The offending source line with a caret, when known.
    pub snippet: Option<String>,
}

impl fmt::Display for SuiteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(
                f,
                "{}:{}:{}: {}",
                self.origin, self.line, self.column, self.message
            )?;
        } else {
            write!(f, "{}: {}", self.origin, self.message)?;
        }
        if let Some(s) = &self.snippet {
            write!(f, "\n{s}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SuiteError {}

/// One source document.
#[derive(Debug, Clone)]
pub(crate) struct Source {
    origin: String,
    text: String,
    dir: Option<PathBuf>,
}

impl Source {
    pub(crate) fn error(&self, line: u32, column: u32, message: impl Into<String>) -> SuiteError {
        SuiteError {
            origin: self.origin.clone(),
            line,
            column,
            message: message.into(),
            snippet: snippet(&self.text, line, column),
        }
    }

    pub(crate) fn error_at(
        &self,
        loc: &serde_saphyr::Location,
        message: impl Into<String>,
    ) -> SuiteError {
        self.error(loc.line() as u32, loc.column() as u32, message)
    }
}

fn snippet(text: &str, line: u32, column: u32) -> Option<String> {
    let src = text
        .lines()
        .nth(usize::try_from(line).ok()?.checked_sub(1)?)?;
    let gutter = format!("{line} | ");
    let caret = " ".repeat(gutter.len() + usize::try_from(column.saturating_sub(1)).ok()?);
    Some(format!("{gutter}{src}\n{caret}^"))
}

/// A parameter as declared, with its origin.
#[derive(Debug, Clone)]
pub struct Param {
    /// Its name.
    pub name: String,
    /// Its declaration.
    pub def: ParamDef,
}

impl Param {
    /// How a user gives this parameter a value, e.g. `set the environment variable X or
    /// the file x.txt`.
    pub fn how_to_set(&self) -> String {
        let d = &self.def;
        let mut ways = Vec::new();
        if !d.secret {
            ways.push(format!("--param {}=VALUE", self.name));
        }
        if let Some(e) = &d.env {
            ways.push(format!("the environment variable {e}"));
        }
        if let Some(f) = &d.file {
            ways.push(format!("the file {f}"));
        }
        if let Some(e) = &d.file_env {
            ways.push(format!("a file named by the environment variable {e}"));
        }
        format!("set {}", ways.join(" or "))
    }
}

/// Transport requirements of the platform.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsRequirements {
    /// TLS is mandatory.
    pub required: bool,
    /// Versions to offer (empty: 1.2 and 1.3).
    pub versions: Vec<String>,
    /// Server name to send.
    pub sni: Option<String>,
}

/// A loaded, merged and validated suite.
#[derive(Debug, Clone)]
pub struct Suite {
    /// Name.
    pub name: String,
    /// Title.
    pub title: String,
    /// Source document.
    pub source: Option<String>,
    /// Where it was loaded from (`builtin:NAME` or a path).
    pub origin: String,
    /// Default protocol version of connections.
    pub protocol: ProtocolVersion,
    /// Parameters by name.
    pub params: BTreeMap<String, Param>,
    /// The tests' own variables (`vars:`): name and text, interpolated for each test.
    pub vars: BTreeMap<String, String>,
    /// Default port.
    pub port: Option<u16>,
    /// Default ports of `ws://` and `wss://` targets (the endpoint's `ws_port`, `wss_port`).
    pub websocket_ports: (Option<u16>, Option<u16>),
    /// TLS requirements.
    pub tls: Option<TlsRequirements>,
    /// Credential scheme.
    pub auth: Option<AuthDef>,
    /// Default expectation window.
    pub within: TimeExpr,
    /// Default test deadline.
    pub timeout: Duration,
    /// Default Keep Alive.
    pub keepalive: u16,
    /// What the platform accepts (the defaults when the suite states nothing).
    pub profile: Profile,
    /// Tests, in order.
    pub tests: Vec<TestDef>,
    /// Passive rules, in order.
    pub rules: Vec<schema::RuleDef>,
    /// Scenarios the emulated cloud plays on devices, in order.
    pub device_tests: Vec<device_tests::DeviceTest>,
}

/// Parameter values for a run.
#[derive(Debug, Clone, Default)]
pub struct ParamValues {
    /// Values by name.
    pub values: BTreeMap<String, String>,
    /// The secret ones, for redaction.
    pub secrets: Vec<Secret>,
}

/// Where a parameter's value came from; `Missing` says how to give one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamError {
    /// No value and no way to get one.
    Missing {
        /// The parameter.
        name: String,
        /// How to set it.
        how: String,
    },
    /// A secret given on the command line.
    SecretOnCommandLine(String),
    /// A `--param` for a parameter the suite does not declare.
    Unknown(String),
    /// The value's file cannot be read.
    File {
        /// The parameter.
        name: String,
        /// The error.
        error: String,
    },
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing { name, how } => write!(f, "parameter `{name}` has no value: {how}"),
            Self::SecretOnCommandLine(n) => write!(
                f,
                "parameter `{n}` is secret: give it through its environment variable or file, not --param"
            ),
            Self::Unknown(n) => write!(f, "--param {n}: the suite declares no such parameter"),
            Self::File { name, error } => write!(f, "parameter `{name}`: {error}"),
        }
    }
}

/// The ports a target URL without one gets, by kind (a suite's `endpoint`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DefaultPorts {
    /// `mqtt://` (and `mqtts://`, where the suite's port serves both).
    pub mqtt: Option<u16>,
    /// `ws://` (default 80).
    pub ws: Option<u16>,
    /// `wss://` (default 443).
    pub wss: Option<u16>,
}

impl Suite {
    /// The ports a target URL without one gets.
    pub fn default_ports(&self) -> DefaultPorts {
        DefaultPorts {
            mqtt: self.port,
            ws: self.websocket_ports.0,
            wss: self.websocket_ports.1,
        }
    }

    /// Resolves parameter values: `--param`, then the environment, then the file, then the
    /// default, then (with `use_examples`, for the built-in emulator) the example.
    pub fn resolve_params(
        &self,
        cli: &BTreeMap<String, String>,
        use_examples: bool,
    ) -> Result<ParamValues, ParamError> {
        if let Some(unknown) = cli.keys().find(|k| !self.params.contains_key(*k)) {
            return Err(ParamError::Unknown(unknown.clone()));
        }
        let mut out = ParamValues::default();
        for (name, p) in &self.params {
            let d = &p.def;
            if d.secret && cli.contains_key(name) {
                return Err(ParamError::SecretOnCommandLine(name.clone()));
            }
            let from_env = d
                .env
                .as_deref()
                .and_then(|e| std::env::var(e).ok())
                .filter(|v| !v.is_empty());
            let named_file = d
                .file_env
                .as_deref()
                .and_then(|e| std::env::var(e).ok())
                .filter(|v| !v.is_empty());
            let from_file = match named_file.as_ref().or(d.file.as_ref()) {
                // A file the environment names must exist; the suite's own is optional.
                Some(path) if named_file.is_some() || Path::new(path).exists() => Some(
                    Secret::from_file(path)
                        .map_err(|e| ParamError::File {
                            name: name.clone(),
                            error: e.to_string(),
                        })?
                        .expose()
                        .to_owned(),
                ),
                _ => None,
            };
            let value = cli
                .get(name)
                .cloned()
                .or(from_env)
                .or(from_file)
                .or_else(|| d.default.clone())
                .or_else(|| use_examples.then(|| d.example.clone()).flatten());
            if value.is_none() && d.optional {
                continue;
            }
            let Some(value) = value else {
                return Err(ParamError::Missing {
                    name: name.clone(),
                    how: p.how_to_set(),
                });
            };
            if d.secret {
                out.secrets.push(Secret::new(value.clone()));
            }
            out.values.insert(name.clone(), value);
        }
        Ok(out)
    }

    /// Sets the suite's `vars:` in `vars`, which already holds the parameters and the
    /// built-in variables they may use. A var using an unset optional parameter stays
    /// unset (the tests that use it are skipped, naming the parameter).
    pub fn bind_vars(&self, vars: &mut Vars) {
        for (name, text) in &self.vars {
            if let Ok(value) = vars.interpolate(text) {
                vars.set(name.clone(), value);
            }
        }
    }

    /// The test with this id.
    pub fn test(&self, id: &str) -> Option<&TestDef> {
        self.tests.iter().find(|t| t.id.value == id)
    }
}

/// Names of the built-in suites.
pub fn builtin_names() -> impl Iterator<Item = &'static str> {
    BUILTIN.iter().map(|(n, _)| *n)
}

/// Loads a suite by built-in name or path.
pub fn load(spec: &str) -> Result<Suite, SuiteError> {
    let source = open(spec, None)?;
    let mut chain = Vec::new();
    parse_chain(source, &mut chain, 0)?;
    validate::compile(chain)
}

/// The texts a suite is made of, by origin (`builtin:NAME` or a path): the suite's own
/// first, then the suites it extends, nearest first. `--explain` quotes its checks from them.
pub fn sources(spec: &str) -> Result<Vec<(String, String)>, SuiteError> {
    let mut chain = Vec::new();
    parse_chain(open(spec, None)?, &mut chain, 0)?;
    Ok(chain
        .into_iter()
        .rev()
        .map(|(source, _)| (source.origin, source.text))
        .collect())
}

/// Loads a suite from text (for tests and tools); `extends` resolves built-ins and paths
/// relative to the working directory.
pub fn load_str(origin: &str, text: &str) -> Result<Suite, SuiteError> {
    let source = Source {
        origin: origin.into(),
        text: text.into(),
        dir: None,
    };
    let mut chain = Vec::new();
    parse_chain(source, &mut chain, 0)?;
    validate::compile(chain)
}

fn open(spec: &str, relative_to: Option<&Path>) -> Result<Source, SuiteError> {
    if let Some((name, text)) = BUILTIN.iter().find(|(n, _)| *n == spec) {
        return Ok(Source {
            origin: format!("builtin:{name}"),
            text: (*text).to_owned(),
            dir: None,
        });
    }
    let path = match relative_to {
        Some(dir) if Path::new(spec).is_relative() => dir.join(spec),
        _ => PathBuf::from(spec),
    };
    let text = read_capped(&path).map_err(|message| SuiteError {
        origin: path.display().to_string(),
        line: 0,
        column: 0,
        message,
        snippet: None,
    })?;
    Ok(Source {
        origin: path.display().to_string(),
        dir: path.parent().map(Path::to_path_buf),
        text,
    })
}

/// Reads a suite file of at most [`MAX_SUITE_BYTES`], never more than one byte past it.
fn read_capped(path: &Path) -> Result<String, String> {
    use std::io::Read;
    let cannot_read = |e: std::io::Error| {
        format!(
            "cannot read suite: {e} (built-in suites: {})",
            builtin_names().collect::<Vec<_>>().join(", ")
        )
    };
    let file = std::fs::File::open(path).map_err(cannot_read)?;
    let mut bytes = Vec::new();
    file.take(MAX_SUITE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot_read)?;
    if bytes.len() as u64 > MAX_SUITE_BYTES {
        return Err(too_large());
    }
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "suite file is not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        )
    })
}

fn too_large() -> String {
    format!(
        "suite file too large: more than {} MiB (the limit for suite files)",
        MAX_SUITE_BYTES / (1024 * 1024)
    )
}

fn parse(source: &Source) -> Result<SuiteFile, SuiteError> {
    if source.text.len() as u64 > MAX_SUITE_BYTES {
        return Err(source.error(0, 0, too_large()));
    }
    let options = serde_saphyr::options! {
        strict_booleans: true,
        with_snippet: false,
        budget: serde_saphyr::budget! {
            max_total_scalar_bytes: 16 * 1024 * 1024,
        },
    };
    serde_saphyr::from_str_with_options(&source.text, options).map_err(|e| {
        let (line, column) = e
            .location()
            .map(|l| (l.line() as u32, l.column() as u32))
            .unwrap_or((0, 0));
        let message = e.without_snippet().to_string();
        // The parser's message repeats the position; keep the reason only.
        let message = message
            .split(" at line ")
            .next()
            .unwrap_or(&message)
            .to_owned();
        source.error(line, column, message)
    })
}

/// Parses `source` and everything it extends, outermost ancestor first in `chain`.
fn parse_chain(
    source: Source,
    chain: &mut Vec<(Source, SuiteFile)>,
    depth: usize,
) -> Result<(), SuiteError> {
    let file = parse(&source)?;
    if let Some(parent_spec) = &file.extends {
        if depth >= MAX_EXTENDS_DEPTH || chain.iter().any(|(s, _)| s.origin == source.origin) {
            return Err(source.error_at(
                &parent_spec.referenced,
                "`extends` chain is too deep or loops",
            ));
        }
        let parent_source = open(&parent_spec.value, source.dir.as_deref())
            .map_err(|e| source.error_at(&parent_spec.referenced, e.message))?;
        parse_chain(parent_source, chain, depth + 1)?;
    }
    chain.push((source, file));
    Ok(())
}

/// Applies a child over its parent: scalar fields and sections replace, params merge by
/// name, profile keys merge recursively, tests replace by id or append (or, with
/// `inherit_tests: false`, the parent's tests are dropped), `skip` removes.
pub(crate) fn merge(
    parent: SuiteFile,
    child: SuiteFile,
    child_source: &Source,
) -> Result<SuiteFile, SuiteError> {
    let inherit_tests = child.inherit_tests.as_ref().is_none_or(|i| i.value);
    let dropped: Vec<String> = if inherit_tests {
        Vec::new()
    } else {
        parent.tests.iter().map(|t| t.id.value.clone()).collect()
    };
    let mut tests = if inherit_tests {
        parent.tests
    } else {
        Vec::new()
    };
    let mut rules = parent.rules;
    let mut device_tests = parent.device_tests;
    for skip in &child.skip {
        let before = tests.len() + rules.len() + device_tests.len();
        tests.retain(|t| t.id.value != skip.value);
        rules.retain(|r| r.id.value != skip.value);
        device_tests.retain(|d| d.id.value != skip.value);
        if tests.len() + rules.len() + device_tests.len() == before {
            let why = if dropped.contains(&skip.value) {
                " (`inherit_tests: false` already leaves out the parent's tests)"
            } else {
                ""
            };
            return Err(child_source.error_at(
                &skip.referenced,
                format!("`skip`: no inherited test or rule `{}`{why}", skip.value),
            ));
        }
    }
    for r in child.rules {
        match rules.iter_mut().find(|p| p.id.value == r.id.value) {
            Some(slot) => *slot = r,
            None => rules.push(r),
        }
    }
    for t in child.tests {
        match tests.iter_mut().find(|p| p.id.value == t.id.value) {
            Some(slot) => *slot = t,
            None => tests.push(t),
        }
    }
    for d in child.device_tests {
        match device_tests.iter_mut().find(|p| p.id.value == d.id.value) {
            Some(slot) => *slot = d,
            None => device_tests.push(d),
        }
    }
    let mut params = parent.params;
    params.extend(child.params);
    let mut vars = parent.vars;
    vars.extend(child.vars);
    // A merged profile is placed where the child writes its part: errors point there.
    let profile = match (parent.profile, child.profile) {
        (Some(p), Some(c)) => Some(Spanned {
            value: merge_values(p.value, c.value),
            ..c
        }),
        (p, c) => c.or(p),
    };
    Ok(SuiteFile {
        name: child.name,
        title: child.title.or(parent.title),
        source: child.source.or(parent.source),
        extends: None,
        inherit_tests: None,
        protocol: child.protocol.or(parent.protocol),
        params,
        vars,
        endpoint: child.endpoint.or(parent.endpoint),
        auth: child.auth.or(parent.auth),
        defaults: child.defaults.or(parent.defaults),
        profile,
        rules,
        skip: Vec::new(),
        tests,
        device_tests,
    })
}

fn merge_values(parent: Value, child: Value) -> Value {
    match (parent, child) {
        (Value::Object(mut p), Value::Object(c)) => {
            for (k, v) in c {
                let merged = match p.remove(&k) {
                    Some(pv) => merge_values(pv, v),
                    None => v,
                };
                p.insert(k, merged);
            }
            Value::Object(p)
        }
        (_, c) => c,
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// The suite is the compiled plan the judge, the modes and the command line use: it
    /// imports none of them (only the codec, auth and the secret type).
    #[test]
    fn the_suite_imports_nothing_above_it() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/suite");
        let above = [
            "judge",
            "server",
            "cli",
            "runner",
            "device",
            "emulator",
            "pcap",
            "report",
            "event",
            "websocket",
        ];
        let mut checked = 0;
        for entry in std::fs::read_dir(&dir).expect("src/suite") {
            let path = entry.expect("a directory entry").path();
            let text = std::fs::read_to_string(&path).expect("a source file");
            for module in above {
                assert!(
                    !text.contains(&format!("crate::{module}::"))
                        && !text.contains(&format!("crate::{module}}}"))
                        && !text.contains(&format!("crate::{module};")),
                    "{} uses crate::{module}",
                    path.display()
                );
            }
            checked += 1;
        }
        assert!(checked >= 8, "only {checked} files in {}", dir.display());
    }
}

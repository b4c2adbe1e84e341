//! Suite-language errors: each names the file, line and column, with a snippet.

use mqtt_conform::suite::{self, SuiteError};

fn error(text: &str) -> SuiteError {
    match suite::load_str("demo.yaml", text) {
        Ok(s) => panic!("suite `{}` loaded, expected an error", s.name),
        Err(e) => e,
    }
}

fn at(e: &SuiteError, line: u32, column: u32, needle: &str) {
    assert_eq!((e.line, e.column), (line, column), "{e}");
    assert_eq!(e.origin, "demo.yaml");
    assert!(e.message.contains(needle), "`{needle}` not in: {e}");
    let rendered = e.to_string();
    assert!(
        rendered.starts_with(&format!("demo.yaml:{line}:{column}: ")),
        "{rendered}"
    );
    assert!(
        rendered.contains(&format!("\n{line} | ")),
        "snippet missing: {rendered}"
    );
}

#[test]
fn broken_yaml() {
    let e = error("name: demo\ntests: [ { id: T1, title: t\n");
    assert_eq!(e.line, 2, "{e}");
    assert!(
        e.message.contains("bracket") || e.message.contains("flow"),
        "{e}"
    );
}

#[test]
fn unknown_key() {
    let e = error("name: demo\ntests:\n  - id: T1\n    title: t\n    stepz: []\n");
    at(&e, 5, 5, "unknown field `stepz`");
}

#[test]
fn unknown_key_in_a_step() {
    let e = error(
        "name: demo\ntests:\n  - id: T1\n    title: t\n    steps:\n      - connect: { keepalvie: 5 }\n",
    );
    at(&e, 6, 20, "unknown field `keepalvie`");
}

#[test]
fn wrong_type() {
    let e = error(
        "name: demo\ntests:\n  - id: T1\n    title: t\n    steps:\n      - connect: { keepalive: soon }\n",
    );
    assert_eq!(e.line, 6, "{e}");
    assert!(e.column >= 20, "{e}");
}

#[test]
fn undefined_connection() {
    let e = error(
        "name: demo\ntests:\n  - id: T1\n    title: t\n    steps:\n      - connect: {}\n      - send: { conn: b, pingreq: {} }\n",
    );
    at(&e, 7, 23, "connection `b` is not opened");
}

#[test]
fn undefined_parameter() {
    let e = error(
        "name: demo\ntests:\n  - id: T1\n    title: t\n    steps:\n      - connect: { client_id: \"${device}\" }\n",
    );
    at(&e, 6, 9, "`${device}` is neither a parameter");
}

#[test]
fn bad_window_and_matcher_field() {
    let e = error(
        "name: demo\ntests:\n  - id: T1\n    title: t\n    steps:\n      - connect: {}\n      - expect: { closed: {}, within: soonish }\n",
    );
    at(&e, 7, 39, "not a duration");
    let e = error(
        "name: demo\ntests:\n  - id: T1\n    title: t\n    steps:\n      - connect: {}\n      - expect: { suback: { codes: [0] } }\n",
    );
    at(&e, 7, 9, "suback has no field `codes`");
}

#[test]
fn duplicate_test_ids_and_two_packets_in_one_send() {
    let e = error(
        "name: demo\ntests:\n  - id: T1\n    title: a\n    steps: [ { open: {} } ]\n  - id: T1\n    title: b\n    steps: [ { open: {} } ]\n",
    );
    at(&e, 6, 9, "already used at line 3");
    let e = error(
        "name: demo\ntests:\n  - id: T1\n    title: t\n    steps:\n      - connect: {}\n      - send: { pingreq: {}, disconnect: {} }\n",
    );
    at(&e, 7, 9, "exactly one packet (found 2)");
}

#[test]
fn secret_parameters_may_not_have_defaults() {
    let e = error("name: demo\nparams:\n  key: { secret: true, default: hunter2 }\ntests: []\n");
    at(&e, 3, 8, "may not have a default");
}

#[test]
fn extends_errors_point_into_the_right_file() {
    let dir =
        std::env::temp_dir().join(format!("mqtt-conform-suite-errors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("parent.yaml"), "name: parent\ntests:\n  - id: P1\n    title: p\n    steps:\n      - expect: { silence: 1s }\n").unwrap();
    std::fs::write(
        dir.join("child.yaml"),
        "name: child\nextends: parent.yaml\ntests: []\n",
    )
    .unwrap();
    let e = suite::load(dir.join("child.yaml").to_str().unwrap()).unwrap_err();
    assert!(e.origin.ends_with("parent.yaml"), "{e}");
    assert_eq!(e.line, 6, "{e}");
    assert!(e.message.contains("connection `main` is not opened"), "{e}");

    std::fs::write(
        dir.join("child2.yaml"),
        "name: child\nextends: missing.yaml\n",
    )
    .unwrap();
    let e = suite::load(dir.join("child2.yaml").to_str().unwrap()).unwrap_err();
    assert!(e.origin.ends_with("child2.yaml"), "{e}");
    assert_eq!((e.line, e.column), (2, 10), "{e}");
    assert!(e.message.contains("cannot read suite"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn extends_overrides_skips_and_adds() {
    let dir =
        std::env::temp_dir().join(format!("mqtt-conform-suite-extends-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("base.yaml"),
        "name: base\nprotocol: \"3.1.1\"\nprofile: { max_qos: 2, keepalive: { min: 0, max: 65535 } }\ntests:\n  - { id: A, title: a, steps: [ { connect: {} } ] }\n  - { id: B, title: b, steps: [ { connect: {} } ] }\n  - { id: C, title: c, steps: [ { connect: {} } ] }\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("child.yaml"),
        "name: child\nextends: base.yaml\nprofile: { max_qos: 1, keepalive: { max: 1200 } }\nskip: [B]\ntests:\n  - { id: C, title: replaced, steps: [ { connect: {} } ] }\n  - { id: D, title: d, steps: [ { connect: {} } ] }\n",
    )
    .unwrap();
    let s = suite::load(dir.join("child.yaml").to_str().unwrap()).unwrap();
    let ids: Vec<&str> = s.tests.iter().map(|t| t.id.value.as_str()).collect();
    assert_eq!(ids, ["A", "C", "D"]);
    assert_eq!(s.test("C").unwrap().title, "replaced");
    let profile = s.profile;
    assert_eq!(profile.max_qos, 1);
    assert_eq!(
        profile.keepalive.min,
        Some(0),
        "profile keys merge recursively"
    );
    assert_eq!(profile.keepalive.max, Some(1200));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn builtin_suites_load() {
    for name in suite::builtin_names() {
        let s = suite::load(name).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.name, name);
        assert!(!s.tests.is_empty());
    }
}

#[test]
fn inherit_tests_false_drops_the_parents_tests_only() {
    let dir =
        std::env::temp_dir().join(format!("mqtt-conform-suite-inherit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("base.yaml"),
        "name: base\nrules:\n  - { id: R1, title: r, check: no_will }\ntests:\n  - { id: A, title: a, steps: [ { connect: {} } ] }\n  - { id: B, title: b, steps: [ { connect: {} } ] }\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("child.yaml"),
        "name: child\nextends: base.yaml\ninherit_tests: false\ntests:\n  - { id: D, title: d, steps: [ { connect: {} } ] }\n",
    )
    .unwrap();
    let s = suite::load(dir.join("child.yaml").to_str().unwrap()).unwrap();
    let ids: Vec<&str> = s.tests.iter().map(|t| t.id.value.as_str()).collect();
    assert_eq!(ids, ["D"]);
    let rules: Vec<&str> = s.rules.iter().map(|r| r.id.value.as_str()).collect();
    assert_eq!(rules, ["R1"], "rules are still inherited");

    // `inherit_tests: true` is the default.
    std::fs::write(
        dir.join("child2.yaml"),
        "name: child\nextends: base.yaml\ninherit_tests: true\ntests: []\n",
    )
    .unwrap();
    let s = suite::load(dir.join("child2.yaml").to_str().unwrap()).unwrap();
    assert_eq!(s.tests.len(), 2);

    // Skipping a test that is not inherited says why.
    std::fs::write(
        dir.join("child3.yaml"),
        "name: child\nextends: base.yaml\ninherit_tests: false\nskip: [A]\n",
    )
    .unwrap();
    let e = suite::load(dir.join("child3.yaml").to_str().unwrap()).unwrap_err();
    assert_eq!((e.line, e.column), (4, 8), "{e}");
    assert!(e.message.contains("`inherit_tests: false`"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn inherit_tests_needs_extends() {
    let e = error("name: demo\ninherit_tests: false\ntests: []\n");
    at(&e, 2, 16, "`inherit_tests` needs `extends`");
    let e = error("name: demo\ninherit_tests: maybe\ntests: []\n");
    assert_eq!(e.line, 2, "{e}");
}

#[test]
fn auth_identities_are_checked() {
    let base = "name: demo\nparams:\n  gw: { default: g1 }\nauth:\n  scheme: watson\n  params: { org: abc123, device_type: t, device_id: d, token: x }\n  identities:\n";
    let e = error(&format!(
        "{base}    - {{ kind: gateway, device_id: \"${{gateway}}\" }}\n"
    ));
    at(&e, 8, 7, "`${gateway}` is neither a parameter");
    let e = error(&format!("{base}    - {{ identities.0.kind: gateway }}\n"));
    at(&e, 8, 7, "contain no `.`");
    let e = error(&format!("{base}    - {{}}\n"));
    at(&e, 8, 7, "needs parameters");
    let e = error(&format!(
        "{base}    - {{ kind: gateway, tokn: x }}\n    - oops\n"
    ));
    assert_eq!(e.line, 9, "{e}");
    // A valid list: folded into the compiled suite's parameters.
    let s = suite::load_str(
        "demo.yaml",
        &format!("{base}    - {{ kind: gateway, device_id: \"${{gw}}\" }}\ntests: []\n"),
    )
    .unwrap();
    let auth = s.auth.unwrap();
    assert!(auth.identities.is_empty());
    assert_eq!(auth.params["identities.0.kind"], "gateway");
    assert_eq!(auth.params["identities.0.device_id"], "${gw}");
}

#[test]
fn the_watson_suites_provision_their_identities() {
    let watson = suite::load("watson").unwrap();
    let params = &watson.auth.as_ref().unwrap().params;
    assert_eq!(params["identities.0.kind"], "gateway");
    assert_eq!(params["identities.1.kind"], "application");
    for secret in ["token", "gateway_token", "api_token"] {
        assert!(watson.params[secret].def.secret, "{secret} is secret");
    }
    // The quickstart variant replaces `auth:` (devices only) and runs only its own tests.
    let quick = suite::load("watson-quickstart").unwrap();
    let params = &quick.auth.as_ref().unwrap().params;
    assert!(
        !params.keys().any(|k| k.starts_with("identities.")),
        "{params:?}"
    );
    assert!(
        quick
            .tests
            .iter()
            .all(|t| t.id.value.starts_with("WIOTP-QS-"))
    );
    assert_eq!(quick.tests.len(), 5);
    assert_eq!(quick.rules.len(), watson.rules.len() + 2);
}

#[test]
fn an_oversized_suite_is_refused_by_name() {
    let limit = usize::try_from(suite::MAX_SUITE_BYTES).unwrap();
    let text = format!("name: demo\n#{}\n", "x".repeat(limit));
    let e = error(&text);
    assert!(
        e.message.contains("suite file too large: more than 4 MiB"),
        "{e}"
    );
}

#[test]
fn expectation_options_are_checked() {
    let head = "name: demo\ntests:\n  - id: T1\n    title: t\n    steps:\n      - connect: {}\n";
    let e = error(&format!(
        "{head}      - expect: {{ puback: {{}}, granted: [2] }}\n"
    ));
    assert!(e.message.contains("`granted` goes with a `suback`"), "{e}");
    let e = error(&format!(
        "{head}      - expect: {{ suback: {{}}, granted: [3] }}\n"
    ));
    assert!(e.message.contains("QoS levels 0, 1 or 2"), "{e}");
    let e = error(&format!(
        "{head}      - expect: {{ publish: {{}}, ignore: [ {{ publish: {{}}, puback: {{}} }} ] }}\n"
    ));
    assert!(e.message.contains("one packet matcher"), "{e}");
    let e = error(&format!(
        "{head}      - expect: {{ closed: {{}}, inconclusive_if_silent: why }}\n"
    ));
    assert!(e.message.contains("goes with a packet expectation"), "{e}");
    let ok = suite::load_str(
        "demo.yaml",
        &format!(
            "{head}      - expect: {{ any_of: [ {{ suback: {{}}, as: a }}, {{ disconnect: {{}}, as: b, ends_test: true }} ] }}\n"
        ),
    );
    assert!(ok.is_ok(), "{:?}", ok.err());
}

#[test]
fn an_inconclusive_alternative_gives_its_reason_as_text() {
    let e = error(
        "name: demo\ntests:\n  - id: T1\n    title: t\n    steps:\n      - connect: {}\n      - expect: { any_of: [ { puback: {} }, { closed: {}, inconclusive: 3 } ] }\n",
    );
    assert!(e.message.contains("gives the reason as text"), "{e}");
}

#[test]
fn a_bad_profile_is_reported_where_the_profile_is_written() {
    let e = error(
        "name: demo\ntests:\n  - id: T1\n    title: t\n    steps:\n      - connect: {}\nprofile:\n  max_qos: high\n",
    );
    at(&e, 8, 3, "profile");
}

#[test]
fn profile_and_times_are_typed_when_the_suite_loads() {
    use mqtt_conform::suite::schema::Step;
    use mqtt_conform::suite::timing::TimeExpr;
    use std::time::Duration;
    let s = suite::load_str(
        "demo.yaml",
        "name: demo\nprofile: { max_qos: 1, one_connection_per_identity: true }\ntests:\n  - id: T1\n    title: t\n    timeout: 2s\n    steps:\n      - connect: {}\n      - wait: 1.5s\n      - expect: { silence: 300ms }\n      - expect: { pingresp: {}, within: 2x keepalive + 1s, after: 100ms }\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.profile.max_qos, 1);
    assert!(s.profile.one_connection_per_identity);
    let t = &s.tests[0];
    assert_eq!(
        t.timeout.as_ref().map(|t| t.value),
        Some(Duration::from_secs(2))
    );
    let Step::Wait(wait) = &t.steps[1].value else {
        panic!("step 2 is a wait")
    };
    assert_eq!(wait.value, Duration::from_millis(1500));
    let Step::Expect(silence) = &t.steps[2].value else {
        panic!("step 3 is an expect")
    };
    assert_eq!(
        silence.silence.as_ref().map(|t| t.value),
        Some(TimeExpr::fixed(Duration::from_millis(300)))
    );
    let Step::Expect(e) = &t.steps[3].value else {
        panic!("step 4 is an expect")
    };
    let within = e.within.as_ref().expect("a window").value;
    assert_eq!(within.resolve(10), Duration::from_secs(21));
    assert_eq!(
        e.after.as_ref().map(|t| t.value),
        Some(TimeExpr::fixed(Duration::from_millis(100)))
    );
}

/// Every time text of every built-in suite, inherited ones included, has its value.
#[test]
fn builtin_suites_have_every_time_parsed() {
    use mqtt_conform::suite::schema::Step;
    use mqtt_conform::suite::timing::TimeExpr;
    use mqtt_conform::suite::timing::parse_duration;
    let mut seen = 0;
    for name in suite::builtin_names() {
        let s = suite::load(name).unwrap_or_else(|e| panic!("{e}"));
        for t in &s.tests {
            if let Some(d) = &t.timeout {
                assert_eq!(
                    Ok(d.value),
                    parse_duration(&d.text.value),
                    "{name} {}",
                    t.id.value
                );
                seen += 1;
            }
            for step in &t.steps {
                match &step.value {
                    Step::Wait(d) => {
                        assert_eq!(Ok(d.value), parse_duration(&d.text.value));
                        seen += 1;
                    }
                    Step::Expect(e) => {
                        for w in [&e.within, &e.after, &e.silence].into_iter().flatten() {
                            assert_eq!(Ok(w.value), TimeExpr::parse(&w.text.value));
                            seen += 1;
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    assert!(seen > 50, "only {seen} times in the built-in suites");
}

/// `docs/suite.schema.json`, the committed JSON Schema of the suite language.
fn committed_schema_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/suite.schema.json")
}

/// The committed schema is the one the schema types generate. With
/// `MQTT_CONFORM_WRITE_SCHEMA=1` the test writes it instead (after changing the language).
#[test]
fn the_committed_json_schema_is_up_to_date() {
    let generated = serde_json::to_string_pretty(&suite::schema::json_schema()).unwrap() + "\n";
    let path = committed_schema_path();
    if std::env::var_os("MQTT_CONFORM_WRITE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is out of date: run `MQTT_CONFORM_WRITE_SCHEMA=1 cargo test --test suite_errors json_schema`",
        path.display()
    );
}

fn schema_validator() -> jsonschema::Validator {
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(committed_schema_path()).unwrap()).unwrap();
    jsonschema::validator_for(&schema).expect("a valid JSON Schema")
}

/// A suite's YAML as the JSON an editor's YAML language server checks against the schema.
fn yaml_as_json(text: &str) -> serde_json::Value {
    serde_saphyr::from_str(text).expect("YAML")
}

#[test]
fn the_json_schema_accepts_every_builtin_suite() {
    let validator = schema_validator();
    for (name, text) in suite::BUILTIN {
        let errors: Vec<String> = validator
            .iter_errors(&yaml_as_json(text))
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{name}: {errors:#?}");
    }
}

#[test]
fn the_json_schema_rejects_unknown_keys() {
    let validator = schema_validator();
    let good = "name: demo\ntests:\n  - id: T1\n    title: t\n    steps:\n      - connect: {}\n      - expect: { closed: {}, within: 2s }\n";
    assert!(validator.is_valid(&yaml_as_json(good)));
    for bad in [
        "name: demo\nbogus: 1\n",
        "name: demo\ntests:\n  - id: T1\n    title: t\n    stepz: []\n",
        "name: demo\ntests:\n  - id: T1\n    title: t\n    steps:\n      - expect: { closed: {}, withn: 2s }\n",
        "name: demo\nprofile: { max_qoss: 1 }\n",
    ] {
        assert!(!validator.is_valid(&yaml_as_json(bad)), "accepted: {bad}");
    }
}

#[test]
fn vars_are_checked() {
    let e = error(
        "name: demo\nvars:\n  topic: \"t/${nope}\"\ntests:\n  - { id: T1, title: t, steps: [ { connect: {} } ] }\n",
    );
    at(&e, 3, 10, "`${nope}`");
    let e = error(
        "name: demo\nparams:\n  topic: { default: x }\nvars:\n  topic: \"t/${run}\"\ntests:\n  - { id: T1, title: t, steps: [ { connect: {} } ] }\n",
    );
    at(&e, 5, 10, "name of a parameter");
}

/// The baseline's tests run on the topics and payloads a platform suite sets in `vars:`,
/// and a test that uses a var uses the parameters the var uses.
#[test]
fn inherited_tests_use_the_platforms_vars() {
    use mqtt_conform::suite::schema::Step;
    use mqtt_conform::suite::vars::Vars;
    let tuya = suite::load("tuya").unwrap_or_else(|e| panic!("{e}"));
    let test = tuya.test("MQTT311-PUB-06").expect("the baseline test");
    let Step::Send(send) = &test.steps[1].value else {
        panic!("step 2 sends")
    };
    let publish = send.publish.as_ref().expect("a PUBLISH");
    let mut vars = Vars::new();
    vars.set("device_id", "dev1");
    vars.set("run", "r1");
    vars.set("test", "mqtt311-pub-06");
    tuya.bind_vars(&mut vars);
    assert_eq!(
        vars.interpolate(&publish.topic).unwrap(),
        "tylink/dev1/thing/property/report"
    );
    assert!(
        vars.interpolate(publish.payload.as_deref().unwrap())
            .unwrap()
            .starts_with(r#"{"msgId":"r1mqtt311-pub-06""#)
    );
    assert!(
        test.params_used.contains("device_id"),
        "{:?}",
        test.params_used
    );
    let baseline = suite::load("mqtt-3.1.1").unwrap();
    let mut vars = Vars::new();
    vars.set("run", "r1");
    vars.set("test", "mqtt311-pub-06");
    baseline.bind_vars(&mut vars);
    assert_eq!(
        vars.interpolate(&publish.topic).unwrap(),
        "t/r1/mqtt311-pub-06"
    );
}

/// `open`, `connect` and `close` stand alone, and `closed`, a packet to expect or a packet
/// without fields to send needs no `{}`: the short spellings load as the long ones.
#[test]
fn short_spellings_mean_the_long_ones() {
    let steps = |text: &str| -> String {
        let s = suite::load_str("demo.yaml", text).unwrap_or_else(|e| panic!("{e}"));
        // Debug text without the positions (`Location { … }`), which differ with the spelling.
        let mut text = String::new();
        for step in &s.tests[0].steps {
            text.push_str(&format!("{:?}\n", step.value));
        }
        while let Some(start) = text.find("Location {") {
            let mut depth = 0;
            let end = text[start..]
                .char_indices()
                .find_map(|(i, c)| {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 1 => return Some(start + i + 1),
                        '}' => depth -= 1,
                        _ => {}
                    }
                    None
                })
                .expect("a closing brace");
            text.replace_range(start..end, "");
        }
        text
    };
    let short = "name: demo\ntests:\n  - id: T1\n    title: t\n    steps:\n      - connect\n      - open: { conn: b }\n      - send: { pingreq }\n      - expect: { pingresp, within: 2s }\n      - send: { conn: b, puback }\n      - send: { disconnect }\n      - expect: { any_of: [ { closed, as: a }, { silence, as: b }, { puback, as: c } ], ignore: [ { pubrec } ] }\n      - expect: { closed }\n      - close\n";
    let long = "name: demo\ntests:\n  - id: T1\n    title: t\n    steps:\n      - connect: {}\n      - open: { conn: b }\n      - send: { pingreq: {} }\n      - expect: { pingresp: {}, within: 2s }\n      - send: { conn: b, puback: {} }\n      - send: { disconnect: {} }\n      - expect: { any_of: [ { closed: {}, as: a }, { silence: {}, as: b }, { puback: {}, as: c } ], ignore: [ { pubrec: {} } ] }\n      - expect: { closed: {} }\n      - close: {}\n";
    assert_eq!(steps(short), steps(long));
    assert!(
        steps(short).contains("closed: Some(Object {})"),
        "{}",
        steps(short)
    );
}

#[test]
fn a_step_name_alone_needs_to_be_one_that_may_stand_alone() {
    let e = error(
        "name: demo\ntests:\n  - id: T1\n    title: t\n    steps:\n      - connect\n      - send\n",
    );
    at(&e, 7, 9, "only `open`, `connect` and `close` stand alone");
    let e = error(
        "name: demo\ntests:\n  - id: T1\n    title: t\n    steps:\n      - connect\n      - bogus\n",
    );
    at(&e, 7, 9, "unknown variant `bogus`");
    let e = error(
        "name: demo\ntests:\n  - id: T1\n    title: t\n    steps:\n      - { connect: {}, open: {} }\n",
    );
    at(&e, 6, 24, "one step key");
}

/// A check whose parameters all come from the profile is written by its name alone.
#[test]
fn a_check_without_parameters_is_written_by_name() {
    use mqtt_conform::judge::{Check, Checks};
    let rules = |check: &str| {
        let s = suite::load_str(
            "demo.yaml",
            &format!("name: demo\nrules:\n  - id: R1\n    title: r\n    check: {check}\n"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        s.rules[0].check.value.clone()
    };
    let range = Check::KeepaliveRange {
        min: None,
        max: None,
        warn_below: None,
    };
    assert_eq!(rules("keepalive_range"), Checks::One(range.clone()));
    assert_eq!(rules("{ keepalive_range: {} }"), Checks::One(range.clone()));
    assert_eq!(
        rules("[keepalive_range, credentials, { max_qos: { publish: 1 } }]"),
        Checks::Many(vec![
            range,
            Check::Credentials,
            Check::MaxQos {
                publish: Some(1),
                subscribe: None
            }
        ])
    );
    let e = error("name: demo\nrules:\n  - id: R1\n    title: r\n    check: bogus\n");
    assert!(e.message.contains("bogus"), "{e}");
    // A check with a required parameter still needs it.
    let e = error("name: demo\nrules:\n  - id: R1\n    title: r\n    check: topic_length\n");
    assert!(e.message.contains("max"), "{e}");
}

/// A platform suite runs the baseline's tests unchanged (on its `vars:`, leaving out the
/// steps that need what its profile lacks) instead of redefining one under the same id.
#[test]
fn no_platform_suite_redefines_a_test_it_inherits() {
    let mut checked = 0;
    for (name, text) in suite::BUILTIN {
        let own = yaml_as_json(text);
        let Some(parent) = own["extends"].as_str() else {
            continue;
        };
        let parent = suite::load(parent).unwrap_or_else(|e| panic!("{e}"));
        let copies: Vec<&str> = own["tests"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["id"].as_str())
            .filter(|id| parent.test(id).is_some())
            .collect();
        assert!(copies.is_empty(), "{name} redefines {copies:?}");
        checked += 1;
    }
    assert!(checked >= 6, "only {checked} suites extend another");
}

/// `needs` / `unless` on a step: the test says what goes unchecked without the
/// capability, a step has one of the two, and a connection is used only by steps that run
/// whenever the steps that opened it do.
#[test]
fn step_conditions_are_checked() {
    let test = |without: &str, steps: &str| {
        format!("name: demo\ntests:\n  - id: T1\n    title: t\n{without}    steps:\n{steps}")
    };
    let without = "    without: { loopback: both messages are delivered }\n";
    // No `without:` for the capability a step needs.
    let e = error(&test(
        "",
        "      - connect\n      - expect: { pingresp, needs: loopback }\n",
    ));
    at(&e, 7, 36, "without: { loopback:");
    // A `without:` no step needs.
    let e = error(&test(without, "      - connect\n"));
    at(&e, 3, 9, "no step `needs` it");
    // Both `needs` and `unless`.
    let e = error(&test(
        without,
        "      - connect: { needs: loopback, unless: loopback }\n",
    ));
    at(&e, 7, 45, "not both");
    // A connection opened only where the platform has loopback, used everywhere.
    let e = error(&test(
        without,
        "      - connect: { conn: s, needs: loopback }\n      - send: { conn: s, pingreq }\n",
    ));
    at(&e, 8, 23, "runs whenever this one does");
    // An unknown capability.
    let e = error(&test(without, "      - connect: { needs: telepathy }\n"));
    assert_eq!(e.line, 7, "{e}");
    assert!(e.message.contains("telepathy"), "{e}");
    // A `needs` connection and an `unless` one together open it for every step.
    let ok = test(
        "    without: { chosen_client_id: a client id of our own }\n",
        "      - connect: { client_id: c1, needs: chosen_client_id }\n      - connect: { unless: chosen_client_id }\n      - send: { pingreq }\n",
    );
    suite::load_str("demo.yaml", &ok).unwrap_or_else(|e| panic!("{e}"));
}

/// A CONNECT with a header field overridden (name, level, flags) is sent, not connected.
#[test]
fn connect_overrides_go_with_send() {
    let e = error(
        "name: demo\ntests:\n  - id: T1\n    title: t\n    steps:\n      - connect: { protocol_level: 3 }\n",
    );
    at(&e, 6, 9, "go in `send: { connect }`");
    let e = error(
        "name: demo\ntests:\n  - id: T1\n    title: t\n    steps:\n      - send: { connect: { connect_flags: 256 } }\n",
    );
    assert_eq!(e.line, 6, "{e}");
}

#[test]
fn websocket_steps_need_a_websocket_test() {
    let head = "name: demo\ntests:\n  - id: T1\n    title: t\n    steps:\n      - connect: {}\n";
    let e = error(&format!(
        "{head}      - send: {{ pingreq: {{}}, websocket: text }}\n"
    ));
    at(&e, 7, 9, "`websocket` framing needs a WebSocket connection");
    assert!(e.message.contains("`transport: websocket`"), "{e}");
    let e = error(&format!("{head}      - expect: {{ subprotocol: mqtt }}\n"));
    at(
        &e,
        7,
        9,
        "a `subprotocol` expectation needs a WebSocket connection",
    );
    let e = error(&format!(
        "{head}      - send: {{ pingreq: {{}}, websocket: sideways }}\n"
    ));
    assert!(e.message.contains("sideways"), "{e}");
    let ok = suite::load_str(
        "demo.yaml",
        "name: demo\ntests:\n  - id: T1\n    title: t\n    transport: websocket\n    steps:\n      - connect: {}\n      - send: { pingreq: {}, websocket: fragmented }\n      - expect: { subprotocol: mqtt }\n",
    );
    let suite = ok.expect("a websocket test loads");
    assert_eq!(
        suite.test("T1").unwrap().transport,
        Some(suite::schema::Transport::Websocket)
    );
}

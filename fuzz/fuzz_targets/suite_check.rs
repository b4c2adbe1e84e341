//! What the `suite` fuzz target checks for one input, shared with the deterministic replay
//! in `tests/it/fuzz_replay.rs`. The suite loader: YAML text → parse → `extends` → merge →
//! compile and validate, then what a run builds from a loaded suite (TLS left out).
//!
//! For every input that is UTF-8:
//! - [`load_str`] must not panic and must end (the parser's size budget bounds the work);
//!   an error must say something;
//! - a suite it accepts (its profile typed as it loads) must also give parameter
//!   values from its examples, the server configuration of device mode
//!   ([`server_config`]) and the run's [`Session`] with its judge, each either built or
//!   refused with a message, never a panic.
//!
//! `extends` opens built-in suites or files (relative to the working directory): inputs
//! naming device or kernel files (`/dev`, `/proc`, `/sys`) are skipped, their reading is the
//! command line's business, not the loader's; any other file is read like a suite.

use mqtt_conform::emulator::server_config;
use mqtt_conform::session::Session;
use mqtt_conform::suite::load_str;
use std::collections::BTreeMap;

/// Checks one input (see the module documentation).
pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if ["/dev", "/proc", "/sys"].iter().any(|p| text.contains(p)) {
        return;
    }
    let mut suite = match load_str("fuzz.yaml", text) {
        Ok(suite) => suite,
        Err(e) => {
            assert!(!e.to_string().is_empty(), "an error without a message");
            return;
        }
    };
    let Ok(params) = suite.resolve_params(&BTreeMap::new(), true) else {
        return;
    };
    // A certificate made for every TLS suite would time rcgen, not the loader.
    suite.tls = None;
    if let Err(e) = server_config(&suite, &params) {
        assert!(
            !e.is_empty(),
            "a server configuration refused without a message"
        );
    }
    if let Ok(session) = Session::new(&suite, &params) {
        let _ = session.judge(&suite);
    }
}

//! Fuzzes the suite loader (YAML text → parse → `extends` → merge → compile and validate)
//! and what a run builds from a loaded suite: see `suite_check.rs`.
//!
//! Run: `cargo +nightly fuzz run suite -- -max_total_time=300` (stable:
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run suite …`).

#![no_main]

mod suite_check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| suite_check::check(data));

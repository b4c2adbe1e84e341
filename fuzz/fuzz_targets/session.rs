//! Fuzzes a device-mode server session fed raw bytes in-process: see `session_check.rs`.
//!
//! Run: `cargo +nightly fuzz run session -- -max_total_time=300` (stable:
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run session …`).

#![no_main]

mod session_check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    session_check::check(data);
});

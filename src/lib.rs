//! mqtt-conform: an MQTT conformance harness and protocol verifier.
//!
//! The crate is organised as one pipeline with three sources (see `DESIGN.md` in the
//! shared folder): the [`codec`] decodes and encodes MQTT 3.1 / 3.1.1 / 5.0 packets and is
//! the foundation every mode shares.

pub mod auth;
pub mod capture;
pub mod cli;
pub mod codec;
pub mod device;
pub mod emulator;
pub mod event;
pub(crate) mod fasthash;
pub mod interrupt;
pub mod judge;
pub(crate) mod prefetch;
pub mod replay;
pub mod report;
pub mod runner;
pub mod secret;
pub mod server;
pub mod session;
pub mod suite;

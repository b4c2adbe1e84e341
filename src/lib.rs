//! mqtt-conform: an MQTT conformance harness and protocol verifier.
//!
//! One pipeline with four sources: every conversation becomes [`event`]s, the [`judge`]
//! turns them into verdicts by the rules of a [`suite`], and the [`report`] writes them.
//! The modules are layered; each uses only those below it (a test checks the suite's
//! place, and no two modules use each other):
//!
//! ```text
//!   cli                           the command line: picks a mode, wires sinks, exits
//!    │
//!   runner  emulator  device  capture  replay     the modes: we are the client, the
//!    │        server            │        │        cloud, the reader of a capture, or
//!    │                          │        │        the client again from a capture
//!   session                      one run's setup: variables, identities, judge
//!    │
//!   judge                        rules over events → cases
//!    │
//!   report  event                verdict model and sinks; the conversation events
//!    │
//!   suite   auth                 the compiled plan (tests, rules, checks, profile,
//!    │                           windows); credential schemes
//!   conduct                      a client's duties over a connection, kept or broken
//!    │
//!   codec   secret               packets of 3.1 / 3.1.1 / 5.0; secret values
//! ```
//!
//! [`interrupt`] (Ctrl-C and SIGTERM) and the hashing and prefetch helpers sit beside
//! the layers and use none of them.

pub mod auth;
pub mod capture;
pub mod cli;
pub mod codec;
pub mod conduct;
pub mod device;
pub mod emulator;
pub mod event;
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
pub mod websocket;

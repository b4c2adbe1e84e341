//! Helpers shared by the integration tests: real brokers and clients started on free
//! loopback ports, device mode as a process, suite runs, pinned verdict tables, the
//! counting allocator, proptest strategies.

pub mod allocations;
pub mod amqtt;
pub mod brokers;
pub mod capture_cli;
pub mod cloud;
pub mod loopback;
pub mod mosquitto;
pub mod peer;
pub mod pki;
pub mod program;
pub mod raw_device;
pub mod relay;
pub mod server;
pub mod strategies;
pub mod suite_run;
pub mod tshark;
pub mod verdicts;

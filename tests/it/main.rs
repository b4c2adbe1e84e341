//! The integration tests, one binary: one link instead of one per file, and tests that
//! wait on real brokers' and clients' timers overlap instead of running binary after
//! binary. One module per area; `support` holds the shared helpers.

mod support;

mod aliyun;
mod aliyun_mqtt5;
mod auth_vectors;
mod broker_matrix;
mod broker_mosquitto;
mod broker_mqtt5;
mod broker_tls;
mod broker_traces;
mod broker_websocket;
mod cli_decode;
mod cli_docs;
mod cli_list_explain;
mod cli_run;
mod client_conduct;
mod client_matrix;
mod codec_alloc;
mod codec_props;
mod codec_vectors;
mod cross_check_rumqttc;
mod device_mode;
mod device_test_matrix;
mod device_tests_baseline;
mod device_websocket;
mod fuzz_replay;
mod judge_rules;
mod onenet;
mod pcap_compressed;
mod pcap_flows;
mod pcap_judge;
mod pcap_read;
mod pcap_replay;
mod pcap_tls;
mod pcap_websocket;
mod pcap_write;
mod real_clients;
mod report_html;
mod report_junit;
mod report_markdown;
mod secrets;
mod server_auth;
mod server_broker;
mod server_device_tests;
mod server_events;
mod server_keepalive;
mod server_profile;
mod server_suites;
mod suite_errors;
mod tuya_mosquitto;
mod watson;

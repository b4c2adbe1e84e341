//! Scale check (run with `cargo bench --bench server_scale`): thousands of idle
//! connections, each subscribed, cost little memory. Clients and server share this process,
//! so the RSS printed is an upper bound for the server. `SERVER_SCALE_CONNS` sets the count
//! (default 9,000: both ends need a file descriptor). Reads `/proc/self/status`: Linux only.

use mqtt_conform::codec::{Connect, Packet, ProtocolVersion, QoS, Subscribe, Subscription};
use mqtt_conform::server::{Server, ServerConfig};
use mqtt_conform::suite::profile::Profile;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(many_idle_connections_stay_small());
}

async fn many_idle_connections_stay_small() {
    let n: usize = std::env::var("SERVER_SCALE_CONNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(9_000);
    let mut config = ServerConfig::new(Profile::default());
    config.emit_events = false;
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap();
    let before = rss_kib();
    let v = ProtocolVersion::V3_1_1;
    let mut clients = Vec::with_capacity(n);
    for i in 0..n {
        let mut s = TcpStream::connect(server.local_addr).await.unwrap();
        let mut c = Connect::new(v, format!("dev-{i}"));
        c.keep_alive = 600;
        let mut bytes = mqtt_conform::codec::encode_to_vec(&Packet::Connect(c.into()), v).unwrap();
        let sub = Packet::Subscribe(Subscribe {
            packet_id: 1,
            properties: Default::default(),
            subscriptions: vec![Subscription::new(format!("d/{i}/down"), QoS::AtLeastOnce)],
        });
        mqtt_conform::codec::encode(&sub, v, &mut bytes).unwrap();
        s.write_all(&bytes).await.unwrap();
        let mut ack = [0u8; 4 + 5];
        s.read_exact(&mut ack).await.unwrap();
        assert_eq!(&ack[..4], [0x20, 0x02, 0x00, 0x00]);
        clients.push(s);
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let after = rss_kib();
    let stats = server.stats();
    println!(
        "{n} connections: RSS {} → {} KiB (+{:.1} KiB per connection, both ends); \
         server buffers {} KiB; {stats:?}",
        before,
        after,
        (after - before) as f64 / n as f64,
        stats.buffer_bytes / 1024
    );
    assert_eq!(stats.connections_open as usize, n);
    assert!(after - before < 1024 * 1024, "under 1 GiB");
    drop(clients);
}

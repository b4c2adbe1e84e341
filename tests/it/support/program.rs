//! Client programs the tests run (paho-mqtt and MQTT.js scripts, the mosquitto and Paho C
//! command-line clients): waiting for one to end, with a deadline.

#![allow(dead_code)]

use std::process::Child;
use std::time::{Duration, Instant};

/// Waits for `child` to end with success within `limit`; kills it after. The error names
/// its exit status and what it wrote to stderr (when piped).
pub fn wait_for(mut child: Child, limit: Duration) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            let mut stderr = String::new();
            if let Some(mut pipe) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
            }
            return if status.success() {
                Ok(())
            } else {
                Err(format!("exited with {status}: {}", stderr.trim()))
            };
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("still running after {limit:?}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

//! What the tests of a broker run are doing while they run: which ones are running, since
//! when, and what each waits for until when, so that the console can say why a run is
//! quiet (`TUYA-KA-02-TIMEOUT waiting for the server to close: 42 s of ≤ 76 s`).

use std::collections::BTreeMap;
use std::sync::Mutex;
use tokio::time::Instant;

/// A running test.
#[derive(Debug, Clone)]
pub struct Running {
    /// The test's id.
    pub id: String,
    /// When it started.
    pub started: Instant,
    /// What it waits for, if it is waiting.
    pub waiting: Option<Waiting>,
}

/// What a test waits for.
#[derive(Debug, Clone)]
pub struct Waiting {
    /// In words: `the server to close`, `PUBACK`.
    pub what: String,
    /// Since when.
    pub since: Instant,
    /// The latest time it is waited for.
    pub until: Instant,
}

/// Called with a test's id as it starts (in the test's task: keep it short).
pub type OnStart = Box<dyn Fn(&str) + Send + Sync>;

/// The running tests of a run, by their index in the suite. Shared by the tests (which
/// say what they do) and whoever shows progress.
#[derive(Default)]
pub struct Board {
    running: Mutex<BTreeMap<usize, Running>>,
    on_start: Option<OnStart>,
}

impl std::fmt::Debug for Board {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Board").finish_non_exhaustive()
    }
}

impl Board {
    /// A board that also tells `on_start` of each test starting (a stream of events).
    pub fn observed(on_start: OnStart) -> Self {
        Self {
            running: Mutex::default(),
            on_start: Some(on_start),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut BTreeMap<usize, Running>) -> T) -> T {
        f(&mut self.running.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Test `index` (`id`) started.
    pub fn started(&self, index: usize, id: &str) {
        if let Some(f) = &self.on_start {
            f(id);
        }
        self.with(|r| {
            r.insert(
                index,
                Running {
                    id: id.to_owned(),
                    started: Instant::now(),
                    waiting: None,
                },
            )
        });
    }

    /// Test `index` waits for `what` until `until` (`None`: it stopped waiting).
    pub fn waiting(&self, index: usize, what: Option<(String, Instant)>) {
        self.with(|r| {
            if let Some(t) = r.get_mut(&index) {
                t.waiting = what.map(|(what, until)| Waiting {
                    what,
                    since: Instant::now(),
                    until,
                });
            }
        });
    }

    /// Test `index` finished.
    pub fn finished(&self, index: usize) {
        self.with(|r| r.remove(&index));
    }

    /// The running tests, in suite order.
    pub fn running(&self) -> Vec<Running> {
        self.with(|r| r.values().cloned().collect())
    }
}

impl Running {
    /// One line on what the test does at `now`: `ID waiting for WHAT: 42 s of ≤ 76 s` (the
    /// time since it began to wait, and the longest it waits), or `ID running for 12 s`.
    pub fn describe(&self, now: Instant) -> String {
        match &self.waiting {
            Some(w) => format!(
                "{} waiting for {}: {:.0} s of ≤ {:.0} s",
                self.id,
                w.what,
                now.saturating_duration_since(w.since).as_secs_f64(),
                w.until.saturating_duration_since(w.since).as_secs_f64()
            ),
            None => format!(
                "{} running for {:.0} s",
                self.id,
                now.saturating_duration_since(self.started).as_secs_f64()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn a_waiting_test_says_what_it_waits_for_and_how_long_at_most() {
        let board = Board::default();
        board.started(3, "TUYA-KA-02-TIMEOUT");
        board.started(1, "MQTT311-CONN-01");
        board.finished(1);
        tokio::time::advance(Duration::from_secs(2)).await;
        let until = Instant::now() + Duration::from_secs(76);
        board.waiting(3, Some(("the server to close".into(), until)));
        tokio::time::advance(Duration::from_secs(42)).await;
        let running = board.running();
        assert_eq!(running.len(), 1);
        assert_eq!(
            running[0].describe(Instant::now()),
            "TUYA-KA-02-TIMEOUT waiting for the server to close: 42 s of ≤ 76 s"
        );
        board.waiting(3, None);
        assert_eq!(
            board.running()[0].describe(Instant::now()),
            "TUYA-KA-02-TIMEOUT running for 44 s"
        );
    }
}

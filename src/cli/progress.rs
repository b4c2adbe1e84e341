//! What a broker run shows while its tests run: on a terminal a live bar with the run's
//! progress and what the longest-running test waits for; elsewhere (CI logs) a `SLOW`
//! line for a test still running after [`SLOW_AFTER`], and again every [`SLOW_EVERY`],
//! saying what it waits for and until when, so that the log never falls silent for long.

use crate::runner::progress::Board;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// How long a test runs before a `SLOW` line names it.
pub const SLOW_AFTER: Duration = Duration::from_secs(5);
/// How often a `SLOW` line names it again while it runs.
pub const SLOW_EVERY: Duration = Duration::from_secs(5);
/// How often the ticker looks at the running tests.
const TICK: Duration = Duration::from_millis(500);

/// The progress of one run.
pub struct Progress {
    board: Arc<Board>,
    /// The live bar, on a terminal.
    bar: Option<ProgressBar>,
    /// When each running test was last named in a `SLOW` line.
    named: Mutex<HashMap<String, Instant>>,
}

impl Progress {
    /// Progress over `board` for a run of `total` cases; a bar when `terminal`.
    pub fn new(board: Arc<Board>, total: usize, terminal: bool) -> Self {
        let bar = terminal.then(|| {
            let bar = ProgressBar::with_draw_target(
                Some(total as u64),
                ProgressDrawTarget::stderr_with_hz(4),
            );
            bar.set_style(
                ProgressStyle::with_template("[{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        });
        Self {
            board,
            bar,
            named: Mutex::new(HashMap::new()),
        }
    }

    /// A case finished: `print` shows its line (above the bar, on a terminal).
    pub fn case_done(&self, print: impl FnOnce()) {
        match &self.bar {
            Some(bar) => {
                bar.suspend(print);
                bar.inc(1);
            }
            None => print(),
        }
    }

    /// The lines due at `now`: a `SLOW` line for each test running longer than
    /// [`SLOW_AFTER`] not named in the last [`SLOW_EVERY`].
    pub fn slow_lines(&self, now: Instant) -> Vec<String> {
        let mut named = self.named.lock().unwrap_or_else(|e| e.into_inner());
        let running = self.board.running();
        named.retain(|id, _| running.iter().any(|r| &r.id == id));
        let mut lines = Vec::new();
        for test in running {
            if now.saturating_duration_since(test.started) < SLOW_AFTER {
                continue;
            }
            let due = named
                .get(&test.id)
                .is_none_or(|last| now.saturating_duration_since(*last) >= SLOW_EVERY);
            if due {
                named.insert(test.id.clone(), now);
                lines.push(format!("    SLOW {}", test.describe(now)));
            }
        }
        lines
    }

    /// Runs until dropped: updates the bar, or prints the due `SLOW` lines.
    pub async fn tick(&self) {
        loop {
            tokio::time::sleep(TICK).await;
            let now = Instant::now();
            match &self.bar {
                Some(bar) => {
                    let longest = self
                        .board
                        .running()
                        .into_iter()
                        .min_by_key(|r| r.started)
                        .map(|r| r.describe(now))
                        .unwrap_or_default();
                    bar.set_message(longest);
                }
                None => {
                    for line in self.slow_lines(now) {
                        println!("{line}");
                    }
                }
            }
        }
    }

    /// The run is over: the bar goes.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_slow_test_is_named_after_five_seconds_and_every_five_seconds_after() {
        let board = Arc::new(Board::default());
        let progress = Progress::new(board.clone(), 2, false);
        board.started(0, "QUICK");
        board.started(1, "TUYA-KA-02-TIMEOUT");
        tokio::time::advance(Duration::from_secs(1)).await;
        board.finished(0);
        let until = Instant::now() + Duration::from_secs(76);
        board.waiting(1, Some(("the server to close".into(), until)));
        assert!(progress.slow_lines(Instant::now()).is_empty());
        tokio::time::advance(Duration::from_secs(4)).await;
        assert_eq!(
            progress.slow_lines(Instant::now()),
            ["    SLOW TUYA-KA-02-TIMEOUT waiting for the server to close: 4 s of ≤ 76 s"]
        );
        tokio::time::advance(Duration::from_secs(3)).await;
        assert!(progress.slow_lines(Instant::now()).is_empty());
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(
            progress.slow_lines(Instant::now()),
            ["    SLOW TUYA-KA-02-TIMEOUT waiting for the server to close: 9 s of ≤ 76 s"]
        );
        board.finished(1);
        tokio::time::advance(Duration::from_secs(10)).await;
        assert!(progress.slow_lines(Instant::now()).is_empty());
    }
}

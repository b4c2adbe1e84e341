//! The run's own traffic as events for the judge and `--capture`, with the backlog
//! bounded.

use super::*;

/// The run's own traffic as conversation events: every connection it opens, every packet
/// either way, every close — for the judge's server rules and for `--capture`.
///
/// The events wait in memory until the judge has taken them; the bytes they hold are
/// counted, and a test that would send or read more while [`TAP_BACKLOG_BYTES`] wait
/// first waits for the judge ([`EventTap::room`]), so large packets keep memory bounded.
#[derive(Debug, Clone)]
pub struct EventTap {
    tx: tokio::sync::mpsc::UnboundedSender<(crate::event::Event, usize)>,
    start: Instant,
    backlog: Arc<TapBacklog>,
}

/// Bytes of events sent and not yet taken by the judge, and a wake-up for tests that
/// wait for them to drop.
#[derive(Debug, Default)]
struct TapBacklog {
    bytes: std::sync::atomic::AtomicUsize,
    peak: std::sync::atomic::AtomicUsize,
    drained: tokio::sync::Notify,
}

/// Event bytes that may wait for the judge before tests pause (a few large packets).
pub const TAP_BACKLOG_BYTES: usize = 32 * 1024 * 1024;

/// The judge's end of an [`EventTap`].
#[derive(Debug)]
pub struct TapReceiver {
    rx: tokio::sync::mpsc::UnboundedReceiver<(crate::event::Event, usize)>,
    backlog: Arc<TapBacklog>,
    /// The weight of the event handed out last: released when the next is asked for,
    /// once the judge is done with it.
    taken: usize,
}

impl TapReceiver {
    /// The next event; `None` once every tap is gone.
    pub async fn recv(&mut self) -> Option<crate::event::Event> {
        self.release();
        let (event, weight) = self.rx.recv().await?;
        self.taken = weight;
        Some(event)
    }

    /// The most event bytes that waited for the judge at once.
    pub fn peak_backlog(&self) -> usize {
        self.backlog.peak.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn release(&mut self) {
        if self.taken > 0 {
            let weight = std::mem::take(&mut self.taken);
            self.backlog
                .bytes
                .fetch_sub(weight, std::sync::atomic::Ordering::Relaxed);
            self.backlog.drained.notify_waiters();
        }
    }
}

impl Drop for TapReceiver {
    fn drop(&mut self) {
        self.release();
        // Nobody will drain what is left: let waiting tests go on.
        self.backlog
            .bytes
            .store(0, std::sync::atomic::Ordering::Relaxed);
        self.backlog.drained.notify_waiters();
    }
}

impl EventTap {
    /// A tap whose events count time from `start`, and the receiving end.
    pub fn new(start: Instant) -> (Self, TapReceiver) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let backlog = Arc::new(TapBacklog::default());
        (
            Self {
                tx,
                start,
                backlog: backlog.clone(),
            },
            TapReceiver {
                rx,
                backlog,
                taken: 0,
            },
        )
    }

    pub(super) fn emit(&self, conn: u64, at: Instant, from: Side, kind: EventKind) {
        use std::sync::atomic::Ordering::Relaxed;
        // What an event costs beyond its bytes (its struct, the decoded packet's fields).
        const EVENT_OVERHEAD: usize = 256;
        let weight = EVENT_OVERHEAD
            + match &kind {
                EventKind::Packet { bytes, .. } => bytes.len(),
                _ => 0,
            };
        let now = self.backlog.bytes.fetch_add(weight, Relaxed) + weight;
        self.backlog.peak.fetch_max(now, Relaxed);
        let event = crate::event::Event {
            conn,
            at: at.saturating_duration_since(self.start),
            from,
            kind,
        };
        if self.tx.send((event, weight)).is_err() {
            self.backlog.bytes.fetch_sub(weight, Relaxed);
        }
    }

    /// Resolves once fewer than [`TAP_BACKLOG_BYTES`] wait for the judge.
    pub async fn room(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        loop {
            let drained = self.backlog.drained.notified();
            let mut drained = std::pin::pin!(drained);
            // Registered before the check: a drain between the two is not missed.
            drained.as_mut().enable();
            if self.backlog.bytes.load(Relaxed) < TAP_BACKLOG_BYTES {
                return;
            }
            drained.await;
        }
    }
}

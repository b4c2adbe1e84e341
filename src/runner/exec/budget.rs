//! Large generated payloads take turns within a memory budget.

/// Generated payloads (`payload_size`) of 1 MiB and more take turns once
/// [`PayloadBudget::BYTES`] of memory is held for them: without it, 64 tests sending
/// 16 MiB each would hold gigabytes. A payload is held about [`PayloadBudget::COPIES`]
/// times while it is sent (the packet, its encoding, the judge's event, the masked copy
/// the trace is described from), and is counted so.
#[derive(Debug)]
pub struct PayloadBudget {
    kib: tokio::sync::Semaphore,
}

impl Default for PayloadBudget {
    fn default() -> Self {
        Self {
            kib: tokio::sync::Semaphore::new(Self::BYTES / 1024),
        }
    }
}

impl PayloadBudget {
    /// Bytes of large generated payloads held at once.
    pub const BYTES: usize = 64 * 1024 * 1024;
    /// Payloads below this size never wait.
    pub const LARGE: usize = 1024 * 1024;
    /// Copies of a payload held while it is sent.
    pub const COPIES: usize = 4;

    /// Waits until `bytes` of payload may be held; the budget is back when the permit
    /// drops. A payload larger than the whole budget waits for all of it.
    pub async fn reserve(&self, bytes: usize) -> Option<tokio::sync::SemaphorePermit<'_>> {
        if bytes < Self::LARGE {
            return None;
        }
        let kib = (bytes.saturating_mul(Self::COPIES))
            .div_ceil(1024)
            .min(Self::BYTES / 1024);
        // The semaphore is never closed.
        self.kib.acquire_many(kib as u32).await.ok()
    }
}

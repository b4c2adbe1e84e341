//! A cache hint for the capture pipeline's per-connection state.
//!
//! A capture's packets hop between thousands of connections, so the state of the next
//! packet's connection is rarely in cache: the judge, which sees a batch of events, and
//! the analyser, which sees a batch of segments, ask for the state of one a few ahead,
//! and the miss overlaps with the work on the ones before it. Each asks in steps (an
//! index position first, then the state it points to), since reading a pointer that is
//! not in cache yet would wait for the very miss the prefetch is meant to hide.

/// Asks the CPU to bring the cache line holding `value` (and the next `lines - 1`) into
/// cache. A hint only: nothing is read, and on other architectures it does nothing.
#[inline]
pub(crate) fn prefetch<T>(value: &T, lines: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        let start = (value as *const T).cast::<i8>();
        for line in 0..lines {
            let p = start.wrapping_add(line * 64);
            // SAFETY: a prefetch never faults and reads nothing into the program; `p` is
            // at most a few lines past a live reference, and even an invalid address is
            // only a wasted hint. (Safe to call on newer compilers, hence the allow.)
            #[allow(unused_unsafe)]
            unsafe {
                core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p);
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (value, lines);
}

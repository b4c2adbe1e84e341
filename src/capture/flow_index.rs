//! The reassembler's index from a flow's hash to its slot in the flow table.
//!
//! An open-addressing table of (hash, slot) pairs, 16 bytes each, probed linearly. The
//! caller brings the hash (computed on the reading thread, see
//! [`flow_hash`](super::reassembly::flow_hash)) and confirms a candidate slot against
//! the flow's own key, so a 64-bit collision only costs another probe. Because the home
//! position of a hash is known before the lookup, the analysing thread can prefetch it
//! a few segments ahead — a general-purpose map keeps that position to itself.

/// One position of the table; `slot == 0` is empty, otherwise it is the flow slot + 1.
#[derive(Debug, Clone, Copy, Default)]
struct Entry {
    hash: u64,
    slot: u64,
}

/// Flow hash → flow slot, several slots per hash allowed (collisions).
#[derive(Debug, Default)]
pub(crate) struct FlowIndex {
    /// A power of two long (or empty).
    entries: Vec<Entry>,
    len: usize,
}

impl FlowIndex {
    /// Slots indexed.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    fn mask(&self) -> usize {
        self.entries.len().wrapping_sub(1)
    }

    fn home(&self, hash: u64) -> usize {
        hash as usize & self.mask()
    }

    /// The slot indexed under `hash` for which `is_it` holds.
    #[inline]
    pub(crate) fn find(&self, hash: u64, mut is_it: impl FnMut(usize) -> bool) -> Option<usize> {
        if self.entries.is_empty() {
            return None;
        }
        let mask = self.mask();
        let mut i = self.home(hash);
        loop {
            let e = self.entries.get(i)?;
            if e.slot == 0 {
                return None;
            }
            let slot = (e.slot - 1) as usize;
            if e.hash == hash && is_it(slot) {
                return Some(slot);
            }
            i = (i + 1) & mask;
        }
    }

    /// The slot in `hash`'s home position if that entry has this hash: the likely
    /// answer of [`find`](Self::find), read without confirming it (for a prefetch).
    #[inline]
    pub(crate) fn likely(&self, hash: u64) -> Option<usize> {
        let e = self.entries.get(self.home(hash))?;
        (e.slot != 0 && e.hash == hash).then(|| (e.slot - 1) as usize)
    }

    /// Asks for `hash`'s home position to be brought into cache.
    #[inline]
    pub(crate) fn prefetch(&self, hash: u64) {
        if let Some(e) = self.entries.get(self.home(hash)) {
            crate::prefetch::prefetch(e, 1);
        }
    }

    /// Indexes `slot` under `hash`.
    pub(crate) fn insert(&mut self, hash: u64, slot: usize) {
        // At most half full: probes stay short.
        if (self.len + 1) * 2 > self.entries.len() {
            self.grow();
        }
        let mask = self.mask();
        let mut i = self.home(hash);
        while self.entries[i].slot != 0 {
            i = (i + 1) & mask;
        }
        self.entries[i] = Entry {
            hash,
            slot: slot as u64 + 1,
        };
        self.len += 1;
    }

    /// Removes `slot` (indexed under `hash`); nothing if it is not there.
    pub(crate) fn remove(&mut self, hash: u64, slot: usize) {
        if self.entries.is_empty() {
            return;
        }
        let mask = self.mask();
        let mut i = self.home(hash);
        loop {
            let e = self.entries[i];
            if e.slot == 0 {
                return;
            }
            if e.hash == hash && e.slot == slot as u64 + 1 {
                break;
            }
            i = (i + 1) & mask;
        }
        // Backward-shift deletion: later entries of the probe run move into the hole
        // unless their home lies cyclically after it, so no tombstones are needed.
        let mut hole = i;
        let mut j = i;
        loop {
            j = (j + 1) & mask;
            let e = self.entries[j];
            if e.slot == 0 {
                break;
            }
            let home = self.home(e.hash);
            let stays = if hole <= j {
                hole < home && home <= j
            } else {
                hole < home || home <= j
            };
            if !stays {
                self.entries[hole] = e;
                hole = j;
            }
        }
        self.entries[hole] = Entry::default();
        self.len -= 1;
    }

    /// Forgets every slot.
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.len = 0;
    }

    fn grow(&mut self) {
        let capacity = (self.entries.len() * 2).max(64);
        let old = std::mem::replace(&mut self.entries, vec![Entry::default(); capacity]);
        let mask = self.mask();
        for e in old.into_iter().filter(|e| e.slot != 0) {
            let mut i = self.home(e.hash);
            while self.entries[i].slot != 0 {
                i = (i + 1) & mask;
            }
            self.entries[i] = e;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::FlowIndex;
    use proptest::prelude::*;
    use std::collections::HashMap;

    #[test]
    fn colliding_hashes_are_told_apart_by_the_caller() {
        let mut index = FlowIndex::default();
        index.insert(7, 1);
        index.insert(7, 2);
        index.insert(7 + 64, 3);
        assert_eq!(index.find(7, |s| s == 2), Some(2));
        assert_eq!(index.find(7, |s| s == 1), Some(1));
        assert_eq!(
            index.find(7, |s| s == 3),
            None,
            "slot 3 is under another hash"
        );
        assert_eq!(index.find(7 + 64, |_| true), Some(3));
        assert_eq!(index.likely(7), Some(1));
        index.remove(7, 1);
        assert_eq!(index.find(7, |s| s == 1), None);
        assert_eq!(index.find(7, |s| s == 2), Some(2));
        assert_eq!(index.find(7 + 64, |_| true), Some(3));
        assert_eq!(index.len(), 2);
        index.clear();
        assert_eq!(index.find(7, |_| true), None);
        assert_eq!(index.len(), 0);
    }

    proptest! {
        /// Any sequence of inserts and removes leaves the index agreeing with a map, with
        /// hashes drawn from a small range so that probe runs collide and wrap around.
        #[test]
        fn agrees_with_a_map(ops in proptest::collection::vec((any::<bool>(), 0u64..200, 0usize..40), 1..400)) {
            let mut index = FlowIndex::default();
            let mut model: HashMap<usize, u64> = HashMap::new();
            for (insert, hash, slot) in ops {
                if insert && !model.contains_key(&slot) {
                    index.insert(hash, slot);
                    model.insert(slot, hash);
                } else if let Some(h) = model.remove(&slot) {
                    index.remove(h, slot);
                }
                prop_assert_eq!(index.len(), model.len());
                for (&slot, &hash) in &model {
                    prop_assert_eq!(index.find(hash, |s| s == slot), Some(slot));
                }
                prop_assert_eq!(index.find(hash, |s| model.get(&s) != Some(&hash)), None);
            }
        }
    }
}

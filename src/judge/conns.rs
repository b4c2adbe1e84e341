//! The judge's per-connection states by connection id.
//!
//! Every event looks its connection up several times, and with thousands of connections
//! interleaved the lookup itself missed the cache. The sources number connections from 1
//! upwards (the capture analyser, the runners), so ids below [`DENSE_IDS`] index a vector
//! of pointers — eight bytes per id, no hashing, and a position the judge can prefetch
//! before it reads the pointer. Any other id goes to a map.

use std::collections::HashMap;

/// Ids below this are kept in the vector (at most 8 MiB of it, however many connections
/// a capture holds; beyond it states are in the map, slower but just as right).
const DENSE_IDS: u64 = 1 << 20;

/// States by connection id.
#[derive(Debug)]
pub(crate) struct ConnTable<T> {
    dense: Vec<Option<Box<T>>>,
    /// Ids from [`DENSE_IDS`] up, in a map keyed at random per table (foldhash).
    sparse: HashMap<u64, Box<T>, foldhash::fast::RandomState>,
}

impl<T> Default for ConnTable<T> {
    fn default() -> Self {
        Self {
            dense: Vec::new(),
            sparse: HashMap::default(),
        }
    }
}

impl<T> ConnTable<T> {
    fn dense_index(id: u64) -> Option<usize> {
        (id < DENSE_IDS).then_some(id as usize)
    }

    /// The state of connection `id`.
    #[inline]
    pub(crate) fn get(&self, id: &u64) -> Option<&T> {
        match Self::dense_index(*id) {
            Some(i) => self.dense.get(i)?.as_deref(),
            None => self.sparse.get(id).map(|b| &**b),
        }
    }

    /// The state of connection `id`, to change.
    #[inline]
    pub(crate) fn get_mut(&mut self, id: &u64) -> Option<&mut T> {
        match Self::dense_index(*id) {
            Some(i) => self.dense.get_mut(i)?.as_deref_mut(),
            None => self.sparse.get_mut(id).map(|b| &mut **b),
        }
    }

    /// The state of connection `id`, made with `make` if there is none yet.
    pub(crate) fn get_or_insert_with(&mut self, id: u64, make: impl FnOnce() -> T) -> &mut T {
        match Self::dense_index(id) {
            Some(i) => {
                if self.dense.len() <= i {
                    self.dense.resize_with(i + 1, || None);
                }
                self.dense[i].get_or_insert_with(|| Box::new(make()))
            }
            None => self.sparse.entry(id).or_insert_with(|| Box::new(make())),
        }
    }

    /// Takes connection `id`'s state out.
    pub(crate) fn remove(&mut self, id: &u64) -> Option<Box<T>> {
        match Self::dense_index(*id) {
            Some(i) => self.dense.get_mut(i)?.take(),
            None => self.sparse.remove(id),
        }
    }

    /// The ids that have a state, in no particular order.
    pub(crate) fn ids(&self) -> impl Iterator<Item = u64> + '_ {
        let dense = self
            .dense
            .iter()
            .enumerate()
            .filter(|(_, s)| s.is_some())
            .map(|(i, _)| i as u64);
        dense.chain(self.sparse.keys().copied())
    }

    /// Asks for connection `id`'s entry in the vector (the pointer to its state) to be
    /// brought into cache: the first step of prefetching a coming event's state.
    #[inline]
    pub(crate) fn prefetch_entry(&self, id: u64) {
        if let Some(entry) = Self::dense_index(id).and_then(|i| self.dense.get(i)) {
            crate::prefetch::prefetch(entry, 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{ConnTable, DENSE_IDS};

    #[test]
    fn dense_and_sparse_ids_behave_alike() {
        let mut table: ConnTable<String> = ConnTable::default();
        for id in [1, 7, DENSE_IDS - 1, DENSE_IDS, u64::MAX] {
            assert!(table.get(&id).is_none());
            table.get_or_insert_with(id, || format!("c{id}"));
            table.get_or_insert_with(id, || unreachable!("made once"));
            table.get_mut(&id).expect("present").push('!');
            assert_eq!(
                table.get(&id).map(String::as_str),
                Some(&*format!("c{id}!"))
            );
        }
        let mut ids: Vec<u64> = table.ids().collect();
        ids.sort_unstable();
        assert_eq!(ids, vec![1, 7, DENSE_IDS - 1, DENSE_IDS, u64::MAX]);
        assert_eq!(table.remove(&7).as_deref().map(String::as_str), Some("c7!"));
        assert_eq!(
            table.remove(&u64::MAX).as_deref().map(String::as_str),
            Some("c18446744073709551615!")
        );
        assert!(table.remove(&7).is_none());
        assert!(table.get(&7).is_none());
        assert_eq!(table.ids().count(), 3);
    }
}

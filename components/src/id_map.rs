//! `IdMap`: the maps keyed by request id (a replica's requests in flight and its etcd
//! transactions, an etcd member's waiters), which take one insert and one removal per
//! request and a lookup or two in between.
//!
//! Ids are handed out in increasing order by each issuer (a client numbers its requests,
//! a server its transactions), and most requests are answered soon: so a key's position
//! is found by subtraction in a short window of slots per issuer instead of by hashing.
//! The entries keep exactly the order an `IndexMap` with `swap_remove` gives them (insert
//! at the end; a removal moves the last entry into the hole), because the paths that walk
//! these maps (shutdown, timeouts, a broken etcd watch) answer requests in that order.

use sim_core::ActorId;

use crate::api::RequestId;

/// A key made of an issuer and an id that issuer hands out in increasing order.
pub trait IdKey: Copy + Eq {
    /// Which slot window the key lives in.
    fn issuer(self) -> usize;
    fn id(self) -> u64;
}

/// A server's own ids (etcd transaction ids, waiter ids): one issuer.
impl IdKey for u64 {
    fn issuer(self) -> usize {
        0
    }
    fn id(self) -> u64 {
        self
    }
}

/// A client's request: ids increase per client.
impl IdKey for (ActorId, RequestId) {
    fn issuer(self) -> usize {
        self.0.0 as usize
    }
    fn id(self) -> u64 {
        self.1
    }
}

/// One issuer's window of ids: `positions[front + i]` is the entry position of id
/// `base + i`, plus one (0: no entry). Empty slots before the oldest id held are
/// skipped by moving `front` (and dropped in bulk now and then); an empty window starts
/// over at the next id it is given, so a quiet issuer costs nothing.
#[derive(Clone, Debug, Default)]
struct Window {
    base: u64,
    front: usize,
    positions: Vec<u32>,
}

impl Window {
    #[inline]
    fn slot(&self, id: u64) -> Option<usize> {
        let offset = usize::try_from(id.checked_sub(self.base)?).ok()?;
        Some(self.front + offset)
    }

    #[inline]
    fn get(&self, id: u64) -> Option<usize> {
        let slot = self.slot(id)?;
        match self.positions.get(slot) {
            Some(&position) if position != 0 => Some(position as usize - 1),
            _ => None,
        }
    }

    #[inline]
    fn set(&mut self, id: u64, position: usize) {
        let stored = u32::try_from(position + 1).expect("fewer than 2^32 requests held");
        if self.front == self.positions.len() {
            // Empty: start over at this id.
            self.positions.clear();
            self.positions.push(stored);
            self.front = 0;
            self.base = id;
            return;
        }
        if id < self.base {
            self.reopen_before(id);
        }
        let slot = self.slot(id).expect("base at or below id");
        if let Some(held) = self.positions.get_mut(slot) {
            *held = stored;
            return;
        }
        // Usually the next id: no gap to fill.
        while self.positions.len() < slot {
            self.positions.push(0);
        }
        self.positions.push(stored);
    }

    /// Makes room for an id older than the window's first (rare: ids mostly come in
    /// increasing order).
    #[cold]
    fn reopen_before(&mut self, id: u64) {
        let gap = usize::try_from(self.base - id).expect("a gap that fits in memory");
        let live = self.positions.split_off(self.front);
        self.positions = vec![0; gap];
        self.positions.extend(live);
        self.front = 0;
        self.base = id;
    }

    /// Moves an existing id's entry to `position`.
    #[inline]
    fn relocate(&mut self, id: u64, position: usize) {
        let slot = self.slot(id).expect("an id held");
        self.positions[slot] = u32::try_from(position + 1).expect("checked at insert");
    }

    #[inline]
    fn clear_slot(&mut self, id: u64) {
        let slot = self.slot(id).expect("an id held");
        self.positions[slot] = 0;
        while self.positions.get(self.front) == Some(&0) {
            self.front += 1;
            self.base += 1;
        }
        while self.positions.len() > self.front && self.positions.last() == Some(&0) {
            self.positions.pop();
        }
        if self.front >= 64 && self.front * 2 >= self.positions.len() {
            self.positions.drain(..self.front);
            self.front = 0;
        }
    }
}

/// An insertion-ordered map keyed by request id, with `IndexMap`'s `swap_remove` order.
#[derive(Clone, Debug)]
pub struct IdMap<K, V> {
    entries: Vec<(K, V)>,
    windows: Vec<Window>,
}

impl<K, V> Default for IdMap<K, V> {
    fn default() -> Self {
        IdMap {
            entries: Vec::new(),
            windows: Vec::new(),
        }
    }
}

impl<K: IdKey, V> IdMap<K, V> {
    #[inline]
    fn position(&self, key: K) -> Option<usize> {
        self.windows.get(key.issuer())?.get(key.id())
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    #[inline]
    pub fn contains_key(&self, key: &K) -> bool {
        self.position(*key).is_some()
    }

    #[inline]
    pub fn get(&self, key: &K) -> Option<&V> {
        self.position(*key).map(|p| &self.entries[p].1)
    }

    #[inline]
    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.position(*key).map(|p| &mut self.entries[p].1)
    }

    /// Inserts at the end; a key already held keeps its place and gets the new value
    /// (the old one is returned), as `IndexMap::insert`.
    #[inline]
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        if let Some(position) = self.position(key) {
            return Some(std::mem::replace(&mut self.entries[position].1, value));
        }
        let issuer = key.issuer();
        if issuer >= self.windows.len() {
            self.windows.resize_with(issuer + 1, Window::default);
        }
        self.windows[issuer].set(key.id(), self.entries.len());
        self.entries.push((key, value));
        None
    }

    /// Removes `key`; the last entry takes its place, as `IndexMap::swap_remove`.
    #[inline]
    pub fn swap_remove(&mut self, key: &K) -> Option<V> {
        let position = self.position(*key)?;
        self.windows[key.issuer()].clear_slot(key.id());
        let (_, value) = self.entries.swap_remove(position);
        if let Some((moved, _)) = self.entries.get(position) {
            let moved = *moved;
            self.windows[moved.issuer()].relocate(moved.id(), position);
        }
        Some(value)
    }

    /// Every entry, in order, leaving the map empty.
    pub fn drain(&mut self) -> std::vec::Drain<'_, (K, V)> {
        self.windows.clear();
        self.entries.drain(..)
    }

    pub fn clear(&mut self) {
        self.windows.clear();
        self.entries.clear();
    }

    /// Every key, in order.
    pub fn into_keys(self) -> impl Iterator<Item = K> {
        self.entries.into_iter().map(|(key, _)| key)
    }

    /// Every key, in order.
    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.entries.iter().map(|(key, _)| key)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.entries.iter().map(|(key, value)| (key, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim_core::FxIndexMap;

    /// A small deterministic generator (the test needs no statistical quality).
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self, below: u64) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 33) % below
        }
    }

    #[test]
    fn keeps_index_map_order_through_inserts_and_swap_removes() {
        let mut rng = Lcg(7);
        let mut map: IdMap<(ActorId, RequestId), u64> = IdMap::default();
        let mut model: FxIndexMap<(ActorId, RequestId), u64> = FxIndexMap::default();
        let mut next_id = [1u64; 5];
        for step in 0..20_000u64 {
            let client = rng.next(5) as usize;
            match rng.next(10) {
                0..=4 => {
                    // Mostly increasing ids; now and then an older one, or one repeated.
                    let id = match rng.next(20) {
                        0 => next_id[client].saturating_sub(rng.next(30)).max(1),
                        _ => {
                            next_id[client] += 1 + rng.next(3);
                            next_id[client]
                        }
                    };
                    let key = (ActorId(client as u32 * 3), id);
                    assert_eq!(map.insert(key, step), model.insert(key, step));
                }
                5..=8 => {
                    let back = rng.next(8);
                    let key = (
                        ActorId(client as u32 * 3),
                        next_id[client].saturating_sub(back),
                    );
                    assert_eq!(map.swap_remove(&key), model.swap_remove(&key));
                }
                _ => {
                    let key = (ActorId(client as u32 * 3), next_id[client]);
                    assert_eq!(map.get(&key), model.get(&key));
                    assert_eq!(map.contains_key(&key), model.contains_key(&key));
                }
            }
            assert_eq!(map.len(), model.len());
            if step % 97 == 0 {
                let ours: Vec<_> = map.iter().map(|(k, v)| (*k, *v)).collect();
                let theirs: Vec<_> = model.iter().map(|(k, v)| (*k, *v)).collect();
                assert_eq!(ours, theirs);
            }
            if step % 4_999 == 0 {
                let ours: Vec<_> = map.drain().collect();
                let theirs: Vec<_> = model.drain(..).collect();
                assert_eq!(ours, theirs);
            }
        }
        let keys: Vec<_> = model.keys().copied().collect();
        assert_eq!(map.into_keys().collect::<Vec<_>>(), keys);
    }
}

//! The event queue: ordered by `(time, insertion sequence)`.
//!
//! The heap holds one `u128` per event — `time << 64 | seq << 24 | slot` — so a single
//! integer comparison orders events by time, then by insertion, and sifting moves 16
//! bytes. Payloads wait in a slab at `slot`. Popping is the engine's hottest path.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::time::SimTime;

const SLOT_BITS: u32 = 24;
/// At most this many events may be pending at once (16.7 million).
pub const PENDING_MAX: usize = 1 << SLOT_BITS;
/// At most this many events may ever be queued in one run (about 10^12).
pub const SEQ_MAX: u64 = 1 << (64 - SLOT_BITS);

#[derive(Debug)]
pub struct EventQueue<P> {
    heap: BinaryHeap<Reverse<u128>>,
    slots: Vec<Option<P>>,
    free: Vec<u32>,
    next_seq: u64,
}

impl<P> Default for EventQueue<P> {
    fn default() -> Self {
        EventQueue {
            heap: BinaryHeap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            next_seq: 0,
        }
    }
}

impl<P> EventQueue<P> {
    /// Adds an event; returns its sequence number.
    #[inline]
    pub fn push(&mut self, time: SimTime, payload: P) -> u64 {
        let seq = self.next_seq;
        assert!(
            seq < SEQ_MAX,
            "more than {SEQ_MAX} events queued in one run"
        );
        self.next_seq += 1;
        let slot = match self.free.pop() {
            Some(slot) => {
                debug_assert!(self.slots[slot as usize].is_none());
                self.slots[slot as usize] = Some(payload);
                slot
            }
            None => {
                assert!(
                    self.slots.len() < PENDING_MAX,
                    "more than {PENDING_MAX} pending events"
                );
                self.slots.push(Some(payload));
                (self.slots.len() - 1) as u32
            }
        };
        let order =
            (u128::from(time.as_nanos()) << 64) | u128::from(seq << SLOT_BITS) | u128::from(slot);
        self.heap.push(Reverse(order));
        seq
    }

    /// Time of the earliest event.
    pub fn peek_time(&self) -> Option<SimTime> {
        self.heap
            .peek()
            .map(|Reverse(order)| SimTime::from_nanos((order >> 64) as u64))
    }

    /// Removes the earliest event: `(time, seq, payload)`.
    #[inline]
    pub fn pop(&mut self) -> Option<(SimTime, u64, P)> {
        let Reverse(order) = self.heap.pop()?;
        let time = SimTime::from_nanos((order >> 64) as u64);
        let low = order as u64;
        let seq = low >> SLOT_BITS;
        let slot = (low & ((1 << SLOT_BITS) - 1)) as u32;
        let payload = self.slots[slot as usize]
            .take()
            .expect("a queued key points at a filled slot");
        self.free.push(slot);
        Some((time, seq, payload))
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_time_first_then_insertion_order() {
        let mut queue = EventQueue::default();
        let t = SimTime::from_nanos;
        queue.push(t(5), "late");
        queue.push(t(1), "first at 1");
        queue.push(t(1), "second at 1");
        queue.push(t(3), "middle");
        queue.push(t(1), "third at 1");
        let order: Vec<_> = std::iter::from_fn(|| queue.pop().map(|(_, _, p)| p)).collect();
        assert_eq!(
            order,
            ["first at 1", "second at 1", "third at 1", "middle", "late"]
        );
    }

    #[test]
    fn matches_a_sorted_order_on_random_input() {
        let mut rng = crate::rng::SimRng::for_stream(9, "queue-test");
        let mut queue = EventQueue::default();
        let mut expected = Vec::new();
        for round in 0..2000u64 {
            let time = SimTime::from_nanos(rng.below(500));
            let seq = queue.push(time, round);
            expected.push((time, seq, round));
            if rng.chance(1, 3) {
                expected.sort();
                let first = expected.remove(0);
                assert_eq!(queue.pop(), Some(first));
            }
        }
        expected.sort();
        for item in expected {
            assert_eq!(queue.pop(), Some(item));
        }
        assert!(queue.pop().is_none());
    }

    #[test]
    fn an_event_scheduled_after_a_peek_at_a_later_one_comes_first() {
        let mut queue = EventQueue::default();
        let t = SimTime::from_nanos;
        queue.push(t(100), "later");
        assert_eq!(queue.peek_time(), Some(t(100)));
        queue.push(t(50), "earlier, scheduled from outside");
        queue.push(t(100), "later, second");
        let order: Vec<_> = std::iter::from_fn(|| queue.pop().map(|(_, _, p)| p)).collect();
        assert_eq!(
            order,
            ["earlier, scheduled from outside", "later", "later, second"]
        );
    }

    #[test]
    fn slots_are_reused() {
        let mut queue = EventQueue::default();
        for round in 0..10u64 {
            queue.push(SimTime::from_nanos(round), round);
            queue.push(SimTime::from_nanos(round), round);
            assert!(queue.pop().is_some());
            assert!(queue.pop().is_some());
        }
        assert!(queue.is_empty());
        assert_eq!(queue.slots.len(), 2);
    }
}

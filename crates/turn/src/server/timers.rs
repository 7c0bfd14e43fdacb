//! The server's deadlines in one min-heap, so a datagram costs O(log n) timer work and not a
//! scan of every permission of every allocation.
//!
//! Entries are never removed in place: a refresh pushes a new one, and an entry whose deadline
//! no longer matches the state it names is skipped when it comes due (the caller checks). The
//! heap is rebuilt from the live deadlines once stale entries outnumber them, so its size stays
//! within a small multiple of the timers that exist.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::IpAddr;
use std::time::Instant;

use super::AllocationId;

/// What a deadline ends.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub(super) enum Timer {
    /// The allocation's lifetime (RFC 8656 §7, §8).
    Allocation(AllocationId),
    /// A permission for a peer IP (RFC 8656 §9).
    Permission(AllocationId, IpAddr),
    /// A channel binding (RFC 8656 §12).
    Channel(AllocationId, u16),
    /// Port reservations (RFC 8656 §7.2, EVEN-PORT's R bit).
    Reservations,
}

/// A min-heap of deadlines.
#[derive(Debug, Default)]
pub(super) struct TimerHeap {
    heap: BinaryHeap<Reverse<(Instant, Timer)>>,
    /// The size past which [`TimerHeap::compact`] counts the live timers again; four times
    /// their number last time, so the count is amortised over the pushes in between.
    limit: usize,
}

/// The heap is never compacted below this many entries.
const MIN_LIMIT: usize = 64;

impl TimerHeap {
    /// Schedules `timer` at `at`; an earlier entry for it goes stale.
    pub(super) fn schedule(&mut self, at: Instant, timer: Timer) {
        self.heap.push(Reverse((at, timer)));
    }

    /// The earliest deadline (possibly stale: waking for it is harmless).
    pub(super) fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// The next entry due at `now`.
    pub(super) fn pop_due(&mut self, now: Instant) -> Option<(Instant, Timer)> {
        if self.next()? > now {
            return None;
        }
        self.heap.pop().map(|Reverse(entry)| entry)
    }

    /// Rebuilds the heap from `live` when it holds more than four entries per live timer.
    pub(super) fn compact(&mut self, live: impl FnOnce() -> Vec<(Instant, Timer)>) {
        if self.heap.len() <= self.limit.max(MIN_LIMIT) {
            return;
        }
        let live = live();
        if self.heap.len() > 4 * live.len() {
            self.heap = live.iter().copied().map(Reverse).collect();
        }
        self.limit = 4 * live.len();
    }

    /// The number of entries, stale ones included.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn entries_come_due_in_deadline_order() {
        let t0 = Instant::now();
        let mut timers = TimerHeap::default();
        timers.schedule(
            t0 + Duration::from_secs(3),
            Timer::Allocation(AllocationId(1)),
        );
        timers.schedule(
            t0 + Duration::from_secs(1),
            Timer::Channel(AllocationId(2), 0x4000),
        );
        timers.schedule(t0 + Duration::from_secs(2), Timer::Reservations);
        assert_eq!(timers.next(), Some(t0 + Duration::from_secs(1)));
        assert_eq!(timers.pop_due(t0), None);
        let due: Vec<Timer> =
            std::iter::from_fn(|| timers.pop_due(t0 + Duration::from_secs(2)).map(|(_, t)| t))
                .collect();
        assert_eq!(
            due,
            vec![Timer::Channel(AllocationId(2), 0x4000), Timer::Reservations]
        );
    }

    #[test]
    fn stale_entries_are_dropped_once_they_outnumber_live_ones() {
        let t0 = Instant::now();
        let mut timers = TimerHeap::default();
        let timer = Timer::Permission(AllocationId(1), "192.0.2.1".parse().unwrap());
        for i in 0..1000 {
            timers.schedule(t0 + Duration::from_millis(i), timer);
            timers.compact(|| vec![(t0 + Duration::from_millis(i), timer)]);
        }
        assert!(timers.len() <= 65, "{}", timers.len());
        let last = t0 + Duration::from_millis(999);
        assert_eq!(
            std::iter::from_fn(|| timers.pop_due(last)).last(),
            Some((last, timer))
        );
    }
}

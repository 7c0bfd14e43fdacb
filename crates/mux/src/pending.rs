//! The pending requests table: transaction id → session, oldest evicted first.
//!
//! Entries live in a slab threaded by two doubly linked lists: one through every entry in the
//! order the requests were sent (so the oldest is evicted in O(1) when the table is full) and
//! one per session (so forgetting a session removes its entries without scanning the table).
//! A response consumes its entry from the middle of both lists, hence the double links.

use std::collections::HashMap;

use floe_stun::TransactionId;

use crate::hash::Keyed;

/// No entry: the end of a list.
pub(crate) const NIL: u32 = u32::MAX;

#[derive(Clone, Copy)]
struct Slot<K> {
    tid: TransactionId,
    key: K,
    /// The request sent just before / after this one, by any session.
    older: u32,
    newer: u32,
    /// Neighbours in the session's own list.
    prev: u32,
    next: u32,
}

/// Request transaction ids the sessions sent, so their responses route back.
pub(crate) struct Pending<K> {
    slots: Vec<Slot<K>>,
    /// Freed slots, reused before the slab grows: the slab never outgrows the table's bound.
    free: Vec<u32>,
    by_tid: HashMap<TransactionId, u32, Keyed>,
    oldest: u32,
    newest: u32,
}

impl<K: Copy> Pending<K> {
    pub(crate) fn new(hasher: Keyed) -> Self {
        Self {
            slots: Vec::new(),
            free: Vec::new(),
            by_tid: HashMap::with_hasher(hasher),
            oldest: NIL,
            newest: NIL,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.by_tid.len()
    }

    pub(crate) fn find(&self, tid: &TransactionId) -> Option<u32> {
        self.by_tid.get(tid).copied()
    }

    /// The entry sent longest ago, the next to evict.
    pub(crate) fn oldest(&self) -> Option<u32> {
        (self.oldest != NIL).then_some(self.oldest)
    }

    /// The entry after `idx` in its session's list.
    pub(crate) fn next_in_session(&self, idx: u32) -> u32 {
        self.slots[idx as usize].next
    }

    /// Adds `tid` for `key` as the newest entry and the first of the session's list, whose head
    /// is `first`. The caller keeps `tid` unique (see [`Pending::find`]) and the table bounded.
    pub(crate) fn push(&mut self, tid: TransactionId, key: K, first: &mut u32) {
        let slot = Slot {
            tid,
            key,
            older: self.newest,
            newer: NIL,
            prev: NIL,
            next: *first,
        };
        let idx = match self.free.pop() {
            Some(idx) => {
                self.slots[idx as usize] = slot;
                idx
            }
            None => {
                self.slots.push(slot);
                u32::try_from(self.slots.len() - 1).expect("the table is bounded below u32::MAX")
            }
        };
        if self.newest != NIL {
            self.slots[self.newest as usize].newer = idx;
        } else {
            self.oldest = idx;
        }
        self.newest = idx;
        if *first != NIL {
            self.slots[*first as usize].prev = idx;
        }
        *first = idx;
        self.by_tid.insert(tid, idx);
    }

    /// Takes `idx` out of both lists and frees it. Returns its session and, when it was the
    /// first of the session's list, what comes first now (the caller stores it in the session).
    pub(crate) fn unlink(&mut self, idx: u32) -> (K, Option<u32>) {
        let Slot {
            tid,
            key,
            older,
            newer,
            prev,
            next,
        } = self.slots[idx as usize];
        match older {
            NIL => self.oldest = newer,
            o => self.slots[o as usize].newer = newer,
        }
        match newer {
            NIL => self.newest = older,
            n => self.slots[n as usize].older = older,
        }
        let new_first = match prev {
            NIL => Some(next),
            p => {
                self.slots[p as usize].next = next;
                None
            }
        };
        if next != NIL {
            self.slots[next as usize].prev = prev;
        }
        self.by_tid.remove(&tid);
        self.free.push(idx);
        (key, new_first)
    }
}

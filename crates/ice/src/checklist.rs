//! The check list: pairs ordered by priority, the frozen algorithm (RFC 8445 §6.1.2.6), the
//! triggered-check queue (§7.3.1.4) and the pair limit (§6.1.2.5).

use std::collections::VecDeque;

use floe_stun::redact::Addr;
use tracing::debug;

use crate::agent::IceAgent;
use crate::candidate::CandidateKind;
use crate::pair::{CandidatePair, PairId, PairState};
use crate::remote::{is_link_local, scoped_like};

/// The pairs of the one data stream floe negotiates, and which to check next.
#[derive(Clone, Debug, Default)]
pub struct CheckList {
    /// Sorted by priority, highest first.
    pairs: Vec<CandidatePair>,
    triggered: VecDeque<PairId>,
    next_id: u32,
}

impl CheckList {
    /// All pairs, highest priority first.
    pub fn pairs(&self) -> &[CandidatePair] {
        &self.pairs
    }

    pub(crate) fn pairs_mut(&mut self) -> &mut [CandidatePair] {
        &mut self.pairs
    }

    pub(crate) fn len(&self) -> usize {
        self.pairs.len()
    }

    pub(crate) fn clear(&mut self) {
        self.pairs.clear();
        self.triggered.clear();
    }

    pub(crate) fn next_id(&mut self) -> PairId {
        self.next_id += 1;
        PairId(self.next_id)
    }

    /// Pair by id.
    pub fn get(&self, id: PairId) -> Option<&CandidatePair> {
        self.pairs.iter().find(|p| p.id == id)
    }

    pub(crate) fn get_mut(&mut self, id: PairId) -> Option<&mut CandidatePair> {
        self.pairs.iter_mut().find(|p| p.id == id)
    }

    /// The pair sending from `base` to `remote`, if any.
    pub(crate) fn find(
        &self,
        base: core::net::SocketAddr,
        remote: core::net::SocketAddr,
    ) -> Option<&CandidatePair> {
        self.pairs
            .iter()
            .find(|p| p.base == base && p.remote_addr == remote)
    }

    /// Inserts a pair in priority order unless one with the same base and remote address is
    /// there already (RFC 8445 §6.1.2.4 prunes such redundant pairs). When the list is over
    /// `limit`, the lowest-priority pair that is not succeeded or in progress is dropped
    /// (§6.1.2.5). Returns the id of the pair that now stands for (base, remote).
    pub(crate) fn insert(&mut self, pair: CandidatePair, limit: usize) -> Option<PairId> {
        if let Some(existing) = self.find(pair.base, pair.remote_addr) {
            return Some(existing.id);
        }
        let id = pair.id;
        let at = self.pairs.partition_point(|p| p.priority >= pair.priority);
        if self.pairs.len() == self.pairs.capacity() {
            // Pairs are large and an agent often has one: grow by half, from one.
            self.pairs.reserve_exact((self.pairs.len() / 2).max(1));
        }
        self.pairs.insert(at, pair);
        while self.pairs.len() > limit {
            let victim = self
                .pairs
                .iter()
                .rposition(|p| matches!(p.state, PairState::Frozen | PairState::Waiting))
                .or_else(|| {
                    self.pairs
                        .iter()
                        .rposition(|p| p.state == PairState::Failed)
                });
            match victim {
                Some(i) => {
                    let removed = self.pairs.remove(i);
                    self.triggered.retain(|t| *t != removed.id);
                }
                None => break,
            }
        }
        self.get(id).map(|p| p.id)
    }

    /// Re-sorts after a role change altered priorities (RFC 8445 §7.2.5.1).
    pub(crate) fn resort(&mut self) {
        self.pairs.sort_by_key(|p| core::cmp::Reverse(p.priority));
    }

    /// The frozen algorithm's initial states: for each foundation, the highest-priority frozen
    /// pair becomes Waiting (RFC 8445 §6.1.2.6).
    pub(crate) fn unfreeze_initial(&mut self) {
        let mut seen: Vec<(u32, u32)> = self
            .pairs
            .iter()
            .filter(|p| p.state != PairState::Frozen && !p.waits_for_peer())
            .map(|p| p.foundation)
            .collect();
        for pair in &mut self.pairs {
            if pair.state == PairState::Frozen
                && !pair.waits_for_peer()
                && !seen.contains(&pair.foundation)
            {
                seen.push(pair.foundation);
                pair.state = PairState::Waiting;
            }
        }
    }

    /// After a success, pairs of the same foundation become Waiting (RFC 8445 §7.2.5.3.3).
    pub(crate) fn unfreeze_foundation(&mut self, foundation: (u32, u32)) {
        for pair in &mut self.pairs {
            if pair.state == PairState::Frozen && pair.foundation == foundation {
                pair.state = PairState::Waiting;
            }
        }
    }

    /// Queues a triggered check (RFC 8445 §7.3.1.4), once.
    pub(crate) fn trigger(&mut self, id: PairId) {
        if !self.triggered.contains(&id) {
            self.triggered.push_back(id);
        }
    }

    /// Picks the pair for the next ordinary or triggered check (RFC 8445 §6.1.4.2): the triggered
    /// queue first, then the highest-priority Waiting pair, then unfreezing a pair whose
    /// foundation has nothing Waiting or In-Progress.
    pub(crate) fn next_check(&mut self) -> Option<PairId> {
        while let Some(id) = self.triggered.pop_front() {
            if let Some(pair) = self.get(id) {
                if !matches!(pair.state, PairState::Succeeded | PairState::InProgress)
                    || pair.nominating
                {
                    return Some(id);
                }
            }
        }
        if let Some(pair) = self
            .pairs
            .iter()
            .find(|p| p.state == PairState::Waiting && !p.waits_for_peer())
        {
            return Some(pair.id);
        }
        let busy: Vec<(u32, u32)> = self
            .pairs
            .iter()
            .filter(|p| matches!(p.state, PairState::Waiting | PairState::InProgress))
            .filter(|p| !p.waits_for_peer())
            .map(|p| p.foundation)
            .collect();
        self.pairs
            .iter()
            .find(|p| {
                p.state == PairState::Frozen && !p.waits_for_peer() && !busy.contains(&p.foundation)
            })
            .map(|p| p.id)
    }

    /// Whether [`Self::next_check`] would pick a pair, without changing anything.
    pub(crate) fn has_check_ready(&self) -> bool {
        let triggered = self.triggered.iter().any(|id| {
            self.get(*id).is_some_and(|p| {
                !matches!(p.state, PairState::Succeeded | PairState::InProgress) || p.nominating
            })
        });
        let ready = |p: &CandidatePair| !p.waits_for_peer();
        if triggered
            || self
                .pairs
                .iter()
                .any(|p| p.state == PairState::Waiting && ready(p))
        {
            return true;
        }
        self.pairs.iter().any(|p| {
            p.state == PairState::Frozen
                && ready(p)
                && !self.pairs.iter().any(|q| {
                    ready(q)
                        && q.foundation == p.foundation
                        && matches!(q.state, PairState::Waiting | PairState::InProgress)
                })
        })
    }

    /// True while some pair may still be checked or is being checked.
    pub(crate) fn has_pending(&self) -> bool {
        // A passive TCP pair the peer never connected to is nothing to wait for.
        !self.triggered.is_empty()
            || self.pairs.iter().any(|p| match p.state {
                PairState::InProgress => true,
                PairState::Frozen | PairState::Waiting => !p.waits_for_peer(),
                PairState::Succeeded | PairState::Failed => false,
            })
    }

    /// Once a pair is selected, the pairs still Frozen or Waiting and the triggered-check queue
    /// are dropped: no new checks go out (RFC 8445 §8.1.2), so they would only hold
    /// `completed` back.
    pub(crate) fn prune_unchecked(&mut self) {
        self.pairs
            .retain(|p| !matches!(p.state, PairState::Frozen | PairState::Waiting));
        self.triggered.clear();
    }
}

impl IceAgent {
    /// Pairs a local and a remote candidate of the same address family and scope
    /// (RFC 8445 §6.1.2.2). Once a pair is selected no new pairs form (§8.1.2).
    pub(crate) fn form_pair(&mut self, local: usize, remote: usize) -> Option<PairId> {
        if self.selected.is_some() {
            return None;
        }
        let l = &self.local.candidates[local];
        let r = &self.remote.candidates[remote];
        let base = l.base.unwrap_or(l.address);
        if base.is_ipv4() != r.address.is_ipv4()
            || is_link_local(&base) != is_link_local(&r.address)
        {
            return None;
        }
        // RFC 6544 §6.2: never TCP with UDP; TCP active with passive, passive with active,
        // S-O with S-O.
        let tcp = l.tcp_type;
        match (l.tcp_type, r.tcp_type) {
            (None, None) => {}
            (Some(ours), Some(theirs)) if ours.pairs_with(theirs) => {}
            _ => return None,
        }
        let local_foundation: u32 = l.foundation.parse().unwrap_or(u32::MAX);
        let relayed = l.kind == CandidateKind::Relayed;
        let (local_priority, remote_priority) = (l.priority, r.priority);
        let remote_addr = scoped_like(r.address, base);
        let remote_foundation = r.foundation.clone();
        let remote_foundation = self.remote.foundation_id(&remote_foundation);
        let id = self.checklist.next_id();
        let mut pair = CandidatePair {
            id,
            local,
            remote,
            base,
            remote_addr,
            local_priority,
            remote_priority,
            foundation: (local_foundation, remote_foundation),
            priority: 0,
            state: PairState::Frozen,
            valid: false,
            nominated: false,
            nominate_on_success: false,
            nominating: false,
            transaction: None,
            check_sent_at: None,
            stats: Default::default(),
            failure: None,
            timeout_means: None,
            tcp,
        };
        pair.set_role(self.controlling);
        let priority = pair.priority;
        let inserted = self.checklist.insert(pair, self.config.max_pairs);
        if inserted == Some(id) {
            debug!(
                pair = id.0,
                local = %Addr(base),
                remote = %Addr(remote_addr),
                priority,
                "candidate pair formed"
            );
        }
        let id = inserted;
        if relayed && id.is_some() {
            self.relay_permission(base, remote_addr);
        }
        id
    }
}

//! Roles and nomination (RFC 8445 §7.3.1.1, §8.1): who nominates, when, and which pair is
//! selected.

use std::time::{Duration, Instant};

use floe_stun::redact::Addr;
use tracing::{debug, info};

use crate::agent::{Generation, IceAgent, Purpose};
use crate::candidate::{Candidate, CandidateKind};
use crate::consent::ConsentFreshness;
use crate::diagnosis::PairFailure;
use crate::pair::{CandidatePair, PairId, PairState};
use crate::state::IceEvent;

/// Two TCP pairs between the same two IP addresses: one network path, whichever end opens the
/// connection (the RFC 6544 direction preferences only order the two).
fn same_tcp_path(a: &CandidatePair, b: &CandidatePair) -> bool {
    a.tcp.is_some()
        && b.tcp.is_some()
        && a.base.ip() == b.base.ip()
        && a.remote_addr.ip() == b.remote_addr.ip()
}

impl IceAgent {
    /// Switches role, recomputing pair priorities (RFC 8445 §7.2.5.1, §7.3.1.1).
    pub(crate) fn switch_role(&mut self, controlling: bool) {
        if self.controlling == controlling || (controlling && self.config.lite) {
            return;
        }
        self.controlling = controlling;
        info!(controlling, "role changed");
        for pair in self.checklist.pairs_mut() {
            pair.set_role(controlling);
        }
        self.checklist.resort();
        self.events.push_back(IceEvent::RoleChange { controlling });
    }

    fn nominating(&self) -> bool {
        self.checklist
            .pairs()
            .iter()
            .any(|p| p.nominating || p.nominated)
    }

    /// The best valid pair, and until when the controlling agent waits for a better pair that
    /// could still succeed before nominating it. Adaptive, with no fixed per-type waits: a better
    /// pair whose check is in flight gets two RTTs of the valid pair from its send time; when
    /// it is direct and the valid pair is relayed, also one check RTO plus two RTTs from the
    /// first success: a first check dropped by the peer's NAT before the peer's own check
    /// opened it is then retransmitted, or the peer's check arrives and triggers ours, before
    /// the relay wins. Better pairs not yet sent get two RTTs plus one Ta each from the first
    /// success. Never more than 2 s in all.
    pub(crate) fn nomination_plan(&self) -> Option<(PairId, Instant)> {
        if !self.controlling
            || self.config.lite
            || self.remote.credentials.is_none()
            || self.nominating()
        {
            return None;
        }
        let pairs = self.checklist.pairs();
        let best = pairs
            .iter()
            .position(|p| p.valid && p.state == PairState::Succeeded)?;
        let first = self.first_valid_at?;
        let rtt = pairs[best].stats.smoothed_rtt.unwrap_or(self.config.ta);
        // A direct path is worth a retransmission's wait over a relay.
        let relay_penalty = if self.is_relayed(&pairs[best]) {
            self.check_rto()
        } else {
            Duration::ZERO
        };
        let mut until = first;
        let mut unsent = 0u32;
        for p in &pairs[..best] {
            // Nothing to wait for: a pair we never check ourselves (on a passive candidate), or
            // the same TCP path as the valid pair, only opened from the other end.
            if p.waits_for_peer() || same_tcp_path(p, &pairs[best]) {
                continue;
            }
            match p.state {
                PairState::InProgress => {
                    let sent = p.check_sent_at.unwrap_or(first);
                    until = until.max(sent + rtt * 2);
                    if !relay_penalty.is_zero() && !self.is_relayed(p) {
                        until = until.max(first + relay_penalty + rtt * 2);
                    }
                }
                PairState::Waiting | PairState::Frozen => unsent = unsent.saturating_add(1),
                PairState::Succeeded | PairState::Failed => {}
            }
        }
        if unsent > 0 {
            until = until.max(first + rtt * 2 + self.config.ta * unsent.min(100));
        }
        Some((pairs[best].id, until.min(first + Duration::from_secs(2))))
    }

    /// True when data on the pair would go through a TURN server (either end relayed).
    fn is_relayed(&self, pair: &CandidatePair) -> bool {
        let relayed = |c: Option<&Candidate>| c.is_some_and(|c| c.kind == CandidateKind::Relayed);
        relayed(self.local.candidates.get(pair.local))
            || relayed(self.remote.candidates.get(pair.remote))
    }

    /// When [`Self::maybe_nominate`] next has something to decide.
    pub(crate) fn nomination_deadline(&self) -> Option<Instant> {
        self.nomination_plan()
            .map(|(_, until)| until)
            .filter(|t| *t > self.last_now)
    }

    /// Regular nomination (RFC 8445 §8.1.1): as soon as the best pair that can still succeed has
    /// succeeded, check it again with USE-CANDIDATE. That check goes out at once rather than in
    /// the next Ta slot: the path is proven, and pacing exists to spread new checks on unknown
    /// paths (RFC 8445 §14.2).
    pub(crate) fn maybe_nominate(&mut self, now: Instant) {
        let Some((id, until)) = self.nomination_plan() else {
            return;
        };
        if now < until {
            return;
        }
        info!(pair = id.0, "nominating (USE-CANDIDATE)");
        if !self.send_binding_request(now, id, true) {
            // Could not start the transaction (table full): retry through the triggered queue.
            if let Some(pair) = self.checklist.get_mut(id) {
                pair.nominating = true;
            }
            self.checklist.trigger(id);
        }
    }

    /// Selects a nominated pair if it beats the current one (RFC 8445 §8.1.1: the highest
    /// priority nominated pair carries data), and prunes what is left to check (§8.1.2).
    pub(crate) fn select(&mut self, now: Instant, id: PairId) {
        let Some(pair) = self.checklist.get(id) else {
            return;
        };
        if !pair.nominated || pair.state != PairState::Succeeded {
            return;
        }
        let better = match self.selected_pair() {
            None => true,
            Some(current) => current.id != id && pair.priority > current.priority,
        };
        if !better {
            return;
        }
        let (base, remote_addr) = (pair.base, pair.remote_addr);
        let local = self.local.candidates.get(pair.local).cloned();
        let remote = self.remote.candidates.get(pair.remote).cloned();
        info!(
            pair = id.0,
            local = %Addr(base),
            remote = %Addr(remote_addr),
            local_kind = %local.as_ref().map_or("?", |c| c.kind.sdp_name()),
            remote_kind = %remote.as_ref().map_or("?", |c| c.kind.sdp_name()),
            "candidate pair selected"
        );
        self.selected = Some(id);
        if self.previous.take().is_some() {
            // The restart found its pair: the old path and its consent are done.
            self.transactions.cancel_where(|p| {
                matches!(
                    p,
                    Purpose::Consent {
                        generation: Generation::Previous,
                        ..
                    }
                )
            });
        }
        self.lost_selection = false;
        let interval = ConsentFreshness::jittered(self.config.consent_interval, self.unit_sample());
        self.consent = Some(ConsentFreshness::new(now, (base, remote_addr), interval));
        self.checklist.prune_unchecked();
        self.stop_other_checks(id);
        self.tcp_close_unselected(now, id);
        // RFC 8656 §12: data on a relayed selected pair uses a channel (4 bytes of framing).
        self.relay_bind_channel(now, base, remote_addr);
        if let (Some(local), Some(remote)) = (local, remote) {
            self.events
                .push_back(IceEvent::SelectedPairChange { local, remote });
        }
    }

    /// With a pair selected, ICE is done for the component: outstanding checks on other pairs
    /// stop (RFC 8445 §8.1.2 ceases retransmissions below the nominated pair; this agent also
    /// stops those above it, as browsers do, so `completed` does not wait out 39.5 s of checks
    /// towards unreachable addresses). A peer that nominates again still gets triggered checks.
    fn stop_other_checks(&mut self, selected: PairId) {
        let mut stopped = Vec::new();
        for pair in self.checklist.pairs_mut() {
            if pair.id != selected && pair.state == PairState::InProgress && !pair.nominating {
                if let Some(tid) = pair.transaction.take() {
                    stopped.push(tid);
                }
                debug!(pair = pair.id.0, "check stopped: another pair was selected");
                pair.state = PairState::Failed;
                pair.failure = Some(PairFailure::Stopped);
            }
        }
        for tid in stopped {
            self.transactions.cancel(tid);
        }
    }
}

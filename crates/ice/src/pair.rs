//! Candidate pairs: state, priority (RFC 8445 §6.1.2.3) and statistics.

use core::net::SocketAddr;
use std::time::{Duration, Instant};

use floe_stun::TransactionId;

use crate::diagnosis::PairFailure;

/// Identifies a pair for the agent's lifetime (indices shift when pairs are pruned; ids do not).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct PairId(pub(crate) u32);

/// The states of a candidate pair (RFC 8445 §6.1.2.6).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum PairState {
    /// Not checked yet, waiting for a pair of the same foundation to succeed.
    Frozen,
    /// Ready to be checked when the pacer allows.
    Waiting,
    /// A check is outstanding.
    InProgress,
    /// A check succeeded.
    Succeeded,
    /// A check failed or timed out.
    Failed,
}

/// Pair priority: 2^32·MIN(G,D) + 2·MAX(G,D) + (G>D ? 1 : 0), where G is the controlling
/// agent's candidate priority and D the controlled one's (RFC 8445 §6.1.2.3).
pub const fn pair_priority(controlling: u32, controlled: u32) -> u64 {
    let (g, d) = (controlling as u64, controlled as u64);
    let (min, max) = if g < d { (g, d) } else { (d, g) };
    (min << 32) + 2 * max + if g > d { 1 } else { 0 }
}

/// Counters shaped after RTCIceCandidatePairStats (webrtc-stats §7.9).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct PairStats {
    /// Connectivity-check and consent requests sent (retransmissions included).
    pub requests_sent: u64,
    /// Requests received from the peer on this pair.
    pub requests_received: u64,
    /// Success responses sent.
    pub responses_sent: u64,
    /// Success responses received.
    pub responses_received: u64,
    /// Application bytes sent on this pair.
    pub bytes_sent: u64,
    /// Application bytes received on this pair.
    pub bytes_received: u64,
    /// Round-trip time of the last answered check.
    pub last_rtt: Option<Duration>,
    /// Smoothed round-trip time (RFC 6298 weights: 7/8 old, 1/8 new).
    pub smoothed_rtt: Option<Duration>,
}

impl PairStats {
    pub(crate) fn record_rtt(&mut self, rtt: Duration) {
        self.last_rtt = Some(rtt);
        self.smoothed_rtt = Some(match self.smoothed_rtt {
            None => rtt,
            Some(s) => (s * 7 + rtt) / 8,
        });
    }
}

/// A local candidate paired with a remote one (RFC 8445 §6.1.2).
#[derive(Clone, Debug)]
pub struct CandidatePair {
    pub(crate) id: PairId,
    /// Index into the agent's local candidates.
    pub(crate) local: usize,
    /// Index into the agent's remote candidates.
    pub(crate) remote: usize,
    /// The local base checks are sent from.
    pub(crate) base: SocketAddr,
    /// The remote transport address.
    pub(crate) remote_addr: SocketAddr,
    pub(crate) local_priority: u32,
    pub(crate) remote_priority: u32,
    /// Pair foundation: the local and remote foundations together (RFC 8445 §6.1.2.6).
    pub(crate) foundation: (u32, u32),
    pub(crate) priority: u64,
    pub(crate) state: PairState,
    /// On the valid list (RFC 8445 §7.2.5.3.2).
    pub(crate) valid: bool,
    /// Nominated (RFC 8445 §8.1.1).
    pub(crate) nominated: bool,
    /// Controlled side: USE-CANDIDATE arrived before our own check succeeded (§7.3.1.5).
    pub(crate) nominate_on_success: bool,
    /// Controlling side: the outstanding check carries USE-CANDIDATE.
    pub(crate) nominating: bool,
    /// The outstanding check, if any.
    pub(crate) transaction: Option<TransactionId>,
    pub(crate) check_sent_at: Option<Instant>,
    pub(crate) stats: PairStats,
    /// Why the pair last failed.
    pub(crate) failure: Option<PairFailure>,
    /// What a timeout of its check stands for, when something better than silence was seen:
    /// answers that failed their integrity check, or a refused TURN permission.
    pub(crate) timeout_means: Option<PairFailure>,
    /// The local candidate's TCP direction; `None` for a UDP pair (RFC 6544).
    pub(crate) tcp: Option<crate::candidate::TcpType>,
}

impl CandidatePair {
    /// The pair's id.
    pub fn id(&self) -> PairId {
        self.id
    }

    /// Index of the local candidate in [`crate::IceAgent::local_candidates`].
    pub fn local_candidate_index(&self) -> usize {
        self.local
    }

    /// Index of the remote candidate in [`crate::IceAgent::remote_candidates`].
    pub fn remote_candidate_index(&self) -> usize {
        self.remote
    }

    /// The local base (the socket checks and data leave from).
    pub fn local_address(&self) -> SocketAddr {
        self.base
    }

    /// The remote candidate's address.
    pub fn remote_address(&self) -> SocketAddr {
        self.remote_addr
    }

    /// The pair's state.
    pub fn state(&self) -> PairState {
        self.state
    }

    /// The pair priority.
    pub fn priority(&self) -> u64 {
        self.priority
    }

    /// True once nominated.
    pub fn is_nominated(&self) -> bool {
        self.nominated
    }

    /// True when on the valid list.
    pub fn is_valid(&self) -> bool {
        self.valid
    }

    /// Statistics.
    pub fn stats(&self) -> &PairStats {
        &self.stats
    }

    /// The local candidate's TCP direction, `None` for a UDP pair (RFC 6544).
    pub fn tcp_type(&self) -> Option<crate::candidate::TcpType> {
        self.tcp
    }

    /// A pair on a local passive candidate: RFC 6544 §6.2 prunes it; floe keeps it, unchecked,
    /// for the peer's connection to land on (see DEVIATIONS.md), so the frozen algorithm leaves it alone.
    pub(crate) fn waits_for_peer(&self) -> bool {
        self.tcp == Some(crate::candidate::TcpType::Passive)
    }

    /// Why the pair failed, while it is [`PairState::Failed`].
    pub fn failure(&self) -> Option<PairFailure> {
        self.failure.filter(|_| self.state == PairState::Failed)
    }

    pub(crate) fn set_role(&mut self, controlling: bool) {
        self.priority = if controlling {
            pair_priority(self.local_priority, self.remote_priority)
        } else {
            pair_priority(self.remote_priority, self.local_priority)
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pair_priority_follows_rfc8445_formula() {
        assert_eq!(pair_priority(10, 20), (10u64 << 32) + 40);
        assert_eq!(pair_priority(20, 10), (10u64 << 32) + 40 + 1);
        // The same pair seen from both sides has the same priority.
        assert_eq!(pair_priority(7, 9), pair_priority(7, 9));
    }
}

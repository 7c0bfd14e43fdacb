//! The local side (RFC 8445 §5.1): our credentials, the bases the driver bound, the candidates
//! gathered on them, their priorities and foundations.

use core::net::SocketAddr;
use std::time::Instant;

use floe_stun::redact::Addr;
use floe_stun::IntegrityKey;
use tracing::{info, trace};

use crate::agent::{Credentials, IceAgent};
use crate::candidate::{
    candidate_priority, local_preference, push_small, without_scope, Candidate, CandidateKind,
    Foundations, COMPONENT_RTP,
};
use crate::config::TransportPolicy;
use crate::state::{IceEvent, IceGatheringState};

/// What the agent has of its own.
#[derive(Debug)]
pub(crate) struct LocalSide {
    /// ice-ufrag and ice-pwd (RFC 8445 §5.3).
    pub(crate) credentials: Credentials,
    /// The short-term key of our password, derived once.
    pub(crate) key: IntegrityKey,
    /// The sockets the driver bound, in its order.
    pub(crate) bases: Vec<SocketAddr>,
    /// Gathered candidates, peer-reflexive ones learnt from checks included.
    pub(crate) candidates: Vec<Candidate>,
    pub(crate) foundations: Foundations,
}

impl LocalSide {
    pub(crate) fn new(credentials: Credentials) -> Self {
        Self {
            key: IntegrityKey::short_term(&credentials.pwd),
            credentials,
            bases: Vec::new(),
            candidates: Vec::new(),
            foundations: Foundations::default(),
        }
    }

    /// New credentials (restart, or set by the application).
    pub(crate) fn set_credentials(&mut self, credentials: Credentials) {
        self.key = IntegrityKey::short_term(&credentials.pwd);
        self.credentials = credentials;
    }

    /// The place of `base` among the bases of its address family.
    pub(crate) fn family_rank(&self, base: SocketAddr) -> usize {
        self.bases
            .iter()
            .filter(|b| b.is_ipv4() == base.is_ipv4())
            .position(|b| *b == base)
            .unwrap_or(0)
    }

    /// RFC 8445 §5.1.3: a candidate with the same address and base as another is redundant.
    pub(crate) fn is_redundant(&self, candidate: &Candidate) -> bool {
        self.candidates
            .iter()
            .any(|c| c.address == candidate.address && c.base == candidate.base)
    }
}

impl IceAgent {
    /// Registers a socket the driver bound, as a base for host candidates (RFC 8445 §5.1.1.1).
    /// An IPv6 scope id is kept for sending but never shown to the peer.
    pub fn add_local_socket(&mut self, now: Instant, base: SocketAddr) {
        if self.closed || self.local.bases.contains(&base) {
            return;
        }
        push_small(&mut self.local.bases, base);
        if self.gathering.started {
            self.gather_base(now, base);
            self.drive(now);
        }
    }

    /// Starts gathering on every base registered so far (`icegatheringstatechange` to
    /// `gathering`); later bases gather as they are added.
    pub fn start_gathering(&mut self, now: Instant) {
        if self.closed || self.gathering.started {
            return;
        }
        self.gathering.started = true;
        self.set_gathering_state(IceGatheringState::Gathering);
        for base in self.local.bases.clone() {
            self.gather_base(now, base);
        }
        let listeners = self
            .tcp
            .as_ref()
            .map(|t| t.listener_ips())
            .unwrap_or_default();
        for ip in listeners {
            self.gather_tcp(now, ip);
        }
        self.drive(now);
    }

    /// The local preference of a candidate on `base` gathered through server `slot` (0 for
    /// host candidates): distinct per base and per server (RFC 8445 §5.1.2.1), the address
    /// families interleaved by their rank among bases of the same family (RFC 8421 §4).
    pub(crate) fn local_preference(&self, base: SocketAddr, slot: usize) -> u16 {
        local_preference(self.local.family_rank(base), &base.ip(), slot)
    }

    fn gather_base(&mut self, now: Instant, base: SocketAddr) {
        let local_pref = self.local_preference(base, 0);
        if self.config.transport_policy == TransportPolicy::All {
            let foundation =
                self.local
                    .foundations
                    .foundation(CandidateKind::Host, base.ip(), None);
            let host = Candidate {
                kind: CandidateKind::Host,
                address: without_scope(base),
                base: Some(base),
                priority: candidate_priority(CandidateKind::Host, local_pref, COMPONENT_RTP),
                foundation,
                component: COMPONENT_RTP,
                tcp_type: None,
            };
            self.add_local_candidate(now, host);
            if !self.config.lite {
                let servers = self.config.stun_servers.clone();
                self.gathering.add_base(base, &servers);
            }
        }
        // With policy `relay` the base still reaches the TURN servers; only the relayed
        // candidates are signalled.
        self.gather_relays(now, base);
        // ICE-TCP (RFC 6544): an active candidate on the host address, passive ones on its
        // listeners.
        self.gather_tcp(now, base.ip());
    }

    /// Adds a local candidate: reports it, and pairs it when it is a host or relayed one.
    pub(crate) fn add_local_candidate(&mut self, now: Instant, candidate: Candidate) {
        if self.local.is_redundant(&candidate) {
            trace!(kind = %candidate.kind, local = %Addr(candidate.address), "redundant local candidate dropped");
            return;
        }
        let pairs_with = matches!(candidate.kind, CandidateKind::Host | CandidateKind::Relayed);
        // Nothing more is announced after our end-of-candidates, nor once a pair is nominated
        // (RFC 8838 §13).
        let announce = candidate.kind != CandidateKind::PeerReflexive
            && !self.end_of_candidates_sent
            && self.selected.is_none();
        if announce {
            info!(
                kind = %candidate.kind,
                local = %Addr(candidate.address),
                base = %Addr(candidate.base),
                priority = candidate.priority,
                "local candidate gathered"
            );
            self.events
                .push_back(IceEvent::LocalCandidate(candidate.clone()));
        }
        push_small(&mut self.local.candidates, candidate);
        if pairs_with {
            let local = self.local.candidates.len() - 1;
            for remote in 0..self.remote.candidates.len() {
                self.form_pair(local, remote);
            }
            self.checklist.unfreeze_initial();
        }
        let _ = now;
    }
}

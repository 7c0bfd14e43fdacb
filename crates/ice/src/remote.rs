//! The remote side (RFC 8445 §5.3, §6.1.2, RFC 8838): the peer's credentials, its candidates as
//! signalled or learnt from checks, its end-of-candidates, and checks that arrived before its
//! credentials.

use core::net::SocketAddr;
use std::time::Instant;

use floe_stun::redact::Addr;
use floe_stun::IntegrityKey;
use tracing::{debug, info};

use crate::agent::{IceAgent, IceError};
use crate::candidate::{push_small, Candidate, CandidateKind, COMPONENT_RTP};

/// The remote side's credentials with the key derived once.
#[derive(Clone, Debug)]
pub(crate) struct RemoteCredentials {
    pub(crate) ufrag: String,
    /// The key of the peer's ice-pwd, which signs our requests and checks its answers; a lite
    /// agent sends no requests (RFC 8445 §2.5), so it keeps none.
    pub(crate) key: Option<Box<IntegrityKey>>,
}

/// A request that arrived before the remote credentials: its triggered check waits for them
/// (RFC 8445 §7.3, RFC 8838 §5.3).
#[derive(Clone, Copy, Debug)]
pub(crate) struct EarlyCheck {
    pub(crate) base: SocketAddr,
    pub(crate) remote: SocketAddr,
    pub(crate) use_candidate: bool,
}

/// What the agent knows of the peer.
#[derive(Debug, Default)]
pub(crate) struct RemoteSide {
    /// ice-ufrag and the key of ice-pwd, once known (RFC 8838 §5.3: checks wait for them).
    pub(crate) credentials: Option<RemoteCredentials>,
    /// The peer is an ICE-lite agent.
    pub(crate) lite: bool,
    /// Signalled and peer-reflexive candidates.
    pub(crate) candidates: Vec<Candidate>,
    /// Foundations seen, so a pair foundation is two small numbers.
    pub(crate) foundations: Vec<String>,
    /// The peer signalled end-of-candidates (RFC 8838 §13).
    pub(crate) end_of_candidates: bool,
    /// Checks that arrived before the credentials.
    pub(crate) early_checks: Vec<EarlyCheck>,
}

impl RemoteSide {
    /// The index of the candidate at `addr` (a scope-less link-local one matches any scope).
    pub(crate) fn find(&self, addr: SocketAddr) -> Option<usize> {
        self.candidates
            .iter()
            .position(|c| same_address(c.address, addr))
    }

    /// A small number standing for a remote foundation.
    pub(crate) fn foundation_id(&mut self, foundation: &str) -> u32 {
        match self.foundations.iter().position(|f| f == foundation) {
            Some(i) => i as u32,
            None => {
                push_small(&mut self.foundations, foundation.to_owned());
                (self.foundations.len() - 1) as u32
            }
        }
    }

    /// Forgets everything learnt about the peer, for an ICE restart (the lite flag stays).
    pub(crate) fn clear(&mut self) {
        let lite = self.lite;
        *self = Self {
            lite,
            ..Self::default()
        };
    }
}

impl IceAgent {
    /// The peer is an ICE-lite agent: this (full) agent takes the controlling role
    /// (RFC 8445 §6.1.1).
    pub fn set_remote_lite(&mut self, now: Instant, lite: bool) {
        self.remote.lite = lite;
        if lite && !self.config.lite && !self.controlling {
            self.switch_role(true);
        }
        self.drive(now);
    }

    // -----------------------------------------------------------------------------------------
    // Remote side

    /// The peer's ICE credentials. Checks start once they are known (RFC 8838 §5.3), and any
    /// checks that arrived earlier get their triggered checks now.
    pub fn set_remote_credentials(&mut self, now: Instant, ufrag: &str, pwd: &str) {
        if self.closed {
            return;
        }
        debug!(ufrag, "remote credentials set");
        self.remote.credentials = Some(RemoteCredentials {
            ufrag: ufrag.to_owned(),
            key: (!self.config.lite).then(|| Box::new(IntegrityKey::short_term(pwd))),
        });
        self.pac_deadline
            .get_or_insert(now + self.config.pac_timeout);
        for early in std::mem::take(&mut self.remote.early_checks) {
            self.on_checked_by_peer(now, early.base, early.remote, early.use_candidate);
        }
        self.drive(now);
    }

    /// A remote candidate, trickled or from the SDP. Only candidates of component 1 are
    /// handled, and TCP ones (RFC 6544) only with [`crate::AgentConfig::ice_tcp`]; the driver resolves FQDN (mDNS) addresses before calling this.
    pub fn add_remote_candidate(
        &mut self,
        now: Instant,
        candidate: Candidate,
    ) -> Result<(), IceError> {
        let refused = |agent: &mut Self, reason: &dyn core::fmt::Display| {
            agent.diagnostics.remote_refused += 1;
            info!(
                kind = %candidate.kind,
                remote = %Addr(candidate.address),
                reason = %reason,
                "remote candidate refused"
            );
        };
        if self.closed {
            return Err(IceError::Closed);
        }
        let valid = if candidate.component == COMPONENT_RTP {
            validate_remote(&candidate)
        } else {
            Err(IceError::UnsupportedComponent(candidate.component))
        };
        let valid = match valid {
            Ok(()) if candidate.tcp_type.is_some() && !self.config.ice_tcp => Err(
                IceError::InvalidCandidate("a TCP candidate, and ICE-TCP is off"),
            ),
            other => other,
        };
        if let Err(e) = valid {
            refused(self, &e);
            return Err(e);
        }
        if self.remote.end_of_candidates {
            // RFC 8838 §4.4: the peer said it has no more; a late one is ignored.
            refused(self, &"after the peer's end-of-candidates (RFC 8838 §4.4)");
            return Ok(());
        }
        if let Some(existing) = self
            .remote
            .candidates
            .iter_mut()
            .find(|c| same_address(c.address, candidate.address))
        {
            // A signalled candidate replaces a peer-reflexive one learnt for the same address
            // (RFC 8445 §7.3.1.3).
            if existing.kind == CandidateKind::PeerReflexive {
                existing.kind = candidate.kind;
                existing.priority = candidate.priority;
                existing.foundation = candidate.foundation;
            }
            return Ok(());
        }
        if self.remote.candidates.len() >= self.config.max_remote_candidates {
            refused(self, &IceError::TooManyCandidates);
            return Err(IceError::TooManyCandidates);
        }
        info!(
            kind = %candidate.kind,
            remote = %Addr(candidate.address),
            priority = candidate.priority,
            "remote candidate added"
        );
        self.push_remote_candidate(candidate, true);
        self.drive(now);
        Ok(())
    }

    /// Adds a remote candidate and, when `pair` is set, pairs it with every local host and
    /// relayed candidate (a peer-reflexive one forms only its triggered pair, §7.3.1.3).
    pub(crate) fn push_remote_candidate(&mut self, candidate: Candidate, pair: bool) -> usize {
        push_small(&mut self.remote.candidates, candidate);
        let remote = self.remote.candidates.len() - 1;
        if !pair {
            return remote;
        }
        for local in 0..self.local.candidates.len() {
            if matches!(
                self.local.candidates[local].kind,
                CandidateKind::Host | CandidateKind::Relayed
            ) {
                self.form_pair(local, remote);
            }
        }
        self.checklist.unfreeze_initial();
        remote
    }

    /// The peer signalled end-of-candidates (RFC 8838 §4.4).
    pub fn add_remote_end_of_candidates(&mut self, now: Instant) {
        if !self.remote.end_of_candidates {
            debug!("remote end-of-candidates");
        }
        self.remote.end_of_candidates = true;
        self.drive(now);
    }

    /// True once the peer's end-of-candidates was added (cleared by a restart).
    pub fn remote_end_of_candidates(&self) -> bool {
        self.remote.end_of_candidates
    }
}

/// Refuses remote candidates no agent can use: priority outside 1..=2³¹−1 (RFC 8445 §5.1.2.1),
/// port 0, an unspecified or multicast address.
fn validate_remote(c: &Candidate) -> Result<(), IceError> {
    if c.priority == 0 || c.priority > (1 << 31) - 1 {
        return Err(IceError::InvalidCandidate("priority outside 1..=2^31-1"));
    }
    if c.address.port() == 0 {
        return Err(IceError::InvalidCandidate("port 0"));
    }
    let ip = c.address.ip();
    if ip.is_unspecified() {
        return Err(IceError::InvalidCandidate("unspecified address"));
    }
    if ip.is_multicast() || ip == core::net::IpAddr::V4(core::net::Ipv4Addr::BROADCAST) {
        return Err(IceError::InvalidCandidate("multicast or broadcast address"));
    }
    Ok(())
}

/// True for an IPv6 link-local unicast address (fe80::/10).
pub(crate) fn is_link_local(addr: &SocketAddr) -> bool {
    matches!(addr, SocketAddr::V6(v6) if v6.ip().segments()[0] & 0xffc0 == 0xfe80)
}

/// True when `a` and `b` are the same transport address, an IPv6 scope id counting only when
/// both carry one: a signalled link-local candidate has none, the socket's source address has.
pub(crate) fn same_address(a: SocketAddr, b: SocketAddr) -> bool {
    match (a, b) {
        (SocketAddr::V6(x), SocketAddr::V6(y)) => {
            x.ip() == y.ip()
                && x.port() == y.port()
                && (x.scope_id() == y.scope_id() || x.scope_id() == 0 || y.scope_id() == 0)
        }
        _ => a == b,
    }
}

/// A scope-less link-local remote address takes the scope of the base it pairs with, so the
/// driver can send to it and its answers match the pair exactly.
pub(crate) fn scoped_like(remote: SocketAddr, base: SocketAddr) -> SocketAddr {
    match (remote, base) {
        (SocketAddr::V6(mut r), SocketAddr::V6(b))
            if r.scope_id() == 0 && is_link_local(&remote) =>
        {
            r.set_scope_id(b.scope_id());
            SocketAddr::V6(r)
        }
        _ => remote,
    }
}

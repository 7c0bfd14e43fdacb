//! [`IceAgent`]: the sans-IO ICE agent. This file holds its state and public API; the check
//! exchange, nomination and gathering logic live in their own modules.

use core::fmt;
use core::net::SocketAddr;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

use floe_stun::{ClientTransactions, IntegrityKey, TransactionConfig, TransactionId};
use rand::rngs::StdRng;
use rand::{Rng, RngExt, SeedableRng};

use crate::candidate::{
    candidate_priority, local_preference, push_small, without_scope, Candidate, CandidateKind,
    Foundations, COMPONENT_RTP,
};
use crate::checklist::CheckList;
use crate::config::{AgentConfig, TransportPolicy};
use crate::consent::ConsentFreshness;
use crate::gathering::Gathering;
use crate::pacer::Pacer;
use crate::pair::{CandidatePair, PairId, PairState};
use crate::relay::Relay;
use crate::state::{IceConnectionState, IceEvent, IceGatheringState, Transmit};
use crate::timers::TimerTable;

/// ICE credentials: user fragment and password (RFC 8445 §5.3).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// ice-ufrag: at least 4 characters.
    pub ufrag: String,
    /// ice-pwd: at least 22 characters.
    pub pwd: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("ufrag", &self.ufrag)
            .finish_non_exhaustive()
    }
}

/// Why a remote candidate or parameter was refused.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum IceError {
    /// Only component 1 (RTP/RTCP multiplexed) is handled.
    UnsupportedComponent(u16),
    /// [`AgentConfig::max_remote_candidates`] reached.
    TooManyCandidates,
    /// The agent is closed.
    Closed,
    /// No pair is selected, or consent was lost: nothing may be sent.
    NotConnected,
    /// The caller's buffer is too small: [`IceAgent::poll_transmit`] needs
    /// [`MIN_TRANSMIT_BUFFER`] bytes, [`IceAgent::send`] the payload plus 36.
    BufferTooSmall,
    /// A remote candidate that cannot be used (RFC 8445 §5.1.2.1 priority range, port 0, an
    /// unspecified or multicast address): the reason.
    InvalidCandidate(&'static str),
}

/// Why the agent went to `failed` ([`IceAgent::failure`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum IceFailure {
    /// Every candidate pair failed, and the PAC timer (RFC 8863 §4) ran out.
    NoWorkingPair,
    /// Consent expired: no response on the selected pair for 30 s (RFC 7675 §5.1).
    ConsentExpired,
    /// The peer revoked consent with an authenticated 403 (RFC 7675 §5.2).
    ConsentRevoked,
}

impl fmt::Display for IceFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IceFailure::NoWorkingPair => "no candidate pair works",
            IceFailure::ConsentExpired => {
                "consent expired: the peer stopped answering on the selected pair"
            }
            IceFailure::ConsentRevoked => "the peer revoked consent (403)",
        })
    }
}

/// The smallest buffer [`IceAgent::poll_transmit`] takes: every datagram the agent writes
/// (checks, responses, TURN requests and their framing) fits.
pub const MIN_TRANSMIT_BUFFER: usize = 1500;

impl fmt::Display for IceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IceError::UnsupportedComponent(c) => write!(f, "component {c} is not supported"),
            IceError::TooManyCandidates => f.write_str("too many remote candidates"),
            IceError::Closed => f.write_str("ICE agent is closed"),
            IceError::NotConnected => f.write_str("no selected candidate pair with consent"),
            IceError::BufferTooSmall => f.write_str("buffer too small"),
            IceError::InvalidCandidate(why) => write!(f, "invalid remote candidate: {why}"),
        }
    }
}

impl std::error::Error for IceError {}

/// Why a STUN transaction was started.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Purpose {
    /// A connectivity check on a pair.
    Check {
        pair: PairId,
        base: SocketAddr,
        use_candidate: bool,
        /// The role the request claimed, for a 487 (RFC 8445 §7.2.5.1).
        controlling: bool,
        sent_at: Instant,
    },
    /// A consent-freshness request on the path of `generation`.
    Consent {
        generation: Generation,
        base: SocketAddr,
        sent_at: Instant,
    },
    /// A server-reflexive query.
    Gather { base: SocketAddr },
}

impl Purpose {
    pub(crate) fn base(&self) -> SocketAddr {
        match *self {
            Purpose::Check { base, .. }
            | Purpose::Consent { base, .. }
            | Purpose::Gather { base } => base,
        }
    }
}

/// Which credentials a consent request or answer uses: this generation's, or during an ICE
/// restart those of the one before, whose path still carries data.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Generation {
    Current,
    Previous,
}

/// What survives of the generation before an ICE restart until a new pair is selected
/// (RFC 8445 §9: data keeps flowing on the old pair, so consent on it keeps being checked).
#[derive(Clone, Debug)]
pub(crate) struct PreviousGeneration {
    pub(crate) local: Credentials,
    pub(crate) local_key: IntegrityKey,
    pub(crate) remote: RemoteCredentials,
    pub(crate) consent: ConsentFreshness,
}

/// The remote side's credentials with the key derived once.
#[derive(Clone, Debug)]
pub(crate) struct RemoteCredentials {
    pub(crate) ufrag: String,
    pub(crate) key: IntegrityKey,
}

/// A request that arrived before the remote credentials: its triggered check waits for them
/// (RFC 8445 §7.3, RFC 8838 §5.3).
#[derive(Clone, Copy, Debug)]
pub(crate) struct EarlyCheck {
    pub(crate) base: SocketAddr,
    pub(crate) remote: SocketAddr,
    pub(crate) use_candidate: bool,
}

/// A datagram the agent queued (responses), with its buffer kept for reuse.
#[derive(Debug)]
pub(crate) struct Outgoing {
    pub(crate) source: SocketAddr,
    pub(crate) destination: SocketAddr,
    pub(crate) payload: Vec<u8>,
}

/// The sans-IO ICE agent for one data stream with one component.
///
/// Feed it with [`IceAgent::handle_datagram`], [`IceAgent::handle_timeout`] and the signalling
/// calls; drain [`IceAgent::poll_transmit`] and [`IceAgent::poll_event`] after each; wake it at
/// [`IceAgent::poll_timeout`].
pub struct IceAgent {
    pub(crate) config: AgentConfig,
    pub(crate) rng: StdRng,
    pub(crate) pacer: Pacer,
    pub(crate) controlling: bool,
    pub(crate) tie_breaker: u64,
    pub(crate) local: Credentials,
    pub(crate) local_key: IntegrityKey,
    pub(crate) remote: Option<RemoteCredentials>,
    pub(crate) remote_lite: bool,
    pub(crate) bases: Vec<SocketAddr>,
    pub(crate) local_candidates: Vec<Candidate>,
    pub(crate) remote_candidates: Vec<Candidate>,
    pub(crate) remote_foundations: Vec<String>,
    pub(crate) remote_end_of_candidates: bool,
    pub(crate) foundations: Foundations,
    pub(crate) checklist: CheckList,
    pub(crate) transactions: ClientTransactions<Purpose>,
    pub(crate) gathering: Gathering,
    /// TURN allocations, one per (base, server).
    pub(crate) relays: Vec<Relay>,
    /// Application data relayed over TURN streams, for [`IceAgent::poll_stream_data`].
    pub(crate) stream_data: std::collections::VecDeque<Vec<u8>>,
    pub(crate) early_checks: Vec<EarlyCheck>,
    pub(crate) selected: Option<PairId>,
    /// The generation before an ICE restart, until a new pair is selected.
    pub(crate) previous: Option<PreviousGeneration>,
    /// Consent on the selected pair.
    pub(crate) consent: Option<ConsentFreshness>,
    /// Why the agent failed; `failed` is sticky until a restart (webrtc-pc §5.6.4).
    pub(crate) failure: Option<IceFailure>,
    /// A pair was selected in this generation and is gone (its TURN stream closed).
    pub(crate) lost_selection: bool,
    pub(crate) pac_deadline: Option<Instant>,
    pub(crate) first_valid_at: Option<Instant>,
    pub(crate) gathering_state: IceGatheringState,
    pub(crate) connection_state: IceConnectionState,
    pub(crate) end_of_candidates_sent: bool,
    pub(crate) closed: bool,
    pub(crate) events: VecDeque<IceEvent>,
    pub(crate) outbox: VecDeque<Outgoing>,
    pub(crate) spare: Vec<Vec<u8>>,
    /// The latest `now` seen, so `poll_timeout` can say "at once" without a clock.
    pub(crate) last_now: Instant,
    /// Every deadline, refreshed at the end of each input.
    pub(crate) timers: TimerTable,
}

impl fmt::Debug for IceAgent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IceAgent")
            .field("controlling", &self.controlling)
            .field("local", &self.local)
            .field("gathering_state", &self.gathering_state)
            .field("connection_state", &self.connection_state)
            .field("pairs", &self.checklist.len())
            .finish_non_exhaustive()
    }
}

/// The smallest Ta (and check RTO) the agent accepts (RFC 8445 §14.2).
const MIN_TA: Duration = Duration::from_millis(5);
/// The smallest consent interval the agent accepts (RFC 7675 §5.1: not below 4 s).
const MIN_CONSENT_INTERVAL: Duration = Duration::from_secs(4);
/// Configured durations are clamped to this, so `now + d` cannot overflow `Instant`.
const MAX_DURATION: Duration = Duration::from_secs(86_400);

const ICE_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn random_ice_string(rng: &mut StdRng, len: usize) -> String {
    (0..len)
        .map(|_| char::from(ICE_CHARS[rng.random_range(0..ICE_CHARS.len())]))
        .collect()
}

impl IceAgent {
    /// A new agent. All randomness (credentials, tie-breaker, transaction ids, consent jitter)
    /// comes from a CSPRNG (ChaCha12) keyed with `seed`: fill it from the OS (`getrandom`).
    /// The same seed gives the same run, for tests.
    pub fn new(config: AgentConfig, now: Instant, seed: [u8; 32]) -> Self {
        let pacer = Pacer::new(config.ta);
        Self::with_pacer(config, now, seed, pacer)
    }

    /// A new agent that shares `pacer` with other agents of the process (RFC 8445 §14.2).
    pub fn with_pacer(mut config: AgentConfig, now: Instant, seed: [u8; 32], pacer: Pacer) -> Self {
        // Zero intervals would make the agent spin at one instant; RFC 8445 §14.2 puts Ta at
        // 5 ms or more.
        for d in [
            &mut config.ta,
            &mut config.gather_timeout,
            &mut config.check_rto,
            &mut config.consent_interval,
            &mut config.disconnect_timeout,
            &mut config.consent_timeout,
            &mut config.pac_timeout,
            &mut config.keepalive_interval,
        ] {
            *d = (*d).min(MAX_DURATION);
        }
        config.ta = config.ta.max(MIN_TA);
        config.check_rto = config.check_rto.max(MIN_TA);
        config.consent_interval = config.consent_interval.max(MIN_CONSENT_INTERVAL);
        let mut rng = StdRng::from_seed(seed);
        let local = Credentials {
            ufrag: random_ice_string(&mut rng, 8),
            pwd: random_ice_string(&mut rng, 24),
        };
        let local_key = IntegrityKey::short_term(&local.pwd);
        let transactions = ClientTransactions::new(TransactionConfig {
            initial_rto: config.check_rto,
            max_transmissions: config.check_transmissions,
            max_outstanding: config.max_pairs * 2 + 64,
            ..TransactionConfig::default()
        });
        Self {
            controlling: config.controlling && !config.lite,
            tie_breaker: rng.next_u64(),
            rng,
            pacer,
            local,
            local_key,
            remote: None,
            remote_lite: false,
            bases: Vec::new(),
            local_candidates: Vec::new(),
            remote_candidates: Vec::new(),
            remote_foundations: Vec::new(),
            remote_end_of_candidates: false,
            foundations: Foundations::default(),
            checklist: CheckList::default(),
            transactions,
            gathering: Gathering::default(),
            relays: Vec::new(),
            stream_data: std::collections::VecDeque::new(),
            early_checks: Vec::new(),
            selected: None,
            previous: None,
            consent: None,
            failure: None,
            lost_selection: false,
            pac_deadline: None,
            first_valid_at: None,
            gathering_state: IceGatheringState::New,
            connection_state: IceConnectionState::New,
            end_of_candidates_sent: false,
            closed: false,
            events: VecDeque::new(),
            outbox: VecDeque::new(),
            spare: Vec::new(),
            last_now: now,
            timers: TimerTable::default(),
            config,
        }
    }

    // -----------------------------------------------------------------------------------------
    // Inspection

    /// Our ICE credentials, for the SDP `a=ice-ufrag` / `a=ice-pwd`.
    pub fn local_credentials(&self) -> &Credentials {
        &self.local
    }

    /// The peer's ice-ufrag, once set (cleared by [`IceAgent::restart`]): a new one in an offer
    /// means the peer restarts ICE (RFC 8839 §4.4.1.1.1).
    pub fn remote_ufrag(&self) -> Option<&str> {
        self.remote.as_ref().map(|r| r.ufrag.as_str())
    }

    /// Replaces the generated local credentials (before gathering starts, or right after
    /// [`IceAgent::restart`]).
    pub fn set_local_credentials(&mut self, credentials: Credentials) {
        self.local_key = IntegrityKey::short_term(&credentials.pwd);
        self.local = credentials;
    }

    /// Sets the role before checks start: the offerer controls (RFC 8445 §6.1.1, RFC 8839
    /// §3.2). A lite agent stays controlled. Later conflicts resolve through §7.3.1.1.
    pub fn set_controlling(&mut self, now: Instant, controlling: bool) {
        self.switch_role(controlling);
        self.drive(now);
    }

    /// True while controlling (RFC 8445 §6.1.1).
    pub fn is_controlling(&self) -> bool {
        self.controlling
    }

    /// True for an ICE-lite agent.
    pub fn is_lite(&self) -> bool {
        self.config.lite
    }

    /// The configuration.
    pub fn config(&self) -> &AgentConfig {
        &self.config
    }

    /// The local candidates gathered so far.
    pub fn local_candidates(&self) -> &[Candidate] {
        &self.local_candidates
    }

    /// The remote candidates known so far, peer-reflexive ones included.
    pub fn remote_candidates(&self) -> &[Candidate] {
        &self.remote_candidates
    }

    /// The check list, highest priority first.
    pub fn pairs(&self) -> &[CandidatePair] {
        self.checklist.pairs()
    }

    /// The selected pair.
    pub fn selected_pair(&self) -> Option<&CandidatePair> {
        self.selected.and_then(|id| self.checklist.get(id))
    }

    /// The (local base, remote address) data is sent on, if any: the selected pair, or the
    /// previous one while an ICE restart is looking for a new pair. Only a pair whose own check
    /// succeeded is ever selected, and only while it has consent (RFC 7675 §5.1): a pair the
    /// peer nominated is not used before our check on it succeeds.
    pub fn selected_path(&self) -> Option<(SocketAddr, SocketAddr)> {
        if self.closed || self.failure.is_some() {
            return None;
        }
        let consent = self.active_consent()?;
        if consent.lost.is_some() {
            return None;
        }
        if self.consent.is_some() {
            let pair = self.selected_pair()?;
            if pair.state != PairState::Succeeded {
                return None;
            }
        }
        Some(consent.path)
    }

    /// Why the agent is `failed`, if it is.
    pub fn failure(&self) -> Option<IceFailure> {
        self.failure
    }

    /// `iceGatheringState`.
    pub fn gathering_state(&self) -> IceGatheringState {
        self.gathering_state
    }

    /// `iceConnectionState`.
    pub fn connection_state(&self) -> IceConnectionState {
        self.connection_state
    }

    // -----------------------------------------------------------------------------------------
    // Local side

    /// Registers a socket the driver bound, as a base for host candidates (RFC 8445 §5.1.1.1).
    /// An IPv6 scope id is kept for sending but never shown to the peer.
    pub fn add_local_socket(&mut self, now: Instant, base: SocketAddr) {
        if self.closed || self.bases.contains(&base) {
            return;
        }
        push_small(&mut self.bases, base);
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
        for base in self.bases.clone() {
            self.gather_base(now, base);
        }
        self.drive(now);
    }

    /// The local preference of a candidate on `base` gathered through server `slot` (0 for
    /// host candidates): distinct per base and per server (RFC 8445 §5.1.2.1), the address
    /// families interleaved by their rank among bases of the same family (RFC 8421 §4).
    pub(crate) fn local_preference(&self, base: SocketAddr, slot: usize) -> u16 {
        let rank = self
            .bases
            .iter()
            .filter(|b| b.is_ipv4() == base.is_ipv4())
            .position(|b| *b == base)
            .unwrap_or(0);
        local_preference(rank, &base.ip(), slot)
    }

    fn gather_base(&mut self, now: Instant, base: SocketAddr) {
        let local_pref = self.local_preference(base, 0);
        if self.config.transport_policy == TransportPolicy::All {
            let foundation = self
                .foundations
                .foundation(CandidateKind::Host, base.ip(), None);
            let host = Candidate {
                kind: CandidateKind::Host,
                address: without_scope(base),
                base: Some(base),
                priority: candidate_priority(CandidateKind::Host, local_pref, COMPONENT_RTP),
                foundation,
                component: COMPONENT_RTP,
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
    }

    /// Adds a local candidate: reports it, and pairs it when it is a host or relayed one.
    pub(crate) fn add_local_candidate(&mut self, now: Instant, candidate: Candidate) {
        // RFC 8445 §5.1.3: a candidate with the same address and base as another is redundant.
        if self
            .local_candidates
            .iter()
            .any(|c| c.address == candidate.address && c.base == candidate.base)
        {
            return;
        }
        let pairs_with = matches!(candidate.kind, CandidateKind::Host | CandidateKind::Relayed);
        // After our end-of-candidates nothing more is announced (RFC 8838 §4.4).
        if candidate.kind != CandidateKind::PeerReflexive && !self.end_of_candidates_sent {
            self.events
                .push_back(IceEvent::LocalCandidate(candidate.clone()));
        }
        push_small(&mut self.local_candidates, candidate);
        if pairs_with {
            let local = self.local_candidates.len() - 1;
            for remote in 0..self.remote_candidates.len() {
                self.form_pair(local, remote);
            }
            self.checklist.unfreeze_initial();
        }
        let _ = now;
    }

    /// The peer is an ICE-lite agent: this (full) agent takes the controlling role
    /// (RFC 8445 §6.1.1).
    pub fn set_remote_lite(&mut self, now: Instant, lite: bool) {
        self.remote_lite = lite;
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
        self.remote = Some(RemoteCredentials {
            ufrag: ufrag.to_owned(),
            key: IntegrityKey::short_term(pwd),
        });
        self.pac_deadline
            .get_or_insert(now + self.config.pac_timeout);
        for early in std::mem::take(&mut self.early_checks) {
            self.on_checked_by_peer(now, early.base, early.remote, early.use_candidate);
        }
        self.drive(now);
    }

    /// A remote candidate, trickled or from the SDP. Only UDP candidates of component 1 are
    /// handled; the driver resolves FQDN (mDNS) addresses before calling this.
    pub fn add_remote_candidate(
        &mut self,
        now: Instant,
        candidate: Candidate,
    ) -> Result<(), IceError> {
        if self.closed {
            return Err(IceError::Closed);
        }
        if candidate.component != COMPONENT_RTP {
            return Err(IceError::UnsupportedComponent(candidate.component));
        }
        validate_remote(&candidate)?;
        if self.remote_end_of_candidates {
            // RFC 8838 §4.4: the peer said it has no more; a late one is ignored.
            return Ok(());
        }
        if let Some(existing) = self
            .remote_candidates
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
        if self.remote_candidates.len() >= self.config.max_remote_candidates {
            return Err(IceError::TooManyCandidates);
        }
        self.push_remote_candidate(candidate, true);
        self.drive(now);
        Ok(())
    }

    /// Adds a remote candidate and, when `pair` is set, pairs it with every local host and
    /// relayed candidate (a peer-reflexive one forms only its triggered pair, §7.3.1.3).
    pub(crate) fn push_remote_candidate(&mut self, candidate: Candidate, pair: bool) -> usize {
        push_small(&mut self.remote_candidates, candidate);
        let remote = self.remote_candidates.len() - 1;
        if !pair {
            return remote;
        }
        for local in 0..self.local_candidates.len() {
            if matches!(
                self.local_candidates[local].kind,
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
        self.remote_end_of_candidates = true;
        self.drive(now);
    }

    fn remote_foundation_id(&mut self, foundation: &str) -> u32 {
        match self.remote_foundations.iter().position(|f| f == foundation) {
            Some(i) => i as u32,
            None => {
                push_small(&mut self.remote_foundations, foundation.to_owned());
                (self.remote_foundations.len() - 1) as u32
            }
        }
    }

    /// Pairs a local and a remote candidate of the same address family and scope
    /// (RFC 8445 §6.1.2.2). Once a pair is selected no new pairs form (§8.1.2).
    pub(crate) fn form_pair(&mut self, local: usize, remote: usize) -> Option<PairId> {
        if self.selected.is_some() {
            return None;
        }
        let l = &self.local_candidates[local];
        let r = &self.remote_candidates[remote];
        let base = l.base.unwrap_or(l.address);
        if base.is_ipv4() != r.address.is_ipv4()
            || is_link_local(&base) != is_link_local(&r.address)
        {
            return None;
        }
        let local_foundation: u32 = l.foundation.parse().unwrap_or(u32::MAX);
        let relayed = l.kind == CandidateKind::Relayed;
        let (local_priority, remote_priority) = (l.priority, r.priority);
        let remote_addr = scoped_like(r.address, base);
        let remote_foundation = r.foundation.clone();
        let remote_foundation = self.remote_foundation_id(&remote_foundation);
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
        };
        pair.set_role(self.controlling);
        let id = self.checklist.insert(pair, self.config.max_pairs);
        if relayed && id.is_some() {
            self.relay_permission(base, remote_addr);
        }
        id
    }

    // -----------------------------------------------------------------------------------------
    // Restart and close

    /// ICE restart (RFC 8445 §9): new local credentials, fresh gathering and check list. The
    /// previously selected pair keeps carrying data until a new pair is selected.
    pub fn restart(&mut self, now: Instant) {
        if self.closed {
            return;
        }
        // Keep the path that carries data, its consent and the credentials consent uses on it
        // (RFC 8445 §9); a path without consent stays behind.
        let carrying = self.selected_path().is_some();
        let current = match (&self.remote, self.consent) {
            (Some(remote), Some(consent)) if carrying => Some(PreviousGeneration {
                local: self.local.clone(),
                local_key: self.local_key.clone(),
                remote: remote.clone(),
                consent,
            }),
            _ => None,
        };
        if current.is_some() {
            // Every check, query and consent request of the old generation is forgotten; the
            // next consent request on the kept path goes out on its schedule.
            self.previous = current;
            self.transactions.cancel_where(|_| true);
        } else {
            // Restarting again before a new pair was selected: the older path stays.
            self.transactions.cancel_where(|p| {
                !matches!(
                    p,
                    Purpose::Consent {
                        generation: Generation::Previous,
                        ..
                    }
                )
            });
        }
        self.local = Credentials {
            ufrag: random_ice_string(&mut self.rng, 8),
            pwd: random_ice_string(&mut self.rng, 24),
        };
        self.local_key = IntegrityKey::short_term(&self.local.pwd);
        self.remote = None;
        self.remote_candidates.clear();
        self.remote_foundations.clear();
        self.remote_end_of_candidates = false;
        self.local_candidates.clear();
        self.foundations.clear();
        self.checklist.clear();
        self.gathering = Gathering::default();
        self.early_checks.clear();
        self.selected = None;
        self.consent = None;
        self.failure = None;
        self.lost_selection = false;
        self.pac_deadline = None;
        self.first_valid_at = None;
        self.end_of_candidates_sent = false;
        self.start_gathering(now);
    }

    /// Closes the agent: nothing more is sent or accepted (`closed`), except that TURN
    /// allocations are deleted (a Refresh with LIFETIME 0, RFC 8656 §8): keep draining
    /// [`IceAgent::poll_transmit`] and feeding datagrams and timeouts until
    /// [`IceAgent::poll_timeout`] returns `None`.
    pub fn close(&mut self, now: Instant) {
        if self.closed {
            return;
        }
        for r in &mut self.relays {
            r.client.close(now);
        }
        self.closed = true;
        self.outbox.clear();
        self.set_connection_state(IceConnectionState::Closed);
        self.update_timers();
    }

    // -----------------------------------------------------------------------------------------
    // Output

    /// The next event, if any.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<IceEvent> {
        let event = self.events.pop_front();
        if event.is_none() && self.events.capacity() > 0 {
            // Events are rare once connected: an idle agent keeps no room for them.
            self.events = VecDeque::new();
        }
        event
    }

    /// Writes the next datagram to send into `buf` and says where it goes.
    ///
    /// Datagrams from a relayed address come out framed for the TURN server (Send indication
    /// or ChannelData, RFC 8656 §11, §12), with `source` the base and `destination` the server.
    ///
    /// `Ok(None)` means nothing is left to send. `buf` must hold [`MIN_TRANSMIT_BUFFER`] bytes:
    /// a smaller one is refused with [`IceError::BufferTooSmall`] and nothing is taken from
    /// the queue. A datagram that can no longer be framed (its allocation is gone) is skipped,
    /// and the next one returned.
    #[must_use = "every queued datagram must be sent"]
    pub fn poll_transmit(&mut self, buf: &mut [u8]) -> Result<Option<Transmit>, IceError> {
        if buf.len() < MIN_TRANSMIT_BUFFER {
            return Err(IceError::BufferTooSmall);
        }
        if let Some(t) = self.poll_relay_transmit(buf) {
            return Ok(Some(t));
        }
        if self.closed {
            return Ok(None);
        }
        let now = self.last_now;
        while let Some(out) = self.outbox.pop_front() {
            self.note_sent(out.source, out.destination);
            let t = crate::relay::frame(
                &mut self.relays,
                now,
                out.source,
                out.destination,
                &out.payload,
                buf,
            );
            self.recycle(out.payload);
            if t.is_some() {
                return Ok(t);
            }
        }
        loop {
            let Some(t) = self.transactions.poll_transmit() else {
                return Ok(None);
            };
            let (source, destination) = (t.user.base(), t.destination);
            let framed =
                crate::relay::frame(&mut self.relays, now, source, destination, t.payload, buf);
            if framed.is_some() {
                self.note_sent(source, destination);
                return Ok(framed);
            }
        }
    }

    /// When [`IceAgent::handle_timeout`] should next be called. Pure.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    pub(crate) fn take_buffer(&mut self) -> Vec<u8> {
        let mut buf = self.spare.pop().unwrap_or_default();
        buf.clear();
        buf
    }

    fn recycle(&mut self, buf: Vec<u8>) {
        if self.spare.len() < 8 {
            self.spare.push(buf);
        }
    }

    // -----------------------------------------------------------------------------------------
    // State

    pub(crate) fn set_gathering_state(&mut self, state: IceGatheringState) {
        if self.gathering_state != state {
            self.gathering_state = state;
            self.events.push_back(IceEvent::GatheringStateChange(state));
        }
    }

    pub(crate) fn set_connection_state(&mut self, state: IceConnectionState) {
        // Browsers always pass through `connected` on the way to `completed`.
        if state == IceConnectionState::Completed
            && !matches!(
                self.connection_state,
                IceConnectionState::Connected | IceConnectionState::Completed
            )
        {
            self.set_connection_state(IceConnectionState::Connected);
        }
        if self.connection_state != state {
            self.connection_state = state;
            self.events
                .push_back(IceEvent::ConnectionStateChange(state));
        }
    }

    /// Random unit sample for jitter.
    pub(crate) fn unit_sample(&mut self) -> f64 {
        self.rng.random::<f64>()
    }

    /// 32 bytes from the agent's CSPRNG to seed a TURN client with.
    pub(crate) fn seed_bytes(&mut self) -> [u8; 32] {
        let mut seed = [0u8; 32];
        self.rng.fill_bytes(&mut seed);
        seed
    }

    /// A fresh tie-breaker (RFC 8445 §7.2.5.1 after a role conflict).
    pub(crate) fn new_tie_breaker(&mut self) -> u64 {
        self.rng.next_u64()
    }

    pub(crate) fn new_transaction_id(&mut self) -> TransactionId {
        let mut id = [0u8; 12];
        self.rng.fill_bytes(&mut id);
        TransactionId::new(id)
    }

    /// Recomputes gathering and connection state (webrtc-pc §5.6.3, §5.6.4).
    pub(crate) fn update_states(&mut self, now: Instant) {
        if self.closed {
            return;
        }
        if self.gathering.is_complete()
            && self.relays_done()
            && self.gathering_state == IceGatheringState::Gathering
        {
            self.set_gathering_state(IceGatheringState::Complete);
            if !self.end_of_candidates_sent {
                self.end_of_candidates_sent = true;
                self.events.push_back(IceEvent::EndOfCandidates);
            }
        }
        match self.derive_connection_state(now) {
            Ok(state) => self.set_connection_state(state),
            Err(failure) => {
                self.failure = Some(failure);
                self.set_connection_state(IceConnectionState::Failed);
            }
        }
    }

    /// The connection state as webrtc-pc §5.6.4 defines it, or why the agent failed.
    fn derive_connection_state(&self, now: Instant) -> Result<IceConnectionState, IceFailure> {
        use crate::consent::ConsentLoss;
        // `failed` is sticky until a restart.
        if let Some(failure) = self.failure {
            return Err(failure);
        }
        let timeout = self.consent_response_timeout();
        let cap = self.config.disconnect_timeout;
        if let Some(consent) = &self.consent {
            match consent.lost {
                Some(ConsentLoss::Expired) => return Err(IceFailure::ConsentExpired),
                Some(ConsentLoss::Revoked) => return Err(IceFailure::ConsentRevoked),
                None => {}
            }
            if now >= consent.disconnect_at(timeout, cap) {
                return Ok(IceConnectionState::Disconnected);
            }
        }
        if self.selected.is_some() {
            let done = self.remote_end_of_candidates
                && self.gathering_state == IceGatheringState::Complete
                && !self.checklist.has_pending();
            return Ok(if done {
                IceConnectionState::Completed
            } else {
                IceConnectionState::Connected
            });
        }
        if let Some(previous) = &self.previous {
            // An ICE restart: the old path carries data, and its consent decides.
            if now >= previous.consent.disconnect_at(timeout, cap) {
                return Ok(IceConnectionState::Disconnected);
            }
            return Ok(match self.connection_state {
                IceConnectionState::Disconnected => IceConnectionState::Connected,
                state => state,
            });
        }
        let any_valid = self.checklist.pairs().iter().any(|p| p.valid);
        // RFC 8863 §4: never give up before the PAC timer. Then give up without a valid pair,
        // or when the peer has no more candidates and nothing left to check can be selected.
        if self.pac_deadline.is_some_and(|pac| now >= pac) {
            let exhausted = self.remote_end_of_candidates && !self.checklist.has_pending();
            if !any_valid || exhausted {
                return Err(IceFailure::NoWorkingPair);
            }
        }
        if self.lost_selection {
            return Ok(IceConnectionState::Disconnected);
        }
        if self.remote.is_some() && (self.checklist.len() > 0 || !self.remote_candidates.is_empty())
        {
            return Ok(IceConnectionState::Checking);
        }
        Ok(IceConnectionState::New)
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
fn is_link_local(addr: &SocketAddr) -> bool {
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
fn scoped_like(remote: SocketAddr, base: SocketAddr) -> SocketAddr {
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

//! [`IceAgent`]: the sans-IO ICE agent. This file holds the struct, its construction and the
//! inspection and output API; the local and remote sides, the check exchange, nomination,
//! consent, relays, restart and the W3C states live in their own modules.

use core::fmt;
use core::net::SocketAddr;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use floe_stun::{ClientTransactions, IntegrityKey, RttEstimator, TransactionConfig, TransactionId};
use rand::rngs::StdRng;
use rand::{Rng, RngExt, SeedableRng};

use crate::candidate::Candidate;
use crate::checklist::CheckList;
use crate::config::AgentConfig;
use crate::consent::ConsentFreshness;
use crate::diagnosis::{CheckSummary, Diagnostics};
use crate::gathering::Gathering;
use crate::local::LocalSide;
use crate::outbox::Outbox;
use crate::pacer::Pacer;
use crate::pair::{CandidatePair, PairId, PairState};
use crate::relay::Relay;
use crate::remote::{RemoteCredentials, RemoteSide};
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
    /// An ICE-TCP connection was refused or closed (RFC 6544): the reason.
    StreamRefused(&'static str),
}

/// Why the agent went to `failed` ([`IceAgent::failure`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum IceFailure {
    /// Every candidate pair failed, and the PAC timer (RFC 8863 §4) ran out: what the checks
    /// went through, whose `Display` says why in words a user can act on.
    NoWorkingPair(CheckSummary),
    /// Consent expired: no response on the selected pair for 30 s (RFC 7675 §5.1).
    ConsentExpired,
    /// The peer revoked consent with an authenticated 403 (RFC 7675 §5.2).
    ConsentRevoked,
}

impl fmt::Display for IceFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IceFailure::NoWorkingPair(summary) => return summary.fmt(f),
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
            IceError::StreamRefused(why) => write!(f, "TCP connection refused: {why}"),
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
        /// The request's initial RTO: an answer that came later may answer a retransmission,
        /// so it gives no RTT sample (Karn's algorithm, RFC 6298 §3).
        rto: Duration,
    },
    /// A consent-freshness request on the path of `generation`.
    Consent {
        generation: Generation,
        base: SocketAddr,
        sent_at: Instant,
    },
    /// A server-reflexive query.
    Gather { base: SocketAddr, sent_at: Instant },
}

impl Purpose {
    pub(crate) fn base(&self) -> SocketAddr {
        match *self {
            Purpose::Check { base, .. }
            | Purpose::Consent { base, .. }
            | Purpose::Gather { base, .. } => base,
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

/// The sans-IO ICE agent for one data stream with one component.
///
/// Feed it with [`IceAgent::handle_datagram`], [`IceAgent::handle_timeout`] and the signalling
/// calls; drain [`IceAgent::poll_transmit`] and [`IceAgent::poll_event`] after each; wake it at
/// [`IceAgent::poll_timeout`].
pub struct IceAgent {
    /// Shared by every agent built from the same `Arc` (a server's sessions).
    pub(crate) config: Arc<AgentConfig>,
    pub(crate) rng: Randomness,
    /// Paces new checks (RFC 8445 §14.2); may be shared with other agents. Created at the
    /// first check unless given.
    pub(crate) pacer: Option<Pacer>,
    /// Paces server queries on their own, so gathering never holds back a check (a
    /// departure from RFC 8445 §14.1, see DEVIATIONS.md).
    pub(crate) gather_pacer: Option<Pacer>,
    /// Round trips of checks answered on their first transmission, towards any peer address.
    pub(crate) peer_rtt: RttEstimator,
    /// Round trips of server-reflexive queries, before any check has been answered.
    pub(crate) server_rtt: RttEstimator,
    pub(crate) controlling: bool,
    pub(crate) tie_breaker: u64,
    /// Our credentials, bases and candidates.
    pub(crate) local: LocalSide,
    /// The peer's credentials and candidates.
    pub(crate) remote: RemoteSide,
    pub(crate) checklist: CheckList,
    pub(crate) transactions: ClientTransactions<Purpose>,
    pub(crate) gathering: Gathering,
    /// TURN allocations, one per (base, server).
    pub(crate) relays: Vec<Relay>,
    /// ICE-TCP listeners and connections (RFC 6544), once `ice_tcp` put any there.
    pub(crate) tcp: Option<Box<crate::tcp::Tcp>>,
    /// Application data relayed over TURN streams, for [`IceAgent::poll_stream_data`].
    /// Boxed: 8 bytes in the many agents that never relay over a stream, instead of 32.
    #[allow(clippy::box_collection)]
    pub(crate) stream_data: Option<Box<VecDeque<Vec<u8>>>>,
    pub(crate) selected: Option<PairId>,
    /// The generation before an ICE restart, until a new pair is selected.
    pub(crate) previous: Option<Box<PreviousGeneration>>,
    /// Consent on the selected pair.
    pub(crate) consent: Option<ConsentFreshness>,
    /// Why the agent failed; `failed` is sticky until a restart (webrtc-pc §5.6.4).
    pub(crate) failure: Option<Box<IceFailure>>,
    /// What no pair remembers, for [`IceAgent::check_summary`].
    pub(crate) diagnostics: Diagnostics,
    /// A pair was selected in this generation and is gone (its TURN stream closed).
    pub(crate) lost_selection: bool,
    pub(crate) pac_deadline: Option<Instant>,
    pub(crate) first_valid_at: Option<Instant>,
    pub(crate) gathering_state: IceGatheringState,
    pub(crate) connection_state: IceConnectionState,
    pub(crate) end_of_candidates_sent: bool,
    pub(crate) closed: bool,
    pub(crate) events: VecDeque<IceEvent>,
    /// Answers to checks and keepalives, written when sent.
    pub(crate) outbox: Outbox,
    /// The latest `now` seen, so `poll_timeout` can say "at once" without a clock.
    pub(crate) last_now: Instant,
    /// Every deadline, refreshed at the end of each input.
    pub(crate) timers: TimerTable,
}

impl fmt::Debug for IceAgent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IceAgent")
            .field("controlling", &self.controlling)
            .field("local", &self.local.credentials)
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
/// The smallest keepalive interval Tr the agent accepts (RFC 8445 §11: 15 s).
const MIN_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(15);
/// Configured durations are clamped to this, so `now + d` cannot overflow `Instant`.
const MAX_DURATION: Duration = Duration::from_secs(86_400);

const ICE_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

pub(crate) fn random_ice_string(rng: &mut StdRng, len: usize) -> String {
    (0..len)
        .map(|_| char::from(ICE_CHARS[rng.random_range(0..ICE_CHARS.len())]))
        .collect()
}

impl IceAgent {
    /// A new agent. All randomness (credentials, tie-breaker, transaction ids, consent jitter)
    /// comes from a CSPRNG (ChaCha12) keyed with `seed`: fill it from the OS (`getrandom`).
    /// The same seed gives the same run, for tests.
    ///
    /// `config` may be an [`AgentConfig`] or an `Arc` of one: agents built from one `Arc` share
    /// it instead of holding a copy each.
    pub fn new(config: impl Into<Arc<AgentConfig>>, now: Instant, seed: [u8; 32]) -> Self {
        Self::build(config.into(), now, seed, None)
    }

    /// A new agent that shares `pacer` with other agents of the process (RFC 8445 §14.2).
    pub fn with_pacer(
        config: impl Into<Arc<AgentConfig>>,
        now: Instant,
        seed: [u8; 32],
        pacer: Pacer,
    ) -> Self {
        Self::build(config.into(), now, seed, Some(pacer))
    }

    /// An agent of its own pacer (created when it first checks: a lite agent never does) or of
    /// a shared one.
    fn build(
        mut config: Arc<AgentConfig>,
        now: Instant,
        seed: [u8; 32],
        pacer: Option<Pacer>,
    ) -> Self {
        let clamped = clamped(&config);
        if clamped != *config {
            config = Arc::new(clamped);
        }
        let mut rng = Randomness::new(seed);
        let local = rng.draw(|rng| Credentials {
            ufrag: random_ice_string(rng, 8),
            pwd: random_ice_string(rng, 24),
        });
        let tie_breaker = rng.draw(|rng| rng.next_u64());
        let transactions = ClientTransactions::new(TransactionConfig {
            initial_rto: config.check_rto,
            max_transmissions: config.check_transmissions,
            max_outstanding: config.max_pairs * 2 + 64,
            ..TransactionConfig::default()
        });
        Self {
            controlling: config.controlling && !config.lite,
            tie_breaker,
            rng,
            gather_pacer: None,
            pacer,
            peer_rtt: RttEstimator::new(),
            server_rtt: RttEstimator::new(),
            local: LocalSide::new(local),
            remote: RemoteSide::default(),
            checklist: CheckList::default(),
            transactions,
            gathering: Gathering::default(),
            relays: Vec::new(),
            tcp: None,
            stream_data: None,
            selected: None,
            previous: None,
            consent: None,
            failure: None,
            diagnostics: Diagnostics::default(),
            lost_selection: false,
            pac_deadline: None,
            first_valid_at: None,
            gathering_state: IceGatheringState::New,
            connection_state: IceConnectionState::New,
            end_of_candidates_sent: false,
            closed: false,
            events: VecDeque::new(),
            outbox: Outbox::default(),
            last_now: now,
            timers: TimerTable::default(),
            config,
        }
    }
}

/// The configuration with its durations brought into the ranges the agent works with.
fn clamped(config: &AgentConfig) -> AgentConfig {
    let mut config = config.clone();
    {
        // Zero intervals would make the agent spin at one instant; RFC 8445 §14.2 puts Ta at
        // 5 ms or more.
        for d in [
            &mut config.ta,
            &mut config.gather_timeout,
            &mut config.check_rto,
            &mut config.min_check_rto,
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
        config.min_check_rto = config.min_check_rto.clamp(MIN_TA, config.check_rto);
        config.consent_interval = config.consent_interval.max(MIN_CONSENT_INTERVAL);
        config.keepalive_interval = config.keepalive_interval.max(MIN_KEEPALIVE_INTERVAL);
    }
    config
}

impl IceAgent {
    // -----------------------------------------------------------------------------------------
    // Inspection

    /// Our ICE credentials, for the SDP `a=ice-ufrag` / `a=ice-pwd`.
    pub fn local_credentials(&self) -> &Credentials {
        &self.local.credentials
    }

    /// The peer's ice-ufrag, once set (cleared by [`IceAgent::restart`]): a new one in an offer
    /// means the peer restarts ICE (RFC 8839 §4.4.1.1.1).
    pub fn remote_ufrag(&self) -> Option<&str> {
        self.remote.credentials.as_ref().map(|r| r.ufrag.as_str())
    }

    /// Replaces the generated local credentials (before gathering starts, or right after
    /// [`IceAgent::restart`]).
    pub fn set_local_credentials(&mut self, credentials: Credentials) {
        self.local.set_credentials(credentials);
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
        &self.local.candidates
    }

    /// The remote candidates known so far, peer-reflexive ones included.
    pub fn remote_candidates(&self) -> &[Candidate] {
        &self.remote.candidates
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
        self.failure.as_deref().copied()
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
        while let Some(out) = self.outbox.pop() {
            let key = match out.generation() {
                None => None,
                Some(Generation::Current) => Some(&self.local.key),
                Some(Generation::Previous) => match &self.previous {
                    Some(p) => Some(&p.local_key),
                    None => continue,
                },
            };
            let t = if let Some(route) = self.tcp_route(out.source, out.destination) {
                // Over a TCP connection, framed (RFC 6544 §3); XOR-MAPPED-ADDRESS says where
                // the request really came from. Without an open connection it is dropped.
                route.and_then(|route| {
                    let mut payload = [0u8; crate::checks::STUN_BUF];
                    let mut real = out;
                    real.destination = route.1;
                    let len = real.write(key, &mut payload)?;
                    Self::tcp_frame_out(route, &payload[..len], buf)
                })
            } else if self.relays.iter().any(|r| r.relayed == Some(out.source)) {
                let mut payload = [0u8; crate::checks::STUN_BUF];
                out.write(key, &mut payload).and_then(|len| {
                    let (source, destination) = (out.source, out.destination);
                    crate::relay::frame(
                        &mut self.relays,
                        now,
                        source,
                        destination,
                        &payload[..len],
                        buf,
                    )
                })
            } else {
                out.write(key, buf).map(|len| Transmit {
                    source: out.source,
                    destination: out.destination,
                    len,
                    ice_tcp: false,
                })
            };
            if t.is_some() {
                self.note_sent(out.source, out.destination);
                return Ok(t);
            }
        }
        loop {
            let Some(t) = self.transactions.poll_transmit() else {
                return Ok(None);
            };
            let (source, destination) = (t.user.base(), t.destination);
            let route =
                crate::tcp::route(self.tcp.as_deref(), &self.local.bases, source, destination);
            let framed = match route {
                Some(route) => route.and_then(|r| Self::tcp_frame_out(r, t.payload, buf)),
                None => {
                    crate::relay::frame(&mut self.relays, now, source, destination, t.payload, buf)
                }
            };
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

    // -----------------------------------------------------------------------------------------
    // State

    /// Random unit sample for jitter.
    pub(crate) fn unit_sample(&mut self) -> f64 {
        self.rng.draw(|rng| rng.random::<f64>())
    }

    /// 32 bytes from the agent's CSPRNG to seed a TURN client with.
    pub(crate) fn seed_bytes(&mut self) -> [u8; 32] {
        let mut seed = [0u8; 32];
        self.rng.draw(|rng| rng.fill_bytes(&mut seed));
        seed
    }

    /// A fresh tie-breaker (RFC 8445 §7.2.5.1 after a role conflict).
    pub(crate) fn new_tie_breaker(&mut self) -> u64 {
        self.rng.draw(|rng| rng.next_u64())
    }

    pub(crate) fn new_transaction_id(&mut self) -> TransactionId {
        let mut id = [0u8; 12];
        self.rng.draw(|rng| rng.fill_bytes(&mut id));
        TransactionId::new(id)
    }
}
/// The agent's randomness (credentials, tie-breakers, transaction ids, jitter): a 32-byte key
/// from which each draw builds a ChaCha12 generator (rand's `StdRng`), takes the next key
/// first and then what it needs, and drops the generator ("fast key erasure"). An agent holds
/// 32 bytes instead of the generator's 320, and a key once replaced cannot be recovered from
/// what the agent holds.
pub(crate) struct Randomness {
    key: [u8; 32],
}

impl Randomness {
    pub(crate) fn new(seed: [u8; 32]) -> Self {
        Self { key: seed }
    }

    pub(crate) fn draw<T>(&mut self, f: impl FnOnce(&mut StdRng) -> T) -> T {
        let mut rng = StdRng::from_seed(self.key);
        rng.fill_bytes(&mut self.key);
        f(&mut rng)
    }
}

//! Connectivity checks (RFC 8445 §7): sending requests, answering the peer's, and acting on
//! responses.

use core::net::SocketAddr;
use std::time::{Duration, Instant};

use floe_stun::attributes::{
    ErrorCode, IceControlled, IceControlling, MappedAddress, Priority, UseCandidate, Username,
    XorMappedAddress,
};
use floe_stun::redact::Addr;
use floe_stun::{
    is_stun, types, Attribute, AttributeError, Class, IntegrityKey, Message, MessageType,
    MessageWriter, Method, RawAttribute, TransactionId, TransactionOutcome,
};
use tracing::{debug, info, trace};

use crate::agent::{Generation, IceAgent, Purpose};
use crate::candidate::{candidate_priority, push_small, Candidate, CandidateKind, COMPONENT_RTP};
use crate::diagnosis::{millis, PairFailure};
use crate::outbox::{Answer, Outgoing, Reply, MAX_UNKNOWN};
use crate::pair::{PairId, PairState};
use crate::remote::EarlyCheck;
use crate::state::Verdict;
use crate::tcp::{TcpCheck, TCP_CHECK_TIMEOUT};

/// Which credentials sign a request: USERNAME is "remote:local" (RFC 8445 §7.2.2).
struct Signer<'a> {
    remote_ufrag: &'a str,
    local_ufrag: &'a str,
    key: &'a IntegrityKey,
}

/// The answer when both sides claim the same role and we keep ours (RFC 8445 §7.3.1.1).
const ROLE_CONFLICT: Answer = Answer::Error(ErrorCode::ROLE_CONFLICT, "Role Conflict");

/// Large enough for any request or response the agent writes.
pub(crate) const STUN_BUF: usize = 548;

/// What a check is read for, in one pass over its attributes: the first of each type counts,
/// and `Some(Err(..))` marks one that is malformed. Answering checks is the hot path of a
/// server, and looking each attribute up on its own walked the message six times.
struct CheckAttributes<'a> {
    username: Option<Result<Username<'a>, AttributeError>>,
    priority: Option<Result<Priority, AttributeError>>,
    controlling: Option<Result<IceControlling, AttributeError>>,
    controlled: Option<Result<IceControlled, AttributeError>>,
    use_candidate: bool,
    /// A 420 for the unknown comprehension-required attributes (RFC 8489 §6.3.1.1).
    unknown: Option<Answer>,
}

impl<'a> CheckAttributes<'a> {
    fn read(msg: &Message<'a>) -> Self {
        fn first<'a, A: Attribute<'a>>(
            slot: &mut Option<Result<A, AttributeError>>,
            raw: &RawAttribute<'a>,
            tid: &TransactionId,
        ) {
            if slot.is_none() {
                *slot = Some(A::decode(raw.value, tid));
            }
        }
        let tid = msg.transaction_id();
        let mut attrs = CheckAttributes {
            username: None,
            priority: None,
            controlling: None,
            controlled: None,
            use_candidate: false,
            unknown: None,
        };
        let mut unknown = [0u16; MAX_UNKNOWN];
        let mut unknowns = 0;
        for raw in msg.attributes() {
            match raw.attr_type {
                types::USERNAME => first(&mut attrs.username, &raw, &tid),
                types::PRIORITY => first(&mut attrs.priority, &raw, &tid),
                types::ICE_CONTROLLING => first(&mut attrs.controlling, &raw, &tid),
                types::ICE_CONTROLLED => first(&mut attrs.controlled, &raw, &tid),
                types::USE_CANDIDATE => attrs.use_candidate = true,
                t if types::is_comprehension_required(t)
                    && !types::is_known(t)
                    && unknowns < MAX_UNKNOWN =>
                {
                    unknown[unknowns] = t;
                    unknowns += 1;
                }
                _ => {}
            }
        }
        if unknowns > 0 {
            attrs.unknown = Some(Answer::unknown_attributes(
                unknown[..unknowns].iter().copied(),
            ));
        }
        attrs
    }
}

impl IceAgent {
    /// The PRIORITY a check from `base` carries: what a peer-reflexive candidate learnt from it
    /// would get (RFC 8445 §7.1.1).
    pub(crate) fn prflx_priority(&self, base: SocketAddr) -> u32 {
        if let Some(priority) = self.tcp_prflx_priority(base) {
            return priority;
        }
        candidate_priority(
            CandidateKind::PeerReflexive,
            self.local_preference(base, 0),
            COMPONENT_RTP,
        )
    }

    /// Writes and starts a Binding request on a pair: USERNAME, PRIORITY, the role attribute,
    /// USE-CANDIDATE when nominating, MESSAGE-INTEGRITY with the peer's password and FINGERPRINT
    /// (RFC 8445 §7.2.2).
    pub(crate) fn send_binding_request(
        &mut self,
        now: Instant,
        pair_id: PairId,
        use_candidate: bool,
    ) -> bool {
        let Some(pair) = self.checklist.get(pair_id) else {
            return false;
        };
        let (base, destination) = (pair.base, pair.remote_addr);
        let tcp = match self.tcp_prepare_check(now, pair_id) {
            TcpCheck::Udp => false,
            TcpCheck::Send => true,
            TcpCheck::Wait => {
                self.tcp_wait_for_connection(now, pair_id, use_candidate);
                return true;
            }
            TcpCheck::Refused => return false,
        };
        let tid = self.new_transaction_id();
        let mut buf = [0u8; STUN_BUF];
        let Some(len) = self.encode_check(&mut buf, tid, base, use_candidate) else {
            return false;
        };
        // Over TCP a check is sent once and waits Ti = 39.5 s (RFC 8489 §6.2.2, reliable
        // transports), which also keeps every answer an RTT sample.
        let rto = if tcp {
            TCP_CHECK_TIMEOUT
        } else {
            self.check_rto()
        };
        let purpose = Purpose::Check {
            pair: pair_id,
            base,
            use_candidate,
            controlling: self.controlling,
            sent_at: now,
            rto,
        };
        let started = if tcp {
            self.transactions
                .start_once(now, destination, &buf[..len], rto, purpose)
        } else {
            self.transactions
                .start_with_rto(now, destination, &buf[..len], rto, purpose)
        };
        if started.is_err() {
            return false;
        }
        if let Some(pair) = self.checklist.get_mut(pair_id) {
            pair.stats.requests_sent += 1;
            pair.state = PairState::InProgress;
            pair.transaction = Some(tid);
            pair.check_sent_at = Some(now);
            pair.nominating = use_candidate;
        }
        debug!(
            pair = pair_id.0,
            %tid,
            local = %Addr(base),
            remote = %Addr(destination),
            use_candidate,
            controlling = self.controlling,
            rto_ms = rto.as_millis() as u64,
            "check sent"
        );
        true
    }

    /// Sends one consent request on the path of `generation`, signed with that generation's
    /// credentials; it is never retransmitted (RFC 7675 §5.1) and forgotten when consent
    /// expires.
    pub(crate) fn send_consent_request(&mut self, now: Instant, generation: Generation) {
        let tid = self.new_transaction_id();
        let mut buf = [0u8; STUN_BUF];
        let (Some(path), Some(signer)) = (
            self.consent_of(generation).map(|c| c.path),
            self.signer(generation),
        ) else {
            return;
        };
        let Some(len) = self.encode_binding_request(&mut buf, tid, path.0, false, &signer) else {
            return;
        };
        let purpose = Purpose::Consent {
            generation,
            base: path.0,
            sent_at: now,
        };
        let timeout = self.config.consent_timeout;
        if self
            .transactions
            .start_once(now, path.1, &buf[..len], timeout, purpose)
            .is_ok()
        {
            trace!(%tid, local = %Addr(path.0), remote = %Addr(path.1), "consent request sent");
            if let Some(p) = self.selected.and_then(|id| self.checklist.get_mut(id)) {
                if (p.base, p.remote_addr) == path {
                    p.stats.requests_sent += 1;
                }
            }
        }
    }

    /// Writes a check's Binding request into `buf` with this generation's credentials.
    fn encode_check(
        &self,
        buf: &mut [u8],
        tid: TransactionId,
        base: SocketAddr,
        use_candidate: bool,
    ) -> Option<usize> {
        let signer = self.signer(Generation::Current)?;
        self.encode_binding_request(buf, tid, base, use_candidate, &signer)
    }

    /// The credentials requests of `generation` are signed with, once the peer's are known.
    fn signer(&self, generation: Generation) -> Option<Signer<'_>> {
        let (remote, local) = match generation {
            Generation::Current => (self.remote.credentials.as_ref()?, &self.local.credentials),
            Generation::Previous => {
                let p = self.previous.as_ref()?;
                (&p.remote, &p.local)
            }
        };
        Some(Signer {
            remote_ufrag: &remote.ufrag,
            local_ufrag: &local.ufrag,
            key: remote.key.as_deref()?,
        })
    }

    /// Writes a Binding request into `buf`: USERNAME, PRIORITY, the role attribute,
    /// USE-CANDIDATE when nominating, MESSAGE-INTEGRITY and FINGERPRINT; returns its length.
    fn encode_binding_request(
        &self,
        buf: &mut [u8],
        tid: TransactionId,
        base: SocketAddr,
        use_candidate: bool,
        signer: &Signer<'_>,
    ) -> Option<usize> {
        let username = format!("{}:{}", signer.remote_ufrag, signer.local_ufrag);
        let priority = self.prflx_priority(base);
        let mut w = MessageWriter::new(buf, MessageType::BINDING_REQUEST, tid).ok()?;
        let ok = w.add(&Username(&username)).is_ok()
            && w.add(&Priority(priority)).is_ok()
            && if self.controlling {
                w.add(&IceControlling(self.tie_breaker)).is_ok()
            } else {
                w.add(&IceControlled(self.tie_breaker)).is_ok()
            }
            && (!use_candidate || w.add(&UseCandidate).is_ok())
            && w.add_message_integrity(signer.key).is_ok()
            && w.add_fingerprint().is_ok();
        ok.then(|| w.finish())
    }

    /// Retransmits the in-progress check on a pair at once, because the peer's check on the
    /// same pair just arrived (RFC 8445 §7.3.1.4: "If the state of that pair is In-Progress,
    /// the agent SHOULD generate an immediate retransmit of the Binding request for the check
    /// in progress"). Without it, a check whose first transmissions were lost (or dropped by
    /// the peer's NAT before the peer opened it) waits out an RTO that doubles up to 16 s,
    /// although the peer has just proved the path works.
    ///
    /// The transaction keeps its id (a response to any copy completes it) and restarts its
    /// retransmission schedule from the initial RTO. At most one such retransmit per Ta per
    /// pair, so two agents answering each other's requests cannot ping-pong at line rate.
    pub(crate) fn retransmit_check(&mut self, now: Instant, pair_id: PairId) {
        let ta = self.config.ta;
        let Some(pair) = self.checklist.get(pair_id) else {
            return;
        };
        let (Some(tid), base, destination) = (pair.transaction, pair.base, pair.remote_addr) else {
            return;
        };
        if pair.check_sent_at.is_some_and(|t| now < t + ta) {
            return;
        }
        self.resend_check(now, pair_id, tid, base, destination);
    }

    /// Restarts the in-progress check's transaction at once (same id, schedule from the
    /// initial RTO).
    pub(crate) fn resend_check(
        &mut self,
        now: Instant,
        pair_id: PairId,
        tid: TransactionId,
        base: SocketAddr,
        destination: SocketAddr,
    ) {
        let Some(Purpose::Check { use_candidate, .. }) = self.transactions.get(tid).copied() else {
            return;
        };
        if self.checklist.get(pair_id).is_some_and(|p| p.tcp.is_some()) {
            // A reliable transport: the request got there (RFC 8489 §6.2.2).
            return;
        }
        let mut buf = [0u8; STUN_BUF];
        // Encode first: the role may have changed since, and the request must say so.
        let Some(len) = self.encode_check(&mut buf, tid, base, use_candidate) else {
            return;
        };
        let controlling = self.controlling;
        let Some(mut purpose) = self.transactions.cancel(tid) else {
            return;
        };
        let rto = self.check_rto();
        if let Purpose::Check {
            controlling: role,
            rto: initial,
            ..
        } = &mut purpose
        {
            *role = controlling;
            *initial = rto;
        }
        if self
            .transactions
            .start_with_rto(now, destination, &buf[..len], rto, purpose)
            .is_err()
        {
            self.fail_pair(pair_id, PairFailure::NotSent);
            return;
        }
        if let Some(pair) = self.checklist.get_mut(pair_id) {
            pair.stats.requests_sent += 1;
            pair.check_sent_at = Some(now);
        }
        trace!(pair = pair_id.0, %tid, "check retransmitted at once");
    }

    /// Takes a datagram from the driver: `local` is the socket (base) it arrived on.
    ///
    /// Datagrams from a configured TURN server go to the TURN client of that (base, server)
    /// first; data it relays is handled as if it had arrived on the relayed address from the
    /// peer, and application data among it comes back as [`Verdict::RelayedData`] with the
    /// payload's place in `datagram`.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        datagram: &[u8],
    ) -> Verdict {
        if let Some(verdict) = self.handle_relay_datagram(now, local, remote, datagram) {
            return verdict;
        }
        if self.closed {
            return Verdict::NotForUs;
        }
        self.handle_direct(now, local, remote, datagram)
    }

    /// A datagram as received on `local` (a socket or a relayed address) from `remote`.
    pub(crate) fn handle_direct(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        datagram: &[u8],
    ) -> Verdict {
        if !is_stun(datagram) {
            return self.application_data(local, remote, datagram.len());
        }
        let Ok(msg) = Message::decode(datagram) else {
            return Verdict::NotForUs;
        };
        if msg.method() != Method::BINDING {
            return Verdict::NotForUs;
        }
        let verdict = match msg.class() {
            Class::Request => {
                self.handle_binding_request(now, local, remote, &msg);
                Verdict::Stun
            }
            // Binding indications are keepalives (RFC 8445 §11): nothing to do.
            Class::Indication => Verdict::Stun,
            Class::SuccessResponse | Class::ErrorResponse => {
                self.handle_binding_response(now, local, remote, &msg)
            }
        };
        self.drive(now);
        verdict
    }

    fn application_data(&mut self, local: SocketAddr, remote: SocketAddr, len: usize) -> Verdict {
        let known = self
            .checklist
            .pairs_mut()
            .iter_mut()
            .find(|p| p.base == local && p.remote_addr == remote);
        let previous = self.previous.as_ref().map(|p| p.consent.path);
        match known {
            Some(pair) => {
                pair.stats.bytes_received += len as u64;
                Verdict::ApplicationData
            }
            None if previous == Some((local, remote)) => Verdict::ApplicationData,
            None => Verdict::NotForUs,
        }
    }

    /// Answers a check (RFC 8445 §7.3). Requests that fail FINGERPRINT, USERNAME or
    /// MESSAGE-INTEGRITY validation are dropped without an answer (a documented deviation:
    /// no reflection towards forged sources), and nothing in them is acted on. Authenticated
    /// requests that are malformed get a signed 400, or 420 for unknown comprehension-required
    /// attributes (RFC 8489 §6.3.1.1).
    fn handle_binding_request(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        msg: &Message<'_>,
    ) {
        if !self.is_base(local) || msg.verify_fingerprint().is_err() {
            return;
        }
        let attrs = CheckAttributes::read(msg);
        // RFC 8445 §7.3: USERNAME is "our-ufrag:their-ufrag".
        let Some(Ok(Username(username))) = attrs.username else {
            return;
        };
        let Some((ours, _theirs)) = username.split_once(':') else {
            return;
        };
        if ours != self.local.credentials.ufrag {
            self.answer_previous_generation(now, local, remote, msg, ours);
            return;
        }
        if msg.verify_integrity(&self.local.key).is_err() {
            self.diagnostics.peer_checks_refused += 1;
            debug!(
                local = %Addr(local),
                remote = %Addr(remote),
                reason = "MESSAGE-INTEGRITY does not match our ice-pwd",
                "check from the peer dropped"
            );
            return;
        }
        trace!(local = %Addr(local), remote = %Addr(remote), "check received");
        if let Some(unknown) = attrs.unknown {
            self.respond(local, remote, msg, unknown, Generation::Current);
            return;
        }
        let (Some(Ok(Priority(priority))), Ok(controlling), Ok(controlled)) = (
            attrs.priority,
            attrs.controlling.transpose(),
            attrs.controlled.transpose(),
        ) else {
            let bad = Answer::Error(ErrorCode::BAD_REQUEST, "Bad Request");
            self.respond(local, remote, msg, bad, Generation::Current);
            return;
        };
        if controlling.is_some() == controlled.is_some() || priority == 0 {
            // RFC 8445 §7.1.1-§7.1.3: exactly one role attribute, and a PRIORITY.
            let bad = Answer::Error(ErrorCode::BAD_REQUEST, "Bad Request");
            self.respond(local, remote, msg, bad, Generation::Current);
            return;
        }
        let use_candidate = attrs.use_candidate;

        // Role conflict (RFC 8445 §7.3.1.1).
        let conflict = |keep: bool| {
            let reason = if keep {
                "our tie-breaker wins: answered 487"
            } else {
                "their tie-breaker wins: switching role"
            };
            info!(remote = %Addr(remote), controlling = self.controlling, reason, "role conflict");
        };
        match (self.controlling, controlling, controlled) {
            (true, Some(IceControlling(theirs)), _) => {
                conflict(self.tie_breaker >= theirs);
                if self.tie_breaker >= theirs {
                    self.respond(local, remote, msg, ROLE_CONFLICT, Generation::Current);
                    return;
                }
                self.switch_role(false);
            }
            (false, _, Some(IceControlled(theirs))) => {
                conflict(self.tie_breaker < theirs);
                if self.tie_breaker >= theirs {
                    self.switch_role(true);
                } else {
                    self.respond(local, remote, msg, ROLE_CONFLICT, Generation::Current);
                    return;
                }
            }
            _ => {}
        }

        self.respond(local, remote, msg, Answer::Success, Generation::Current);

        // RFC 8445 §7.3.1.3: an unknown source is a peer-reflexive candidate; it forms only
        // the pair the triggered check goes on.
        if self.remote.find(remote).is_none() {
            if self.remote.candidates.len() >= self.config.max_remote_candidates
                || self.selected.is_some()
            {
                return;
            }
            let foundation = format!("prflx{}", self.remote.candidates.len());
            let candidate = Candidate {
                kind: CandidateKind::PeerReflexive,
                address: remote,
                base: None,
                priority,
                foundation,
                component: COMPONENT_RTP,
                tcp_type: self.tcp_type_of_prflx(local),
            };
            info!(
                kind = %CandidateKind::PeerReflexive,
                remote = %Addr(remote),
                priority,
                "remote candidate learnt from a check"
            );
            self.push_remote_candidate(candidate, false);
        }
        let use_candidate = use_candidate && !self.controlling;
        if self.remote.credentials.is_none() && !self.config.lite {
            // RFC 8838 §5.3 / RFC 8445 §7.3: answer now, check back once credentials arrive.
            if self.remote.early_checks.len() < self.config.max_pairs {
                self.remote.early_checks.push(EarlyCheck {
                    base: local,
                    remote,
                    use_candidate,
                });
            }
            return;
        }
        self.on_checked_by_peer(now, local, remote, use_candidate);
    }

    /// A request for the generation before an ICE restart, on the path that still carries
    /// data: answered with the old password so the peer's consent holds (RFC 8445 §9), and for
    /// a lite agent it is what keeps consent. Anything else is dropped.
    fn answer_previous_generation(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        msg: &Message<'_>,
        ours: &str,
    ) {
        let Some(previous) = &self.previous else {
            return;
        };
        if ours != previous.local.ufrag
            || previous.consent.path != (local, remote)
            || msg.verify_integrity(&previous.local_key).is_err()
        {
            return;
        }
        self.respond(local, remote, msg, Answer::Success, Generation::Previous);
        if self.config.lite {
            if let Some(p) = &mut self.previous {
                p.consent.on_response(now);
            }
        }
    }

    /// The peer checked (base, remote) successfully from its side: queue our triggered check
    /// (RFC 8445 §7.3.1.4) and handle nomination (§7.3.1.5).
    pub(crate) fn on_checked_by_peer(
        &mut self,
        now: Instant,
        base: SocketAddr,
        remote: SocketAddr,
        use_candidate: bool,
    ) {
        let pair_id = match self.checklist.find(base, remote) {
            Some(p) => p.id,
            None => {
                let Some(local) = self.local.candidates.iter().position(|c| {
                    c.base == Some(base)
                        && matches!(c.kind, CandidateKind::Host | CandidateKind::Relayed)
                }) else {
                    return;
                };
                let Some(r) = self.remote.find(remote) else {
                    return;
                };
                match self.form_pair(local, r) {
                    Some(id) => id,
                    None => return,
                }
            }
        };
        let lite = self.config.lite;
        let selected = self.selected.is_some();
        let Some(pair) = self.checklist.get_mut(pair_id) else {
            return;
        };
        pair.stats.requests_received += 1;
        pair.stats.responses_sent += 1;
        if lite {
            // A lite agent does not check: a valid request makes the pair valid (RFC 8445 §2.5).
            pair.state = PairState::Succeeded;
            pair.valid = true;
        } else if !selected {
            // §8.1.2: once a pair is selected no new checks go out.
            match pair.state {
                PairState::Succeeded => {}
                PairState::InProgress => {
                    // §7.3.1.4: cancel the check in progress (no more retransmissions, but its
                    // response still counts) and check the pair again as a triggered check.
                    pair.state = PairState::Waiting;
                    pair.nominating = false;
                    if let Some(tid) = pair.transaction.take() {
                        self.transactions.stop_retransmitting(now, tid);
                    }
                    self.checklist.trigger(pair_id);
                }
                PairState::Frozen | PairState::Waiting | PairState::Failed => {
                    pair.state = PairState::Waiting;
                    self.checklist.trigger(pair_id);
                }
            }
        }
        if lite && self.selected == Some(pair_id) {
            // A lite agent sends no requests of its own (RFC 8445 §2.5), so an authenticated
            // check from the peer on the selected pair is what tells it consent still holds.
            if let Some(c) = &mut self.consent {
                c.on_response(now);
            }
        }
        let Some(pair) = self.checklist.get_mut(pair_id) else {
            return;
        };
        if use_candidate {
            if !pair.nominated && !pair.nominate_on_success {
                info!(
                    pair = pair_id.0,
                    "the peer nominated the pair (USE-CANDIDATE)"
                );
            }
            if pair.state == PairState::Succeeded {
                pair.nominated = true;
                self.select(now, pair_id);
            } else {
                pair.nominate_on_success = true;
            }
        }
    }

    /// Queues the answer to a check, signed with the password of the generation the request
    /// was for (RFC 8445 §7.3.1): success with XOR-MAPPED-ADDRESS, or an error code. It is
    /// written when [`IceAgent::poll_transmit`] sends it.
    fn respond(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
        request: &Message<'_>,
        answer: Answer,
        generation: Generation,
    ) {
        self.outbox.push(Outgoing {
            source: local,
            destination: remote,
            reply: Reply::Answer {
                tid: request.transaction_id(),
                answer,
                generation,
            },
        });
    }

    fn handle_binding_response(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        msg: &Message<'_>,
    ) -> Verdict {
        let tid = msg.transaction_id();
        if !self.transactions.is_outstanding(tid, remote) {
            return Verdict::NotForUs;
        }
        let Some(purpose) = self.transactions.get(tid).copied() else {
            return Verdict::NotForUs;
        };
        if msg.has_fingerprint() && msg.verify_fingerprint().is_err() {
            return Verdict::Stun;
        }
        // Responses to checks and consent requests are signed with the password of the
        // generation that sent them (RFC 8445 §7.2.5.1); an unsigned or forged one is dropped.
        let key = match purpose {
            Purpose::Check { .. }
            | Purpose::Consent {
                generation: Generation::Current,
                ..
            } => self
                .remote
                .credentials
                .as_ref()
                .and_then(|r| r.key.as_deref()),
            Purpose::Consent {
                generation: Generation::Previous,
                ..
            } => self.previous.as_ref().and_then(|p| p.remote.key.as_deref()),
            Purpose::Gather { .. } => None,
        };
        if !matches!(purpose, Purpose::Gather { .. })
            && !key.is_some_and(|k| msg.verify_integrity(k).is_ok())
        {
            // RFC 8489 §9.1.4: discarded as if never received, so retransmissions go on; if
            // nothing better comes, the timeout is reported as an integrity violation.
            let code = (msg.class() == Class::ErrorResponse)
                .then(|| msg.get::<ErrorCode>().ok().flatten().map(|e| e.code))
                .flatten();
            debug!(
                %tid,
                remote = %Addr(remote),
                code,
                reason = "MESSAGE-INTEGRITY does not match the peer's ice-pwd",
                "answer discarded"
            );
            if let Purpose::Check { pair, .. } = purpose {
                if let Some(p) = self.checklist.get_mut(pair) {
                    p.timeout_means = Some(PairFailure::IntegrityViolated { code });
                }
            }
            return Verdict::Stun;
        }
        let Some(event) = self.transactions.handle_response(remote, msg) else {
            return Verdict::Stun;
        };
        match purpose {
            Purpose::Check {
                pair,
                base,
                use_candidate,
                controlling,
                sent_at,
                rto,
            } => {
                let check = SentCheck {
                    transaction: tid,
                    pair,
                    use_candidate,
                    controlling,
                    sent_at,
                    rto,
                };
                self.on_check_outcome(now, check, local == base, &event.outcome, msg)
            }
            Purpose::Consent {
                generation,
                base,
                sent_at,
            } => {
                // Like a check, a consent response must come back on the request's 5-tuple.
                if local == base {
                    let path = (base, remote);
                    self.on_consent_outcome(now, generation, path, sent_at, &event.outcome);
                }
            }
            Purpose::Gather { base, sent_at } => {
                self.on_gather_outcome(now, base, sent_at, &event, Some(msg));
            }
        }
        Verdict::Stun
    }

    /// Acts on the response to a check (RFC 8445 §7.2.5); timeouts go to
    /// [`Self::check_timed_out`].
    pub(crate) fn on_check_outcome(
        &mut self,
        now: Instant,
        check: SentCheck,
        symmetric: bool,
        outcome: &TransactionOutcome,
        msg: &Message<'_>,
    ) {
        let pair_id = check.pair;
        match outcome {
            TransactionOutcome::Success => {}
            TransactionOutcome::Error { code, .. } if *code == ErrorCode::ROLE_CONFLICT => {
                // RFC 8445 §7.2.5.1: take the role opposite to the one this request claimed
                // (several 487s in flight do not flip it back), with a new tie-breaker, then
                // check the pair again as a triggered check.
                self.diagnostics.role_conflicts += 1;
                info!(
                    pair = pair_id.0,
                    tid = %check.transaction,
                    code = *code,
                    controlling = check.controlling,
                    reason = "the peer claims the same role and wins",
                    "role conflict"
                );
                if self.controlling == check.controlling {
                    self.switch_role(!check.controlling);
                    self.tie_breaker = self.new_tie_breaker();
                }
                if let Some(pair) = self.checklist.get_mut(pair_id) {
                    if pair.transaction == Some(check.transaction) {
                        pair.state = PairState::Waiting;
                        pair.transaction = None;
                        pair.nominating = false;
                        self.checklist.trigger(pair_id);
                    }
                }
                return;
            }
            TransactionOutcome::Error { code, reason } => {
                debug!(pair = pair_id.0, tid = %check.transaction, code = *code, reason = %reason,
                    "check answered with an error");
                self.fail_check(check, PairFailure::ErrorResponse(*code));
                return;
            }
            TransactionOutcome::Failed => {
                self.fail_check(check, PairFailure::UnusableResponse);
                return;
            }
            TransactionOutcome::TimedOut => {
                self.fail_check(check, PairFailure::TimedOut);
                return;
            }
        }
        // RFC 8445 §7.2.5.2.1: the response must come back on the 5-tuple the request used.
        if !symmetric {
            self.fail_check(check, PairFailure::NonSymmetric);
            return;
        }
        let mapped = msg
            .get::<XorMappedAddress>()
            .ok()
            .flatten()
            .map(|a| a.0)
            .or_else(|| msg.get::<MappedAddress>().ok().flatten().map(|a| a.0));
        let Some(pair) = self.checklist.get(pair_id) else {
            return;
        };
        let (base, foundation, tcp) = (pair.base, pair.foundation, pair.tcp);
        // RFC 8445 §7.2.5.3.1: a mapped address we do not know is a peer-reflexive candidate.
        // Not over TCP: an active connection's mapped port is an ephemeral one nobody can
        // connect to, and a passive candidate's is the listener itself.
        if let Some(mapped) = mapped.filter(|_| tcp.is_none()) {
            let known = self
                .local
                .candidates
                .iter()
                .any(|c| c.address == mapped && c.base == Some(base));
            if !known {
                info!(
                    kind = %CandidateKind::PeerReflexive,
                    local = %Addr(mapped),
                    "local candidate learnt from a check"
                );
                let priority = self.prflx_priority(base);
                let foundation = self.local.foundations.foundation(
                    CandidateKind::PeerReflexive,
                    base.ip(),
                    None,
                );
                push_small(
                    &mut self.local.candidates,
                    Candidate {
                        kind: CandidateKind::PeerReflexive,
                        address: mapped,
                        base: Some(base),
                        priority,
                        foundation,
                        component: COMPONENT_RTP,
                        tcp_type: None,
                    },
                );
            }
        }
        let controlling = self.controlling;
        let Some(pair) = self.checklist.get_mut(pair_id) else {
            return;
        };
        // Karn's algorithm (RFC 6298 §3): no RTT sample from a request that was sent more than
        // once, as the response may answer any copy. The first retransmission goes out one RTO
        // after the request; `retransmit_check` moves `check_sent_at` when it resends early.
        let rtt = now.saturating_duration_since(check.sent_at);
        let sent_once = rtt < check.rto && pair.check_sent_at == Some(check.sent_at);
        let rtt_ms = millis(rtt);
        debug!(pair = pair_id.0, tid = %check.transaction, rtt_ms, "check answered");
        if !pair.valid {
            info!(
                pair = pair_id.0,
                local = %Addr(pair.base),
                remote = %Addr(pair.remote_addr),
                rtt_ms,
                "candidate pair succeeded"
            );
        }
        pair.state = PairState::Succeeded;
        pair.failure = None;
        pair.valid = true;
        if pair.transaction == Some(check.transaction) {
            pair.transaction = None;
            pair.nominating = false;
        }
        pair.stats.responses_received += 1;
        if sent_once {
            pair.stats.record_rtt(rtt);
            self.peer_rtt.sample(rtt);
        }
        let nominate = (check.use_candidate && controlling) || pair.nominate_on_success;
        if nominate {
            pair.nominated = true;
        }
        self.first_valid_at.get_or_insert(now);
        self.checklist.unfreeze_foundation(foundation);
        if nominate {
            self.select(now, pair_id);
        }
        if self.selected == Some(pair_id) {
            if let Some(c) = &mut self.consent {
                c.on_response(now);
            }
        }
    }
}

/// What the agent remembers of a check it sent, to act on its outcome.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SentCheck {
    pub(crate) transaction: TransactionId,
    pub(crate) pair: PairId,
    pub(crate) use_candidate: bool,
    pub(crate) controlling: bool,
    pub(crate) sent_at: Instant,
    pub(crate) rto: Duration,
}

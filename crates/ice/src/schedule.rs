//! Time: what happens on `handle_timeout`, paced work (checks and server queries, one per Ta),
//! consent freshness on the selected pair, gathering deadlines.

use core::net::SocketAddr;
use std::time::{Duration, Instant};

use floe_stun::attributes::{MappedAddress, XorMappedAddress};
use floe_stun::redact::Addr;
use floe_stun::{Message, MessageType, MessageWriter, TransactionEvent, TransactionOutcome};
use tracing::debug;

use crate::agent::{IceAgent, IceError, Purpose};
use crate::candidate::{candidate_priority, Candidate, CandidateKind, COMPONENT_RTP};
use crate::checks::SentCheck;
use crate::diagnosis::{millis, PairFailure};
use crate::gathering::QueryState;
use crate::pair::{PairId, PairState};
use crate::state::Transmit;
use crate::timers::Timer;

impl IceAgent {
    /// Advances timers: retransmissions, paced checks, gathering deadlines, nomination, consent.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.relay_timeout(now);
        if self.closed {
            self.update_timers();
            return;
        }
        self.tcp_timeout(now);
        self.transactions.handle_timeout(now);
        while let Some(event) = self.transactions.poll_event() {
            match event.user {
                Purpose::Check {
                    pair,
                    use_candidate,
                    controlling,
                    sent_at,
                    rto,
                    ..
                } => {
                    debug!(
                        pair = pair.0,
                        tid = %event.transaction_id,
                        remote = %Addr(event.destination),
                        "check timed out"
                    );
                    let check = SentCheck {
                        transaction: event.transaction_id,
                        pair,
                        use_candidate,
                        controlling,
                        sent_at,
                        rto,
                    };
                    self.fail_check(check, PairFailure::TimedOut);
                }
                // An unanswered consent request already counts from when it was sent.
                Purpose::Consent { .. } => {}
                Purpose::Gather { base, sent_at } => {
                    self.on_gather_outcome(now, base, sent_at, &event, None);
                }
            }
        }
        for id in self.gathering.expire(now) {
            self.transactions.cancel(id);
        }
        self.restart_backed_off_checks(now);
        self.drive(now);
    }

    /// Caps the backoff of checks on pairs the peer has already checked towards us.
    ///
    /// A check follows the STUN schedule (RFC 8489 §6.2.1: gaps of 1, 2, 4, … 32 RTOs), which
    /// under heavy loss leaves 7 tries in 79 RTOs. The controlled peer goes quiet as soon as its
    /// own check on the pair succeeds, so no further request of its triggers the immediate
    /// retransmit of RFC 8445 §7.3.1.4 ([`Self::retransmit_check`]), and the controlling agent
    /// may sit out a 32-RTO gap on a path the peer has proved works. For such pairs (the peer's
    /// request arrived), a retransmission that comes due 4 RTOs or more after the check was
    /// (re)started restarts the schedule instead, so the gaps cycle through 1, 2, 4 RTOs. Only
    /// until the PAC timer (RFC 8863 §4) expires, so a path that only works inwards still ends
    /// with the normal timeout.
    fn restart_backed_off_checks(&mut self, now: Instant) {
        if !self.pac_deadline.is_some_and(|pac| now < pac) {
            return;
        }
        let cap = self.check_rto() * 4;
        let due: Vec<PairId> = self
            .checklist
            .pairs()
            .iter()
            .filter(|p| {
                p.state == PairState::InProgress
                    && p.stats.requests_received > 0
                    && p.check_sent_at.is_some_and(|t| now >= t + cap)
            })
            .map(|p| p.id)
            .collect();
        for id in due {
            self.retransmit_check(now, id);
        }
    }

    /// The initial RTO of a check sent now: derived from measured round trips (RFC 6298) and
    /// clamped to `min_check_rto..=check_rto`, so a check lost on a fast path is resent after
    /// a few of its round trips rather than after 500 ms (a departure from RFC 8445 §14.3, see
    /// DEVIATIONS.md). Checks answered on their first transmission are the samples; before
    /// the first one, a path to the peer is guessed at twice the round trip to the STUN
    /// server, as the peer's server-reflexive address is reached through the same Internet;
    /// with nothing measured, `check_rto`.
    pub(crate) fn check_rto(&self) -> Duration {
        let (min, max) = (self.config.min_check_rto, self.config.check_rto);
        if self.peer_rtt.srtt().is_some() {
            return self.peer_rtt.rto(min, max);
        }
        match self.server_rtt.srtt() {
            // The first-sample RTO of RFC 6298 for a round trip of 2 × SRTT.
            Some(srtt) => (srtt * 6).clamp(min, max),
            None => max,
        }
    }

    /// True when a check waits for a pacer slot.
    fn has_paced_check(&self) -> bool {
        // Once a pair is selected no new checks go out (RFC 8445 §8.1.2).
        if self.config.lite || self.remote.credentials.is_none() || self.selected.is_some() {
            return false;
        }
        self.checklist.has_check_ready()
    }

    /// Does whatever is due at `now`; called at the end of every input.
    pub(crate) fn drive(&mut self, now: Instant) {
        if !self.closed {
            self.last_now = self.last_now.max(now);
            self.maybe_nominate(now);
            self.send_paced(now);
            self.consent_tick(now);
            self.update_states(now);
        }
        self.update_timers();
    }

    /// Writes every concern's next deadline into the timer table.
    pub(crate) fn update_timers(&mut self) {
        let relays = self.relay_poll_timeout();
        if self.closed {
            // Only TURN deallocation is left to do.
            self.timers.clear();
            self.timers.set(Timer::Relays, relays);
            return;
        }
        let now = self.last_now;
        // A free slot means work arrived after the last drive: wake at once.
        let slot = |pacer: &crate::Pacer| pacer.next_free().unwrap_or(now).max(now);
        let checks = self
            .has_paced_check()
            .then(|| self.pacer.as_ref().map_or(now, slot));
        let queries = self
            .gathering
            .has_queued()
            .then(|| self.gather_pacer.as_ref().map_or(now, slot));
        let pacing = checks.into_iter().chain(queries).min();
        let pac = self
            .pac_deadline
            .filter(|t| *t > now && self.selected.is_none());
        let deadlines = [
            (Timer::Transactions, self.transactions.poll_timeout()),
            (Timer::Gathering, self.gathering.next_deadline()),
            (Timer::Relays, relays),
            (Timer::Pacing, pacing),
            (Timer::Nomination, self.nomination_deadline()),
            (Timer::Consent, self.consent_deadline()),
            (Timer::Pac, pac),
            (Timer::Streams, self.tcp_deadline()),
        ];
        for (timer, deadline) in deadlines {
            self.timers.set(timer, deadline);
        }
    }

    /// One new server query per Ta, and one new check per Ta, each on its own pacer: a check
    /// never waits behind gathering.
    fn send_paced(&mut self, now: Instant) {
        let ta = self.config.ta;
        if self.gathering.has_queued()
            && self
                .gather_pacer
                .get_or_insert_with(|| crate::Pacer::new(ta))
                .try_acquire(now)
                .is_ok()
        {
            self.send_gather_query(now);
        }
        if !self.has_paced_check()
            || self
                .pacer
                .get_or_insert_with(|| crate::Pacer::new(ta))
                .try_acquire(now)
                .is_err()
        {
            return;
        }
        if let Some(id) = self.checklist.next_check() {
            let nominating = self.checklist.get(id).is_some_and(|p| p.nominating);
            if !self.send_binding_request(now, id, nominating) {
                self.fail_pair(id, PairFailure::NotSent);
            }
        }
    }

    fn send_gather_query(&mut self, now: Instant) {
        let tid = self.new_transaction_id();
        let deadline = now + self.config.gather_timeout;
        let Some(query) = self.gathering.next_queued() else {
            return;
        };
        let (base, server) = (query.base, query.server);
        let mut buf = [0u8; 64];
        let len = match MessageWriter::new(&mut buf, MessageType::BINDING_REQUEST, tid) {
            Ok(mut w) => match w.add_fingerprint() {
                Ok(()) => w.finish(),
                Err(_) => 0,
            },
            Err(_) => 0,
        };
        let started = len > 0
            && self
                .transactions
                .start(
                    now,
                    server,
                    &buf[..len],
                    false,
                    Purpose::Gather { base, sent_at: now },
                )
                .is_ok();
        debug!(
            %tid,
            local = %Addr(base),
            server = %Addr(server),
            started,
            "server-reflexive query sent"
        );
        if let Some(query) = self.gathering.next_queued() {
            query.state = if started {
                QueryState::Sent {
                    transaction: tid,
                    deadline,
                }
            } else {
                QueryState::Done
            };
        }
    }

    /// A server query ended: a mapped address becomes a server-reflexive candidate
    /// (RFC 8445 §5.1.1.2) unless it is redundant (§5.1.3).
    pub(crate) fn on_gather_outcome(
        &mut self,
        now: Instant,
        base: SocketAddr,
        sent_at: Instant,
        event: &TransactionEvent<Purpose>,
        msg: Option<&Message<'_>>,
    ) {
        if let Some(query) = self.gathering.find(event.transaction_id) {
            query.state = QueryState::Done;
        }
        let (TransactionOutcome::Success, Some(msg)) = (&event.outcome, msg) else {
            debug!(
                tid = %event.transaction_id,
                server = %Addr(event.destination),
                reason = ?event.outcome,
                "server-reflexive query failed"
            );
            return;
        };
        // Karn's algorithm: only an answer that came before the first retransmission.
        let rtt = now.saturating_duration_since(sent_at);
        if rtt < self.transactions.config().initial_rto {
            self.server_rtt.sample(rtt);
        }
        let mapped = msg
            .get::<XorMappedAddress>()
            .ok()
            .flatten()
            .map(|a| a.0)
            .or_else(|| msg.get::<MappedAddress>().ok().flatten().map(|a| a.0));
        debug!(
            tid = %event.transaction_id,
            server = %Addr(event.destination),
            mapped = %Addr(mapped),
            rtt_ms = millis(rtt),
            "server-reflexive query answered"
        );
        let Some(mapped) = mapped else {
            return;
        };
        if mapped == base || mapped.is_ipv4() != base.is_ipv4() {
            return;
        }
        let slot = self
            .config
            .stun_servers
            .iter()
            .position(|s| *s == event.destination)
            .unwrap_or(0);
        let local_pref = self.local_preference(base, slot);
        let foundation = self.local.foundations.foundation(
            CandidateKind::ServerReflexive,
            base.ip(),
            Some(event.destination),
        );
        let candidate = Candidate {
            kind: CandidateKind::ServerReflexive,
            address: mapped,
            base: Some(base),
            priority: candidate_priority(CandidateKind::ServerReflexive, local_pref, COMPONENT_RTP),
            foundation,
            component: COMPONENT_RTP,
            tcp_type: None,
        };
        self.add_local_candidate(now, candidate);
    }

    /// Prepares application data for the selected pair: copies `payload` into `buf` and says
    /// where to send it. On a relayed pair the payload is framed for the TURN server (ChannelData
    /// once the channel is bound, a Send indication before, RFC 8656 §11, §12): `buf` needs
    /// room for up to 36 more bytes, and the transmit goes from the base to the server. Fails when no pair is selected or consent was lost (RFC 7675 §5.1:
    /// sending stops).
    pub fn send(&mut self, payload: &[u8], buf: &mut [u8]) -> Result<Transmit, IceError> {
        if self.closed {
            return Err(IceError::Closed);
        }
        let (source, destination) = self.selected_path().ok_or(IceError::NotConnected)?;
        if let Some(route) = self.tcp_route(source, destination) {
            // RFC 6544 §3: framed on the pair's connection.
            let route = route.ok_or(IceError::NotConnected)?;
            let out = buf
                .get_mut(..crate::framing::frame_len(payload.len()))
                .ok_or(IceError::BufferTooSmall)?;
            let t = Self::tcp_frame_out(route, payload, out).ok_or(IceError::BufferTooSmall)?;
            self.count_sent(payload.len());
            self.note_sent(source, destination);
            return Ok(t);
        }
        if let Some(result) = self.relay_send(source, destination, payload, buf) {
            let t = result?;
            self.count_sent(payload.len());
            self.note_sent(source, destination);
            return Ok(t);
        }
        let out = buf
            .get_mut(..payload.len())
            .ok_or(IceError::BufferTooSmall)?;
        out.copy_from_slice(payload);
        self.count_sent(payload.len());
        self.note_sent(source, destination);
        Ok(Transmit {
            source,
            destination,
            len: payload.len(),
            ice_tcp: false,
        })
    }

    fn count_sent(&mut self, len: usize) {
        if let Some(id) = self.selected {
            if let Some(p) = self.checklist.get_mut(id) {
                p.stats.bytes_sent += len as u64;
            }
        }
    }
}

//! Consent freshness (RFC 7675) and keepalives (RFC 8445 §11) on the path that carries data:
//! the selected pair, and during an ICE restart the previous generation's pair.
//!
//! [`ConsentFreshness`] owns the timing of one path; the agent glue below sends the requests,
//! takes their outcomes and turns the result into `disconnected` / `failed`.

use core::net::SocketAddr;
use std::time::{Duration, Instant};

use floe_stun::attributes::ErrorCode;
use floe_stun::redact::Addr;
use floe_stun::TransactionOutcome;
use tracing::{info, trace, warn};

use crate::agent::{Generation, IceAgent, Purpose};
use crate::outbox::{Outgoing, Reply};

/// A consent request unanswered for this long, at least, makes the path `disconnected`.
pub(crate) const MIN_RESPONSE_TIMEOUT: Duration = Duration::from_millis(500);
/// ... and at most this long, however slow the path measured.
const MAX_RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why consent ended (RFC 7675 §5.1, §5.2).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum ConsentLoss {
    /// No response for the consent timeout (30 s).
    Expired,
    /// The peer answered a consent request with an authenticated 403.
    Revoked,
}

/// Consent on one path: when it was last confirmed, when to ask next, what is unanswered.
#[derive(Clone, Copy, Debug)]
pub struct ConsentFreshness {
    /// (local base, remote address) of the path.
    pub(crate) path: (SocketAddr, SocketAddr),
    /// The last success response to a check or consent request on the path.
    pub(crate) last_response: Instant,
    /// When the next consent request goes out.
    pub(crate) next_request: Instant,
    /// When the oldest request sent since the last response went out.
    pub(crate) unanswered_since: Option<Instant>,
    /// The last datagram we sent on the path, for keepalives (RFC 8445 §11).
    pub(crate) last_sent: Instant,
    /// Consent ended: sending stops until an ICE restart (RFC 7675 §5.1).
    pub(crate) lost: Option<ConsentLoss>,
}

impl ConsentFreshness {
    pub(crate) fn new(now: Instant, path: (SocketAddr, SocketAddr), first: Duration) -> Self {
        Self {
            path,
            last_response: now,
            next_request: now + first,
            unanswered_since: None,
            last_sent: now,
            lost: None,
        }
    }

    /// Randomizes the interval to ±20 % (RFC 7675 §5.1: 0.8-1.2 times the base interval) from a
    /// uniform sample in [0, 1).
    pub(crate) fn jittered(base: Duration, unit_sample: f64) -> Duration {
        base.mul_f64(0.8 + 0.4 * unit_sample)
    }

    /// How long a consent request may go unanswered before the path counts as disconnected:
    /// three smoothed round trips, within [500 ms, 5 s] (500 ms until an RTT was measured).
    pub(crate) fn response_timeout(smoothed_rtt: Option<Duration>) -> Duration {
        smoothed_rtt.map_or(MIN_RESPONSE_TIMEOUT, |rtt| {
            (rtt * 3).clamp(MIN_RESPONSE_TIMEOUT, MAX_RESPONSE_TIMEOUT)
        })
    }

    /// Time since consent was last confirmed.
    pub fn since_last_response(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.last_response)
    }

    /// True once consent expired or was revoked.
    pub fn is_lost(&self) -> bool {
        self.lost.is_some()
    }

    pub(crate) fn on_request_sent(&mut self, now: Instant, next_interval: Duration) {
        self.next_request = now + next_interval;
        self.unanswered_since.get_or_insert(now);
        self.last_sent = now;
    }

    pub(crate) fn on_response(&mut self, now: Instant) {
        if self.lost.is_none() {
            self.last_response = now;
            self.unanswered_since = None;
        }
    }

    /// When the oldest unanswered request makes the path `disconnected`.
    pub(crate) fn disconnect_at(&self, response_timeout: Duration, cap: Duration) -> Instant {
        let by_request = self.unanswered_since.map(|t| t + response_timeout);
        let by_silence = self.last_response + cap;
        by_request.map_or(by_silence, |t| t.min(by_silence))
    }

    /// True when consent should expire at `now`.
    pub(crate) fn expires(&self, now: Instant, timeout: Duration) -> bool {
        self.lost.is_none() && self.since_last_response(now) >= timeout
    }
}

impl IceAgent {
    /// The consent of the path data goes on: the selected pair's, or during a restart the
    /// previous generation's.
    pub(crate) fn active_consent(&self) -> Option<&ConsentFreshness> {
        match (&self.consent, &self.previous) {
            (Some(c), _) => Some(c),
            (None, Some(p)) => Some(&p.consent),
            (None, None) => None,
        }
    }

    /// The consent of `generation`'s path.
    pub(crate) fn consent_of(&self, generation: Generation) -> Option<&ConsentFreshness> {
        match generation {
            Generation::Current => self.consent.as_ref(),
            Generation::Previous => self.previous.as_ref().map(|p| &p.consent),
        }
    }

    fn consent_mut(&mut self, generation: Generation) -> Option<&mut ConsentFreshness> {
        match generation {
            Generation::Current => self.consent.as_mut(),
            Generation::Previous => self.previous.as_mut().map(|p| &mut p.consent),
        }
    }

    /// Consent freshness (RFC 7675 §5.1): a request every 5 s ± 20 %, each sent once; no
    /// answer for 30 s and consent expires, every outstanding request is forgotten.
    pub(crate) fn consent_tick(&mut self, now: Instant) {
        for generation in [Generation::Current, Generation::Previous] {
            let timeout = self.config.consent_timeout;
            let lite = self.config.lite;
            let Some(consent) = self.consent_mut(generation) else {
                continue;
            };
            if consent.expires(now, timeout) {
                self.lose_consent(generation, ConsentLoss::Expired);
                continue;
            }
            if consent.lost.is_none() && !lite && now >= consent.next_request {
                let interval =
                    ConsentFreshness::jittered(self.config.consent_interval, self.unit_sample());
                if let Some(consent) = self.consent_mut(generation) {
                    consent.on_request_sent(now, interval);
                }
                self.send_consent_request(now, generation);
            }
        }
        self.keepalive_tick(now);
    }

    /// The outcome of a consent request: a success refreshes consent, an authenticated 403
    /// revokes it at once (RFC 7675 §5.2); timeouts need nothing (the unanswered request
    /// already counts from when it was sent).
    pub(crate) fn on_consent_outcome(
        &mut self,
        now: Instant,
        generation: Generation,
        path: (SocketAddr, SocketAddr),
        sent_at: Instant,
        outcome: &TransactionOutcome,
    ) {
        let selected = self.selected;
        if generation == Generation::Current {
            if let Some(p) = selected.and_then(|id| self.checklist.get_mut(id)) {
                if (p.base, p.remote_addr) == path && *outcome == TransactionOutcome::Success {
                    p.stats.responses_received += 1;
                    p.stats.record_rtt(now.saturating_duration_since(sent_at));
                }
            }
        }
        let timeout = self.consent_response_timeout();
        let cap = self.config.disconnect_timeout;
        let Some(consent) = self.consent_mut(generation).filter(|c| c.path == path) else {
            return;
        };
        match outcome {
            TransactionOutcome::Success => {
                let rtt_ms = crate::diagnosis::millis(now.saturating_duration_since(sent_at));
                trace!(remote = %Addr(path.1), rtt_ms, "consent response");
                if consent.lost.is_none() && now >= consent.disconnect_at(timeout, cap) {
                    info!(
                        local = %Addr(path.0),
                        remote = %Addr(path.1),
                        "consent regained: the peer answers again"
                    );
                }
                consent.on_response(now);
            }
            TransactionOutcome::Error { code, .. } if *code == ErrorCode::FORBIDDEN => {
                self.lose_consent(generation, ConsentLoss::Revoked);
            }
            _ => {}
        }
    }

    /// Consent on `generation`'s path ended: its outstanding requests are forgotten
    /// (RFC 7675 §5.1); a previous generation's path is dropped, and the restart goes on
    /// without it.
    fn lose_consent(&mut self, generation: Generation, loss: ConsentLoss) {
        if let Some(consent) = self.consent_mut(generation) {
            consent.lost = Some(loss);
            let reason = match loss {
                ConsentLoss::Expired => "no answer to consent requests for the consent timeout",
                ConsentLoss::Revoked => "the peer answered 403 Forbidden",
            };
            let (local, remote) = consent.path;
            warn!(local = %Addr(local), remote = %Addr(remote), reason, "consent lost");
        }
        self.transactions.cancel_where(
            |p| matches!(p, Purpose::Consent { generation: g, .. } if *g == generation),
        );
        if generation == Generation::Previous {
            self.previous = None;
        }
    }

    /// How long a consent request may go unanswered on the selected pair before `disconnected`.
    pub(crate) fn consent_response_timeout(&self) -> Duration {
        let srtt = self.selected_pair().and_then(|p| p.stats.smoothed_rtt);
        ConsentFreshness::response_timeout(srtt)
    }

    /// Notes a datagram going out on a consented path (keepalives wait for silence).
    pub(crate) fn note_sent(&mut self, source: SocketAddr, destination: SocketAddr) {
        // Called for every datagram, data included: the timer table is left alone, since a
        // keepalive deadline only moves later; the wake-up it may cost finds nothing due and
        // refreshes the table.
        let now = self.last_now;
        let path = (source, destination);
        for c in [
            self.consent.as_mut(),
            self.previous.as_mut().map(|p| &mut p.consent),
        ]
        .into_iter()
        .flatten()
        .filter(|c| c.path == path)
        {
            c.last_sent = now;
        }
    }

    /// Keepalives (RFC 8445 §11): a Binding indication on the selected pair when nothing was
    /// sent on it for Tr (15 s) — lite agents included, which send no consent requests.
    fn keepalive_tick(&mut self, now: Instant) {
        let interval = self.config.keepalive_interval;
        let Some(consent) = self.consent.as_mut().filter(|c| c.lost.is_none()) else {
            return;
        };
        if now < consent.last_sent + interval {
            return;
        }
        consent.last_sent = now;
        let (source, destination) = consent.path;
        trace!(remote = %Addr(destination), "keepalive sent");
        let tid = self.new_transaction_id();
        self.outbox.push(Outgoing {
            source,
            destination,
            reply: Reply::Keepalive { tid },
        });
    }

    /// When consent next needs the agent: a request, a keepalive, `disconnected`, expiry.
    pub(crate) fn consent_deadline(&self) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        let mut consider = |t: Instant| next = Some(next.map_or(t, |n| n.min(t)));
        let timeout = self.consent_response_timeout();
        let current = self.consent.iter().map(|c| (c, true));
        let previous = self.previous.iter().map(|p| (&p.consent, false));
        for (c, keepalive) in current.chain(previous) {
            if c.lost.is_some() {
                continue;
            }
            if !self.config.lite {
                consider(c.next_request);
            }
            if keepalive {
                consider(c.last_sent + self.config.keepalive_interval);
            }
            // State changes at these instants; once passed they need no more wake-ups.
            let disconnect = c.disconnect_at(timeout, self.config.disconnect_timeout);
            if disconnect > self.last_now {
                consider(disconnect);
            }
            consider(c.last_response + self.config.consent_timeout);
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_twenty_percent() {
        let base = Duration::from_secs(5);
        assert_eq!(
            ConsentFreshness::jittered(base, 0.0),
            Duration::from_secs(4)
        );
        assert!(ConsentFreshness::jittered(base, 0.999_999) < Duration::from_secs(6));
        assert_eq!(
            ConsentFreshness::jittered(base, 0.5),
            Duration::from_secs(5)
        );
    }

    #[test]
    fn response_timeout_follows_the_measured_rtt_within_bounds() {
        let ms = Duration::from_millis;
        assert_eq!(ConsentFreshness::response_timeout(None), ms(500));
        assert_eq!(ConsentFreshness::response_timeout(Some(ms(10))), ms(500));
        assert_eq!(ConsentFreshness::response_timeout(Some(ms(300))), ms(900));
        assert_eq!(
            ConsentFreshness::response_timeout(Some(ms(9000))),
            Duration::from_secs(5)
        );
    }
}

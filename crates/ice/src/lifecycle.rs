//! ICE restart (RFC 8445 §9) and close.

use std::time::Instant;

use floe_stun::RttEstimator;

use crate::agent::{
    random_ice_string, Credentials, Generation, IceAgent, PreviousGeneration, Purpose,
};
use crate::gathering::Gathering;
use crate::state::IceConnectionState;

impl IceAgent {
    /// ICE restart (RFC 8445 §9): new local credentials, fresh gathering and check list. The
    /// previously selected pair keeps carrying data until a new pair is selected.
    pub fn restart(&mut self, now: Instant) {
        if self.closed {
            return;
        }
        // Keep the path that carries data, its consent and the credentials consent uses on it
        // (RFC 8445 §9); a path without consent stays behind.
        let carrying = self.selected_path().is_some();
        let current = match (&self.remote.credentials, self.consent) {
            (Some(remote), Some(consent)) if carrying => Some(PreviousGeneration {
                local: self.local.credentials.clone(),
                local_key: self.local.key.clone(),
                remote: remote.clone(),
                consent,
            }),
            _ => None,
        };
        self.outbox.on_restart(current.is_some());
        if current.is_some() {
            // Every check, query and consent request of the old generation is forgotten; the
            // next consent request on the kept path goes out on its schedule.
            self.previous = current.map(Box::new);
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
        let credentials = self.rng.draw(|rng| Credentials {
            ufrag: random_ice_string(rng, 8),
            pwd: random_ice_string(rng, 24),
        });
        self.local.set_credentials(credentials);
        self.remote.clear();
        self.local.candidates.clear();
        self.local.foundations.clear();
        self.checklist.clear();
        self.gathering = Gathering::default();
        self.selected = None;
        self.consent = None;
        self.failure = None;
        self.diagnostics = Default::default();
        self.lost_selection = false;
        self.pac_deadline = None;
        self.first_valid_at = None;
        // A restart often follows a network change: measure the new paths afresh.
        self.peer_rtt = RttEstimator::new();
        self.server_rtt = RttEstimator::new();
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
        if self.selected.is_none() && self.failure.is_none() && self.remote.credentials.is_some() {
            // An application that stops waiting before the PAC timer: say how far ICE got.
            tracing::info!(
                summary = %self.check_summary(),
                "closed before any candidate pair was selected"
            );
        }
        for r in &mut self.relays {
            r.client.close(now);
        }
        self.closed = true;
        self.tcp_close_all();
        self.outbox.clear();
        self.set_connection_state(IceConnectionState::Closed);
        self.update_timers();
    }
}

//! Consent freshness on the selected pair (RFC 7675).

use std::time::{Duration, Instant};

/// Tracks when consent was last confirmed and when to ask next.
#[derive(Clone, Copy, Debug)]
pub struct ConsentFreshness {
    /// The last success response to a check or consent request on the selected pair.
    pub(crate) last_response: Instant,
    /// When the next consent request goes out.
    pub(crate) next_request: Instant,
    /// Consent expired (RFC 7675 §5.1): sending stops until an ICE restart.
    pub(crate) lost: bool,
}

impl ConsentFreshness {
    pub(crate) fn new(now: Instant, first_interval: Duration) -> Self {
        Self {
            last_response: now,
            next_request: now + first_interval,
            lost: false,
        }
    }

    /// Randomizes the interval to ±20 % (RFC 7675 §5.1: 0.8-1.2 times the base interval) from a
    /// uniform sample in [0, 1).
    pub(crate) fn jittered(base: Duration, unit_sample: f64) -> Duration {
        base.mul_f64(0.8 + 0.4 * unit_sample)
    }

    /// Time since consent was last confirmed.
    pub fn since_last_response(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.last_response)
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
}

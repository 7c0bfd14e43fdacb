//! Round-trip time estimation and the RTO derived from it (RFC 6298 §2, which RFC 8489 §6.2.1
//! points to: "the RTO SHOULD be computed as per RFC 6298").

use std::time::Duration;

/// Smoothed round-trip time and its variation, from samples of requests answered on their
/// first transmission (Karn's algorithm, RFC 6298 §3: the caller must not feed samples of
/// retransmitted requests).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RttEstimator {
    srtt: Option<Duration>,
    rttvar: Duration,
}

impl RttEstimator {
    /// An estimator with no sample yet.
    pub const fn new() -> Self {
        Self {
            srtt: None,
            rttvar: Duration::ZERO,
        }
    }

    /// Takes one round-trip sample (RFC 6298 §2.2, §2.3: alpha 1/8, beta 1/4).
    pub fn sample(&mut self, rtt: Duration) {
        match self.srtt {
            None => {
                self.srtt = Some(rtt);
                self.rttvar = rtt / 2;
            }
            Some(srtt) => {
                let delta = if srtt > rtt { srtt - rtt } else { rtt - srtt };
                self.rttvar = (self.rttvar * 3 + delta) / 4;
                self.srtt = Some((srtt * 7 + rtt) / 8);
            }
        }
    }

    /// The smoothed round-trip time, once there is a sample.
    pub fn srtt(&self) -> Option<Duration> {
        self.srtt
    }

    /// SRTT + 4 × RTTVAR (RFC 6298 §2.3), clamped to `[min, max]`; `max` before any sample
    /// (the RFC's initial value plays that part, §2.1).
    pub fn rto(&self, min: Duration, max: Duration) -> Duration {
        match self.srtt {
            None => max,
            Some(srtt) => (srtt + self.rttvar * 4).clamp(min, max.max(min)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn rfc6298_first_sample_gives_three_times_the_rtt() {
        let mut e = RttEstimator::new();
        assert_eq!(e.rto(MS, MS * 500), MS * 500);
        e.sample(MS * 20);
        assert_eq!(e.srtt(), Some(MS * 20));
        assert_eq!(e.rto(MS, MS * 500), MS * 60);
    }

    #[test]
    fn rfc6298_later_samples_smooth_and_track_variation() {
        let mut e = RttEstimator::new();
        e.sample(MS * 100);
        e.sample(MS * 20);
        // RTTVAR = 3/4 * 50 + 1/4 * 80 = 57.5; SRTT = 7/8 * 100 + 1/8 * 20 = 90.
        assert_eq!(e.srtt(), Some(MS * 90));
        assert_eq!(e.rto(MS, MS * 1000), MS * 320);
    }

    #[test]
    fn rto_is_clamped() {
        let mut e = RttEstimator::new();
        e.sample(Duration::from_micros(100));
        assert_eq!(e.rto(MS * 50, MS * 500), MS * 50);
        e.sample(Duration::from_secs(10));
        assert_eq!(e.rto(MS * 50, MS * 500), MS * 500);
    }
}

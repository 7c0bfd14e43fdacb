//! Links: latency, jitter, loss, duplication, reordering and MTU, applied per direction.
//!
//! Every host has one access link (between the host and its segment) and every NAT box has one
//! WAN link (between the NAT and the public internet). A datagram crosses the sender's link
//! upstream and the receiver's link downstream, plus the WAN links of any NAT on the way, so the
//! one-way delay of a path is the sum of the latencies of the links it crosses.

use std::time::Duration;

use crate::rng::Rng;

/// The impairments of one link, applied independently in each direction.
///
/// The defaults are a perfect link: no latency, no loss, MTU 1500.
///
/// ```
/// use std::time::Duration;
/// use floe_netsim::LinkConfig;
/// let wifi = LinkConfig::default()
///     .latency(Duration::from_millis(20))
///     .jitter(Duration::from_millis(5))
///     .loss(0.01);
/// assert_eq!(wifi.mtu, 1500);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct LinkConfig {
    /// Fixed one-way delay.
    pub latency: Duration,
    /// Extra delay drawn uniformly from `[0, jitter]` per datagram. Jitter alone never reorders:
    /// a datagram is not delivered before one sent earlier on the same link and direction.
    pub jitter: Duration,
    /// Probability in `[0, 1]` that a datagram is lost.
    pub loss: f64,
    /// Probability in `[0, 1]` that a datagram which was not lost is delivered twice (the copy
    /// draws its own jitter).
    pub duplicate: f64,
    /// Probability in `[0, 1]` that a datagram is held back by [`LinkConfig::reorder_delay`] and
    /// exempt from in-order delivery, so later datagrams overtake it.
    pub reorder: f64,
    /// The extra delay of a reordered datagram.
    pub reorder_delay: Duration,
    /// Largest IP packet, in bytes, the link carries: a datagram whose payload plus UDP and IP
    /// headers (28 bytes for IPv4, 48 for IPv6) exceeds it is dropped (no fragmentation).
    pub mtu: usize,
}

impl Default for LinkConfig {
    fn default() -> Self {
        Self {
            latency: Duration::ZERO,
            jitter: Duration::ZERO,
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_delay: Duration::from_millis(10),
            mtu: 1500,
        }
    }
}

impl LinkConfig {
    /// A perfect link with a fixed one-way `latency`.
    pub fn with_latency(latency: Duration) -> Self {
        Self::default().latency(latency)
    }

    /// Sets [`LinkConfig::latency`].
    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// Sets [`LinkConfig::jitter`].
    pub fn jitter(mut self, jitter: Duration) -> Self {
        self.jitter = jitter;
        self
    }

    /// Sets [`LinkConfig::loss`].
    pub fn loss(mut self, loss: f64) -> Self {
        self.loss = loss;
        self
    }

    /// Sets [`LinkConfig::duplicate`].
    pub fn duplicate(mut self, duplicate: f64) -> Self {
        self.duplicate = duplicate;
        self
    }

    /// Sets [`LinkConfig::reorder`] and [`LinkConfig::reorder_delay`].
    pub fn reorder(mut self, probability: f64, delay: Duration) -> Self {
        self.reorder = probability;
        self.reorder_delay = delay;
        self
    }

    /// Sets [`LinkConfig::mtu`].
    pub fn mtu(mut self, mtu: usize) -> Self {
        self.mtu = mtu;
        self
    }
}

/// Counters of one direction of a link.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct LinkStats {
    /// Datagrams offered to the link.
    pub sent: u64,
    /// Datagrams (including duplicates) that came out of the far end.
    pub delivered: u64,
    /// Datagrams dropped by random loss.
    pub lost: u64,
    /// Datagrams dropped for exceeding the MTU.
    pub oversized: u64,
    /// Extra copies created by duplication.
    pub duplicated: u64,
    /// Datagrams held back for reordering.
    pub reordered: u64,
    /// Payload bytes delivered.
    pub bytes_delivered: u64,
}

/// The two directions of a link.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct LinkStatsPair {
    /// Away from the host (host to segment) or, for a NAT WAN link, towards the internet.
    pub up: LinkStats,
    /// Towards the host or, for a NAT WAN link, from the internet towards the NAT.
    pub down: LinkStats,
}

/// Direction of travel over a link.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Direction {
    /// From the host (or NAT) outwards.
    Up,
    /// From the outside towards the host (or NAT).
    Down,
}

/// The size on the wire of a UDP datagram carrying `payload` bytes.
pub(crate) fn ip_packet_len(payload: usize, ipv6: bool) -> usize {
    payload + 8 + if ipv6 { 40 } else { 20 }
}

/// What the link decided for one datagram.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Dropped: it did not fit.
    Oversized,
    /// Dropped by random loss.
    Lost,
    /// Delivered after each of these delays (more than one when duplicated).
    Deliver(Vec<Duration>),
}

/// The live state of one link: config, per-direction stats and ordering, its random stream.
#[derive(Debug)]
pub(crate) struct Link {
    pub(crate) config: LinkConfig,
    pub(crate) stats: LinkStatsPair,
    /// Latest scheduled in-order arrival (offset from the simulation start), per direction.
    last_arrival: [Duration; 2],
    rng: Rng,
}

impl Link {
    pub(crate) fn new(config: LinkConfig, rng: Rng) -> Self {
        Self {
            config,
            stats: LinkStatsPair::default(),
            last_arrival: [Duration::ZERO; 2],
            rng,
        }
    }

    pub(crate) fn stats_mut(&mut self, dir: Direction) -> &mut LinkStats {
        match dir {
            Direction::Up => &mut self.stats.up,
            Direction::Down => &mut self.stats.down,
        }
    }

    /// Decides the fate of a datagram entering the link at `now` (an offset from the start):
    /// the returned delays are relative to `now`.
    pub(crate) fn transmit(
        &mut self,
        dir: Direction,
        now: Duration,
        payload_len: usize,
        ipv6: bool,
    ) -> Verdict {
        self.stats_mut(dir).sent += 1;
        if ip_packet_len(payload_len, ipv6) > self.config.mtu {
            self.stats_mut(dir).oversized += 1;
            return Verdict::Oversized;
        }
        if self.rng.chance(self.config.loss) {
            self.stats_mut(dir).lost += 1;
            return Verdict::Lost;
        }
        let copies = if self.rng.chance(self.config.duplicate) {
            self.stats_mut(dir).duplicated += 1;
            2
        } else {
            1
        };
        let mut delays = Vec::with_capacity(copies);
        for _ in 0..copies {
            let base = self.config.latency + self.rng.duration_up_to(self.config.jitter);
            let arrival = if self.rng.chance(self.config.reorder) {
                self.stats_mut(dir).reordered += 1;
                now + base + self.config.reorder_delay
            } else {
                // Jitter alone keeps the link FIFO: never arrive before an earlier datagram.
                let slot = &mut self.last_arrival[dir as usize];
                let at = (now + base).max(*slot);
                *slot = at;
                at
            };
            delays.push(arrival - now);
        }
        Verdict::Deliver(delays)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mtu_counts_udp_and_ip_headers() {
        let mut link = Link::new(LinkConfig::default(), Rng::new(1));
        assert!(matches!(
            link.transmit(Direction::Up, Duration::ZERO, 1472, false),
            Verdict::Deliver(_)
        ));
        assert_eq!(
            link.transmit(Direction::Up, Duration::ZERO, 1473, false),
            Verdict::Oversized
        );
        assert_eq!(
            link.transmit(Direction::Up, Duration::ZERO, 1453, true),
            Verdict::Oversized
        );
    }

    #[test]
    fn jitter_without_reorder_keeps_order() {
        let config =
            LinkConfig::with_latency(Duration::from_millis(10)).jitter(Duration::from_millis(50));
        let mut link = Link::new(config, Rng::new(9));
        let mut last = Duration::ZERO;
        for i in 0..200u64 {
            let now = Duration::from_millis(i);
            let Verdict::Deliver(d) = link.transmit(Direction::Down, now, 100, false) else {
                panic!("perfect link dropped");
            };
            assert!(now + d[0] >= last);
            last = now + d[0];
        }
    }
}

//! Relayed transport addresses (RFC 8656 §7.2): the port each relay binds, drawn at random from
//! a configurable range (49152–65535 by default), even for EVEN-PORT; and the next port
//! reserved under a RESERVATION-TOKEN when EVEN-PORT has the R bit.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::time::{Duration, Instant};

use crate::rng::Csprng;

/// How long a reserved port waits for the Allocate that redeems its token (RFC 8656 §7.2:
/// at least 30 seconds).
pub(super) const RESERVATION_LIFETIME: Duration = Duration::from_secs(30);

/// Random draws before a port range too small for the request gives up.
const DRAWS: usize = 64;

/// What an allocation asks of its relay port.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub(super) struct PortRequest {
    /// EVEN-PORT: the port must be even.
    pub(super) even: bool,
    /// EVEN-PORT with the R bit: port + 1 is bound too and reserved.
    pub(super) reserve_next: bool,
}

#[derive(Debug)]
struct Reservation {
    relay: SocketAddr,
    expires: Instant,
}

/// The port range and the reservations held.
#[derive(Debug)]
pub(super) struct RelayPorts {
    range: RangeInclusive<u16>,
    reservations: HashMap<u64, Reservation>,
}

impl RelayPorts {
    /// Ports from `range`; an empty range, or one reaching into 0–1023, falls back to the
    /// RFC's 49152–65535 (RFC 8656 §7.2: never a well-known port).
    pub(super) fn new(range: RangeInclusive<u16>) -> Self {
        let range = if range.is_empty() || *range.start() < 1024 {
            49152..=65535
        } else {
            range
        };
        Self {
            range,
            reservations: HashMap::new(),
        }
    }

    /// A port for a new relay, at random (RFC 8656 §7.2 RECOMMENDS it), `None` when the range
    /// holds none that fits the request.
    pub(super) fn pick(&self, rng: &mut Csprng, request: PortRequest) -> Option<u16> {
        let (start, end) = (u32::from(*self.range.start()), u32::from(*self.range.end()));
        let span = end - start + 1;
        (0..DRAWS).find_map(|_| {
            let mut port = start + (rng.u64() % u64::from(span)) as u32;
            if request.even || request.reserve_next {
                port &= !1;
                if port < start {
                    port += 2;
                }
            }
            let last = if request.reserve_next { port + 1 } else { port };
            (last <= end).then_some(port as u16)
        })
    }

    /// Holds `relay` (a bound socket) for an Allocate with the returned token.
    pub(super) fn reserve(&mut self, rng: &mut Csprng, now: Instant, relay: SocketAddr) -> u64 {
        let token = loop {
            let t = rng.u64();
            if !self.reservations.contains_key(&t) {
                break t;
            }
        };
        let expires = now + RESERVATION_LIFETIME;
        self.reservations
            .insert(token, Reservation { relay, expires });
        token
    }

    /// The reserved relay of `token`, which is used up; `None` for an unknown or expired one.
    pub(super) fn redeem(&mut self, now: Instant, token: u64) -> Option<SocketAddr> {
        self.reservations
            .remove(&token)
            .filter(|r| r.expires > now)
            .map(|r| r.relay)
    }

    /// How many ports are held in reserve.
    pub(super) fn reserved(&self) -> usize {
        self.reservations.len()
    }

    /// Ends the reservations due at `now`, returning their relays to close.
    pub(super) fn expire(&mut self, now: Instant) -> Vec<SocketAddr> {
        let mut released = Vec::new();
        self.reservations.retain(|_, r| {
            let keep = r.expires > now;
            if !keep {
                released.push(r.relay);
            }
            keep
        });
        released
    }

    /// When the next reservation ends.
    pub(super) fn next_expiry(&self) -> Option<Instant> {
        self.reservations.values().map(|r| r.expires).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rng() -> Csprng {
        Csprng::new([9; 32])
    }

    #[test]
    fn ports_come_from_the_range_at_random() {
        let ports = RelayPorts::new(50000..=50009);
        let mut rng = rng();
        let drawn: Vec<u16> = (0..200)
            .map(|_| ports.pick(&mut rng, PortRequest::default()).unwrap())
            .collect();
        assert!(drawn.iter().all(|p| (50000..=50009).contains(p)));
        let distinct: std::collections::HashSet<_> = drawn.iter().collect();
        assert_eq!(distinct.len(), 10, "every port of the range is drawn");
    }

    #[test]
    fn even_port_with_the_r_bit_leaves_room_for_the_next_port() {
        let ports = RelayPorts::new(50001..=50004);
        let mut rng = rng();
        for _ in 0..100 {
            let even = PortRequest {
                even: true,
                reserve_next: false,
            };
            let p = ports.pick(&mut rng, even).unwrap();
            assert!(p == 50002 || p == 50004, "{p}");
            let pair = PortRequest {
                even: true,
                reserve_next: true,
            };
            assert_eq!(ports.pick(&mut rng, pair), Some(50002));
        }
        let odd_only = RelayPorts::new(50001..=50001);
        let even = PortRequest {
            even: true,
            reserve_next: false,
        };
        assert_eq!(odd_only.pick(&mut rng, even), None);
    }

    #[test]
    fn well_known_ports_are_never_used() {
        let ports = RelayPorts::new(0..=2000);
        let mut rng = rng();
        for _ in 0..100 {
            assert!(ports.pick(&mut rng, PortRequest::default()).unwrap() >= 49152);
        }
    }

    #[test]
    fn a_token_is_redeemed_once_and_not_after_30_s() {
        let mut ports = RelayPorts::new(49152..=65535);
        let mut rng = rng();
        let now = Instant::now();
        let relay: SocketAddr = "192.0.2.1:50001".parse().unwrap();
        let token = ports.reserve(&mut rng, now, relay);
        assert_eq!(ports.redeem(now, token), Some(relay));
        assert_eq!(ports.redeem(now, token), None, "used up");
        let token = ports.reserve(&mut rng, now, relay);
        assert_eq!(ports.next_expiry(), Some(now + RESERVATION_LIFETIME));
        assert!(ports.expire(now + Duration::from_secs(29)).is_empty());
        assert_eq!(ports.expire(now + RESERVATION_LIFETIME), vec![relay]);
        assert_eq!(ports.redeem(now, token), None);
        assert_eq!(ports.reserved(), 0);
    }
}

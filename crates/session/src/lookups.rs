//! mDNS lookups of remote candidates' `.local` names (browsers hide their host addresses
//! behind them): which names are pending, the answers accepted only from the local link
//! (RFC 6762 §11), and the candidates that resolved. The queries themselves are a
//! [`floe_mdns::Resolver`]'s; the runtime carries them on multicast sockets of its own.
//!
//! A name that does not resolve within the resolver's timeout (2 s) is dropped; the
//! peer-reflexive candidate its checks create still works (RFC 8445 §7.3.1.3).

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use floe_ice::redact::Addr;
use floe_mdns::{Event, QueryId, Resolver, ResolverConfig};
use tracing::{debug, info};

/// Remote candidates waiting for their `.local` name to resolve, at most this many.
const MAX_PENDING_CANDIDATES: usize = 64;

/// A local network: answers from inside it (or from a link-local address) are on-link.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct LocalNetwork {
    /// An interface address.
    pub ip: IpAddr,
    /// Its prefix length.
    pub prefix: u8,
}

impl LocalNetwork {
    /// The network of `ip` with `prefix` bits.
    pub const fn new(ip: IpAddr, prefix: u8) -> Self {
        Self { ip, prefix }
    }

    /// Just `ip` (/32 or /128): what an address with no known interface is.
    pub const fn host(ip: IpAddr) -> Self {
        let prefix = if ip.is_ipv4() { 32 } else { 128 };
        Self { ip, prefix }
    }

    fn contains(&self, ip: IpAddr) -> bool {
        match (self.ip, ip) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                let shift = 32 - u32::from(self.prefix.min(32));
                let mask = u32::MAX.checked_shl(shift).unwrap_or(0);
                u32::from(a) & mask == u32::from(b) & mask
            }
            (IpAddr::V6(a), IpAddr::V6(b)) => {
                let shift = 128 - u32::from(self.prefix.min(128));
                let mask = u128::MAX.checked_shl(shift).unwrap_or(0);
                u128::from(a) & mask == u128::from(b) & mask
            }
            _ => false,
        }
    }
}

/// The lookups of one session.
#[derive(Debug)]
pub(crate) struct CandidateLookups {
    resolver: Resolver,
    networks: Vec<LocalNetwork>,
    pending: Vec<(QueryId, floe_sdp::Candidate)>,
    resolved: Vec<floe_sdp::Candidate>,
}

impl CandidateLookups {
    /// Lookups answered from `networks`, with queries to the groups of the families listed.
    pub(crate) fn new(networks: Vec<LocalNetwork>) -> Self {
        let resolver = Resolver::new(ResolverConfig {
            ipv4: networks.iter().any(|n| n.ip.is_ipv4()),
            ipv6: networks.iter().any(|n| n.ip.is_ipv6()),
            ..ResolverConfig::default()
        });
        Self {
            resolver,
            networks,
            pending: Vec::new(),
            resolved: Vec::new(),
        }
    }

    /// Starts resolving `candidate`'s name. False when it cannot be (not a valid `.local`
    /// name, or too many lookups under way): the candidate is dropped.
    pub(crate) fn start(&mut self, now: Instant, candidate: floe_sdp::Candidate) -> bool {
        let floe_sdp::CandidateAddress::Fqdn(name) = &candidate.address else {
            return false;
        };
        if self.pending.len() >= MAX_PENDING_CANDIDATES {
            info!(name = ?name, reason = "too many lookups under way", "mDNS candidate dropped");
            return false;
        }
        match self.resolver.resolve(now, name) {
            Ok(id) => {
                debug!(name = %name, "mDNS lookup started");
                self.pending.push((id, candidate));
                self.collect();
                true
            }
            Err(e) => {
                info!(name = ?name, reason = %e, "mDNS candidate dropped");
                false
            }
        }
    }

    /// True while a lookup is under way.
    pub(crate) fn is_busy(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Whether `ip` is on one of the local networks, or link-local (RFC 6762 §11: only
    /// answers from the local link are accepted).
    pub(crate) fn on_link(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        };
        let link_local = match ip {
            IpAddr::V4(v4) => v4.is_link_local(),
            IpAddr::V6(v6) => v6.segments()[0] & 0xffc0 == 0xfe80,
        };
        link_local || self.networks.iter().any(|n| n.contains(ip))
    }

    /// An mDNS datagram: answers from off the link are dropped.
    pub(crate) fn handle_datagram(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        if self.on_link(from.ip()) {
            self.resolver.handle_datagram(now, from, bytes);
            self.collect();
        } else {
            debug!(remote = %Addr(from), reason = "not on the local link (RFC 6762 §11)",
                "mDNS answer dropped");
        }
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.resolver.poll_timeout()
    }

    /// Retransmissions and expired lookups.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        if self.poll_timeout().is_some_and(|t| t <= now) {
            self.resolver.handle_timeout(now);
            self.collect();
        }
    }

    /// The next query to send, written into `buf`.
    pub(crate) fn poll_transmit(&mut self, buf: &mut [u8]) -> Option<floe_mdns::Transmit> {
        self.resolver.poll_transmit(buf)
    }

    /// The next candidate whose name resolved, with the address in place of the name.
    pub(crate) fn poll_resolved(&mut self) -> Option<floe_sdp::Candidate> {
        self.resolved.pop()
    }

    fn collect(&mut self) {
        while let Some(event) = self.resolver.poll_event() {
            let (id, addresses) = match event {
                Event::Resolved { id, addresses, .. } => (id, addresses),
                Event::TimedOut { id, .. } => (id, Vec::new()),
            };
            let (done, rest): (Vec<_>, Vec<_>) =
                self.pending.drain(..).partition(|(p, _)| *p == id);
            self.pending = rest;
            for (_, mut candidate) in done {
                // One address per candidate: IPv4 first, as the host candidates usually are.
                let ip = addresses.iter().find(|a| a.is_ipv4()).or(addresses.first());
                let floe_sdp::CandidateAddress::Fqdn(name) = &candidate.address else {
                    continue;
                };
                match ip {
                    Some(ip) => {
                        debug!(name = %name, remote = %Addr(*ip), "mDNS name resolved");
                        candidate.address = floe_sdp::CandidateAddress::Ip(*ip);
                        self.resolved.push(candidate);
                    }
                    None => info!(
                        name = %name,
                        reason = "no answer from the local link",
                        "mDNS lookup timed out; candidate dropped"
                    ),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_count_only_from_the_local_link() {
        let lookups = CandidateLookups::new(vec![
            LocalNetwork::new("192.168.1.10".parse().unwrap(), 24),
            LocalNetwork::new("2001:db8::1".parse().unwrap(), 64),
        ]);
        let on = |s: &str| lookups.on_link(s.parse().unwrap());
        assert!(on("192.168.1.200"));
        assert!(!on("192.168.2.1"));
        assert!(on("169.254.3.4"), "link-local");
        assert!(on("fe80::1"), "link-local");
        assert!(on("2001:db8::ffff"));
        assert!(!on("2001:db9::1"));
        assert!(on("::ffff:192.168.1.7"), "IPv4-mapped");
        let host = CandidateLookups::new(vec![LocalNetwork::host("10.0.0.1".parse().unwrap())]);
        assert!(!host.on_link("10.0.0.2".parse().unwrap()));
    }
}

//! Which peers the server relays to (RFC 8656 §21.4 and §22, "Attacks on the Internal
//! Network"): a TURN server on the Internet must not become a way into the network it runs in.
//! By default it refuses, with 403 Forbidden, peers in loopback, private (RFC 1918), shared
//! (CGNAT, RFC 6598), link-local, multicast, unspecified, reserved and unique-local ranges, the
//! 6to4 and Teredo prefixes (which tunnel to arbitrary IPv4 addresses), IPv4 addresses embedded
//! in IPv6 (mapped, NAT64) that fall in those ranges, port 0, and the server's own listening
//! addresses (a client could otherwise nest allocations inside the server). The operator opens
//! what it wants with [`super::ServerConfig::allowed_peers`].

use core::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

use crate::scope::is_internal;

/// The peer policy of one server.
#[derive(Clone, Debug)]
pub(crate) struct PeerPolicy {
    allowed: Vec<IpNet>,
}

impl PeerPolicy {
    pub(crate) fn new(allowed: &[IpNet]) -> Self {
        Self {
            allowed: allowed.to_vec(),
        }
    }

    /// Whether a permission for `ip` may be installed (RFC 8656 §10.2; CreatePermission has
    /// no port).
    pub(crate) fn permits_ip(&self, ip: IpAddr) -> bool {
        self.allowed.iter().any(|n| n.contains(&ip)) || !is_internal(ip)
    }

    /// Whether data may go to `peer` from a server listening on `listening` (RFC 8656 §11.2,
    /// §12.2): a permitted IP, a real port, and not the server itself.
    pub(crate) fn permits(&self, peer: SocketAddr, listening: SocketAddr) -> bool {
        peer.port() != 0 && !same_endpoint(peer, listening) && self.permits_ip(peer.ip())
    }
}

/// `peer` reaches the listening socket: the same address, or any address on its port when it
/// listens on all of them.
fn same_endpoint(peer: SocketAddr, listening: SocketAddr) -> bool {
    peer.port() == listening.port()
        && (peer.ip() == listening.ip() || listening.ip().is_unspecified())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn internal_ranges_are_refused_by_default() {
        let p = PeerPolicy::new(&[]);
        for s in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "169.254.1.1",
            "224.0.0.251",
            "255.255.255.255",
            "0.0.0.0",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "ff02::1",
            "2002:c0a8:0101::1",
            "2001:0:4136:e378::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
        ] {
            assert!(!p.permits_ip(ip(s)), "{s} permitted");
        }
    }

    #[test]
    fn public_addresses_are_permitted() {
        let p = PeerPolicy::new(&[]);
        for s in [
            "8.8.8.8",
            "198.51.100.7",
            "203.0.113.9",
            "172.32.0.1",
            "2001:db8::1",
            "2a00:1450::1",
            "::ffff:8.8.8.8",
        ] {
            assert!(p.permits_ip(ip(s)), "{s} refused");
        }
    }

    #[test]
    fn allowed_ranges_open_what_the_operator_asks() {
        let p = PeerPolicy::new(&["127.0.0.0/8".parse().unwrap()]);
        assert!(p.permits_ip(ip("127.0.0.1")));
        assert!(!p.permits_ip(ip("10.0.0.1")));
    }

    #[test]
    fn port_zero_and_the_listening_socket_are_refused() {
        let p = PeerPolicy::new(&[]);
        let listening: SocketAddr = "198.51.100.1:3478".parse().unwrap();
        assert!(!p.permits("198.51.100.2:0".parse().unwrap(), listening));
        assert!(!p.permits(listening, listening));
        assert!(!p.permits(listening, "0.0.0.0:3478".parse().unwrap()));
        assert!(p.permits("198.51.100.1:50000".parse().unwrap(), listening));
    }
}

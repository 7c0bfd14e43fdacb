//! Sockets for one-shot Multicast DNS queries (RFC 6762 §5.1), carrying the datagrams of a
//! [`floe_mdns::Resolver`]: the driver resolves the `.local` names browsers put in their host
//! candidates.
//!
//! - Queries go out from an ephemeral port, never 5353 (RFC 6762 §5.1: port 5353 would claim a
//!   fully compliant querier), one socket per local address so each query leaves on its own
//!   interface, with IP TTL / hop limit 255 (§11) and multicast loopback on (a browser on this
//!   host must hear them).
//! - Answers come two ways. A responder that follows §6.7 answers a query from a port other
//!   than 5353 by unicast to that port: the query socket receives it. Chromium's responder
//!   always answers to the group, so a socket bound to port 5353 (address sharing on, only
//!   ever received on) joins 224.0.0.251 / ff02::fb on every interface. Binding it may fail
//!   (then only unicast answers arrive).
//! - Which answers count (§11: only those from the local link) is the session's rule
//!   (`floe_session`), given the networks [`local_networks`] finds.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};

use floe_mdns::{MDNS_IPV4, MDNS_IPV6, MDNS_PORT};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;

use crate::net::recv_any;

/// IP TTL and IPv6 hop limit of queries (RFC 6762 §11).
const MDNS_TTL: u32 = 255;

/// A local interface address the sockets serve, and its subnet (for the on-link check).
#[derive(Clone, Copy, Debug)]
pub(crate) struct LocalNet {
    pub(crate) ip: IpAddr,
    pub(crate) prefix: u8,
    /// The interface index (IPv6 multicast needs it).
    index: u32,
}

/// The interfaces of `local_ips` (unspecified, multicast and duplicate addresses skipped),
/// with their prefix lengths and indexes; an address on no interface counts as a /32 or /128.
pub(crate) fn local_networks(local_ips: &[IpAddr]) -> Vec<LocalNet> {
    let interfaces = if_addrs::get_if_addrs().unwrap_or_default();
    let mut nets: Vec<LocalNet> = Vec::new();
    for &ip in local_ips {
        if ip.is_unspecified() || ip.is_multicast() || nets.iter().any(|n| n.ip == ip) {
            continue;
        }
        let found = interfaces.iter().find(|i| i.ip() == ip);
        let (prefix, index) = match found {
            Some(i) => (
                match &i.addr {
                    if_addrs::IfAddr::V4(a) => a.prefixlen,
                    if_addrs::IfAddr::V6(a) => a.prefixlen,
                },
                i.index.unwrap_or(0),
            ),
            // Not an interface address (a test pinning one?): only itself is on-link.
            None => (if ip.is_ipv4() { 32 } else { 128 }, 0),
        };
        nets.push(LocalNet { ip, prefix, index });
    }
    nets
}

/// The query sockets (one per local address) and the group listeners (one per family), all
/// received on at once.
pub(crate) struct MdnsSocket {
    /// Query sockets first, then listeners.
    sockets: Vec<UdpSocket>,
    /// For each query socket (same index in `sockets`), its family.
    query_is_v6: Vec<bool>,
    rotate: AtomicUsize,
}

impl MdnsSocket {
    /// Opens query sockets on each of `local_ips` (the addresses the driver gathers host
    /// candidates on: unspecified, multicast and duplicate addresses are skipped) and the
    /// group listeners. Fails only if no query socket could be opened. Must be called inside a
    /// tokio runtime.
    pub(crate) fn bind(local_ips: &[IpAddr]) -> io::Result<Self> {
        let nets = local_networks(local_ips);
        let mut sockets = Vec::new();
        let mut query_is_v6 = Vec::new();
        let mut last_err = None;
        for net in &nets {
            match query_socket(net) {
                Ok(s) => {
                    sockets.push(s);
                    query_is_v6.push(net.ip.is_ipv6());
                }
                Err(e) => last_err = Some(e),
            }
        }
        if sockets.is_empty() {
            return Err(last_err.unwrap_or_else(|| {
                io::Error::new(
                    io::ErrorKind::AddrNotAvailable,
                    "no address for mDNS queries",
                )
            }));
        }
        let v4: Vec<Ipv4Addr> = nets
            .iter()
            .filter_map(|n| match n.ip {
                IpAddr::V4(ip) => Some(ip),
                IpAddr::V6(_) => None,
            })
            .collect();
        let v6: Vec<u32> = nets
            .iter()
            .filter(|n| n.ip.is_ipv6() && n.index != 0)
            .map(|n| n.index)
            .collect();
        // Best effort: without a listener, only §6.7 unicast answers arrive.
        if let Some(listener) = listener_v4(&v4) {
            sockets.push(listener);
        }
        if let Some(listener) = listener_v6(&v6) {
            sockets.push(listener);
        }
        Ok(MdnsSocket {
            sockets,
            query_is_v6,
            rotate: AtomicUsize::new(0),
        })
    }

    /// Whether queries can go to 224.0.0.251 and to ff02::fb.
    #[cfg(test)]
    pub(crate) fn families(&self) -> (bool, bool) {
        let v6 = self.query_is_v6.iter().filter(|&&v6| v6).count();
        (self.query_is_v6.len() > v6, v6 > 0)
    }

    /// Whether a socket listens on port 5353 for answers sent to the group.
    #[cfg(test)]
    pub(crate) fn has_group_listener(&self) -> bool {
        self.sockets.len() > self.query_is_v6.len()
    }

    /// Sends one query (a [`floe_mdns::Transmit`]) out of every local address of
    /// `destination`'s family. Succeeds if it left on at least one; returns how many.
    pub(crate) async fn send(&self, bytes: &[u8], destination: SocketAddr) -> io::Result<usize> {
        let mut sent = 0;
        let mut last_err = None;
        for (socket, &is_v6) in self.sockets.iter().zip(&self.query_is_v6) {
            if is_v6 != destination.is_ipv6() {
                continue;
            }
            match socket.send_to(bytes, destination).await {
                Ok(_) => sent += 1,
                Err(e) => last_err = Some(e),
            }
        }
        match (sent, last_err) {
            (0, Some(e)) => Err(e),
            (0, None) => Err(io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                "no local address of the destination's family",
            )),
            (n, _) => Ok(n),
        }
    }

    /// Waits for the next datagram on any of the sockets and writes it into `buf`. Cancel-safe,
    /// so it can sit in a `select!`. Errors (ICMP reports on some platforms) are not fatal.
    pub(crate) async fn recv(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let start = self.rotate.fetch_add(1, Ordering::Relaxed);
        recv_any(&self.sockets, buf, start).await.1
    }
}

fn new_socket(domain: Domain) -> io::Result<Socket> {
    let socket = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    if domain == Domain::IPV6 {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    Ok(socket)
}

/// A query socket on `net`'s address, ephemeral port, sending multicast out of its interface.
fn query_socket(net: &LocalNet) -> io::Result<UdpSocket> {
    let socket = match net.ip {
        IpAddr::V4(ip) => {
            let s = new_socket(Domain::IPV4)?;
            s.bind(&SocketAddr::new(net.ip, 0).into())?;
            s.set_multicast_if_v4(&ip)?;
            s.set_multicast_ttl_v4(MDNS_TTL)?;
            s.set_multicast_loop_v4(true)?;
            s
        }
        IpAddr::V6(ip) => {
            let s = new_socket(Domain::IPV6)?;
            let scope = if is_link_local_v6(ip) { net.index } else { 0 };
            s.bind(&SocketAddr::V6(std::net::SocketAddrV6::new(ip, 0, 0, scope)).into())?;
            s.set_multicast_if_v6(net.index)?;
            s.set_multicast_hops_v6(MDNS_TTL)?;
            s.set_multicast_loop_v6(true)?;
            s
        }
    };
    UdpSocket::from_std(socket.into())
}

fn is_link_local_v6(ip: Ipv6Addr) -> bool {
    ip.segments()[0] & 0xffc0 == 0xfe80
}

/// A socket on 0.0.0.0:5353 (address shared with any other mDNS stack on the host) in the
/// 224.0.0.251 group on each of `interfaces`; `None` if it cannot bind or join anywhere.
fn listener_v4(interfaces: &[Ipv4Addr]) -> Option<UdpSocket> {
    if interfaces.is_empty() {
        return None;
    }
    let s = new_socket(Domain::IPV4).ok()?;
    s.set_reuse_address(true).ok()?;
    s.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, MDNS_PORT)).into())
        .ok()?;
    let joined = interfaces
        .iter()
        .filter(|ip| s.join_multicast_v4(&MDNS_IPV4, ip).is_ok())
        .count();
    if joined == 0 {
        return None;
    }
    UdpSocket::from_std(s.into()).ok()
}

/// A socket on \[::\]:5353 in the ff02::fb group on each interface index.
fn listener_v6(indexes: &[u32]) -> Option<UdpSocket> {
    if indexes.is_empty() {
        return None;
    }
    let s = new_socket(Domain::IPV6).ok()?;
    s.set_reuse_address(true).ok()?;
    s.bind(&SocketAddr::from((Ipv6Addr::UNSPECIFIED, MDNS_PORT)).into())
        .ok()?;
    let mut joined = 0;
    for (i, index) in indexes.iter().enumerate() {
        // Two addresses on one interface: join once.
        if !indexes[..i].contains(index) && s.join_multicast_v6(&MDNS_IPV6, *index).is_ok() {
            joined += 1;
        }
    }
    if joined == 0 {
        return None;
    }
    UdpSocket::from_std(s.into()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn binds_on_loopback_with_ttl_255() {
        let socket = MdnsSocket::bind(&[IpAddr::from([127, 0, 0, 1])]).unwrap();
        assert_eq!(socket.families(), (true, false));
        let ttl = socket2::SockRef::from(&socket.sockets[0]).multicast_ttl_v4();
        assert_eq!(ttl.unwrap(), 255);
        let nets = local_networks(&[IpAddr::from([127, 0, 0, 1])]);
        assert_eq!(nets[0].prefix, 8, "loopback is a /8");
    }

    const ROLE: &str = "FLOE_MDNS_SOCKET_TEST";
    const LEGACY: &str = "legacy-2f4e6a8c-0b1d-4f3e-a5c7-9e1b3d5f7a9c.local";
    const GROUP: &str = "Group-8c6a4e2f-d0b1-4e3f-b7a5-c3e1f9d7b5a3.local";
    const SILENT: &str = "silent-1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d.local";

    /// The resolver on these sockets against a responder on real multicast: inside a network
    /// namespace of its own (loopback with multicast on), this test re-executes itself there.
    /// One name is answered by unicast to the query's port (RFC 6762 §6.7), one to the group
    /// (as Chromium does), one not at all. Needs root and `ip`; skips without them, except in
    /// CI.
    #[test]
    fn resolves_over_multicast_in_a_namespace() {
        if std::env::var_os(ROLE).is_some() {
            return tokio::runtime::Runtime::new()
                .unwrap()
                .block_on(resolve_three_names());
        }
        let ns = format!("floe-mdns-sock-{}", std::process::id());
        let run = |args: &[&str]| {
            let out = std::process::Command::new("ip").args(args).output();
            match out {
                Ok(o) if o.status.success() => Ok(()),
                Ok(o) => Err(String::from_utf8_lossy(&o.stderr).trim().to_string()),
                Err(e) => Err(e.to_string()),
            }
        };
        let setup = run(&["netns", "add", &ns])
            .and_then(|()| run(&["-n", &ns, "link", "set", "lo", "up", "multicast", "on"]));
        if let Err(e) = setup {
            let _ = run(&["netns", "del", &ns]);
            assert!(
                std::env::var_os("CI").is_none(),
                "cannot create a namespace: {e}"
            );
            eprintln!("skipped: cannot create a network namespace ({e})");
            return;
        }
        let status = std::process::Command::new("ip")
            .args(["netns", "exec", &ns])
            .arg(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "mdns::tests::resolves_over_multicast_in_a_namespace",
            ])
            .args(["--nocapture", "--test-threads=1"])
            .env(ROLE, "child")
            .status();
        let _ = run(&["netns", "del", &ns]);
        assert!(status.unwrap().success());
    }

    async fn resolve_three_names() {
        use floe_mdns::{Event, Resolver, ResolverConfig, MAX_QUERY_LEN};
        use std::time::{Duration, Instant};

        let loopback = Ipv4Addr::LOCALHOST;
        let sock = MdnsSocket::bind(&[IpAddr::V4(loopback)]).unwrap();
        assert!(sock.has_group_listener());
        let (ipv4, ipv6) = sock.families();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let responder = {
            let stop = stop.clone();
            let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).unwrap();
            s.set_reuse_address(true).unwrap();
            s.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, MDNS_PORT)).into())
                .unwrap();
            s.join_multicast_v4(&MDNS_IPV4, &loopback).unwrap();
            s.set_multicast_if_v4(&loopback).unwrap();
            s.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
            std::thread::spawn(move || respond(s.into(), &stop))
        };

        let mut r = Resolver::new(ResolverConfig {
            ipv4,
            ipv6,
            ..ResolverConfig::default()
        });
        let start = Instant::now();
        let ids = [LEGACY, GROUP, SILENT].map(|n| r.resolve(start, n).unwrap());
        let mut events = Vec::new();
        let (mut out, mut buf) = ([0u8; MAX_QUERY_LEN], [0u8; 9000]);
        while events.len() < 3 {
            assert!(start.elapsed() < Duration::from_secs(5), "stalled");
            while let Some(t) = r.poll_transmit(&mut out) {
                sock.send(&out[..t.len], t.destination).await.unwrap();
            }
            let wake = r.poll_timeout().unwrap_or(start + Duration::from_secs(5));
            tokio::select! {
                res = sock.recv(&mut buf) => {
                    if let Ok((len, from)) = res {
                        r.handle_datagram(Instant::now(), from, &buf[..len]);
                    }
                }
                () = tokio::time::sleep_until(wake.into()) => r.handle_timeout(Instant::now()),
            }
            events.extend(std::iter::from_fn(|| r.poll_event()));
        }
        stop.store(true, Ordering::Relaxed);
        responder.join().unwrap();
        let lo = IpAddr::V4(loopback);
        assert!(
            events.contains(&Event::Resolved {
                id: ids[0],
                name: LEGACY.into(),
                addresses: vec![IpAddr::from([127, 0, 0, 2])],
            }),
            "{events:?}"
        );
        assert!(
            events.contains(&Event::Resolved {
                id: ids[1],
                name: GROUP.into(),
                addresses: vec![lo],
            }),
            "{events:?}"
        );
        assert!(
            events.contains(&Event::TimedOut {
                id: ids[2],
                name: SILENT.into(),
            }),
            "{events:?}"
        );
    }

    /// Answers LEGACY by unicast (echoing ID and question, RFC 6762 §6.7) with 127.0.0.2, and
    /// GROUP (in any case) to the group with 127.0.0.1, until stopped.
    fn respond(sock: std::net::UdpSocket, stop: &std::sync::atomic::AtomicBool) {
        use floe_mdns::{Flags, Message, Name, Record, RecordData};
        let legacy = Name::from_dotted(LEGACY).unwrap();
        let group = Name::from_dotted(&GROUP.to_lowercase()).unwrap();
        let mut buf = [0u8; 9000];
        while !stop.load(Ordering::Relaxed) {
            let Ok((len, from)) = sock.recv_from(&mut buf) else {
                continue;
            };
            let Ok(query) = Message::decode(&buf[..len]) else {
                continue;
            };
            if query.flags.is_response() || query.questions.len() != 1 {
                continue;
            }
            // RFC 6762 §5.1: one-shot queries never come from port 5353.
            assert_ne!(from.port(), MDNS_PORT);
            let name = &query.questions[0].name;
            let (ip, to, questions) = if *name == legacy {
                ([127, 0, 0, 2], from, query.questions.clone())
            } else if *name == group {
                (
                    [127, 0, 0, 1],
                    SocketAddr::from((MDNS_IPV4, MDNS_PORT)),
                    vec![],
                )
            } else {
                continue;
            };
            let response = Message {
                id: query.id,
                flags: Flags(Flags::RESPONSE | Flags::AUTHORITATIVE),
                questions,
                answers: vec![Record {
                    name: name.clone(),
                    class: 1,
                    cache_flush: false,
                    ttl: 10,
                    data: RecordData::A(Ipv4Addr::from(ip)),
                }],
                ..Message::default()
            };
            let mut out = [0u8; 1500];
            let n = response.encode(&mut out).unwrap();
            sock.send_to(&out[..n], to).unwrap();
        }
    }
}

//! A TURN server on real sockets: the sans-IO [`floe_turn::TurnServer`] driven on tokio UDP
//! sockets, the way [`crate::stun_tools::StunServer`] drives the STUN Binding server.
//!
//! One socket listens for clients; every allocation gets a UDP relay socket of its own, bound to
//! an ephemeral port of the relay IP when the sans-IO server asks for it
//! ([`ServerEvent::BindRelay`]) and closed when the allocation ends
//! ([`ServerEvent::ReleaseRelay`]). Long-term credentials come from a static user table.
//!
//! ```no_run
//! # async fn demo() -> floe::Result<()> {
//! use floe::turn_server::{TurnServer, TurnServerConfig};
//!
//! let config = TurnServerConfig::new(
//!     "127.0.0.1:3478".parse().unwrap(),
//!     "floe",
//!     [("alice", "secret")],
//! );
//! let server = TurnServer::bind(config).await?;
//! println!("turn:{}", server.local_addr());
//! let handle = server.spawn(); // stops when `handle` is dropped
//! # drop(handle);
//! # Ok(())
//! # }
//! ```

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use floe_stun::attributes::AddressFamily;
use floe_turn::{AllocationId, ServerConfig, ServerEvent, Transport};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

use crate::convert::os_random;
use crate::error::{Error, Result};
use crate::net::{bind_udp, recv_any, MAX_DATAGRAM};

/// SOFTWARE sent by floe's TURN server.
const SOFTWARE: &str = concat!("floe ", env!("CARGO_PKG_VERSION"));

/// Default [`TurnServerConfig::max_allocations`]: each allocation holds a socket (a file
/// descriptor), and the usual soft limit is 1024 of them per process.
pub const DEFAULT_MAX_ALLOCATIONS: usize = 256;

/// How [`TurnServer::bind`] sets the server up.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TurnServerConfig {
    /// The address clients send to (UDP; port 0: ephemeral).
    pub listen: SocketAddr,
    /// The IP relay sockets bind to, and hence the family of the relayed addresses handed out.
    /// `None`: the listening IP, which must then not be the unspecified address.
    pub relay_ip: Option<IpAddr>,
    /// REALM of the long-term credentials.
    pub realm: String,
    /// The static user table: `(user name, password)` pairs. At least one.
    pub users: Vec<(String, String)>,
    /// At most this many allocations at once; beyond, Allocate gets 486 Allocation Quota
    /// Reached.
    pub max_allocations: usize,
    /// How long a nonce stays valid before requests using it get 438 Stale Nonce.
    pub nonce_lifetime: Duration,
    /// Internal peer ranges to relay to all the same; by default loopback, private, link-local
    /// and similar peers get 403 (RFC 8656 §21.4, `floe_turn::ServerConfig::allowed_peers`).
    pub allowed_peers: Vec<floe_turn::IpNet>,
    /// The ports relayed addresses are drawn from, at random (RFC 8656 §7.2; default
    /// 49152–65535).
    pub relay_ports: std::ops::RangeInclusive<u16>,
}

impl TurnServerConfig {
    /// A configuration listening on `listen`, relaying from the same IP, with the given users and
    /// [`DEFAULT_MAX_ALLOCATIONS`].
    pub fn new<U: Into<String>, P: Into<String>>(
        listen: SocketAddr,
        realm: &str,
        users: impl IntoIterator<Item = (U, P)>,
    ) -> Self {
        Self {
            listen,
            relay_ip: None,
            realm: realm.to_owned(),
            users: users
                .into_iter()
                .map(|(u, p)| (u.into(), p.into()))
                .collect(),
            max_allocations: DEFAULT_MAX_ALLOCATIONS,
            nonce_lifetime: Duration::from_secs(600),
            allowed_peers: Vec::new(),
            relay_ports: 49152..=65535,
        }
    }
}

/// A TURN server (RFC 8656, UDP) on tokio sockets: see the [module documentation](self).
#[derive(Debug)]
pub struct TurnServer {
    server: floe_turn::TurnServer,
    /// The listening socket first, then one relay socket per bound relayed address.
    sockets: Vec<UdpSocket>,
    /// The local address of each socket in `sockets`.
    locals: Vec<SocketAddr>,
    relay_ip: IpAddr,
}

impl TurnServer {
    /// Binds the listening socket and checks the configuration (at least one user, a usable
    /// relay IP, at least one allocation allowed).
    pub async fn bind(config: TurnServerConfig) -> Result<Self> {
        let bad = |why: String| Error::InvalidConfiguration(format!("TURN server: {why}"));
        if config.users.is_empty() {
            return Err(bad("at least one user is needed".into()));
        }
        if let Some((user, _)) = config.users.iter().find(|(u, _)| u.is_empty()) {
            return Err(bad(format!("empty user name {user:?}")));
        }
        if config.max_allocations == 0 {
            return Err(bad("max_allocations must be at least 1".into()));
        }
        let relay_ip = config.relay_ip.unwrap_or(config.listen.ip());
        if relay_ip.is_unspecified() || relay_ip.is_multicast() {
            return Err(bad(format!(
                "relay IP {relay_ip} is not an address peers can send to; give a relay IP"
            )));
        }
        let listener = bind_udp(config.listen)
            .map_err(|e| bad(format!("cannot bind {}: {e}", config.listen)))?;
        let local = listener.local_addr()?;
        let mut server_config = ServerConfig::new(&config.realm, "", "");
        server_config.users = config.users.into_iter().collect::<HashMap<_, _>>();
        server_config.nonce_lifetime = Some(config.nonce_lifetime);
        server_config.max_allocations = config.max_allocations;
        server_config.ipv4_relays = relay_ip.is_ipv4();
        server_config.ipv6_relays = relay_ip.is_ipv6();
        server_config.software = Some(SOFTWARE.to_owned());
        server_config.allowed_peers = config.allowed_peers;
        if config.relay_ports.is_empty() || *config.relay_ports.start() < 1024 {
            return Err(bad(format!(
                "relay ports {}-{} must be a non-empty range above 1023",
                config.relay_ports.start(),
                config.relay_ports.end()
            )));
        }
        server_config.relay_ports = config.relay_ports;
        Ok(Self {
            server: floe_turn::TurnServer::new(server_config, os_random()),
            sockets: vec![listener],
            locals: vec![local],
            relay_ip,
        })
    }

    /// The address clients send to (the `turn:` URL's host and port).
    pub fn local_addr(&self) -> SocketAddr {
        self.locals[0]
    }

    /// The IP relayed addresses are bound on.
    pub fn relay_ip(&self) -> IpAddr {
        self.relay_ip
    }

    /// Serves clients until the task is dropped or aborted. Socket errors are not fatal: a
    /// failed receive is skipped, a datagram that cannot be sent is dropped (as the network
    /// would), and a relay socket that cannot be bound fails that Allocate with 508.
    pub async fn run(mut self) {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        let mut rotate = 0usize;
        loop {
            let deadline = self
                .server
                .poll_timeout()
                .map(tokio::time::Instant::from_std);
            tokio::select! {
                (i, res) = recv_any(&self.sockets, &mut buf, rotate) => {
                    rotate = rotate.wrapping_add(1);
                    let (len, from) = match res {
                        Ok(r) => r,
                        // An earlier send hit a closed port (ICMP): reported once, harmless.
                        Err(e) if matches!(
                            e.kind(),
                            io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionReset
                        ) => continue,
                        // Anything else may come back at once: skip it without spinning.
                        Err(_) => {
                            tokio::time::sleep(Duration::from_millis(1)).await;
                            continue;
                        }
                    };
                    let now = Instant::now();
                    let local = self.locals[i];
                    if i == 0 {
                        self.server.handle_client(now, local, from, Transport::Udp, &buf[..len]);
                    } else {
                        self.server.handle_peer(now, local, from, &buf[..len]);
                    }
                }
                () = sleep_until(deadline) => {
                    self.server.handle_timeout(Instant::now());
                }
            }
            self.drain();
        }
    }

    /// Runs the server on its own task; it stops when the returned handle is dropped.
    pub fn spawn(self) -> TurnServerHandle {
        TurnServerHandle {
            local: self.local_addr(),
            relay_ip: self.relay_ip,
            task: tokio::spawn(self.run()),
        }
    }

    /// Carries out the server's events, then sends its transmits.
    fn drain(&mut self) {
        while let Some(event) = self.server.poll_event() {
            match event {
                ServerEvent::BindRelay {
                    allocation,
                    family,
                    port,
                    reserve_next,
                    // Never asked for: the server answers DONT-FRAGMENT with 420 unless
                    // `ServerConfig::dont_fragment` says the driver sets DF, and this one does not.
                    dont_fragment: _,
                } => self.bind_relay(allocation, family, port, reserve_next),
                ServerEvent::ReleaseRelay { relay } => {
                    if let Some(i) = self.locals.iter().skip(1).position(|l| *l == relay) {
                        self.sockets.swap_remove(i + 1);
                        self.locals.swap_remove(i + 1);
                    }
                }
            }
        }
        while let Some(t) = self.server.poll_transmit() {
            let Some(i) = self.locals.iter().position(|l| *l == t.source) else {
                continue; // the relay was released meanwhile
            };
            // A full socket buffer drops the datagram rather than stalling every allocation.
            let _ = self.sockets[i].try_send_to(&t.payload, t.destination);
        }
    }

    /// Binds the relay socket (and with `reserve_next` the one after it) the server asked for,
    /// and reports the address, or `None` when a port is taken (the server then picks another).
    fn bind_relay(
        &mut self,
        allocation: AllocationId,
        family: AddressFamily,
        port: u16,
        reserve_next: bool,
    ) {
        let same_family = matches!(
            (family, self.relay_ip),
            (AddressFamily::Ipv4, IpAddr::V4(_)) | (AddressFamily::Ipv6, IpAddr::V6(_))
        );
        let ports = if reserve_next {
            port.checked_add(1).map(|next| vec![port, next])
        } else {
            Some(vec![port])
        };
        let bound = ports.filter(|_| same_family).and_then(|ports| {
            ports
                .into_iter()
                .map(|p| bind_udp(SocketAddr::new(self.relay_ip, p)).ok())
                .collect::<Option<Vec<UdpSocket>>>()
        });
        let relay = bound.map(|sockets| {
            for socket in sockets {
                let addr = socket
                    .local_addr()
                    .unwrap_or(SocketAddr::new(self.relay_ip, port));
                self.sockets.push(socket);
                self.locals.push(addr);
            }
            SocketAddr::new(self.relay_ip, port)
        });
        self.server
            .relay_bound(Instant::now(), allocation, family, relay);
    }
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// A [`TurnServer`] running on its own task: the server stops (and its sockets close) when this
/// is dropped or [`TurnServerHandle::abort`]ed.
#[derive(Debug)]
pub struct TurnServerHandle {
    local: SocketAddr,
    relay_ip: IpAddr,
    task: JoinHandle<()>,
}

impl TurnServerHandle {
    /// The address clients send to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The IP relayed addresses are bound on.
    pub fn relay_ip(&self) -> IpAddr {
        self.relay_ip
    }

    /// A `turn:` URL for this server (RFC 7065), for [`crate::IceServer::new`].
    pub fn url(&self) -> String {
        match self.local.ip() {
            IpAddr::V6(ip) => format!("turn:[{ip}]:{}", self.local.port()),
            IpAddr::V4(ip) => format!("turn:{ip}:{}", self.local.port()),
        }
    }

    /// Stops the server.
    pub fn abort(&self) {
        self.task.abort();
    }

    /// True once the server has stopped.
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

impl Drop for TurnServerHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use floe_turn::{ClientConfig, TurnClient, TurnError, TurnEvent};

    use super::*;

    const LIMIT: Duration = Duration::from_secs(5);

    fn loopback() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 0))
    }

    /// A TURN client on its own loopback socket.
    struct Client {
        socket: UdpSocket,
        turn: TurnClient,
    }

    impl Client {
        fn new(server: SocketAddr, user: &str, pass: &str) -> Self {
            Self::with(ClientConfig::new(server, user, pass))
        }

        fn with(config: ClientConfig) -> Self {
            Self {
                socket: bind_udp(loopback()).unwrap(),
                turn: TurnClient::new(config, os_random()),
            }
        }

        /// Runs the client until it reports an event.
        async fn next_event(&mut self) -> TurnEvent {
            let mut buf = vec![0u8; 2048];
            let run = async {
                loop {
                    while let Some(t) = self.turn.poll_transmit() {
                        let (payload, to) = (t.payload.to_vec(), t.destination);
                        self.socket.send_to(&payload, to).await.unwrap();
                    }
                    if let Some(e) = self.turn.poll_event() {
                        return e;
                    }
                    let next = self.turn.poll_timeout().map(tokio::time::Instant::from_std);
                    tokio::select! {
                        res = self.socket.recv_from(&mut buf) => {
                            let (n, from) = res.unwrap();
                            self.turn.handle_datagram(Instant::now(), from, &buf[..n]);
                        }
                        () = sleep_until(next) => self.turn.handle_timeout(Instant::now()),
                    }
                }
            };
            tokio::time::timeout(LIMIT, run)
                .await
                .expect("no TURN event")
        }

        async fn allocate(&mut self) -> TurnEvent {
            self.turn.allocate(Instant::now()).unwrap();
            self.next_event().await
        }
    }

    async fn server(max_allocations: usize) -> TurnServerHandle {
        let config = TurnServerConfig {
            max_allocations,
            ..TurnServerConfig::new(loopback(), "floe.test", [("alice", "secret")])
        };
        TurnServer::bind(config).await.unwrap().spawn()
    }

    #[tokio::test]
    async fn allocations_are_bounded_and_their_relays_released() {
        let server = server(1).await;
        let addr = server.local_addr();
        assert_eq!(server.url(), format!("turn:127.0.0.1:{}", addr.port()));
        let mut a = Client::new(addr, "alice", "secret");
        let TurnEvent::Allocated {
            relayed, mapped, ..
        } = a.allocate().await
        else {
            panic!("no allocation");
        };
        let relay = relayed[0];
        assert_eq!(relay.ip(), server.relay_ip());
        assert_ne!(relay, addr);
        assert_eq!(mapped, Some(a.socket.local_addr().unwrap()));

        // The quota is one allocation.
        let mut b = Client::new(addr, "alice", "secret");
        assert_eq!(
            b.allocate().await,
            TurnEvent::Failed(TurnError::AllocationQuotaReached)
        );
        // A wrong password gets nothing.
        let mut c = Client::new(addr, "alice", "wrong");
        assert_eq!(
            c.allocate().await,
            TurnEvent::Failed(TurnError::Unauthorized)
        );

        // Deleting the allocation closes its relay socket (the server closes it before
        // answering) and frees the quota.
        a.turn.close(Instant::now());
        assert_eq!(a.next_event().await, TurnEvent::Closed);
        assert!(
            std::net::UdpSocket::bind(relay).is_ok(),
            "{relay} still bound"
        );
        let mut d = Client::new(addr, "alice", "secret");
        assert!(matches!(d.allocate().await, TurnEvent::Allocated { .. }));
    }

    fn is_bound(addr: SocketAddr) -> bool {
        std::net::UdpSocket::bind(addr).is_err()
    }

    /// RFC 8656 §7.2 on real sockets: relay ports come from the configured range; EVEN-PORT
    /// with the R bit binds an even port and holds the next one, which the Allocate carrying
    /// the RESERVATION-TOKEN then gets; closing that allocation closes the reserved socket.
    #[tokio::test]
    async fn even_port_with_the_r_bit_reserves_the_next_socket() {
        let config = TurnServerConfig {
            relay_ports: 40_000..=40_999,
            ..TurnServerConfig::new(loopback(), "floe.test", [("alice", "secret")])
        };
        let server = TurnServer::bind(config).await.unwrap().spawn();
        let addr = server.local_addr();
        let mut a = Client::with(ClientConfig {
            even_port: Some(floe_stun::attributes::EvenPort { reserve_next: true }),
            ..ClientConfig::new(addr, "alice", "secret")
        });
        let TurnEvent::Allocated { relayed, .. } = a.allocate().await else {
            panic!("no allocation");
        };
        let relay = relayed[0];
        assert!((40_000..=40_999).contains(&relay.port()), "{relay}");
        assert_eq!(relay.port() % 2, 0, "{relay}");
        let next = SocketAddr::new(relay.ip(), relay.port() + 1);
        assert!(is_bound(next), "{next} is held in reserve");
        let token = a.turn.reservation_token().expect("a RESERVATION-TOKEN");

        let mut b = Client::with(ClientConfig {
            reservation_token: Some(token),
            ..ClientConfig::new(addr, "alice", "secret")
        });
        let TurnEvent::Allocated { relayed, .. } = b.allocate().await else {
            panic!("the token was refused");
        };
        assert_eq!(relayed, vec![next]);
        b.turn.close(Instant::now());
        assert_eq!(b.next_event().await, TurnEvent::Closed);
        assert!(!is_bound(next), "{next} closed with its allocation");
        assert!(
            is_bound(relay),
            "{relay} belongs to the first allocation still"
        );
    }

    #[tokio::test]
    async fn dropping_the_handle_stops_the_server() {
        let server = server(4).await;
        let addr = server.local_addr();
        assert!(std::net::UdpSocket::bind(addr).is_err());
        drop(server);
        let start = Instant::now();
        while std::net::UdpSocket::bind(addr).is_err() {
            assert!(start.elapsed() < LIMIT, "{addr} still bound");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test]
    async fn bad_configurations_are_refused() {
        let ok = TurnServerConfig::new(loopback(), "r", [("u", "p")]);
        let cases = [
            TurnServerConfig {
                users: Vec::new(),
                ..ok.clone()
            },
            TurnServerConfig {
                users: vec![(String::new(), "p".into())],
                ..ok.clone()
            },
            TurnServerConfig {
                max_allocations: 0,
                ..ok.clone()
            },
            TurnServerConfig {
                listen: "0.0.0.0:0".parse().unwrap(),
                ..ok.clone()
            },
            TurnServerConfig {
                relay_ip: Some("::".parse().unwrap()),
                ..ok.clone()
            },
        ];
        for config in cases {
            let r = TurnServer::bind(config.clone()).await;
            assert!(
                matches!(r, Err(Error::InvalidConfiguration(_))),
                "{config:?}: {r:?}"
            );
        }
        // An IPv4 listener may relay from another address of loopback.
        let other = TurnServer::bind(TurnServerConfig {
            relay_ip: Some("127.0.0.2".parse().unwrap()),
            ..ok
        })
        .await
        .unwrap();
        assert_eq!(other.relay_ip().to_string(), "127.0.0.2");
    }
}

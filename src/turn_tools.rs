//! TURN on real sockets: allocate a relayed address on a server over UDP, TCP or TLS
//! (RFC 8656 §3.1), relay a datagram to a peer and wait for its answer, deallocate. The
//! sans-IO [`floe_turn::TurnClient`] does the protocol; this moves its bytes and keeps time.
//! `floe turn` is built on it.
//!
//! ```no_run
//! # async fn f() -> floe::Result<()> {
//! use floe::turn_tools::{TurnOptions, TurnSession, TurnTransport};
//! let server = "127.0.0.1:3478".parse().unwrap();
//! let opts = TurnOptions::new(server, TurnTransport::Tcp, "alice", "secret");
//! let mut session = TurnSession::allocate(&opts).await?;
//! println!("relayed {:?}", session.info().relayed);
//! let reply = session.echo("127.0.0.1:5000".parse().unwrap(), b"hello", false).await?;
//! println!("{:?} after {:?}", reply.data, reply.rtt);
//! session.close().await?;
//! # Ok(()) }
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::{Duration, Instant};

use floe_turn::{ClientConfig, Received, SendError, Transport, TurnClient, TurnError, TurnEvent};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UdpSocket;

use crate::config::{IceServerScheme, IceServerUrl};
use crate::convert::os_random;
use crate::error::{Error, Result};
use crate::net::{bind_udp, MAX_DATAGRAM};
use crate::stun_tools::{resolve_server, SOFTWARE};
use crate::turn_stream::{self, TurnStream};

/// How to reach the TURN server: UDP (`turn:host`), TCP (`turn:host?transport=tcp`) or TLS
/// over TCP (`turns:host`): the transport of a TURN URL,
/// [`TurnUrlTransport`](crate::config::TurnUrlTransport).
pub use crate::config::TurnUrlTransport as TurnTransport;

impl TurnTransport {
    /// `udp`, `tcp` or `tls`.
    pub const fn as_str(self) -> &'static str {
        match self {
            TurnTransport::Udp => "udp",
            TurnTransport::Tcp => "tcp",
            TurnTransport::Tls => "tls",
        }
    }
}

impl fmt::Display for TurnTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TurnTransport {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "udp" => Ok(TurnTransport::Udp),
            "tcp" => Ok(TurnTransport::Tcp),
            "tls" => Ok(TurnTransport::Tls),
            _ => Err(Error::InvalidConfiguration(format!(
                "TURN transport {s:?}: must be udp, tcp or tls"
            ))),
        }
    }
}

/// A TURN server as the user named it: host, port and transport.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TurnTarget {
    /// Host name or IP address literal (IPv6 without brackets).
    pub host: String,
    /// The port (default 3478, or 5349 for TLS).
    pub port: u16,
    /// The transport.
    pub transport: TurnTransport,
}

impl TurnTarget {
    /// Parses `HOST[:PORT]`, `turn:HOST[:PORT][?transport=udp|tcp]` or
    /// `turns:HOST[:PORT][?transport=tcp]` (RFC 7065). `transport` (`--transport`) applies to
    /// a bare `HOST[:PORT]` and must agree with a URL: `turns:` is TLS, `?transport=tcp` TCP.
    pub fn parse(s: &str, transport: Option<TurnTransport>) -> Result<Self> {
        let lower = s.to_ascii_lowercase();
        let has_scheme = lower.starts_with("turn:") || lower.starts_with("turns:");
        if lower.starts_with("stun:") || lower.starts_with("stuns:") {
            return Err(Error::InvalidConfiguration(format!(
                "{s:?} is a STUN URL; give a turn: or turns: URL, or HOST:PORT"
            )));
        }
        let url: IceServerUrl = if has_scheme {
            s.parse()?
        } else if transport == Some(TurnTransport::Tls) {
            format!("turns:{s}").parse()?
        } else {
            format!("turn:{s}").parse()?
        };
        if url.scheme == IceServerScheme::Turns && url.transport.as_deref() == Some("udp") {
            return Err(Error::InvalidConfiguration(format!(
                "{s:?}: TURN over DTLS is not supported"
            )));
        }
        // A transport the URL states: a scheme or a query; else the flag's, or UDP.
        let from_url = url.turn_transport().filter(|_| {
            has_scheme && (url.scheme == IceServerScheme::Turns || url.transport.is_some())
        });
        let transport = match (from_url, transport) {
            (Some(url), Some(flag)) if url != flag => {
                return Err(Error::InvalidConfiguration(format!(
                    "{s:?} is TURN over {url}, not {flag}"
                )))
            }
            (None, Some(TurnTransport::Tls)) if has_scheme => {
                return Err(Error::InvalidConfiguration(format!(
                    "{s:?} is not TURN over TLS; write turns:"
                )))
            }
            (Some(t), _) | (None, Some(t)) => t,
            (None, None) => TurnTransport::Udp,
        };
        Ok(TurnTarget {
            host: url.host,
            port: url.port,
            transport,
        })
    }

    /// Resolves the host to an address of `bind`'s family (see
    /// [`crate::stun_tools::resolve_server`]).
    pub async fn resolve(&self, bind: Option<IpAddr>) -> Result<SocketAddr> {
        resolve_server(&self.host, self.port, bind).await
    }
}

/// What [`TurnSession::allocate`] needs.
#[derive(Clone, Debug)]
pub struct TurnOptions {
    /// The server's transport address.
    pub server: SocketAddr,
    /// UDP, TCP or TLS.
    pub transport: TurnTransport,
    /// Long-term credential user name.
    pub username: String,
    /// Long-term credential password.
    pub password: String,
    /// Local IP address to send from; default: the unspecified address of the server's family.
    pub bind: Option<IpAddr>,
    /// TLS: the name the server's certificate must be valid for, a DNS name or an IP address;
    /// default: the server's IP address.
    pub server_name: Option<String>,
    /// TLS: PEM files of root certificates to trust besides the system's.
    pub ca_files: Vec<PathBuf>,
    /// How long each step (allocate, relay an echo, deallocate) may take.
    pub timeout: Duration,
}

impl TurnOptions {
    /// Options with no bind address, no TLS extras and a 5 s timeout.
    pub fn new(
        server: SocketAddr,
        transport: TurnTransport,
        username: &str,
        password: &str,
    ) -> Self {
        Self {
            server,
            transport,
            username: username.to_owned(),
            password: password.to_owned(),
            bind: None,
            server_name: None,
            ca_files: Vec::new(),
            timeout: Duration::from_secs(5),
        }
    }
}

/// A granted allocation.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct AllocationInfo {
    /// The server.
    pub server: SocketAddr,
    /// The transport to the server.
    pub transport: TurnTransport,
    /// The local address requests left from.
    pub local: SocketAddr,
    /// XOR-RELAYED-ADDRESS.
    pub relayed: Vec<SocketAddr>,
    /// XOR-MAPPED-ADDRESS: the client's address as the server sees it.
    pub mapped: Option<SocketAddr>,
    /// LIFETIME granted.
    pub lifetime: Duration,
    /// TCP connection and TLS handshake (zero over UDP).
    pub connect_time: Duration,
    /// From the start (before connecting) to the Allocate success response.
    pub allocate_time: Duration,
}

/// A datagram relayed back from a peer by [`TurnSession::echo`].
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RelayedReply {
    /// The peer it came from.
    pub peer: SocketAddr,
    /// What the peer sent.
    pub data: Vec<u8>,
    /// From writing the data to the server to the reply arriving.
    pub rtt: Duration,
    /// The channel used (ChannelData), or `None` for Send and Data indications.
    pub channel: Option<u16>,
}

/// Where the client's bytes go.
enum Conn {
    Udp(UdpSocket),
    Stream(TurnStream),
}

/// One allocation on one server, driven on the caller's task.
pub struct TurnSession {
    client: TurnClient,
    conn: Conn,
    timeout: Duration,
    info: AllocationInfo,
    buf: Vec<u8>,
    events: VecDeque<TurnEvent>,
    /// Application data from peers: sender, bytes, arrival.
    data: VecDeque<(SocketAddr, Vec<u8>, Instant)>,
}

impl fmt::Debug for TurnSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TurnSession")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// One line for a failed TURN request.
fn turn_error(server: SocketAddr, transport: TurnTransport, what: &str, e: TurnError) -> Error {
    match e {
        TurnError::Unauthorized => Error::Turn(format!(
            "TURN server {server} rejected the credentials (401 Unauthenticated)"
        )),
        TurnError::WrongCredentials => Error::Turn(format!(
            "TURN server {server} rejected the credentials (441 Wrong Credentials)"
        )),
        TurnError::Timeout => Error::Timeout(format!(
            "waiting for TURN server {server} over {transport} ({what})"
        )),
        e => Error::Turn(format!("TURN server {server} refused {what}: {e}")),
    }
}

/// Sends one message to the server: a datagram, or bytes on the stream.
async fn send(conn: &mut Conn, to: SocketAddr, bytes: &[u8]) -> Result<()> {
    match conn {
        Conn::Udp(s) => {
            s.send_to(bytes, to).await?;
        }
        Conn::Stream(s) => s
            .write_all(bytes)
            .await
            .map_err(|e| Error::Turn(format!("connection to TURN server {to} lost: {e}")))?,
    }
    Ok(())
}

impl TurnSession {
    /// Connects (TCP, TLS) and allocates a relayed address. Fails with one line: the server
    /// cannot be reached, rejects the credentials or the request, or does not answer within
    /// `opts.timeout`.
    pub async fn allocate(opts: &TurnOptions) -> Result<Self> {
        let start = Instant::now();
        let deadline = start + opts.timeout;
        let server = opts.server;
        let transport = opts.transport;
        let conn = match transport {
            TurnTransport::Udp => {
                let ip = opts.bind.unwrap_or(if server.is_ipv4() {
                    IpAddr::from([0, 0, 0, 0])
                } else {
                    IpAddr::from(std::net::Ipv6Addr::UNSPECIFIED)
                });
                Conn::Udp(bind_udp(SocketAddr::new(ip, 0))?)
            }
            TurnTransport::Tcp | TurnTransport::Tls => {
                let tls = match transport {
                    TurnTransport::Tls => {
                        let mut roots = Vec::new();
                        for path in &opts.ca_files {
                            roots.extend(crate::tls::read_pem_roots(path)?);
                        }
                        let name = opts
                            .server_name
                            .clone()
                            .unwrap_or_else(|| server.ip().to_string());
                        Some((name, crate::tls::client_config(&roots)?))
                    }
                    _ => None,
                };
                let tls = tls.as_ref().map(|(n, c)| (n.as_str(), c.clone()));
                let connect = turn_stream::connect(server, opts.bind, tls);
                match tokio::time::timeout_at(deadline.into(), connect).await {
                    Ok(Ok(stream)) => Conn::Stream(stream),
                    Ok(Err(e)) => return Err(turn_stream::connect_error(server, &e)),
                    Err(_) => {
                        return Err(Error::Timeout(format!(
                            "connecting to TURN server {server} over {transport}"
                        )))
                    }
                }
            }
        };
        let connect_time = start.elapsed();
        let local = match &conn {
            Conn::Udp(s) => {
                let mut local = s.local_addr()?;
                if local.ip().is_unspecified() {
                    // The source address the kernel picks towards the server.
                    let probe = std::net::UdpSocket::bind(SocketAddr::new(local.ip(), 0))?;
                    probe.connect(server)?;
                    local.set_ip(probe.local_addr()?.ip());
                }
                local
            }
            Conn::Stream(s) => s.local_addr()?,
        };
        let mut config = ClientConfig::new(server, &opts.username, &opts.password);
        config.transport = match transport {
            TurnTransport::Udp => Transport::Udp,
            _ => Transport::Stream,
        };
        config.software = Some(SOFTWARE.to_owned());
        let mut session = TurnSession {
            client: TurnClient::new(config, os_random()),
            conn,
            timeout: opts.timeout,
            info: AllocationInfo {
                server,
                transport,
                local,
                relayed: Vec::new(),
                mapped: None,
                lifetime: Duration::ZERO,
                connect_time,
                allocate_time: Duration::ZERO,
            },
            buf: vec![0u8; MAX_DATAGRAM],
            events: VecDeque::new(),
            data: VecDeque::new(),
        };
        session
            .client
            .allocate(Instant::now())
            .map_err(|e| Error::Turn(e.to_string()))?;
        let (relayed, mapped, lifetime) = session
            .wait(deadline, "an allocation", |s| {
                match s.events.pop_front()? {
                    TurnEvent::Allocated {
                        relayed,
                        mapped,
                        lifetime,
                    } => Some(Ok((relayed, mapped, lifetime))),
                    TurnEvent::Failed(e) => Some(Err(e)),
                    TurnEvent::AlternateServer { server: to }
                        if transport != TurnTransport::Udp =>
                    {
                        Some(Err(TurnError::Rejected {
                            code: 300,
                            reason: format!("Try Alternate: {to} (connect there instead)"),
                        }))
                    }
                    _ => None,
                }
            })
            .await?;
        session.info.server = session.client.server();
        session.info.relayed = relayed;
        session.info.mapped = mapped;
        session.info.lifetime = lifetime;
        session.info.allocate_time = start.elapsed();
        Ok(session)
    }

    /// The allocation.
    pub fn info(&self) -> &AllocationInfo {
        &self.info
    }

    /// Sends `data` to `peer` through the relay and waits for the first datagram `peer` sends
    /// back. First installs a permission for the peer (CreatePermission, then a Send
    /// indication), or with `channel` binds a channel (ChannelBind, then ChannelData), so the
    /// server does not drop the data or the reply.
    pub async fn echo(
        &mut self,
        peer: SocketAddr,
        data: &[u8],
        channel: bool,
    ) -> Result<RelayedReply> {
        let deadline = Instant::now() + self.timeout;
        let bad_peer = |e: SendError| Error::InvalidConfiguration(format!("peer {peer}: {e}"));
        let channel = if channel {
            let number = self
                .client
                .bind_channel(Instant::now(), peer)
                .map_err(bad_peer)?;
            self.wait(deadline, "a channel", |s| match s.events.pop_front()? {
                TurnEvent::ChannelBound { peer: p, .. } if p == peer => Some(Ok(())),
                TurnEvent::ChannelBindFailed { peer: p, error } if p == peer => Some(Err(error)),
                TurnEvent::Failed(e) => Some(Err(e)),
                _ => None,
            })
            .await?;
            Some(number)
        } else {
            self.client
                .create_permission(Instant::now(), peer.ip())
                .map_err(bad_peer)?;
            self.wait(deadline, "a permission", |s| {
                match s.events.pop_front()? {
                    TurnEvent::PermissionCreated { peer: p } if p == peer.ip() => Some(Ok(())),
                    TurnEvent::PermissionFailed { peer: p, error } if p == peer.ip() => {
                        Some(Err(error))
                    }
                    TurnEvent::Failed(e) => Some(Err(e)),
                    _ => None,
                }
            })
            .await?;
            None
        };
        self.data.clear();
        let mut out = vec![0u8; data.len() + 128];
        let n = self
            .client
            .send_to(Instant::now(), peer, data, &mut out)
            .map_err(bad_peer)?;
        let sent = Instant::now();
        send(&mut self.conn, self.client.server(), &out[..n]).await?;
        let (reply, at) = self
            .wait(deadline, "the relayed reply", |s| {
                if let Some(i) = s.data.iter().position(|(from, ..)| *from == peer) {
                    let (_, reply, at) = s.data.remove(i)?;
                    return Some(Ok((reply, at)));
                }
                match s.events.pop_front()? {
                    TurnEvent::Failed(e) => Some(Err(e)),
                    _ => None,
                }
            })
            .await
            .map_err(|e| match e {
                Error::Timeout(_) => Error::Timeout(format!(
                    "waiting for a reply from {peer} through TURN server {}",
                    self.info.server
                )),
                e => e,
            })?;
        Ok(RelayedReply {
            peer,
            data: reply,
            rtt: at.saturating_duration_since(sent),
            channel,
        })
    }

    /// Deletes the allocation (Refresh with LIFETIME 0, RFC 8656 §8) and waits for the answer,
    /// then closes the connection. An allocation already lost needs no deletion.
    pub async fn close(mut self) -> Result<()> {
        let deadline = Instant::now() + self.timeout;
        if self.client.is_allocated() {
            self.client.close(Instant::now());
            self.wait(deadline, "the deallocation", |s| {
                match s.events.pop_front()? {
                    TurnEvent::Closed => Some(Ok(())),
                    _ => None,
                }
            })
            .await?;
        }
        if let Conn::Stream(s) = &mut self.conn {
            // TLS close_notify, TCP FIN; the server may already be gone.
            let _ = tokio::time::timeout(Duration::from_millis(200), s.shutdown()).await;
        }
        Ok(())
    }

    /// Drives the client until `done` returns a result, failing with a timeout at `deadline`
    /// (`what` names what was awaited). `done` sees the queued events and data.
    async fn wait<R>(
        &mut self,
        deadline: Instant,
        what: &str,
        mut done: impl FnMut(&mut Self) -> Option<std::result::Result<R, TurnError>>,
    ) -> Result<R> {
        loop {
            if let Some(r) = done(self) {
                return r.map_err(|e| turn_error(self.info.server, self.info.transport, what, e));
            }
            if !self.events.is_empty() {
                // `done` looks at one event per call: let it see the rest first.
                continue;
            }
            if !self.step(deadline).await? {
                return Err(Error::Timeout(format!(
                    "waiting for TURN server {} over {} ({what}, {:.1} s)",
                    self.info.server,
                    self.info.transport,
                    self.timeout.as_secs_f64()
                )));
            }
        }
    }

    /// Sends what the client has queued, then waits for one input (a datagram, stream bytes)
    /// or the client's next timer, and queues the resulting events and data. False once
    /// `deadline` has passed.
    async fn step(&mut self, deadline: Instant) -> Result<bool> {
        while let Some(t) = self.client.poll_transmit() {
            send(&mut self.conn, t.destination, t.payload).await?;
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        let wake = self
            .client
            .poll_timeout()
            .map_or(deadline, |t| t.min(deadline));
        let sleep = tokio::time::sleep_until(wake.into());
        let server = self.client.server();
        // Some((len, from)): input; None: the timer.
        let input = match &mut self.conn {
            Conn::Udp(s) => tokio::select! {
                r = s.recv_from(&mut self.buf) => Some(r?),
                () = sleep => None,
            },
            Conn::Stream(s) => tokio::select! {
                r = s.read(&mut self.buf) => {
                    let n = r.map_err(|e| {
                        Error::Turn(format!("connection to TURN server {server} lost: {e}"))
                    })?;
                    if n == 0 {
                        return Err(Error::Turn(format!(
                            "TURN server {server} closed the connection"
                        )));
                    }
                    Some((n, server))
                }
                () = sleep => None,
            },
        };
        let now = Instant::now();
        match (input, &self.conn) {
            (None, _) => self.client.handle_timeout(now),
            (Some((n, from)), Conn::Udp(_)) => {
                if let Received::Data { peer, data } =
                    self.client.handle_datagram(now, from, &self.buf[..n])
                {
                    self.data.push_back((peer, data.to_vec(), now));
                }
            }
            (Some((n, _)), Conn::Stream(_)) => {
                self.client.push_stream(&self.buf[..n]);
                while let Some(r) = self.client.poll_stream(now) {
                    match r {
                        Ok(Received::Data { peer, data }) => {
                            self.data.push_back((peer, data.to_vec(), now))
                        }
                        Ok(_) => {}
                        Err(e) => {
                            return Err(Error::Turn(format!(
                                "TURN server {server} broke the stream framing: {e}"
                            )))
                        }
                    }
                }
            }
        }
        while let Some(event) = self.client.poll_event() {
            self.events.push_back(event);
        }
        Ok(true)
    }
}

/// Allocates (see [`TurnSession::allocate`]), deallocates, and returns what was granted.
pub async fn allocate_once(opts: &TurnOptions) -> Result<AllocationInfo> {
    let session = TurnSession::allocate(opts).await?;
    let info = session.info().clone();
    session.close().await?;
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(s: &str, t: Option<TurnTransport>) -> Result<(String, u16, TurnTransport)> {
        TurnTarget::parse(s, t).map(|t| (t.host, t.port, t.transport))
    }

    #[test]
    fn targets() {
        use TurnTransport::*;
        let ok = |s, t, host: &str, port, tr| {
            assert_eq!(target(s, t).unwrap(), (host.to_owned(), port, tr), "{s}")
        };
        ok("127.0.0.1:3479", None, "127.0.0.1", 3479, Udp);
        ok("127.0.0.1", Some(Tcp), "127.0.0.1", 3478, Tcp);
        ok("127.0.0.1", Some(Tls), "127.0.0.1", 5349, Tls);
        ok("[::1]:9", Some(Tls), "::1", 9, Tls);
        ok(
            "turn:example.org?transport=tcp",
            None,
            "example.org",
            3478,
            Tcp,
        );
        ok(
            "turn:example.org?transport=tcp",
            Some(Tcp),
            "example.org",
            3478,
            Tcp,
        );
        ok("turn:example.org", Some(Tcp), "example.org", 3478, Tcp);
        ok("TURNS:example.org", None, "example.org", 5349, Tls);
        ok(
            "turns:example.org:443?transport=tcp",
            None,
            "example.org",
            443,
            Tls,
        );
        for (bad, t) in [
            ("turn:x?transport=tcp", Some(Udp)),
            ("turns:x", Some(Tcp)),
            ("turn:x", Some(Tls)),
            ("turns:x?transport=udp", None),
            ("stun:x", None),
            ("x:0", None),
        ] {
            assert!(target(bad, t).is_err(), "{bad} {t:?}");
        }
        assert_eq!("TLS".parse::<TurnTransport>().unwrap(), Tls);
        assert!("sctp".parse::<TurnTransport>().is_err());
    }
}

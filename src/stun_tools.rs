//! STUN on real sockets: the floe-stun [`BindingServer`] on UDP, and a one-shot Binding query
//! driven by [`ClientTransactions`].

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use floe_stun::attributes::{
    MappedAddress, OtherAddress, ResponseOrigin, Software, XorMappedAddress,
};
use floe_stun::{
    BindingServer, BindingServerConfig, ClientTransactions, Message, MessageType, MessageWriter,
    TransactionConfig, TransactionOutcome,
};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

use crate::convert::random_transaction_id;
use crate::error::{Error, Result};
use crate::net::{bind_udp, recv_any, MAX_DATAGRAM};

/// SOFTWARE sent by floe's servers and clients (STUN and TURN).
pub(crate) const SOFTWARE: &str = concat!("floe ", env!("CARGO_PKG_VERSION"));

/// A STUN Binding server on UDP sockets.
#[derive(Debug)]
pub struct StunServer {
    server: BindingServer,
    sockets: Vec<UdpSocket>,
    locals: Vec<SocketAddr>,
}

impl StunServer {
    /// Binds `primary` (port 0: ephemeral) and, with an `alternate` (RFC 5780: another IP and
    /// port), the four address/port combinations NAT behaviour discovery needs.
    pub async fn bind(primary: SocketAddr, alternate: Option<SocketAddr>) -> Result<Self> {
        let first = bind_udp(primary)?;
        let primary = first.local_addr()?;
        // RFC 5780 uses one alternate port on both IPs: pick a free one for both when asked
        // for port 0, and keep the sockets that proved it free.
        let mut prebound = Vec::new();
        let alternate = match alternate {
            Some(alt) if alt.port() == 0 => {
                let (alt, sockets) = free_alternate_port(primary, alt)?;
                prebound = sockets;
                Some(alt)
            }
            other => other,
        };
        let config = BindingServerConfig {
            software: Some(SOFTWARE.to_owned()),
            primary,
            alternate,
        };
        let server = BindingServer::new(config)
            .map_err(|e| Error::InvalidConfiguration(format!("STUN server: {e}")))?;
        let mut sockets = vec![first];
        let mut locals = vec![primary];
        for addr in server.local_addresses().into_iter().skip(1) {
            if let Some(i) = prebound
                .iter()
                .position(|s| s.local_addr().is_ok_and(|a| a == addr))
            {
                let s = prebound.swap_remove(i);
                locals.push(addr);
                sockets.push(s);
                continue;
            }
            let s = bind_udp(addr)
                .map_err(|e| Error::InvalidConfiguration(format!("cannot bind {addr}: {e}")))?;
            locals.push(s.local_addr()?);
            sockets.push(s);
        }
        Ok(Self {
            server,
            sockets,
            locals,
        })
    }

    /// The bound addresses, primary first.
    pub fn local_addresses(&self) -> &[SocketAddr] {
        &self.locals
    }

    /// Answers requests until the task is dropped or aborted.
    pub async fn run(self) {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        let mut out = vec![0u8; MAX_DATAGRAM];
        let mut rotate = 0usize;
        loop {
            let (i, res) = recv_any(&self.sockets, &mut buf, rotate).await;
            rotate = rotate.wrapping_add(1);
            let Ok((len, from)) = res else { continue };
            if let Some(reply) = self
                .server
                .handle(self.locals[i], from, &buf[..len], &mut out)
            {
                if let Some(j) = self.locals.iter().position(|l| *l == reply.source) {
                    let _ = self.sockets[j]
                        .send_to(&out[..reply.len], reply.destination)
                        .await;
                }
            }
        }
    }

    /// Runs the server on its own task.
    pub fn spawn(self) -> JoinHandle<()> {
        tokio::spawn(self.run())
    }
}

/// What a Binding query learnt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindingResult {
    /// The local address the request left from.
    pub local: SocketAddr,
    /// The server.
    pub server: SocketAddr,
    /// XOR-MAPPED-ADDRESS (or MAPPED-ADDRESS from a legacy server).
    pub mapped: SocketAddr,
    /// From the first transmission to the response (so it includes retransmission waits).
    pub rtt: Duration,
    /// How many requests were sent.
    pub transmissions: u32,
    /// RESPONSE-ORIGIN (RFC 5780), if present.
    pub response_origin: Option<SocketAddr>,
    /// OTHER-ADDRESS (RFC 5780), if present.
    pub other_address: Option<SocketAddr>,
    /// The server's SOFTWARE, if present.
    pub software: Option<String>,
}

/// Sends a Binding request to `server` from a socket bound at `bind` (default: the unspecified
/// address of the server's family), retransmitting per RFC 8489 §6.2.1 until `timeout`.
pub async fn binding_request(
    server: SocketAddr,
    bind: Option<SocketAddr>,
    timeout: Duration,
) -> Result<BindingResult> {
    let bind = bind.unwrap_or(if server.is_ipv4() {
        SocketAddr::from(([0, 0, 0, 0], 0))
    } else {
        SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, 0))
    });
    let socket = bind_udp(bind)?;
    let local = socket.local_addr()?;
    let mut transactions = ClientTransactions::<()>::new(TransactionConfig::default());
    let mut request = [0u8; 128];
    let id = random_transaction_id();
    let mut w = MessageWriter::new(&mut request, MessageType::BINDING_REQUEST, id)
        .map_err(|e| Error::Stun(e.to_string()))?;
    w.add(&Software(SOFTWARE))
        .and_then(|()| w.add_fingerprint())
        .map_err(|e| Error::Stun(e.to_string()))?;
    let len = w.finish();
    let start = Instant::now();
    transactions
        .start(start, server, &request[..len], false, ())
        .map_err(|e| Error::Stun(e.to_string()))?;
    let deadline = tokio::time::Instant::from_std(start + timeout);
    let mut transmissions = 0u32;
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        while let Some(t) = transactions.poll_transmit() {
            transmissions += 1;
            socket.send_to(t.payload, t.destination).await?;
        }
        if let Some(event) = transactions.poll_event() {
            return Err(Error::Stun(format!(
                "no answer from {server}: {:?}",
                event.outcome
            )));
        }
        let next = transactions
            .poll_timeout()
            .map_or(deadline, tokio::time::Instant::from_std)
            .min(deadline);
        tokio::select! {
            res = socket.recv_from(&mut buf) => {
                let (n, from) = res?;
                let Ok(msg) = Message::decode(&buf[..n]) else { continue };
                let Some(event) = transactions.handle_response(from, &msg) else { continue };
                return match event.outcome {
                    TransactionOutcome::Success => {
                        let mapped = msg
                            .get::<XorMappedAddress>()
                            .ok()
                            .flatten()
                            .map(|a| a.0)
                            .or_else(|| msg.get::<MappedAddress>().ok().flatten().map(|a| a.0))
                            .ok_or_else(|| Error::Stun("response without a mapped address".into()))?;
                        Ok(BindingResult {
                            local,
                            server,
                            mapped,
                            rtt: start.elapsed(),
                            transmissions,
                            response_origin: msg.get::<ResponseOrigin>().ok().flatten().map(|a| a.0),
                            other_address: msg.get::<OtherAddress>().ok().flatten().map(|a| a.0),
                            software: msg.get::<Software>().ok().flatten().map(|s| s.0.to_owned()),
                        })
                    }
                    TransactionOutcome::Error { code, reason } => {
                        Err(Error::Stun(format!("{server} answered {code} {reason}")))
                    }
                    other => Err(Error::Stun(format!("{server}: {other:?}"))),
                };
            }
            () = tokio::time::sleep_until(next) => {
                if tokio::time::Instant::now() >= deadline {
                    return Err(Error::Stun(format!(
                        "no answer from {server} within {:.1} s",
                        timeout.as_secs_f64()
                    )));
                }
                transactions.handle_timeout(Instant::now());
            }
        }
    }
}

/// Resolves a server's `host` (name or IP literal) to its first address of `bind`'s family
/// (any family without `bind`), so the request can leave from `bind`.
pub async fn resolve_server(host: &str, port: u16, bind: Option<IpAddr>) -> Result<SocketAddr> {
    let found = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| Error::InvalidConfiguration(format!("cannot resolve {host}: {e}")))?
        .find(|a| bind.map_or(true, |b| b.is_ipv4() == a.is_ipv4()));
    found.ok_or_else(|| Error::InvalidConfiguration(format!("no usable address for {host}")))
}

/// Finds a port free on both the primary IP and the alternate IP, returning the alternate
/// address and the two sockets bound on it.
fn free_alternate_port(
    primary: SocketAddr,
    alternate: SocketAddr,
) -> Result<(SocketAddr, Vec<UdpSocket>)> {
    for _ in 0..32 {
        let on_alternate = bind_udp(alternate)?;
        let port = on_alternate.local_addr()?.port();
        if port == primary.port() {
            continue;
        }
        if let Ok(on_primary) = bind_udp(SocketAddr::new(primary.ip(), port)) {
            return Ok((
                SocketAddr::new(alternate.ip(), port),
                vec![on_alternate, on_primary],
            ));
        }
    }
    Err(Error::InvalidConfiguration(
        "no port free on both the primary and the alternate address".into(),
    ))
}

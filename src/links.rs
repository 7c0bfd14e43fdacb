//! The driver's byte streams ("links"), each owned by a small task of its own: to a TURN server
//! over TCP or TLS (RFC 8656 §3.1), or an ICE-TCP connection (RFC 6544), opened by us or
//! accepted by a listener. A task writes what its queue carries, in order, and reports what it
//! reads, then the end, through one channel shared by all. The sans-IO session frames and
//! deframes (RFC 4571); this only moves bytes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::turn_stream::TurnStream;

/// Framed messages waiting for a link before the newest are dropped; also how many chunks
/// read from the links may wait for the driver before reading pauses.
pub(crate) const LINK_QUEUE: usize = 256;
/// How long opening a link (TCP, and the TLS handshake) may take.
pub(crate) const LINK_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// TLS parameters of a `turns:` server: the name its certificate must carry, and the config.
pub(crate) type TlsTarget = Option<(String, Arc<rustls::ClientConfig>)>;

/// How a link's stream comes about.
pub(crate) enum Open {
    /// Connect to the TURN server `remote` from `local`'s IP address, with TLS when given.
    Turn(TlsTarget),
    /// ICE-TCP: connect to `remote` from `local`'s IP address, any port
    /// (`floe_ice::StreamCommand::Connect`); [`What::Connected`] says which.
    Connect,
    /// ICE-TCP: a connection a listener accepted.
    Accepted(TcpStream),
}

/// What a link reports.
#[derive(Debug)]
pub(crate) enum What {
    /// An [`Open::Connect`] link is open, from this local address: later events carry it as
    /// their `local`.
    Connected(SocketAddr),
    /// Bytes read.
    Data(Vec<u8>),
    /// The stream closed, or could not be opened.
    Closed,
}

/// One report of a link, for the connection (local, remote).
#[derive(Debug)]
pub(crate) struct LinkEvent {
    pub(crate) local: SocketAddr,
    pub(crate) remote: SocketAddr,
    pub(crate) what: What,
}

/// Owns one stream between `local` and `remote`: opens it as `open` says, writes what
/// `outgoing` carries until its sender is dropped, and reports what it reads, then the end.
pub(crate) async fn run_link(
    mut local: SocketAddr,
    remote: SocketAddr,
    open: Open,
    mut outgoing: mpsc::Receiver<Vec<u8>>,
    events: mpsc::Sender<LinkEvent>,
) {
    let stream = match open {
        Open::Accepted(tcp) => {
            // Checks and their answers are small: do not hold them back.
            let _ = tcp.set_nodelay(true);
            Some(TurnStream::Tcp(tcp))
        }
        Open::Turn(tls) => {
            let tls = tls
                .as_ref()
                .map(|(name, config)| (name.as_str(), config.clone()));
            let connect = crate::turn_stream::connect(remote, Some(local.ip()), tls);
            match tokio::time::timeout(LINK_CONNECT_TIMEOUT, connect).await {
                Ok(Ok(stream)) => Some(stream),
                _ => None,
            }
        }
        Open::Connect => {
            let connect = crate::turn_stream::connect(remote, Some(local.ip()), None);
            match tokio::time::timeout(LINK_CONNECT_TIMEOUT, connect).await {
                Ok(Ok(stream)) => match stream.local_addr() {
                    Ok(bound) => {
                        let what = What::Connected(bound);
                        let event = LinkEvent {
                            local,
                            remote,
                            what,
                        };
                        if events.send(event).await.is_err() {
                            return;
                        }
                        local = bound;
                        Some(stream)
                    }
                    Err(_) => None,
                },
                _ => None,
            }
        }
    };
    if let Some(stream) = stream {
        let (mut reader, mut writer) = tokio::io::split(stream);
        let read = async {
            let mut buf = vec![0u8; 16 * 1024];
            while let Ok(n @ 1..) = reader.read(&mut buf).await {
                let what = What::Data(buf[..n].to_vec());
                // Waiting for room in the queue holds the reads back, and TCP the peer.
                let event = LinkEvent {
                    local,
                    remote,
                    what,
                };
                if events.send(event).await.is_err() {
                    break;
                }
            }
        };
        let write = async {
            while let Some(bytes) = outgoing.recv().await {
                if writer.write_all(&bytes).await.is_err() {
                    break;
                }
            }
        };
        tokio::select! {
            () = read => {}
            () = write => {}
        }
    }
    let end = LinkEvent {
        local,
        remote,
        what: What::Closed,
    };
    let _ = events.send(end).await;
}

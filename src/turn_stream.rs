//! A byte stream to a TURN server: TCP (`turn:...?transport=tcp`) or TLS over TCP (`turns:`),
//! RFC 8656 §3.1. The sans-IO client frames and deframes the messages
//! (`floe_turn::Transport::Stream`); this only moves bytes.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::error::Error;

/// A connected stream to a TURN server, plain or TLS. Reads return the server's bytes (after
/// decryption); writes must be whole framed messages, in order.
pub(crate) enum TurnStream {
    /// Plain TCP.
    Tcp(TcpStream),
    /// TLS over TCP (boxed: the TLS state is large).
    Tls(Box<TlsStream<TcpStream>>),
}

impl std::fmt::Debug for TurnStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self {
            TurnStream::Tcp(_) => "tcp",
            TurnStream::Tls(_) => "tls",
        };
        f.debug_struct("TurnStream")
            .field("transport", &kind)
            .field("local", &self.local_addr().ok())
            .finish()
    }
}

/// Connects to `server` over TCP (from `local_ip`, port chosen by the kernel, when given; with
/// TCP_NODELAY so requests are not held back), then, with `tls` = (server name, config),
/// completes a TLS handshake that checks the server's certificate against that name: a DNS
/// name, or an IP address literal matched against IP address SANs. No timeout of its own: wrap
/// it in [`tokio::time::timeout`]. Turn an error into a one-line [`Error`] with
/// [`connect_error`].
pub(crate) async fn connect(
    server: SocketAddr,
    local_ip: Option<IpAddr>,
    tls: Option<(&str, Arc<rustls::ClientConfig>)>,
) -> io::Result<TurnStream> {
    // Check the name before opening a connection to the server.
    let tls = match tls {
        Some((name, config)) => {
            let name = ServerName::try_from(name.to_owned()).map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{name:?} is not a valid TLS server name"),
                )
            })?;
            Some((name, config))
        }
        None => None,
    };
    let socket = if server.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(ip) = local_ip {
        socket.bind(SocketAddr::new(ip, 0))?;
    }
    socket.set_nodelay(true)?;
    let tcp = socket.connect(server).await?;
    match tls {
        None => Ok(TurnStream::Tcp(tcp)),
        Some((name, config)) => {
            let stream = TlsConnector::from(config).connect(name, tcp).await?;
            Ok(TurnStream::Tls(Box::new(stream)))
        }
    }
}

/// A one-line error for a failed [`connect`] to `server`: [`Error::Tls`] for a failed handshake
/// (the certificate is not trusted, or not valid for the name) or a bad server name,
/// [`Error::Turn`] for the TCP connection (refused, unreachable, ...).
pub(crate) fn connect_error(server: SocketAddr, e: &io::Error) -> Error {
    let rustls_error = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match rustls_error {
        Some(tls) => Error::Tls(format!("handshake with TURN server {server} failed: {tls}")),
        None if e.kind() == io::ErrorKind::InvalidInput => Error::Tls(e.to_string()),
        None => Error::Turn(format!("cannot connect to TURN server {server}: {e}")),
    }
}

impl TurnStream {
    /// The local address of the TCP connection.
    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        match self {
            TurnStream::Tcp(s) => s.local_addr(),
            TurnStream::Tls(s) => s.get_ref().0.local_addr(),
        }
    }
}

impl AsyncRead for TurnStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            TurnStream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            TurnStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for TurnStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            TurnStream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            TurnStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            TurnStream::Tcp(s) => Pin::new(s).poll_flush(cx),
            TurnStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            TurnStream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            TurnStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn tcp_from_a_local_ip_with_nodelay() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = listener.local_addr().unwrap();
        let mut stream = connect(server, Some([127, 0, 0, 1].into()), None)
            .await
            .unwrap();
        let (mut accepted, from) = listener.accept().await.unwrap();
        assert_eq!(stream.local_addr().unwrap(), from);
        assert!(matches!(&stream, TurnStream::Tcp(s) if s.nodelay().unwrap()));
        stream.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        accepted.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
    }

    #[tokio::test]
    async fn refused_and_bad_names_are_one_line_errors() {
        // A port that was free a moment ago: nothing listens there.
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let e = connect(closed, None, None).await.unwrap_err();
        let msg = connect_error(closed, &e).to_string();
        assert!(
            msg.starts_with("cannot connect to TURN server 127.0.0.1:"),
            "{msg}"
        );

        let config = crate::tls::client_config(&[]).unwrap();
        let e = connect(closed, None, Some(("bad name!", config)))
            .await
            .unwrap_err();
        let msg = connect_error(closed, &e).to_string();
        assert_eq!(msg, "TLS: \"bad name!\" is not a valid TLS server name");
    }
}

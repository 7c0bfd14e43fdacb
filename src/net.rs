//! Sockets: binding UDP sockets and ICE-TCP listeners with socket2, and receiving (accepting)
//! from whichever of several is ready.

use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::task::Poll;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::ReadBuf;
use tokio::net::{TcpListener, TcpStream, UdpSocket};

/// Socket buffer size asked for: a burst of checks from many pairs, or data at a few hundred
/// Mbit/s, should not overflow the kernel's default (often ~200 KiB) between two polls.
const SOCKET_BUFFER: usize = 1 << 20;

/// Largest datagram the driver receives; anything bigger is truncated by the kernel.
pub const MAX_DATAGRAM: usize = 65_536;

/// Binds a UDP socket at `addr` (port 0: ephemeral) and hands it to tokio. Must be called
/// inside a tokio runtime.
pub fn bind_udp(addr: SocketAddr) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    // Best effort: the kernel caps these (net.core.rmem_max) and that is fine.
    let _ = socket.set_recv_buffer_size(SOCKET_BUFFER);
    let _ = socket.set_send_buffer_size(SOCKET_BUFFER);
    if addr.is_ipv6() {
        // One socket per address family: a v6 socket must not also take v4-mapped traffic.
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

/// Waits for a datagram on any of `sockets`, writing it into `buf`. Returns the index of the
/// socket, and its length and sender (or the socket's error). Cancel-safe: nothing is taken
/// from a socket unless this completes with it.
pub async fn recv_any(
    sockets: &[UdpSocket],
    buf: &mut [u8],
    start: usize,
) -> (usize, io::Result<(usize, SocketAddr)>) {
    poll_fn(|cx| {
        let n = sockets.len();
        // Rotating the first socket polled keeps one busy socket from starving the others.
        for k in 0..n {
            let i = (start + k) % n;
            let mut read = ReadBuf::new(buf);
            match sockets[i].poll_recv_from(cx, &mut read) {
                Poll::Ready(Ok(from)) => return Poll::Ready((i, Ok((read.filled().len(), from)))),
                Poll::Ready(Err(e)) => return Poll::Ready((i, Err(e))),
                Poll::Pending => {}
            }
        }
        Poll::Pending
    })
    .await
}

/// Backlog of an ICE-TCP listener: connections the kernel holds before they are accepted (the
/// agent takes at most [`floe_ice::MAX_ACCEPTED`] at a time and the rest are closed).
const LISTEN_BACKLOG: i32 = 32;

/// Binds a listening TCP socket at `addr` (one IP address; port 0: ephemeral) for ICE-TCP
/// passive candidates (RFC 6544 §4.1), and hands it to tokio. Must be called inside a tokio
/// runtime.
pub fn bind_tcp_listener(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    TcpListener::from_std(socket.into())
}

/// Waits for a connection on any of `listeners`. Returns the index of the listener, and the
/// connection and its peer's address (or the listener's error). Cancel-safe, like
/// [`recv_any`]; pending forever without listeners.
pub async fn accept_any(
    listeners: &[TcpListener],
    start: usize,
) -> (usize, io::Result<(TcpStream, SocketAddr)>) {
    poll_fn(|cx| {
        let n = listeners.len();
        for k in 0..n {
            let i = (start + k) % n;
            if let Poll::Ready(r) = listeners[i].poll_accept(cx) {
                return Poll::Ready((i, r));
            }
        }
        Poll::Pending
    })
    .await
}

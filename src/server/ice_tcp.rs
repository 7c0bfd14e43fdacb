//! `floe serve --ice-tcp` (RFC 6544): the connections of the ICE-TCP listener. Each is a link
//! task (`crate::links`); it belongs to the session whose ufrag its first frame, a check, names
//! (found through the mux), and until then it is unrouted: at most [`MAX_UNROUTED`] of those,
//! each closed if its first frame names no session or does not come within the stream timeout.

use std::net::SocketAddr;
use std::time::Instant;

use tokio::net::TcpStream;
use tokio::sync::mpsc;

use floe_ice::framing::{frame_len, HEADER_LEN};

use super::Engine;
use crate::links::{run_link, LinkEvent, Open, What, LINK_QUEUE};
use crate::net::MAX_DATAGRAM;

/// One ICE-TCP connection: the way to its task, and its session once its first frame named one.
pub(super) struct Link {
    pub(super) tx: mpsc::Sender<Vec<u8>>,
    pub(super) session: Option<u64>,
    /// The bytes read before the session was known (at most one frame).
    pub(super) first: Vec<u8>,
}

/// Accepted ICE-TCP connections waiting for their first frame before the oldest is closed.
const MAX_UNROUTED: usize = 256;

impl Engine {
    /// A connection on the ICE-TCP listener: its task starts; its session is known once its
    /// first frame is in ([`Self::on_link`]).
    pub(super) fn on_tcp_accepted(&mut self, stream: TcpStream, remote: SocketAddr) {
        let Some((_, listener)) = &self.ice_tcp else {
            return;
        };
        let key = (*listener, remote);
        if self.unrouted.len() >= MAX_UNROUTED {
            if let Some((_, oldest)) = self.unrouted.pop_front() {
                self.drop_unrouted(oldest);
            }
        }
        let (tx, rx) = mpsc::channel(LINK_QUEUE);
        let events = self.link_events.0.clone();
        tokio::spawn(run_link(key.0, remote, Open::Accepted(stream), rx, events));
        let link = Link {
            tx,
            session: None,
            first: Vec::new(),
        };
        self.links.insert(key, link);
        self.unrouted.push_back((Instant::now(), key));
    }

    /// Bytes, an open connection or its end, from an ICE-TCP link.
    pub(super) fn on_link(&mut self, event: LinkEvent) {
        let now = Instant::now();
        let key = (event.local, event.remote);
        match event.what {
            What::Connected(bound) => {
                let Some(link) = self.links.remove(&key) else {
                    return; // Closed by its session while it opened: the task ends.
                };
                let id = link.session;
                self.links.insert((bound, event.remote), link);
                if let Some(entry) = id.and_then(|id| self.sessions.get_mut(&id)) {
                    entry
                        .session
                        .handle_stream_connected(now, event.local, event.remote, bound);
                }
                if let Some(id) = id {
                    self.drive(id);
                }
            }
            What::Data(bytes) => {
                let Some(link) = self.links.get_mut(&key) else {
                    return;
                };
                let id = match link.session {
                    Some(id) => {
                        if let Some(entry) = self.sessions.get_mut(&id) {
                            let _ = entry.session.handle_stream_data(
                                now,
                                event.local,
                                event.remote,
                                &bytes,
                            );
                        }
                        id
                    }
                    None => {
                        link.first.extend_from_slice(&bytes);
                        let Some(id) = self.route_first_frame(key) else {
                            return;
                        };
                        id
                    }
                };
                self.drive(id);
            }
            What::Closed => {
                let Some(link) = self.links.remove(&key) else {
                    return;
                };
                if let Some(id) = link.session {
                    if let Some(entry) = self.sessions.get_mut(&id) {
                        entry
                            .session
                            .handle_stream_closed(now, event.local, event.remote);
                    }
                    self.drive(id);
                }
            }
        }
    }

    /// Once an accepted connection's first frame (RFC 4571) is in: the session whose ufrag it
    /// names, as the mux routes a check, takes the connection and what was read. `None` while
    /// the frame is incomplete, and when it names no session (the connection is closed).
    fn route_first_frame(&mut self, key: (SocketAddr, SocketAddr)) -> Option<u64> {
        let link = self.links.get_mut(&key)?;
        let first = &link.first;
        let length = first.get(..HEADER_LEN)?;
        let len = usize::from(u16::from_be_bytes([length[0], length[1]]));
        if len > MAX_DATAGRAM {
            self.drop_unrouted(key);
            return None;
        }
        let check = first.get(HEADER_LEN..frame_len(len))?;
        let now = Instant::now();
        let id = self.mux.session_of_check(check);
        let accepted = id.and_then(|id| {
            let entry = self.sessions.get_mut(&id)?;
            entry
                .session
                .handle_stream_accepted(now, key.0, key.1)
                .ok()?;
            let _ = entry
                .session
                .handle_stream_data(now, key.0, key.1, &link.first);
            Some(id)
        });
        match accepted {
            Some(id) => {
                link.session = Some(id);
                link.first = Vec::new();
                self.unrouted.retain(|(_, k)| *k != key);
                Some(id)
            }
            None => {
                self.drop_unrouted(key);
                None
            }
        }
    }

    /// Closes an accepted connection that never named a session.
    fn drop_unrouted(&mut self, key: (SocketAddr, SocketAddr)) {
        if self.links.get(&key).is_some_and(|l| l.session.is_none()) {
            self.links.remove(&key);
        }
        self.unrouted.retain(|(_, k)| *k != key);
    }

    /// Closes the accepted connections that sent no first frame within the stream timeout.
    pub(super) fn close_unrouted(&mut self, now: Instant) {
        while let Some((since, key)) = self.unrouted.front().copied() {
            if now < since + floe_ice::STREAM_IDLE_TIMEOUT {
                break;
            }
            self.unrouted.pop_front();
            if self.links.get(&key).is_some_and(|l| l.session.is_none()) {
                self.links.remove(&key);
            }
        }
    }
}

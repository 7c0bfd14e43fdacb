//! Signaling over WebSocket: a relay server with one room per URL path, and a client.
//!
//! The server knows nothing of the messages: every text message is relayed to the other
//! members of the sender's room. Peers speak the JSON of the usual browser sample code:
//!
//! ```json
//! {"offer": {"type": "offer", "sdp": "v=0\r\n..."}}
//! {"answer": {"type": "answer", "sdp": "v=0\r\n..."}}
//! {"iceCandidate": {"candidate": "candidate:...", "sdpMid": "0", "sdpMLineIndex": 0}}
//! ```
//!
//! `new-ice-candidate` is accepted as a synonym of `iceCandidate`; a null or empty candidate is
//! end-of-candidates. floe adds `{"bye": true}`, which a peer sends when it is done so that the
//! other can stop; code that does not know it ignores it.
//!
//! On the same port, a plain HTTP `GET` (anything that is not a WebSocket upgrade) is answered
//! with [`WEB_PAGE`]: a browser peer speaking those messages in the room its URL names, e.g.
//! `http://127.0.0.1:8080/?room=/test&role=call`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use floe_sdp::{IceCandidateInit, SessionDescriptionInit};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::error::{Error, Result};

/// The browser peer served at `/`: plain HTML and JavaScript, no build step. Query parameters:
/// `room` (default: the URL hash, else the path, else `/floe`), `role=call` to call at once
/// (otherwise it answers, or calls on a click), `stun`/`turn` (repeatable), `user`/`pass` for
/// TURN, `relay=1` for `iceTransportPolicy: 'relay'`. It shows the state events as they happen
/// and the selected candidate pair, and exposes `window.floeLog`, `window.floeState` and
/// `window.floeSelected` to tests.
pub const WEB_PAGE: &str = include_str!("web/index.html");

/// Longest HTTP request head read before giving up on a connection.
const MAX_REQUEST_HEAD: usize = 8192;

/// One signaling message.
#[derive(Clone, PartialEq, Debug)]
pub enum SignalMessage {
    /// `{"offer": RTCSessionDescriptionInit}`.
    Offer(SessionDescriptionInit),
    /// `{"answer": RTCSessionDescriptionInit}`.
    Answer(SessionDescriptionInit),
    /// `{"iceCandidate": RTCIceCandidateInit}`; `None` is end-of-candidates.
    IceCandidate(Option<IceCandidateInit>),
    /// `{"bye": true}`: the sender is done (floe's addition).
    Bye,
    /// Anything else, kept as parsed so the caller may ignore it.
    Other(Value),
}

impl SignalMessage {
    /// The JSON text of the message. End-of-candidates is written as an empty candidate, which
    /// `addIceCandidate` in a browser also takes as end-of-candidates.
    pub fn to_json(&self) -> String {
        let value = match self {
            SignalMessage::Offer(d) => json!({ "offer": d }),
            SignalMessage::Answer(d) => json!({ "answer": d }),
            SignalMessage::IceCandidate(Some(c)) => json!({ "iceCandidate": c }),
            SignalMessage::IceCandidate(None) => {
                json!({ "iceCandidate": IceCandidateInit::default() })
            }
            SignalMessage::Bye => json!({ "bye": true }),
            SignalMessage::Other(v) => v.clone(),
        };
        value.to_string()
    }

    /// Parses a message; JSON that is not one of the known shapes is [`SignalMessage::Other`].
    pub fn from_json(text: &str) -> Result<Self> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| Error::Signaling(format!("bad JSON: {e}")))?;
        let bad = |what: &str, e: serde_json::Error| Error::Signaling(format!("bad {what}: {e}"));
        let Some(obj) = value.as_object() else {
            return Ok(SignalMessage::Other(value));
        };
        if let Some(d) = obj.get("offer") {
            let d = serde_json::from_value(d.clone()).map_err(|e| bad("offer", e))?;
            return Ok(SignalMessage::Offer(d));
        }
        if let Some(d) = obj.get("answer") {
            let d = serde_json::from_value(d.clone()).map_err(|e| bad("answer", e))?;
            return Ok(SignalMessage::Answer(d));
        }
        if let Some(c) = obj
            .get("iceCandidate")
            .or_else(|| obj.get("new-ice-candidate"))
        {
            if c.is_null() {
                return Ok(SignalMessage::IceCandidate(None));
            }
            let c: IceCandidateInit =
                serde_json::from_value(c.clone()).map_err(|e| bad("iceCandidate", e))?;
            return Ok(SignalMessage::IceCandidate(
                Some(c).filter(|c| !c.is_end_of_candidates()),
            ));
        }
        if obj.contains_key("bye") {
            return Ok(SignalMessage::Bye);
        }
        Ok(SignalMessage::Other(value))
    }
}

/// A client connection to a signaling room.
#[derive(Debug)]
pub struct SignalingChannel {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl SignalingChannel {
    /// Connects to `ws://host:port/room`.
    pub async fn connect(url: &str) -> Result<Self> {
        if !url.starts_with("ws://") {
            return Err(Error::Signaling(format!(
                "{url}: only ws:// URLs are supported"
            )));
        }
        let (ws, _) = // Small messages that wait for each other's answers: Nagle's delay (with delayed ACKs,
        // 40 ms) would dominate call setup.
        tokio_tungstenite::connect_async_with_config(url, None, true)
            .await
            .map_err(|e| Error::Signaling(format!("cannot connect to {url}: {e}")))?;
        Ok(Self { ws })
    }

    /// Sends one message.
    pub async fn send(&mut self, msg: &SignalMessage) -> Result<()> {
        self.ws
            .send(Message::text(msg.to_json()))
            .await
            .map_err(|e| Error::Signaling(e.to_string()))
    }

    /// The next message; `Ok(None)` once the server closed the connection. Cancel-safe.
    pub async fn recv(&mut self) -> Result<Option<SignalMessage>> {
        loop {
            match self.ws.next().await {
                None | Some(Ok(Message::Close(_))) => return Ok(None),
                Some(Ok(Message::Text(text))) => {
                    return SignalMessage::from_json(text.as_str()).map(Some)
                }
                // Pings are answered by tungstenite itself; binary frames are not ours.
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(Error::Signaling(e.to_string())),
            }
        }
    }

    /// Closes the connection politely.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

/// Room name (URL path) to its members: connection id and outgoing queue.
type RoomMap = HashMap<String, Vec<(u64, mpsc::UnboundedSender<String>)>>;
type Rooms = Arc<Mutex<RoomMap>>;

/// The relay server: one room per URL path.
#[derive(Debug)]
pub struct SignalingServer {
    listener: TcpListener,
    rooms: Rooms,
}

impl SignalingServer {
    /// Listens on `addr` (port 0: ephemeral).
    pub async fn bind(addr: SocketAddr) -> Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        Ok(Self {
            listener,
            rooms: Rooms::default(),
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    /// Serves until the task is dropped or aborted.
    pub async fn run(self) {
        let mut next_id = 0u64;
        loop {
            let Ok((stream, _)) = self.listener.accept().await else {
                // Out of file descriptors and the like: back off instead of spinning.
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            };
            next_id += 1;
            let _ = stream.set_nodelay(true);
            tokio::spawn(serve_connection(stream, self.rooms.clone(), next_id));
        }
    }

    /// Runs the server on its own task.
    pub fn spawn(self) -> JoinHandle<()> {
        tokio::spawn(self.run())
    }
}

/// What a connection's request head asks for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum RequestKind {
    /// A WebSocket upgrade: a room member.
    WebSocket,
    /// Any other HTTP request, whose head is this many bytes long.
    Http(usize),
}

/// Looks at the request head without consuming it, so an upgrade can go to tungstenite as it
/// came. `None`: the peer closed, sent no complete head in time, or sent too much.
pub(crate) async fn peek_request(stream: &TcpStream) -> Option<RequestKind> {
    let mut buf = vec![0u8; MAX_REQUEST_HEAD];
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut seen = 0;
    loop {
        let n = tokio::time::timeout_at(deadline, stream.peek(&mut buf))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
        if let Some(end) = buf[..n].windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let upgrade = head.lines().skip(1).any(|line| {
                line.split_once(':').is_some_and(|(name, value)| {
                    name.trim() == "upgrade" && value.trim().contains("websocket")
                })
            });
            return Some(if upgrade {
                RequestKind::WebSocket
            } else {
                RequestKind::Http(end + 4)
            });
        }
        if n == buf.len() {
            return None;
        }
        if n == seen {
            // `peek` returns at once while unread data waits: pause for the rest of the head.
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        seen = n;
    }
}

async fn serve_connection(stream: TcpStream, rooms: Rooms, id: u64) {
    match peek_request(&stream).await {
        Some(RequestKind::WebSocket) => serve(stream, rooms, id).await,
        Some(RequestKind::Http(len)) => {
            let _ = serve_http(stream, len).await;
        }
        None => {}
    }
}

/// Answers one plain HTTP request with the page (any `GET` path but `/favicon.ico`, so that
/// `http://host/room` works too), then closes.
pub(crate) async fn serve_http(mut stream: TcpStream, head_len: usize) -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut head = vec![0u8; head_len];
    stream.read_exact(&mut head).await?;
    let head = String::from_utf8_lossy(&head);
    let mut words = head.split_whitespace();
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let path = target.split(['?', '#']).next().unwrap_or("");
    let (status, body, kind) = match method {
        "GET" | "HEAD" if path == "/favicon.ico" => ("404 Not Found", "", "text/plain"),
        "GET" | "HEAD" => ("200 OK", WEB_PAGE, "text/html; charset=utf-8"),
        _ => ("405 Method Not Allowed", "", "text/plain"),
    };
    let mut response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n",
        body.len()
    );
    if status.starts_with("405") {
        response.push_str("Allow: GET, HEAD\r\n");
    }
    response.push_str("\r\n");
    if method != "HEAD" {
        response.push_str(body);
    }
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

/// Writes every text `texts` yields to a server-side WebSocket, then closes it; the task ends
/// when the texts end or the peer stops reading.
pub(crate) fn spawn_ws_writer<S>(
    mut sink: S,
    mut texts: impl futures_util::Stream<Item = String> + Unpin + Send + 'static,
) -> JoinHandle<()>
where
    S: futures_util::Sink<Message> + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        while let Some(text) = texts.next().await {
            if sink.send(Message::text(text)).await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    })
}

/// One member of a room: relays its text messages to the others, and theirs to it.
async fn serve(stream: TcpStream, rooms: Rooms, id: u64) {
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let mut room = String::new();
    // The error type is tungstenite's HTTP response; its size is not ours to choose.
    #[allow(clippy::result_large_err)]
    let callback = |req: &Request, resp: Response| {
        room = req.uri().path().to_owned();
        // Joining before the handshake response goes out means a client that saw its
        // connection accepted is sure to get every message sent to the room after that.
        lock(&rooms).entry(room.clone()).or_default().push((id, tx));
        Ok(resp)
    };
    let accepted = tokio_tungstenite::accept_hdr_async(stream, callback).await;
    let Ok(ws) = accepted else {
        leave(&rooms, &room, id);
        return;
    };
    let (sink, mut source) = ws.split();
    let writer = spawn_ws_writer(
        sink,
        futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)),
    );
    while let Some(Ok(msg)) = source.next().await {
        match msg {
            Message::Text(text) => {
                let rooms = lock(&rooms);
                for (other, tx) in rooms.get(&room).into_iter().flatten() {
                    if *other != id {
                        let _ = tx.send(text.as_str().to_owned());
                    }
                }
            }
            Message::Close(_) => break,
            _ => {}
        }
    }
    leave(&rooms, &room, id);
    // Our sender is gone from the room, so the writer drains and ends.
    let _ = writer.await;
}

fn leave(rooms: &Rooms, room: &str, id: u64) {
    let mut rooms = lock(rooms);
    if let Some(members) = rooms.get_mut(room) {
        members.retain(|(m, _)| *m != id);
        if members.is_empty() {
            rooms.remove(room);
        }
    }
}

/// The rooms lock; a panic elsewhere cannot leave the map inconsistent, so poison is ignored.
fn lock(rooms: &Rooms) -> std::sync::MutexGuard<'_, RoomMap> {
    rooms.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One raw HTTP exchange with the server: the whole response, as the server closes.
    async fn http(addr: SocketAddr, request: &str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = TcpStream::connect(addr).await.unwrap();
        // In two pieces: the server must wait for the end of the head.
        let (a, b) = request.split_at(request.len() / 2);
        s.write_all(a.as_bytes()).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        s.write_all(b.as_bytes()).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn serves_the_page_and_websockets_on_one_port() {
        let server = SignalingServer::bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let addr = server.local_addr().unwrap();
        let task = server.spawn();
        let page = http(addr, "GET /?room=/x&role=call HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
        assert!(page.contains("text/html") && page.ends_with(WEB_PAGE));
        assert!(WEB_PAGE.contains("window.floeState") && WEB_PAGE.contains("iceCandidate"));
        let head = http(addr, "HEAD / HTTP/1.1\r\n\r\n").await;
        assert!(head.starts_with("HTTP/1.1 200 OK") && head.ends_with("\r\n\r\n"));
        let missing = http(addr, "GET /favicon.ico HTTP/1.1\r\n\r\n").await;
        assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
        let post = http(addr, "POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n").await;
        assert!(post.starts_with("HTTP/1.1 405"), "{post}");

        let url = format!("ws://{addr}/room");
        let mut a = SignalingChannel::connect(&url).await.unwrap();
        let mut b = SignalingChannel::connect(&url).await.unwrap();
        a.send(&SignalMessage::Bye).await.unwrap();
        assert_eq!(b.recv().await.unwrap(), Some(SignalMessage::Bye));
        task.abort();
    }

    #[test]
    fn messages_use_the_sample_json_shapes() {
        let c = IceCandidateInit {
            candidate: "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host".into(),
            sdp_mid: Some("0".into()),
            sdp_m_line_index: Some(0),
            username_fragment: None,
        };
        let text = SignalMessage::IceCandidate(Some(c.clone())).to_json();
        assert!(text.contains("\"iceCandidate\"") && text.contains("\"sdpMLineIndex\":0"));
        assert_eq!(
            SignalMessage::from_json(&text).unwrap(),
            SignalMessage::IceCandidate(Some(c.clone()))
        );
        let synonym = text.replace("iceCandidate", "new-ice-candidate");
        assert_eq!(
            SignalMessage::from_json(&synonym).unwrap(),
            SignalMessage::IceCandidate(Some(c))
        );
        for eoc in [
            r#"{"iceCandidate":null}"#,
            r#"{"iceCandidate":{"candidate":""}}"#,
            &SignalMessage::IceCandidate(None).to_json(),
        ] {
            assert_eq!(
                SignalMessage::from_json(eoc).unwrap(),
                SignalMessage::IceCandidate(None)
            );
        }
        let offer = r#"{"offer":{"type":"offer","sdp":"v=0\r\n"}}"#;
        assert!(matches!(
            SignalMessage::from_json(offer).unwrap(),
            SignalMessage::Offer(_)
        ));
        assert!(matches!(
            SignalMessage::from_json("[1]").unwrap(),
            SignalMessage::Other(_)
        ));
        assert!(SignalMessage::from_json("{").is_err());
    }
}

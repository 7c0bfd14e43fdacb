//! [`PeerConnection`]: the browser's RTCPeerConnection verbs over one ICE agent, for datagrams.
//!
//! The handle only sends commands; one tokio task per connection (see `driver.rs`) owns the
//! agent and the sockets, so no lock is held around protocol state.

use std::net::SocketAddr;

use floe_sdp::{IceCandidateInit, SessionDescriptionInit};
use tokio::sync::{mpsc, oneshot, Mutex};

use crate::config::Configuration;
use crate::driver::{self, Command};
use crate::error::{Error, Result};
use crate::stats::StatsReport;

pub use floe_session::{EventKind, PeerConnectionState, PeerEvent, SignalingState, Status};

/// A callback registered with [`PeerConnection::add_event_listener`].
pub(crate) type Listener = Box<dyn FnMut(&PeerEvent) + Send + 'static>;

/// Application datagrams queued for [`PeerConnection::recv`] before the oldest are dropped.
const DATA_QUEUE: usize = 1024;

/// A peer connection carrying datagrams over the selected ICE candidate pair.
///
/// Dropping it (or calling [`PeerConnection::close`]) stops its task and frees its sockets.
#[derive(Debug)]
pub struct PeerConnection {
    commands: mpsc::UnboundedSender<Command>,
    events: Mutex<mpsc::UnboundedReceiver<PeerEvent>>,
    data: Mutex<mpsc::Receiver<Vec<u8>>>,
    local_addresses: Vec<SocketAddr>,
    tcp_listeners: Vec<SocketAddr>,
}

impl PeerConnection {
    /// Binds one UDP socket per configured local address (and with
    /// [`Configuration::ice_tcp`] a listening TCP socket on each), resolves the STUN servers
    /// and starts the connection's task. Must be called inside a tokio runtime.
    pub async fn new(config: Configuration) -> Result<Self> {
        let (command_tx, command_rx) = mpsc::unbounded_channel();
        let (event_tx, event_rx) = mpsc::unbounded_channel();
        let (data_tx, data_rx) = mpsc::channel(DATA_QUEUE);
        let bound = driver::spawn(config, command_rx, event_tx, data_tx).await?;
        Ok(Self {
            commands: command_tx,
            events: Mutex::new(event_rx),
            data: Mutex::new(data_rx),
            local_addresses: bound.udp,
            tcp_listeners: bound.tcp,
        })
    }

    /// The bound local UDP addresses (the bases of the UDP host candidates); empty with
    /// [`Configuration::no_udp`].
    pub fn local_addresses(&self) -> &[SocketAddr] {
        &self.local_addresses
    }

    /// The addresses of the listening TCP sockets (the passive ICE-TCP candidates, RFC 6544);
    /// empty without [`Configuration::ice_tcp`].
    pub fn tcp_listeners(&self) -> &[SocketAddr] {
        &self.tcp_listeners
    }

    async fn call<T>(&self, make: impl FnOnce(oneshot::Sender<Result<T>>) -> Command) -> Result<T> {
        let (tx, rx) = oneshot::channel();
        self.commands.send(make(tx)).map_err(|_| Error::Closed)?;
        rx.await.map_err(|_| Error::Closed)?
    }

    /// `createOffer()`: a data channel offer. The offerer's agent is controlling.
    pub async fn create_offer(&self) -> Result<SessionDescriptionInit> {
        self.call(Command::CreateOffer).await
    }

    /// `createAnswer()`: the answer to the applied remote offer.
    pub async fn create_answer(&self) -> Result<SessionDescriptionInit> {
        self.call(Command::CreateAnswer).await
    }

    /// `setLocalDescription(desc)`: applies our offer or answer and starts gathering.
    pub async fn set_local_description(&self, desc: SessionDescriptionInit) -> Result<()> {
        self.call(|r| Command::SetLocal(desc, r)).await
    }

    /// `setRemoteDescription(desc)`: applies the peer's offer or answer (credentials and any
    /// candidates in it).
    pub async fn set_remote_description(&self, desc: SessionDescriptionInit) -> Result<()> {
        self.call(|r| Command::SetRemote(desc, r)).await
    }

    /// `addIceCandidate(candidate)`: a trickled remote candidate; `None` or an empty candidate
    /// string means end-of-candidates. TCP candidates (without [`Configuration::ice_tcp`]) and
    /// unresolved (mDNS) candidates are ignored, as browsers ignore what they cannot use.
    pub async fn add_ice_candidate(&self, candidate: Option<IceCandidateInit>) -> Result<()> {
        self.call(|r| Command::AddCandidate(candidate, r)).await
    }

    /// Sends one datagram over the selected pair. Fails with [`floe_ice::IceError::NotConnected`]
    /// before a pair is selected.
    pub async fn send(&self, payload: &[u8]) -> Result<()> {
        let payload = payload.to_vec();
        self.call(|r| Command::Send(payload, r)).await
    }

    /// The next datagram from the peer. Fails with [`Error::Closed`] once the connection is
    /// closed and the queue is drained.
    pub async fn recv(&self) -> Result<Vec<u8>> {
        self.data.lock().await.recv().await.ok_or(Error::Closed)
    }

    /// The next event, in the order they happened; `None` once the connection is closed and
    /// every event was taken.
    pub async fn next_event(&self) -> Option<PeerEvent> {
        self.events.lock().await.recv().await
    }

    /// The events as an async stream: [`PeerConnection::next_event`] until it returns `None`.
    pub fn events(&self) -> impl futures_util::Stream<Item = PeerEvent> + '_ {
        futures_util::stream::unfold(
            self,
            |pc| async move { pc.next_event().await.map(|e| (e, pc)) },
        )
    }

    /// `addEventListener(kind, listener)`: calls `listener` for every later event of `kind`,
    /// in order, on the connection's task (keep it short: the agent waits for it). Events still
    /// reach [`PeerConnection::next_event`] as well.
    ///
    /// ```no_run
    /// # async fn f(pc: &floe::PeerConnection) -> floe::Result<()> {
    /// pc.add_event_listener("icecandidate".parse()?, |event| println!("{event}")).await?;
    /// # Ok(()) }
    /// ```
    pub async fn add_event_listener(
        &self,
        kind: EventKind,
        listener: impl FnMut(&PeerEvent) + Send + 'static,
    ) -> Result<()> {
        let listener: Listener = Box::new(listener);
        self.call(|r| Command::AddListener(kind, listener, r)).await
    }

    /// The current states, selected pair and descriptions.
    pub async fn status(&self) -> Result<Status> {
        self.call(Command::Status).await
    }

    /// `localDescription`: the applied local description with the candidates gathered since
    /// (and `a=end-of-candidates` once gathering is complete), as a browser reports it. Send
    /// this after gathering completes to signal without trickle.
    pub async fn local_description(&self) -> Result<Option<SessionDescriptionInit>> {
        Ok(self.status().await?.local_description)
    }

    /// `getStats()`: the ICE transport, every candidate pair and the candidates.
    pub async fn stats(&self) -> Result<StatsReport> {
        self.call(Command::Stats).await
    }

    /// `restartIce()`: the next [`PeerConnection::create_offer`] carries new ICE credentials
    /// and gathers anew (RFC 8445 §9). The selected pair carries data until a new one is
    /// selected. An offer with new credentials from the peer restarts this side on its own.
    pub async fn restart_ice(&self) -> Result<()> {
        self.call(Command::RestartIce).await
    }

    /// `close()`: stops the agent (`closed` events follow) and the task.
    pub async fn close(&self) -> Result<()> {
        self.call(Command::Close).await
    }
}

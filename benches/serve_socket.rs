//! `floe serve` on a real socket: 10,000 ICE-lite sessions of [`floe::server::Server`] on one
//! UDP socket on 127.0.0.1, and a load generator playing their 10,000 peers.
//!
//! The server runs as it does under `floe serve` (the same engine task: one socket, the mux,
//! the sessions, the timer heap) on a tokio current-thread runtime of its own thread, so that
//! thread's CPU time (`getrusage(RUSAGE_THREAD)`, user + sys) is the whole server's. Its
//! sessions are opened through [`floe::server::ServerHandle::open_local`]: each peer's offer
//! (made by a `floe_session::Session`, as a caller's would be) goes in as a WebSocket message
//! would, and the answer gives the peer the session's ICE credentials.
//!
//! The load generator runs on the main thread (tokio current-thread runtime): one UDP socket per
//! peer, each on an address of its own (127.1.x.y; fewer sockets, shared round-robin, only if
//! the open-file limit is too low), sending properly authenticated Binding requests (USERNAME
//! `server_ufrag:peer_ufrag`, PRIORITY, ICE-CONTROLLING, USE-CANDIDATE until the peer's pair is
//! nominated, MESSAGE-INTEGRITY with the session's ice-pwd, FINGERPRINT), each with a fresh
//! transaction id, and counting the success responses that come back to the right peer.
//!
//! Phases:
//! 1. connect: every peer checks once with USE-CANDIDATE (256 in flight); every answer's
//!    MESSAGE-INTEGRITY is verified, and the server must report 10,000 sessions connected.
//! 2. RFC 7675 rate: one consent check per session every 5 s = 2,000 checks/s, paced every
//!    millisecond, for 10 s (after 1 s of warm-up).
//! 3. saturation: a closed loop with 256 checks in flight, each answer sending the next peer's
//!    check (lost ones retried after 200 ms), for 5 s (after 1 s of warm-up).
//!
//! The answers in phases 2 and 3 are checked by class and transaction id (not re-verified, to
//! keep the generator cheap). Memory per session: the live heap bytes (counting allocator of
//! benches/common) that registering and connecting the sessions left, the server's side only.
//!
//! Both sides share the machine's cores: the figures are those of one loaded machine, not a
//! lower bound. Run: `cargo bench --bench serve_socket`.

mod common;

use std::cell::{Cell, RefCell};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::*;
use floe::sdp::{SessionDescription, SessionDescriptionInit};
use floe::server::{LocalSignaling, Server, ServerConfig, ServerHandle, ServerStats};
use floe::session::{Session, SessionConfig};
use floe::signaling::SignalMessage;
use floe::stun::{Class, IntegrityKey, Message};
use futures_util::FutureExt;
use tokio::net::UdpSocket;
use tokio::runtime::Handle;
use tokio::task::LocalSet;

const SESSIONS: usize = 10_000;
/// RFC 7675: a consent check every 5 s (4 to 6, randomised) per session.
const CONSENT_PERIOD: Duration = Duration::from_secs(5);
const WARM_UP: Duration = Duration::from_secs(1);
const PACED: Duration = Duration::from_secs(10);
const SATURATION: Duration = Duration::from_secs(5);
/// Checks in flight in the connect and saturation phases.
const WINDOW: usize = 256;
/// A check unanswered this long is counted lost (and retried in the windowed phases).
const LOST_AFTER: Duration = Duration::from_millis(200);
/// The slot field of a paced check's transaction id.
const PACED_SLOT: u32 = u32::MAX;

// ---------------------------------------------------------------------------------------------
// CPU time

#[derive(Clone, Copy, Default, Debug)]
struct Cpu {
    user: Duration,
    sys: Duration,
}

impl Cpu {
    fn total(self) -> Duration {
        self.user + self.sys
    }

    fn since(self, earlier: Cpu) -> Cpu {
        Cpu {
            user: self.user.saturating_sub(earlier.user),
            sys: self.sys.saturating_sub(earlier.sys),
        }
    }
}

/// The calling thread's CPU time, user and system.
fn thread_cpu() -> Cpu {
    // SAFETY: getrusage only writes the struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        #[cfg(target_os = "linux")]
        let who = libc::RUSAGE_THREAD;
        #[cfg(not(target_os = "linux"))]
        let who = libc::RUSAGE_SELF;
        libc::getrusage(who, &mut usage);
        usage
    };
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    Cpu {
        user: tv(usage.ru_utime),
        sys: tv(usage.ru_stime),
    }
}

/// Raises the open-file limit to its hard limit; returns the limit in force.
fn raise_nofile() -> u64 {
    // SAFETY: getrlimit/setrlimit only read and write the struct they are given.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                ..lim
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim = raised;
            }
        }
        lim.rlim_cur as u64
    }
}

/// Resident set size of the process, bytes.
fn rss() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

// ---------------------------------------------------------------------------------------------
// The server, on a thread of its own

struct ServerThread {
    handle: Option<ServerHandle>,
    runtime: Handle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ServerThread {
    fn start() -> Self {
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("floe-serve".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                let handle = runtime.block_on(async {
                    let config = ServerConfig {
                        max_sessions: SESSIONS,
                        ..ServerConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)))
                    };
                    Server::bind(config).await.unwrap().spawn()
                });
                let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
                tx.send((handle, runtime.handle().clone(), stop)).unwrap();
                let _ = runtime.block_on(stopped);
            })
            .unwrap();
        let (handle, runtime, stop) = rx.recv().unwrap();
        Self {
            handle: Some(handle),
            runtime,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn handle(&self) -> &ServerHandle {
        self.handle.as_ref().unwrap()
    }

    /// The server thread's CPU time so far (asked on that thread).
    async fn cpu(&self) -> Cpu {
        self.runtime.spawn(async { thread_cpu() }).await.unwrap()
    }

    async fn stats(&self) -> ServerStats {
        self.handle().stats().await.unwrap()
    }
}

impl Drop for ServerThread {
    fn drop(&mut self) {
        self.handle.take();
        self.stop.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The load generator

/// One peer: its credentials for the server's session, and which socket it sends from.
struct Peer {
    socket: usize,
    username: String,
    key: Option<IntegrityKey>,
    nominated: Cell<bool>,
}

#[derive(Clone, Copy)]
struct Slot {
    peer: usize,
    seq: u32,
    sent_at: Instant,
    active: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Each peer once, until all are nominated.
    Connect,
    /// Round-robin over the peers, as long as the slots are active.
    Saturate,
    Paced,
}

#[derive(Clone, Copy, Default, Debug)]
struct Counts {
    sent: u64,
    answered: u64,
    /// Sends the socket refused (its buffer full).
    refused: u64,
    /// Windowed checks unanswered after `LOST_AFTER` (and retried).
    timed_out: u64,
    /// Datagrams that were not a success response to one of this peer's checks.
    bad: u64,
}

struct Generator {
    server: SocketAddr,
    sockets: Vec<UdpSocket>,
    peers: Vec<Peer>,
    mode: Cell<Mode>,
    /// Verify MESSAGE-INTEGRITY of every answer (the connect phase).
    verify: Cell<bool>,
    cursor: Cell<usize>,
    seq: Cell<u32>,
    slots: RefCell<Vec<Slot>>,
    counts: Cell<Counts>,
}

impl Generator {
    fn count(&self, f: impl FnOnce(&mut Counts)) {
        let mut c = self.counts.get();
        f(&mut c);
        self.counts.set(c);
    }

    /// Sends peer `peer`'s next check, tagged with `slot`; returns its sequence number.
    fn send(&self, peer: usize, slot: u32) -> u32 {
        let seq = self.seq.get().wrapping_add(1);
        self.seq.set(seq);
        let p = &self.peers[peer];
        let mut tid = [0u8; 12];
        tid[..4].copy_from_slice(&(peer as u32).to_be_bytes());
        tid[4..8].copy_from_slice(&slot.to_be_bytes());
        tid[8..].copy_from_slice(&seq.to_be_bytes());
        let mut buf = [0u8; 256];
        let key = p.key.as_ref().expect("answered");
        let len = write_peer_check(&mut buf, &p.username, key, tid, !p.nominated.get());
        match self.sockets[p.socket].try_send_to(&buf[..len], self.server) {
            Ok(_) => self.count(|c| c.sent += 1),
            Err(_) => self.count(|c| c.refused += 1),
        }
        seq
    }

    /// The next peer a freed slot checks, if any.
    fn next_peer(&self) -> Option<usize> {
        let n = self.cursor.get();
        match self.mode.get() {
            Mode::Connect if n >= self.peers.len() => None,
            Mode::Paced => None,
            _ => {
                self.cursor.set(n + 1);
                Some(n % self.peers.len())
            }
        }
    }

    /// Starts `WINDOW` slots in `mode`, from the first peer.
    fn open_window(&self, mode: Mode) {
        self.mode.set(mode);
        self.cursor.set(0);
        let mut slots = Vec::with_capacity(WINDOW);
        for k in 0..WINDOW {
            let Some(peer) = self.next_peer() else { break };
            let seq = self.send(peer, k as u32);
            slots.push(Slot {
                peer,
                seq,
                sent_at: Instant::now(),
                active: true,
            });
        }
        *self.slots.borrow_mut() = slots;
    }

    fn close_window(&self) {
        self.slots.borrow_mut().clear();
        self.mode.set(Mode::Paced);
    }

    fn window_idle(&self) -> bool {
        self.slots.borrow().iter().all(|s| !s.active)
    }

    /// A datagram on socket `socket`.
    fn on_datagram(&self, socket: usize, bytes: &[u8]) {
        let ok = bytes.len() >= 20
            && Message::decode(bytes).is_ok_and(|m| m.class() == Class::SuccessResponse);
        let field = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
        let peer = if ok { field(8) as usize } else { usize::MAX };
        let Some(p) = self.peers.get(peer).filter(|p| p.socket == socket) else {
            self.count(|c| c.bad += 1);
            return;
        };
        if self.verify.get() {
            let key = p.key.as_ref().expect("answered");
            if !Message::decode(bytes).is_ok_and(|m| m.verify_integrity(key).is_ok()) {
                self.count(|c| c.bad += 1);
                return;
            }
        }
        p.nominated.set(true);
        self.count(|c| c.answered += 1);
        let (slot, seq) = (field(12), field(16));
        if slot == PACED_SLOT {
            return;
        }
        let current = self.slots.borrow().get(slot as usize).copied();
        if current.is_some_and(|s| s.active && s.seq == seq) {
            self.refill(slot as usize);
        }
    }

    /// Slot `k` is free: its next check, or it goes idle.
    fn refill(&self, k: usize) {
        let next = self.next_peer();
        let slot = next.map(|peer| (peer, self.send(peer, k as u32)));
        let mut slots = self.slots.borrow_mut();
        match slot {
            Some((peer, seq)) => {
                slots[k] = Slot {
                    peer,
                    seq,
                    sent_at: Instant::now(),
                    active: true,
                }
            }
            None => slots[k].active = false,
        }
    }

    /// Retries the windowed checks unanswered for `LOST_AFTER`, from the same peer.
    fn retry_lost(&self) {
        let now = Instant::now();
        let late: Vec<(usize, usize)> = self
            .slots
            .borrow()
            .iter()
            .enumerate()
            .filter(|(_, s)| s.active && now - s.sent_at > LOST_AFTER)
            .map(|(k, s)| (k, s.peer))
            .collect();
        for (k, peer) in late {
            self.count(|c| c.timed_out += 1);
            let seq = self.send(peer, k as u32);
            self.slots.borrow_mut()[k] = Slot {
                peer,
                seq,
                sent_at: now,
                active: true,
            };
        }
    }
}

/// Socket `k`'s receive loop.
async fn listen(gen: Rc<Generator>, k: usize) {
    let mut buf = [0u8; 1500];
    loop {
        if let Ok((len, _)) = gen.sockets[k].recv_from(&mut buf).await {
            gen.on_datagram(k, &buf[..len]);
        }
    }
}

/// The peer address of socket `k`: 127.1.x.y, a distinct address for each.
fn peer_ip(k: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, 1, (k / 250) as u8, (k % 250 + 1) as u8)
}

/// Caller `i`'s offer, made by a session of its own as a caller's would be, and its ufrag.
fn caller_offer(i: usize) -> (SessionDescriptionInit, String) {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
    let config = SessionConfig {
        mdns: false,
        ..SessionConfig::default()
    };
    let mut caller = Session::new(config, &[], seed);
    let offer = caller.create_offer(Instant::now()).unwrap();
    let ufrag = caller.agent().unwrap().local_credentials().ufrag.clone();
    (offer, ufrag)
}

/// Live heap bytes per session of `n` bare `floe_session::Session`s set up as the server sets
/// one up (ICE-lite, the caller's offer applied, the answer set), for the memory breakdown.
fn bare_session_heap(n: usize, local: SocketAddr) -> f64 {
    let offers: Vec<_> = (0..n).map(|i| caller_offer(SESSIONS + i).0).collect();
    let heap0 = live();
    let sessions: Vec<Session> = offers
        .into_iter()
        .enumerate()
        .map(|(i, offer)| {
            let config = SessionConfig {
                lite: true,
                mdns: false,
                ..SessionConfig::default()
            };
            let mut s = Session::new(config, &[local], [i as u8; 32]);
            let now = Instant::now();
            s.set_remote_description(now, offer).unwrap();
            let answer = s.create_answer().unwrap();
            s.set_local_description(now, answer).unwrap();
            while s.poll_event().is_some() {}
            s
        })
        .collect();
    // The offers were freed as they were applied: what is left is the sessions'.
    let per = (live() - heap0) as f64 / n as f64;
    drop(sessions);
    per
}

// ---------------------------------------------------------------------------------------------
// Phases and figures

#[derive(Clone, Copy)]
struct Snapshot {
    at: Instant,
    server: Cpu,
    generator: Cpu,
    counts: Counts,
}

async fn snapshot(server: &ServerThread, gen: &Generator) -> Snapshot {
    Snapshot {
        server: server.cpu().await,
        generator: thread_cpu(),
        counts: gen.counts.get(),
        at: Instant::now(),
    }
}

/// Reads what the server queued on the connections.
fn drain(connections: &mut [LocalSignaling]) {
    for connection in connections {
        while let Some(Some(_)) = connection.recv().now_or_never() {}
    }
}

/// One row of the table.
struct Row {
    name: &'static str,
    seconds: f64,
    sent: u64,
    answered: u64,
    lost: u64,
    server: Cpu,
    generator: Cpu,
}

impl Row {
    fn new(name: &'static str, from: Snapshot, to: Snapshot, answered: u64, lost: u64) -> Self {
        Row {
            name,
            seconds: (to.at - from.at).as_secs_f64(),
            sent: to.counts.sent - from.counts.sent,
            answered,
            lost,
            server: to.server.since(from.server),
            generator: to.generator.since(from.generator),
        }
    }

    fn print(&self) {
        let per_s = |n: u64| n as f64 / self.seconds;
        let pct = |d: Duration| d.as_secs_f64() * 100.0 / self.seconds;
        println!(
            "| {:<26} | {:>4.1} | {:>8.0} | {:>10.0} | {:>5} ({:.2} %) | {:>9.1} % | {:>5.1} % | {:>5.1} % | {:>8.2} us | {:>8.1} % |",
            self.name,
            self.seconds,
            per_s(self.sent),
            per_s(self.answered),
            self.lost,
            self.lost as f64 * 100.0 / self.sent.max(1) as f64,
            pct(self.server.total()),
            pct(self.server.user),
            pct(self.server.sys),
            self.server.total().as_secs_f64() * 1e6 / self.answered.max(1) as f64,
            pct(self.generator.total()),
        );
    }
}

fn print_header() {
    println!(
        "| phase                      | s    | sent/s   | answered/s | lost (share)   | server CPU  | user    | sys     | CPU/check   | generator  |"
    );
    println!(
        "|----------------------------|------|----------|------------|----------------|-------------|---------|---------|-------------|------------|"
    );
}

async fn run(server: &ServerThread) {
    let nofile = raise_nofile();
    let socket_count = SESSIONS.min(nofile.saturating_sub(512) as usize).max(1);
    let started = Instant::now();

    // The peers' sockets, and their records (the usernames' room included), before the
    // baseline of the memory figure.
    let sockets: Vec<UdpSocket> = (0..socket_count)
        .map(|k| {
            let s = std::net::UdpSocket::bind(SocketAddrV4::new(peer_ip(k), 0)).unwrap();
            s.set_nonblocking(true).unwrap();
            UdpSocket::from_std(s).unwrap()
        })
        .collect();
    let mut peers: Vec<Peer> = (0..SESSIONS)
        .map(|i| Peer {
            socket: i % socket_count,
            username: String::with_capacity(64),
            key: None,
            nominated: Cell::new(false),
        })
        .collect();
    let mut connections: Vec<LocalSignaling> = Vec::with_capacity(SESSIONS);
    let heap0 = live();
    let rss0 = rss();

    // Each peer's offer (a session of its own makes it), and the server's answer.
    let t0 = Instant::now();
    let mut peer_ufrags = Vec::with_capacity(SESSIONS);
    for i in 0..SESSIONS {
        let (offer, ufrag) = caller_offer(i);
        peer_ufrags.push(ufrag);
        let connection = server.handle().open_local().unwrap();
        assert!(connection.send(SignalMessage::Offer(offer)));
        connections.push(connection);
    }
    for (i, connection) in connections.iter_mut().enumerate() {
        let answer = loop {
            match connection.recv().await {
                Some(SignalMessage::Answer(a)) => break a,
                Some(SignalMessage::Bye) | None => panic!("session {i}: no answer"),
                Some(_) => {}
            }
        };
        let desc = SessionDescription::parse(&answer.sdp).unwrap();
        let (ufrag, pwd) = (desc.ice_ufrag_for(0).unwrap(), desc.ice_pwd_for(0).unwrap());
        let peer = &mut peers[i];
        peer.username.push_str(ufrag);
        peer.username.push(':');
        peer.username.push_str(&peer_ufrags[i]);
        peer.key = Some(IntegrityKey::short_term(pwd));
    }
    drop(peer_ufrags);
    // Whatever else the server said on the connections (its candidates), read as a WebSocket
    // task would have.
    drain(&mut connections);
    let signaled = t0.elapsed();
    let registered_heap = live() - heap0;

    // The generator's own heap from here (its tasks, each with its receive buffer), taken off
    // the server's figure.
    let generator_heap0 = live();
    let gen = Rc::new(Generator {
        server: server.handle().local_addr(),
        sockets,
        peers,
        mode: Cell::new(Mode::Paced),
        verify: Cell::new(true),
        cursor: Cell::new(0),
        seq: Cell::new(0),
        slots: RefCell::new(Vec::new()),
        counts: Cell::new(Counts::default()),
    });
    let tasks: Vec<_> = (0..socket_count)
        .map(|k| tokio::task::spawn_local(listen(gen.clone(), k)))
        .collect();
    let watchdog = tokio::task::spawn_local({
        let gen = gen.clone();
        async move {
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            loop {
                tick.tick().await;
                gen.retry_lost();
            }
        }
    });

    let generator_heap = live() - generator_heap0;

    // 1. connect: every peer nominates its pair.
    let t0 = Instant::now();
    gen.open_window(Mode::Connect);
    while !gen.window_idle() || !gen.peers.iter().all(|p| p.nominated.get()) {
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert!(t0.elapsed() < Duration::from_secs(30), "connect stalled");
    }
    gen.close_window();
    let connected = t0.elapsed();
    let connect_counts = gen.counts.get();
    drain(&mut connections);
    let stats = server.stats().await;
    assert_eq!(stats.sessions, SESSIONS);
    assert_eq!(stats.connected, SESSIONS as u64, "{stats:?}");
    assert_eq!(stats.mux.remotes, socket_count.min(SESSIONS));
    let heap = live() - heap0 - generator_heap;
    let rss_delta = rss().saturating_sub(rss0);
    gen.verify.set(false);

    // 2. RFC 7675 rate.
    let rate = SESSIONS as f64 / CONSENT_PERIOD.as_secs_f64();
    let pacer = tokio::task::spawn_local({
        let gen = gen.clone();
        async move {
            let start = Instant::now();
            let mut sent = 0u64;
            let mut tick = tokio::time::interval(Duration::from_millis(1));
            loop {
                tick.tick().await;
                let due = (start.elapsed().as_secs_f64() * rate) as u64;
                while sent < due {
                    gen.send(sent as usize % SESSIONS, PACED_SLOT);
                    sent += 1;
                }
            }
        }
    });
    tokio::time::sleep(WARM_UP).await;
    let from = snapshot(server, &gen).await;
    tokio::time::sleep(PACED).await;
    let to = snapshot(server, &gen).await;
    pacer.abort();
    tokio::time::sleep(LOST_AFTER).await;
    let answered = gen.counts.get().answered - from.counts.answered;
    let sent = gen.counts.get().sent - from.counts.sent;
    let paced = Row::new(
        "RFC 7675 rate (2,000/s)",
        from,
        to,
        answered.min(sent),
        sent.saturating_sub(answered),
    );

    // 3. saturation.
    gen.open_window(Mode::Saturate);
    tokio::time::sleep(WARM_UP).await;
    let from = snapshot(server, &gen).await;
    tokio::time::sleep(SATURATION).await;
    let to = snapshot(server, &gen).await;
    gen.close_window();
    tokio::time::sleep(LOST_AFTER).await;
    let saturated = Row::new(
        "saturation (256 in flight)",
        from,
        to,
        to.counts.answered - from.counts.answered,
        to.counts.timed_out - from.counts.timed_out + to.counts.refused - from.counts.refused,
    );

    let stats = server.stats().await;
    let counts = gen.counts.get();
    let bare = bare_session_heap(1_000, server.handle().local_addr());
    watchdog.abort();
    for t in tasks {
        t.abort();
    }

    println!(
        "\n== floe serve on one UDP socket (127.0.0.1), {SESSIONS} ICE-lite sessions, load \
         generator on {socket_count} sockets (127.1.0.1 ..), {:.1} s in all ==",
        started.elapsed().as_secs_f64()
    );
    println!(
        "setup: {SESSIONS} offers answered in {:.2} s through ServerHandle::open_local; {} \
         nominating checks answered (integrity verified) in {:.2} s ({} retried)",
        signaled.as_secs_f64(),
        connect_counts.answered,
        connected.as_secs_f64(),
        connect_counts.timed_out,
    );
    let per = |bytes: isize| bytes as f64 / SESSIONS as f64;
    let total = per(heap);
    println!(
        "memory per session, server side: {total:.0} B of heap (target <= 2048: {}): {:.0} B \
         once answered (of which a bare floe_session::Session as the server sets one up: \
         {bare:.0} B, size_of Session {} B of it; the rest: the session table's slack, its \
         signaling channel, the offer kept, mux and timer entries), \
         {:+.0} B once connected; process RSS (server and generator) grew {:.0} B per session",
        if total <= 2048.0 { "met" } else { "MISSED" },
        per(registered_heap),
        std::mem::size_of::<Session>(),
        per(heap - registered_heap),
        rss_delta as f64 / SESSIONS as f64,
    );
    println!(
        "checks: fresh transaction id each, signed with the session's ice-pwd; server CPU = \
         getrusage(RUSAGE_THREAD) of its runtime thread (user + sys), as % of one core; CPU/check \
         = server CPU / answered; load average at the end: {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .next()
            .unwrap_or("?"),
    );
    println!();
    print_header();
    paced.print();
    saturated.print();
    let share = paced.server.total().as_secs_f64() * 100.0 / paced.seconds;
    println!(
        "\nRFC 7675 rate: server CPU {share:.1} % of one core (target <= 25 %: {}); \
         saturation: {:.0} answered checks/s with the server thread {:.0} % busy (at its CPU \
         per check, a core of its own would answer about {:.0}/s)",
        if share <= 25.0 { "met" } else { "MISSED" },
        saturated.answered as f64 / saturated.seconds,
        saturated.server.total().as_secs_f64() * 100.0 / saturated.seconds,
        saturated.answered as f64 / saturated.server.total().as_secs_f64().max(1e-9),
    );
    println!(
        "after the run: {} sessions, {} connected, {} ended; mux routed {}, dropped {}; \
         generator: {} sent, {} answered, {} refused by its sockets, {} retried, {} bad",
        stats.sessions,
        stats.connected,
        stats.ended,
        stats.mux.routed,
        stats.mux.dropped_unknown_ufrag
            + stats.mux.dropped_unknown_remote
            + stats.mux.dropped_unknown_transaction
            + stats.mux.dropped_malformed,
        counts.sent,
        counts.answered,
        counts.refused,
        counts.timed_out,
        counts.bad,
    );
    println!();
    drop(connections);
    drop(gen);
}

fn main() {
    // `cargo bench` passes `--bench`; a filter that does not name this bench skips it.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args
        .iter()
        .any(|a| !a.starts_with('-') && !"serve_socket".contains(a.as_str()))
    {
        return;
    }
    let server = ServerThread::start();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    LocalSet::new().block_on(&runtime, run(&server));
    drop(server);
}

//! The TURN server node: floe-turn's client behind a NAT allocates, gets a relay address on
//! the server's own IP, and exchanges data with a public peer through it.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use floe_netsim::{Datagram, Endpoint, Nat, Probe, Sim, TurnNode, TURN_PORT, TURN_RELAY_PORT_MIN};
use floe_turn::{ClientConfig, Received, TurnClient, TurnEvent};

/// A TURN client as a simulator endpoint.
struct ClientNode {
    client: TurnClient,
    local: SocketAddr,
    events: Vec<TurnEvent>,
    data: Vec<(SocketAddr, Vec<u8>)>,
    out: VecDeque<Datagram>,
}

impl Endpoint for ClientNode {
    fn handle_datagram(&mut self, now: Instant, _: SocketAddr, remote: SocketAddr, p: &[u8]) {
        if let Received::Data { peer, data } = self.client.handle_datagram(now, remote, p) {
            self.data.push((peer, data.to_vec()));
        }
        self.events
            .extend(std::iter::from_fn(|| self.client.poll_event()));
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.client.handle_timeout(now);
        self.events
            .extend(std::iter::from_fn(|| self.client.poll_event()));
    }
    fn poll_transmit(&mut self, _: Instant) -> Option<Datagram> {
        if let Some(d) = self.out.pop_front() {
            return Some(d);
        }
        let t = self.client.poll_transmit()?;
        Some(Datagram::new(self.local, t.destination, t.payload))
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.client.poll_timeout()
    }
}

fn relayed(node: &ClientNode) -> Option<SocketAddr> {
    node.events.iter().find_map(|e| match e {
        TurnEvent::Allocated { relayed, .. } => relayed.first().copied(),
        _ => None,
    })
}

#[test]
fn turn_node_allocates_on_its_own_ip_and_relays_both_ways() {
    let mut sim = Sim::new(9);
    let turn = sim.add_turn_server("alice", "secret");
    let server = sim.addr(turn, TURN_PORT);
    let peer = sim.add_public_host(Probe::echo());
    let peer_addr = sim.addr(peer, 7000);
    let now = sim.now();
    let mut clients = Vec::new();
    for seed in 0..2u8 {
        let mut client = TurnClient::new(ClientConfig::new(server, "alice", "secret"), [seed; 32]);
        client.allocate(now).unwrap();
        let node = ClientNode {
            client,
            local: SocketAddr::new([0, 0, 0, 0].into(), 4000),
            events: Vec::new(),
            data: Vec::new(),
            out: VecDeque::new(),
        };
        let host = sim.add_host_behind(Nat::symmetric(), node);
        sim.endpoint_mut::<ClientNode>(host).local = sim.addr(host, 4000);
        clients.push(host);
    }
    assert!(sim.run_until_condition(
        |s| clients
            .iter()
            .all(|h| relayed(s.endpoint::<ClientNode>(*h)).is_some()),
        Duration::from_secs(2),
    ));
    let r0 = relayed(sim.endpoint::<ClientNode>(clients[0])).unwrap();
    let r1 = relayed(sim.endpoint::<ClientNode>(clients[1])).unwrap();
    assert_eq!(r0.ip(), server.ip());
    assert_eq!(r1.ip(), server.ip());
    assert_ne!(r0.port(), r1.port());
    assert!(r0.port() >= TURN_RELAY_PORT_MIN && r1.port() >= TURN_RELAY_PORT_MIN);
    assert_eq!(sim.endpoint::<TurnNode>(turn).relays().len(), 2);

    // Client 0 → public peer (echo) → back through the relay.
    let now = sim.now();
    let node = sim.endpoint_mut::<ClientNode>(clients[0]);
    let mut buf = [0u8; 200];
    node.client.create_permission(now, peer_addr.ip()).unwrap();
    sim.run_for(Duration::from_millis(100));
    let node = sim.endpoint_mut::<ClientNode>(clients[0]);
    let len = node
        .client
        .send_to(now, peer_addr, b"ping", &mut buf)
        .unwrap();
    let d = Datagram::new(node.local, server, &buf[..len]);
    node.out.push_back(d);
    sim.run_for(Duration::from_millis(100));
    let got = &sim.endpoint::<Probe>(peer).received;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].remote, r0, "the peer sees the relayed address");
    assert_eq!(
        sim.endpoint::<ClientNode>(clients[0]).data,
        [(peer_addr, b"ping".to_vec())]
    );

    // Relay to relay on the same server (both clients behind symmetric NATs).
    for (from, to) in [(0, r1), (1, r0)] {
        let now = sim.now();
        let node = sim.endpoint_mut::<ClientNode>(clients[from]);
        node.client.create_permission(now, to.ip()).unwrap();
        node.client.bind_channel(now, to).unwrap();
    }
    sim.run_for(Duration::from_millis(100));
    let now = sim.now();
    let node = sim.endpoint_mut::<ClientNode>(clients[0]);
    assert!(node.client.channel(r1).is_some());
    let len = node
        .client
        .send_to(now, r1, b"relay to relay", &mut buf)
        .unwrap();
    assert_eq!(
        len,
        4 + 14,
        "ChannelData over UDP: 4-byte header, no padding"
    );
    let d = Datagram::new(node.local, server, &buf[..len]);
    node.out.push_back(d);
    sim.run_for(Duration::from_millis(100));
    assert_eq!(
        sim.endpoint::<ClientNode>(clients[1]).data,
        [(r0, b"relay to relay".to_vec())]
    );
}

#[test]
fn turn_node_rejects_wrong_credentials_and_keeps_no_allocation() {
    let mut sim = Sim::new(3);
    let turn = sim.add_turn_server("alice", "secret");
    let server = sim.addr(turn, TURN_PORT);
    let mut client = TurnClient::new(ClientConfig::new(server, "alice", "wrong"), [1; 32]);
    client.allocate(sim.now()).unwrap();
    let node = ClientNode {
        client,
        local: SocketAddr::new([0, 0, 0, 0].into(), 4000),
        events: Vec::new(),
        data: Vec::new(),
        out: VecDeque::new(),
    };
    let host = sim.add_host_behind(Nat::port_restricted(), node);
    sim.endpoint_mut::<ClientNode>(host).local = sim.addr(host, 4000);
    sim.run_for(Duration::from_secs(1));
    let events = &sim.endpoint::<ClientNode>(host).events;
    assert!(
        events.iter().any(|e| matches!(e, TurnEvent::Failed(_))),
        "{events:?}"
    );
    assert_eq!(
        sim.endpoint::<TurnNode>(turn).server().allocation_count(),
        0
    );
    assert!(sim.endpoint::<TurnNode>(turn).relays().is_empty());
}

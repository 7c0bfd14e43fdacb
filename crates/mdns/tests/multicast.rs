//! The resolver over real UDP multicast: two network namespaces joined by a veth pair, a
//! querier (this resolver on real sockets) in one and a tiny responder in the other. No
//! traffic leaves the namespaces.
//!
//! The responder answers two names the two ways responders do: `legacy-….local` by unicast to
//! the query's source (RFC 6762 §6.7, what a query from a port other than 5353 asks for), and
//! `group-….local` to 224.0.0.251:5353 like Chromium's responder (which answers every query
//! to the group, with an NSEC record and the address in the additional section for the type
//! the name lacks). A third name has no responder and must time out.
//!
//! The test re-executes its own binary in each namespace (`ip netns exec`), the role chosen by
//! an environment variable. Needs root and `ip`; without them it prints that it skipped,
//! except in CI (`CI` set), where it fails.

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use floe_mdns::*;
use socket2::{Domain, Protocol, Socket, Type};

const ROLE: &str = "FLOE_MDNS_TEST_ROLE";
const TEST: &str = "resolves_over_a_veth_pair";
const QUERIER_IP: Ipv4Addr = Ipv4Addr::new(10, 98, 0, 1);
const RESPONDER_IP: Ipv4Addr = Ipv4Addr::new(10, 98, 0, 2);
const LEGACY: &str = "legacy-5e1f0c2a-8d7b-4c3e-9f10-2a3b4c5d6e7f.local";
const GROUP: &str = "group-0b9e6f4d-3c2a-4e1b-8a7f-6d5c4b3a2910.local";
const SILENT: &str = "silent-7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d.local";
const LEGACY_ADDR: Ipv4Addr = Ipv4Addr::new(10, 98, 0, 77);

fn group() -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(MDNS_IPV4, MDNS_PORT))
}

#[test]
fn resolves_over_a_veth_pair() {
    match std::env::var(ROLE).as_deref() {
        Ok("responder") => return responder(),
        Ok("querier") => return querier(),
        _ => {}
    }
    let pair = match NetnsPair::create() {
        Ok(pair) => pair,
        Err(e) if std::env::var_os("CI").is_none() => {
            eprintln!("skipped: cannot create network namespaces ({e})");
            return;
        }
        Err(e) => panic!("cannot create network namespaces: {e}"),
    };
    let exe = std::env::current_exe().unwrap();
    let child = |ns: &str, role: &str| {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns])
            .arg(&exe)
            .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
            .env(ROLE, role)
            .stdin(Stdio::null());
        c
    };

    let mut responder = Kill(
        child(&pair.b, "responder")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(responder.0.stdout.take().unwrap()).lines();
    loop {
        match lines.next() {
            // libtest prints "test NAME ... " before the output, without a newline.
            Some(Ok(line)) if line.ends_with("responder-ready") => break,
            Some(Ok(_)) => {}
            other => panic!("responder did not start: {other:?}"),
        }
    }
    let status = child(&pair.a, "querier").status().unwrap();
    assert!(status.success(), "querier: {status}");
}

/// Kills the child when dropped.
struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Two namespaces and a veth pair between them, deleted when dropped.
struct NetnsPair {
    a: String,
    b: String,
}

impl NetnsPair {
    fn create() -> Result<Self, String> {
        let id = std::process::id();
        let pair = NetnsPair {
            a: format!("floe-mdns-{id}a"),
            b: format!("floe-mdns-{id}b"),
        };
        let (va, vb) = (format!("fm{id}a"), format!("fm{id}b"));
        let steps: [&[&str]; 8] = [
            &["netns", "add", &pair.a],
            &["netns", "add", &pair.b],
            // Both ends are created inside the namespaces: nothing is left behind outside.
            &[
                "link", "add", &va, "netns", &pair.a, "type", "veth", "peer", "name", &vb, "netns",
                &pair.b,
            ],
            &["-n", &pair.a, "addr", "add", "10.98.0.1/24", "dev", &va],
            &["-n", &pair.b, "addr", "add", "10.98.0.2/24", "dev", &vb],
            &["-n", &pair.a, "link", "set", &va, "up"],
            &["-n", &pair.b, "link", "set", &vb, "up"],
            &["-n", &pair.b, "link", "set", "lo", "up"],
        ];
        for args in steps {
            let out = Command::new("ip")
                .args(args)
                .stdin(Stdio::null())
                .output()
                .map_err(|e| format!("cannot run ip: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "ip {}: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
        }
        Ok(pair)
    }
}

impl Drop for NetnsPair {
    fn drop(&mut self) {
        // Deleting a namespace deletes the veth end in it, and so the pair.
        for ns in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

/// A UDP socket on `bind`, address sharing on, multicast sent out of `interface` with TTL
/// 255 (RFC 6762 §11), optionally joined to 224.0.0.251 there.
fn socket(bind: SocketAddr, interface: Ipv4Addr, join: bool) -> UdpSocket {
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).unwrap();
    s.set_reuse_address(true).unwrap();
    s.bind(&bind.into()).unwrap();
    s.set_multicast_if_v4(&interface).unwrap();
    s.set_multicast_ttl_v4(255).unwrap();
    if join {
        s.join_multicast_v4(&MDNS_IPV4, &interface).unwrap();
    }
    s.set_read_timeout(Some(Duration::from_millis(5))).unwrap();
    s.into()
}

/// Answers queries until killed (or for 20 s).
fn responder() {
    let sock = socket(
        SocketAddr::from(([0, 0, 0, 0], MDNS_PORT)),
        RESPONDER_IP,
        true,
    );
    println!("responder-ready");
    let legacy = Name::from_dotted(LEGACY).unwrap();
    let group_name = Name::from_dotted(GROUP).unwrap();
    let mut buf = [0u8; 9000];
    let end = Instant::now() + Duration::from_secs(20);
    while Instant::now() < end {
        let Ok((len, from)) = sock.recv_from(&mut buf) else {
            continue;
        };
        let Ok(query) = Message::decode(&buf[..len]) else {
            continue;
        };
        if query.flags.is_response() {
            continue; // our own answers to the group, looped back
        }
        // RFC 6762 §5.1: one-shot queries never come from port 5353.
        assert_ne!(from.port(), MDNS_PORT, "query from port 5353");
        assert_eq!(query.questions.len(), 1);
        let q = &query.questions[0];
        let answer = |name: &Name, ip: Ipv4Addr, cache_flush: bool| Record {
            name: name.clone(),
            class: 1,
            cache_flush,
            ttl: 10,
            data: RecordData::A(ip),
        };
        let flags = Flags(Flags::RESPONSE | Flags::AUTHORITATIVE);
        let (response, to) = if q.name == legacy {
            // §6.7: repeat the ID and the question, no cache-flush bit, unicast to the source.
            let m = Message {
                id: query.id,
                flags,
                questions: query.questions.clone(),
                answers: vec![answer(&legacy, LEGACY_ADDR, false)],
                ..Message::default()
            };
            (m, from)
        } else if q.name == group_name {
            // Chromium: no question, to the group; the type the name lacks gets NSEC and the
            // address as an additional record.
            let a = answer(&group_name, RESPONDER_IP, true);
            let m = if q.qtype == RecordType::A {
                Message {
                    flags,
                    answers: vec![a],
                    ..Message::default()
                }
            } else {
                let nsec = Record {
                    data: RecordData::Other {
                        rtype: RecordType(47),
                        data: vec![0xC0, 12, 0, 1, 0x40],
                    },
                    ..a.clone()
                };
                Message {
                    flags,
                    answers: vec![nsec],
                    additionals: vec![a],
                    ..Message::default()
                }
            };
            (m, group())
        } else {
            continue;
        };
        let mut out = [0u8; 1500];
        let n = response.encode(&mut out).unwrap();
        sock.send_to(&out[..n], to).unwrap();
    }
}

/// Resolves the three names with the sans-IO resolver on real sockets: queries from an
/// ephemeral port, answers on that port and on a 5353 socket joined to the group.
fn querier() {
    let query_sock = socket(SocketAddr::from(([0, 0, 0, 0], 0)), QUERIER_IP, false);
    let listener = socket(
        SocketAddr::from(([0, 0, 0, 0], MDNS_PORT)),
        QUERIER_IP,
        true,
    );
    let start = Instant::now();
    let mut r = Resolver::new(ResolverConfig::default());
    let ids = [LEGACY, GROUP, SILENT].map(|n| r.resolve(start, n).unwrap());
    let mut results = Vec::new();
    let mut out = [0u8; MAX_QUERY_LEN];
    let mut buf = [0u8; 9000];
    while results.len() < 3 {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "stalled: {results:?}"
        );
        while let Some(t) = r.poll_transmit(&mut out) {
            query_sock.send_to(&out[..t.len], t.destination).unwrap();
        }
        for sock in [&query_sock, &listener] {
            if let Ok((len, from)) = sock.recv_from(&mut buf) {
                // §11: only answers from the local link; here, the veth's subnet.
                if let SocketAddr::V4(v4) = from {
                    if v4.ip().octets()[..3] == [10, 98, 0] {
                        r.handle_datagram(Instant::now(), from, &buf[..len]);
                    }
                }
            }
        }
        if r.poll_timeout().is_some_and(|t| t <= Instant::now()) {
            r.handle_timeout(Instant::now());
        }
        while let Some(e) = r.poll_event() {
            results.push((e, start.elapsed()));
        }
    }
    for (e, at) in &results {
        eprintln!("{at:?}: {e:?}");
    }
    let find = |id: QueryId| {
        results
            .iter()
            .find(|(e, _)| match e {
                Event::Resolved { id: i, .. } | Event::TimedOut { id: i, .. } => *i == id,
            })
            .unwrap()
    };
    let (legacy, _) = find(ids[0]);
    assert!(
        matches!(legacy, Event::Resolved { addresses, .. } if *addresses == [LEGACY_ADDR]),
        "{legacy:?}"
    );
    let (group, _) = find(ids[1]);
    assert!(
        matches!(group, Event::Resolved { addresses, .. } if *addresses == [RESPONDER_IP]),
        "{group:?}"
    );
    let (silent, at) = find(ids[2]);
    assert!(matches!(silent, Event::TimedOut { .. }), "{silent:?}");
    assert!(
        *at >= Duration::from_secs(2) && *at < Duration::from_secs(3),
        "{at:?}"
    );
}

//! Fuzzes the mDNS message decoder and the one-shot resolver: whatever the bytes, decoding
//! must not panic; a message that decodes re-encodes (names uncompressed) and decodes to the
//! same message; names stay within RFC 1035's limits. The resolver takes the bytes as a
//! response from port 5353 and from another port, with queries outstanding for a fixed name
//! and for every `.local` name the message carries, and still ends every query by its
//! deadline.
#![no_main]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use floe_mdns::{Event, Message, Name, Resolver, ResolverConfig, MAX_QUERY_LEN};
use libfuzzer_sys::fuzz_target;

fn check_name(name: &Name) {
    assert!(name.as_wire().len() <= 255);
    assert!(name.labels().all(|l| !l.is_empty() && l.len() <= 63));
    // Labels of plain printable ASCII survive the text form.
    let plain = |b: &u8| b.is_ascii_graphic() && *b != b'.' && *b != b'\\';
    if name.labels().all(|l| l.iter().all(plain)) {
        assert_eq!(&Name::from_dotted(&name.to_string()).unwrap(), name);
    }
}

fuzz_target!(|data: &[u8]| {
    let decoded = Message::decode(data);
    if let Ok(msg) = &decoded {
        for q in &msg.questions {
            check_name(&q.name);
        }
        for r in msg
            .answers
            .iter()
            .chain(&msg.authorities)
            .chain(&msg.additionals)
        {
            check_name(&r.name);
        }
        // Uncompressed, a name takes at most 255 octets where a pointer took 2.
        let mut buf = vec![0u8; data.len() * 128 + 512];
        let len = msg.encode(&mut buf).expect("a decoded message re-encodes");
        let again = Message::decode(&buf[..len]).expect("a re-encoded message decodes");
        assert_eq!(&again, msg);
    }

    let start = Instant::now();
    let mut resolver = Resolver::new(ResolverConfig {
        ipv6: true,
        ..ResolverConfig::default()
    });
    let mut started = vec![resolver.resolve(start, "a.local").unwrap()];
    if let Ok(msg) = &decoded {
        for r in msg.answers.iter().chain(&msg.additionals) {
            let text = r.name.to_string();
            if let Ok(id) = resolver.resolve(start, &text) {
                if !started.contains(&id) {
                    started.push(id);
                }
            }
        }
    }
    let mut out = [0u8; MAX_QUERY_LEN];
    while resolver.poll_transmit(&mut out).is_some() {}

    let at = start + Duration::from_millis(10);
    resolver.handle_datagram(at, SocketAddr::from(([10, 0, 0, 1], 40000)), data);
    resolver.handle_datagram(at, SocketAddr::from(([10, 0, 0, 1], 5353)), data);
    resolver.handle_datagram(at, "[fe80::1]:5353".parse().unwrap(), data);
    resolver.handle_timeout(start + Duration::from_secs(2));
    assert_eq!(resolver.outstanding(), 0);
    assert_eq!(resolver.poll_timeout(), None);
    while resolver.poll_transmit(&mut out).is_some() {}

    let mut ended = Vec::new();
    while let Some(event) = resolver.poll_event() {
        let (id, addresses) = match event {
            Event::Resolved { id, addresses, .. } => (id, addresses),
            Event::TimedOut { id, .. } => (id, Vec::new()),
        };
        assert!(addresses
            .iter()
            .all(|a| !a.is_unspecified() && !a.is_multicast()));
        assert!(!ended.contains(&id));
        ended.push(id);
    }
    ended.sort();
    started.sort();
    assert_eq!(ended, started);
});

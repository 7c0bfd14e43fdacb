//! Robustness of the Binding server against hostile input.

use floe_stun::attributes::{ChangeRequest, ResponsePort};
use floe_stun::server::MAX_REQUIRED_REPLY;
use floe_stun::*;
use std::net::SocketAddr;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// A fixed-seed xorshift generator, so the loop is reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn random_and_truncated_input_never_panics() {
    let server = BindingServer::new(BindingServerConfig {
        software: Some("floe".into()),
        primary: addr("198.51.100.1:3478"),
        alternate: Some(addr("198.51.100.2:3479")),
    })
    .unwrap();
    let client = addr("203.0.113.9:50000");
    let locals = server.local_addresses();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);

    let mut buf = [0u8; 128];
    let mut w = MessageWriter::new(
        &mut buf,
        MessageType::BINDING_REQUEST,
        TransactionId::new([5; 12]),
    )
    .unwrap();
    w.add(&ChangeRequest {
        change_ip: true,
        change_port: true,
    })
    .unwrap();
    w.add(&ResponsePort(1234)).unwrap();
    w.add_raw(0x7f01, &[1]).unwrap();
    w.add_fingerprint().unwrap();
    let len = w.finish();
    let valid = buf[..len].to_vec();

    let mut out = [0u8; 1500];
    let check = |packet: &[u8], local: SocketAddr, out: &mut [u8]| {
        if let Some(reply) = server.handle(local, client, packet, out) {
            // The amplification bound of the module docs, and always a well-formed reply.
            assert!(reply.len <= packet.len().max(MAX_REQUIRED_REPLY));
            let msg = Message::decode(&out[..reply.len]).unwrap();
            if msg
                .get::<attributes::ErrorCode>()
                .unwrap()
                .is_some_and(|e| e.code == 400)
            {
                assert!(
                    reply.len <= packet.len(),
                    "a 400 is no larger than the request"
                );
            }
            assert!(locals.contains(&reply.source));
            assert_eq!(reply.destination.ip(), client.ip());
            Message::decode(&out[..reply.len]).unwrap();
        }
    };
    for cut in 0..=valid.len() {
        check(&valid[..cut], locals[0], &mut out);
    }
    for i in 0..20_000 {
        let local = locals[i % locals.len()];
        let mut packet = valid.clone();
        if i % 2 == 0 {
            // A valid request with a few bytes changed.
            for _ in 0..(rng.next() % 4 + 1) {
                let at = rng.next() as usize % packet.len();
                packet[at] = rng.next() as u8;
            }
        } else {
            // Noise behind a plausible header, so it gets past the first checks.
            let len = rng.next() as usize % 120;
            packet = (0..len).map(|_| rng.next() as u8).collect();
            if len >= HEADER_LEN {
                let body = (len - HEADER_LEN) & !3;
                packet.truncate(HEADER_LEN + body);
                packet[0] &= 0x01;
                packet[2..4].copy_from_slice(&(body as u16).to_be_bytes());
                packet[4..8].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
            }
        }
        let out_len = rng.next() as usize % 160;
        check(&packet, local, &mut out[..out_len]);
    }
}

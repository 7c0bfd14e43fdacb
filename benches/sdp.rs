//! floe-sdp benchmarks: parsing a Chromium offer with host, srflx and relay
//! candidates, parse + write, and one trickled candidate line.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use floe_sdp::{Candidate, SessionDescription};

const OFFER: &str = include_str!("../../shared/testdata/sdp/chromium-offer-stun-turn.sdp");
const CANDIDATE: &str = "candidate:2271916623 1 udp 50339839 10.99.0.1 53700 typ relay raddr 10.99.0.1 rport 56227 generation 0 ufrag 3L7Q network-cost 999";

fn sdp(c: &mut Criterion) {
    c.bench_function("sdp/parse_offer_stun_turn", |b| {
        b.iter(|| SessionDescription::parse(black_box(OFFER)).unwrap())
    });
    c.bench_function("sdp/parse_write_offer_stun_turn", |b| {
        b.iter(|| {
            SessionDescription::parse(black_box(OFFER))
                .unwrap()
                .to_string()
        })
    });
    c.bench_function("sdp/parse_candidate", |b| {
        b.iter(|| black_box(CANDIDATE).parse::<Candidate>().unwrap())
    });
}

criterion_group!(benches, sdp);
criterion_main!(benches);

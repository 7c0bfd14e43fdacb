//! TURN benchmarks (floe-turn).
//!
//! Groups (each payload size 64 and 1200 bytes):
//! - `turn/wrap_bytes`, `turn/wrap_packets`: ChannelData framing. `encode` is the bare codec
//!   into a caller buffer; `client_send_to` is [`TurnClient::send_to`] on a bound channel
//!   (channel lookup included).
//! - `turn/unwrap_bytes`, `turn/unwrap_packets`: ChannelData from the server. `decode` is the
//!   bare codec; `client_handle_datagram` is [`TurnClient::handle_datagram`] returning the
//!   peer and a slice of the input (zero-copy).
//! - `turn/send_indication`: the cost of one Send indication from [`TurnClient::send_to`] to a
//!   peer with a permission and no channel (XOR-PEER-ADDRESS, DATA; a transaction id drawn).
//!
//! The same numbers appear twice, as bytes/s and as packets/s, since criterion reports one
//! throughput per group.

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use floe_turn::channel_data::{self, ChannelData};
use floe_turn::{
    ClientConfig, Received, ServerConfig, ServerEvent, Transport, TurnClient, TurnServer,
};

const SERVER: &str = "10.0.0.1:3478";
const CLIENT: &str = "192.0.2.10:5000";
const PEER: &str = "198.51.100.7:6000";
const CHANNEL_PEER: &str = "198.51.100.8:6000";
const SIZES: [usize; 2] = [64, 1200];

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// An allocated client with a permission for PEER and a channel to CHANNEL_PEER, driven against
/// the floe server in-process.
fn allocated_client() -> (TurnClient, u16) {
    let now = Instant::now();
    let mut client = TurnClient::new(ClientConfig::new(addr(SERVER), "alice", "secret"), [1; 32]);
    let mut server = TurnServer::new(
        ServerConfig::new("example.test", "alice", "secret"),
        [2; 32],
    );
    let pump = |client: &mut TurnClient, server: &mut TurnServer| loop {
        let mut progress = false;
        while let Some(t) = client.poll_transmit() {
            let bytes = t.payload.to_vec();
            server.handle_client(now, addr(SERVER), addr(CLIENT), Transport::Udp, &bytes);
            progress = true;
        }
        while let Some(ServerEvent::BindRelay {
            allocation, family, ..
        }) = server.poll_event()
        {
            server.relay_bound(now, allocation, family, Some(addr("10.0.0.1:49152")));
            progress = true;
        }
        while let Some(t) = server.poll_transmit() {
            if t.destination == addr(CLIENT) {
                client.handle_datagram(now, addr(SERVER), &t.payload);
            }
            progress = true;
        }
        if !progress {
            break;
        }
    };
    client.allocate(now).unwrap();
    pump(&mut client, &mut server);
    client.create_permission(now, addr(PEER).ip()).unwrap();
    let channel = client.bind_channel(now, addr(CHANNEL_PEER)).unwrap();
    pump(&mut client, &mut server);
    assert!(client.has_permission(addr(PEER).ip()));
    assert_eq!(client.channel(addr(CHANNEL_PEER)), Some(channel));
    while client.poll_event().is_some() {}
    (client, channel)
}

fn wrap(c: &mut Criterion, name: &str, per_byte: bool) {
    let (mut client, channel) = allocated_client();
    let now = Instant::now();
    let mut group = c.benchmark_group(name);
    for size in SIZES {
        let data = vec![0xa5u8; size];
        let mut out = vec![0u8; 2048];
        group.throughput(if per_byte {
            Throughput::Bytes(size as u64)
        } else {
            Throughput::Elements(1)
        });
        group.bench_with_input(BenchmarkId::new("encode", size), &data, |b, data| {
            b.iter(|| channel_data::encode(channel, black_box(data), false, &mut out).unwrap())
        });
        group.bench_with_input(
            BenchmarkId::new("client_send_to", size),
            &data,
            |b, data| {
                b.iter(|| {
                    client
                        .send_to(now, addr(CHANNEL_PEER), black_box(data), &mut out)
                        .unwrap()
                })
            },
        );
    }
    group.finish();
}

fn unwrap(c: &mut Criterion, name: &str, per_byte: bool) {
    let (mut client, channel) = allocated_client();
    let now = Instant::now();
    let mut group = c.benchmark_group(name);
    for size in SIZES {
        let mut wire = vec![0u8; size + 4];
        channel_data::encode(channel, &vec![0x5au8; size], false, &mut wire).unwrap();
        group.throughput(if per_byte {
            Throughput::Bytes(size as u64)
        } else {
            Throughput::Elements(1)
        });
        group.bench_with_input(BenchmarkId::new("decode", size), &wire, |b, wire| {
            b.iter(|| ChannelData::decode(black_box(wire)).unwrap().data.len())
        });
        group.bench_with_input(
            BenchmarkId::new("client_handle_datagram", size),
            &wire,
            |b, wire| {
                b.iter(
                    || match client.handle_datagram(now, addr(SERVER), black_box(wire)) {
                        Received::Data { data, .. } => data.len(),
                        other => panic!("{other:?}"),
                    },
                )
            },
        );
    }
    group.finish();
}

fn send_indication(c: &mut Criterion) {
    let (mut client, _) = allocated_client();
    let now = Instant::now();
    let mut group = c.benchmark_group("turn/send_indication");
    for size in SIZES {
        let data = vec![0xa5u8; size];
        let mut out = vec![0u8; 2048];
        group.throughput(Throughput::Elements(1));
        group.bench_with_input(BenchmarkId::from_parameter(size), &data, |b, data| {
            b.iter(|| {
                client
                    .send_to(now, addr(PEER), black_box(data), &mut out)
                    .unwrap()
            })
        });
    }
    group.finish();
}

fn benches(c: &mut Criterion) {
    wrap(c, "turn/wrap_bytes", true);
    wrap(c, "turn/wrap_packets", false);
    unwrap(c, "turn/unwrap_bytes", true);
    unwrap(c, "turn/unwrap_packets", false);
    send_indication(c);
}

criterion_group!(turn, benches);
criterion_main!(turn);

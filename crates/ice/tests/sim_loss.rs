//! Random loss: agents must connect through heavy loss by retransmitting checks.

mod sim_common;

use std::time::Duration;

use floe_ice::IceConnectionState;
use floe_netsim::{LinkConfig, Nat};
use sim_common::*;

/// Runs one seed with `loss` on one access link (so each direction loses `loss` of its
/// datagrams); returns the time by which both sides had been connected, if they got there, and
/// whether data then flowed.
///
/// Both sides need not be connected at the same instant: each consent request is sent once
/// (RFC 7675 §5.1), so over a path that loses 75 % of round trips a side may be `disconnected`
/// for a while, or lose consent, after connecting; that is consent doing its job, not a failure
/// to connect.
fn run(seed: u64, loss: f64) -> (Option<Duration>, bool) {
    let setup = Setup {
        nats: [Nat::open(), Nat::full_cone()],
        stun: true,
        seed,
        links: [
            LinkConfig::with_latency(10 * MS).loss(loss),
            LinkConfig::with_latency(10 * MS),
        ],
        ..Setup::default()
    };
    let mut duo = Duo::new(setup);
    let ever_connected = |d: &mut Duo| {
        (0..2).all(|s| {
            d.node_ref(s)
                .first_time(IceConnectionState::Connected)
                .is_some()
        })
    };
    let ok = duo.run_until(ever_connected, Duration::from_secs(40));
    let t = duo.elapsed();
    if !ok {
        return (None, false);
    }
    // Data over a lossy link: each side resends until its datagrams got through once.
    let mut data = false;
    for i in 0..40 {
        for side in 0..2 {
            if !duo.node_ref(1 - side).app_data.is_empty() {
                continue;
            }
            if duo.send_data(side, format!("try {i}").as_bytes()).is_err() {
                return (Some(t), false);
            }
        }
        duo.run_for(Duration::from_millis(100));
        if (0..2).all(|s| !duo.node_ref(s).app_data.is_empty()) {
            data = true;
            break;
        }
    }
    (Some(t), data)
}

fn sweep(loss: f64) -> (usize, Vec<u64>, Vec<Duration>) {
    let mut failed = Vec::new();
    let mut times = Vec::new();
    for seed in 0..100 {
        match run(seed, loss) {
            (Some(t), true) => times.push(t),
            _ => failed.push(seed),
        }
    }
    times.sort();
    (100 - failed.len(), failed, times)
}

fn summary(loss: f64, connected: usize, failed: &[u64], times: &[Duration]) {
    let pct = |p: usize| times.get((times.len() * p / 100).min(times.len().saturating_sub(1)));
    println!(
        "loss {:.0}% each way: {connected}/100 connected; median {:?}, p90 {:?}, max {:?}; \
         failed seeds {failed:?}",
        loss * 100.0,
        pct(50),
        pct(90),
        times.last()
    );
}

#[test]
fn thirty_percent_loss_each_way_all_hundred_seeds_connect() {
    let (connected, failed, times) = sweep(0.3);
    summary(0.3, connected, &failed, &times);
    assert_eq!(connected, 100, "failed seeds: {failed:?}");
}

#[test]
fn fifty_percent_loss_each_way_at_least_95_of_100_connect() {
    let (connected, failed, times) = sweep(0.5);
    summary(0.5, connected, &failed, &times);
    assert!(
        connected >= 95,
        "only {connected}/100; failed seeds: {failed:?}"
    );
}

//! Two agents on real UDP sockets on 127.0.0.1 (see `udp_common`): both must connect within
//! 5 s of wall time and carry an application datagram each way.

use std::time::{Duration, Instant};

use floe_ice::*;

mod udp_common;
use udp_common::{run, Side};

/// The whole test gives up after this much wall time.
const BUDGET: Duration = Duration::from_secs(5);

#[test]
fn two_agents_connect_over_udp_loopback_and_exchange_data() {
    let start = Instant::now();
    let config = |controlling| AgentConfig {
        controlling,
        ..AgentConfig::default()
    };
    let mut a = Side::new(config(true), 11, start);
    let mut b = Side::new(config(false), 22, start);
    let payloads: [&[u8]; 2] = [b"\x80hello from a", b"\x80hello from b"];
    let outcome = run(&mut a, &mut b, payloads, BUDGET);
    println!(
        "after {:?} ({} iterations): connected at {:?}; states a {:?}, b {:?}",
        outcome.elapsed, outcome.iterations, outcome.connected_at, a.states, b.states
    );
    assert!(a.connected(), "a is {:?}", a.agent.connection_state());
    assert!(b.connected(), "b is {:?}", b.agent.connection_state());
    assert!(outcome.elapsed < BUDGET, "took {:?}", outcome.elapsed);
    assert_eq!(a.agent.selected_path(), Some((a.addr, b.addr)));
    assert_eq!(b.agent.selected_path(), Some((b.addr, a.addr)));
    assert_eq!(a.received, vec![payloads[1].to_vec()]);
    assert_eq!(b.received, vec![payloads[0].to_vec()]);
}

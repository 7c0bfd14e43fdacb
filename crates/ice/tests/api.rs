//! The agent's output API: buffers and transmits.

mod wire;

use floe_ice::{AgentConfig, IceError, MIN_TRANSMIT_BUFFER};
use wire::*;

#[test]
fn poll_transmit_reports_a_too_small_buffer_and_keeps_the_datagram() {
    let mut w = Wire::new(AgentConfig {
        controlling: true,
        ..AgentConfig::default()
    });
    w.agent
        .add_remote_candidate(w.now, host(remote(), 0x7e00_00ff))
        .unwrap();
    let mut small = [0u8; 100];
    assert_eq!(
        w.agent.poll_transmit(&mut small),
        Err(IceError::BufferTooSmall)
    );
    // Nothing was lost: the first check comes out with a buffer of the documented size.
    let mut buf = vec![0u8; MIN_TRANSMIT_BUFFER];
    let t = w
        .agent
        .poll_transmit(&mut buf)
        .unwrap()
        .expect("the first check");
    assert_eq!(t.destination, remote());
}

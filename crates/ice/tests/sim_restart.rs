//! ICE restart (RFC 8445 §9) while connected: data keeps flowing on the old path until a new
//! pair is selected, and the agents end up connected with new credentials.

mod sim_common;

use std::time::Duration;

use floe_ice::{IceConnectionState, IceEvent};
use floe_netsim::{LinkConfig, Nat};
use sim_common::*;

#[test]
fn restart_while_connected_keeps_data_flowing_and_reconnects_with_new_credentials() {
    for restarter in 0..2 {
        let mut duo = Duo::new(Setup {
            nats: [Nat::full_cone(), Nat::port_restricted()],
            links: [
                LinkConfig::with_latency(10 * MS),
                LinkConfig::with_latency(10 * MS),
            ],
            stun: true,
            signal_delay: 50 * MS,
            ..Setup::default()
        });
        assert!(duo.run_until_connected(Duration::from_secs(5)));
        duo.run_for(Duration::from_secs(2));
        let old_creds = [0, 1].map(|s| duo.agent_ref(s).local_credentials().clone());
        let restart_at = duo.elapsed();
        duo.restart(restarter);
        assert_ne!(
            duo.agent_ref(restarter).local_credentials(),
            &old_creds[restarter]
        );

        // Stream data both ways every 20 ms through the restart.
        let mut sent = [0u32; 2];
        let mut refused = [0u32; 2];
        for i in 0..100 {
            for side in 0..2 {
                match duo.send_data(side, format!("r{side}-{i}").as_bytes()) {
                    Ok(()) => sent[side] += 1,
                    Err(_) => refused[side] += 1,
                }
            }
            duo.run_for(20 * MS);
        }
        duo.run_for(Duration::from_millis(100));
        let received = [1, 0].map(|to| {
            duo.node_ref(to)
                .app_data
                .iter()
                .filter(|(t, ..)| *t >= restart_at)
                .count() as u32
        });
        println!(
            "restart by side {restarter}: sent {sent:?}, refused {refused:?}, received \
             {received:?}; new pair selected at {:?}",
            [0, 1].map(|s| duo
                .node_ref(s)
                .log
                .iter()
                .find(|(t, e)| *t > restart_at && matches!(e, IceEvent::SelectedPairChange { .. }))
                .map(|(t, _)| *t - restart_at))
        );
        assert_eq!(refused, [0, 0], "send must keep working during the restart");
        assert_eq!(
            received, sent,
            "every datagram arrives (no loss on the links)"
        );

        for (side, old) in old_creds.iter().enumerate() {
            // A new pair was selected after the restart, and the agent is connected.
            assert!(duo
                .node_ref(side)
                .log
                .iter()
                .any(|(t, e)| *t > restart_at && matches!(e, IceEvent::SelectedPairChange { .. })));
            assert!(
                duo.is_connected(side),
                "side {side}: {:?}",
                duo.node_ref(side).states()
            );
            assert!(!duo
                .node_ref(side)
                .states()
                .iter()
                .any(|(t, s)| *t > restart_at && *s == IceConnectionState::Failed));
            assert_ne!(duo.agent_ref(side).local_credentials(), old);
        }
        // Consent on the new pair works: still connected long after the old checks stopped.
        duo.run_for(Duration::from_secs(35));
        assert!(duo.is_connected(0) && duo.is_connected(1));
        assert!(duo.exchange_data("after restart", Duration::from_secs(1)));
    }
}

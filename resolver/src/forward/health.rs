//! Which upstream server to ask first.
//!
//! Docker asks its servers in order with 4 s each, so a dead first server
//! adds 4 s to every query (moby#20335, #39194). netagent remembers: the
//! server that answered most recently goes first; a server whose last try
//! failed goes last, and once [`PROBE_AFTER`] has passed it is asked again
//! alongside the first (a probe), so a server that came back is noticed
//! without making any client wait for it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a failed server is left alone before it is probed.
pub const PROBE_AFTER: Duration = Duration::from_secs(5);

#[derive(Debug, Default, Clone, Copy)]
struct ServerState {
    last_ok: Option<Instant>,
    failed_at: Option<Instant>,
    probing: bool,
}

impl ServerState {
    fn is_down(&self) -> bool {
        match (self.failed_at, self.last_ok) {
            (Some(failed), Some(ok)) => failed > ok,
            (Some(_), None) => true,
            _ => false,
        }
    }
}

/// The order to ask servers in, and a failed server to probe alongside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Servers to ask one after another (in parallel after a delay).
    pub order: Vec<SocketAddr>,
    /// A failed server to ask at once, in parallel with the first.
    pub probe: Option<SocketAddr>,
}

/// What the forwarder remembers about each server.
#[derive(Debug, Default)]
pub struct Health {
    /// foldhash, not SipHash: read on every forwarded question, keyed by
    /// the configured servers' addresses, never by anything a client sends.
    servers: Mutex<HashMap<SocketAddr, ServerState, foldhash::fast::RandomState>>,
}

impl Health {
    /// Orders `servers` (given in configured order) for one question.
    pub fn plan(&self, servers: &[SocketAddr], now: Instant) -> Plan {
        // One server is the plan whatever its state: nothing to order, and
        // no probe without a healthy server to ask beside it.
        if let [only] = servers {
            return Plan {
                order: vec![*only],
                probe: None,
            };
        }
        let mut states = self.servers.lock().unwrap_or_else(|p| p.into_inner());
        let state = |s: &SocketAddr| states.get(s).copied().unwrap_or_default();
        let mut healthy: Vec<SocketAddr> = servers
            .iter()
            .copied()
            .filter(|s| !state(s).is_down())
            .collect();
        let mut down: Vec<SocketAddr> = servers
            .iter()
            .copied()
            .filter(|s| state(s).is_down())
            .collect();
        // Most recent answer first; never-asked servers keep their
        // configured order after those (sort_by_key is stable).
        healthy.sort_by_key(|s| std::cmp::Reverse(state(s).last_ok));
        down.sort_by_key(|s| state(s).failed_at);
        let due = |s: &SocketAddr| {
            let st = state(s);
            !st.probing
                && st
                    .failed_at
                    .is_some_and(|at| now.duration_since(at) >= PROBE_AFTER)
        };
        let probe = if healthy.is_empty() {
            None
        } else {
            down.iter().position(due).map(|i| down.remove(i))
        };
        if let Some(server) = probe {
            states.entry(server).or_default().probing = true;
        }
        healthy.extend(down);
        Plan {
            order: healthy,
            probe,
        }
    }

    /// `server` gave a usable answer.
    pub fn succeeded(&self, server: SocketAddr, now: Instant) {
        let mut states = self.servers.lock().unwrap_or_else(|p| p.into_inner());
        let state = states.entry(server).or_default();
        state.last_ok = Some(now);
        state.probing = false;
    }

    /// `server` timed out, failed, or answered SERVFAIL or REFUSED.
    pub fn failed(&self, server: SocketAddr, now: Instant) {
        let mut states = self.servers.lock().unwrap_or_else(|p| p.into_inner());
        let state = states.entry(server).or_default();
        state.failed_at = Some(now);
        state.probing = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(n: u8) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, n], 53))
    }

    #[test]
    fn configured_order_until_something_is_known() {
        let health = Health::default();
        let plan = health.plan(&[addr(1), addr(2), addr(3)], Instant::now());
        assert_eq!(
            plan,
            Plan {
                order: vec![addr(1), addr(2), addr(3)],
                probe: None
            }
        );
    }

    #[test]
    fn the_last_to_answer_goes_first_and_the_failed_last() {
        let health = Health::default();
        let t0 = Instant::now();
        health.failed(addr(1), t0);
        health.succeeded(addr(3), t0);
        let plan = health.plan(&[addr(1), addr(2), addr(3)], t0);
        assert_eq!(plan.order, [addr(3), addr(2), addr(1)]);
        assert_eq!(plan.probe, None, "too early to probe");
    }

    #[test]
    fn a_failed_server_is_probed_once_after_a_while_then_restored() {
        let health = Health::default();
        let t0 = Instant::now();
        health.failed(addr(1), t0);
        health.succeeded(addr(2), t0);
        let later = t0 + PROBE_AFTER;
        let plan = health.plan(&[addr(1), addr(2)], later);
        assert_eq!(
            plan,
            Plan {
                order: vec![addr(2)],
                probe: Some(addr(1))
            }
        );
        let again = health.plan(&[addr(1), addr(2)], later);
        assert_eq!(again.probe, None, "one probe at a time");
        health.succeeded(addr(1), later);
        assert_eq!(
            health.plan(&[addr(1), addr(2)], later).order,
            [addr(1), addr(2)]
        );
    }

    #[test]
    fn when_every_server_failed_all_are_still_tried() {
        let health = Health::default();
        let t0 = Instant::now();
        health.failed(addr(2), t0);
        health.failed(addr(1), t0 + Duration::from_millis(1));
        let plan = health.plan(&[addr(1), addr(2)], t0 + PROBE_AFTER * 2);
        assert_eq!(
            plan,
            Plan {
                order: vec![addr(2), addr(1)],
                probe: None
            }
        );
    }
}

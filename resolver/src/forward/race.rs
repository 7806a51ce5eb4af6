//! Asking several servers with parallel fallback.
//!
//! The first server of the plan is asked at once (with the probe, if any).
//! If no usable answer has come after `fallback_delay`, or as soon as the
//! server fails, the next one is asked too, and so on; the first usable
//! answer wins and the rest are cancelled. A timeout, a network error,
//! SERVFAIL and REFUSED fail over; any other answer, NXDOMAIN included, is
//! final (moby#45553: the client must see the upstream's NXDOMAIN and its
//! SOA). After `total` the question is given up: the last failing answer
//! goes back if there was one, else SERVFAIL.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::time::{sleep_until, Instant};

use super::health::{Health, Plan};
use super::wire;
use super::AttemptError;

/// How long to wait before asking the next server, and in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Delay before the next server is asked in parallel.
    pub fallback_delay: Duration,
    /// Time after which the question is given up.
    pub total: Duration,
}

/// Asks the servers of `plan` with `attempt` as the module describes and
/// records each outcome in `health`; `timing` counts from `start` (the
/// caller's clock reading, shared: one reading less per question). Returns
/// the answer to relay, or `None` when no server answered at all.
pub async fn race<F, Fut>(
    plan: Plan,
    timing: Timing,
    start: std::time::Instant,
    health: &Health,
    attempt: F,
) -> Option<Vec<u8>>
where
    F: Fn(SocketAddr) -> Fut,
    Fut: Future<Output = Result<Vec<u8>, AttemptError>>,
{
    let start = Instant::from_std(start);
    let deadline = start + timing.total;
    if let ([server], None) = (plan.order.as_slice(), plan.probe) {
        return ask_one(*server, deadline, health, attempt(*server)).await;
    }
    let mut running = FuturesUnordered::new();
    let mut asked: Vec<SocketAddr> = Vec::new();
    let launch = |server: SocketAddr| {
        let attempt = attempt(server);
        async move { (server, attempt.await) }
    };
    let mut queue = plan.order.into_iter();
    for server in plan.probe.into_iter().chain(queue.next()) {
        asked.push(server);
        running.push(launch(server));
    }
    let mut next_fallback = start + timing.fallback_delay;
    let mut last_failure: Option<Vec<u8>> = None;
    loop {
        let more_to_ask = queue.len() > 0;
        if running.is_empty() && !more_to_ask {
            return last_failure;
        }
        tokio::select! {
            Some((server, result)) = running.next(), if !running.is_empty() => {
                asked.retain(|s| *s != server);
                match judge(server, result, health) {
                    Ok(answer) => return Some(answer),
                    Err(failing) => {
                        last_failure = failing.or(last_failure);
                        next_fallback = Instant::now();
                    }
                }
            }
            _ = sleep_until(next_fallback), if more_to_ask => {
                if let Some(server) = queue.next() {
                    asked.push(server);
                    running.push(launch(server));
                }
                next_fallback = Instant::now() + timing.fallback_delay;
            }
            _ = sleep_until(deadline) => {
                let now = std::time::Instant::now();
                for server in asked {
                    health.failed(server, now);
                }
                return last_failure;
            }
        }
    }
}

/// [`race`] with one server and no probe (a host with one resolver, the
/// commonest case): the same outcome without the set of running attempts
/// and the fallback timer, which were a tenth of a forwarded question's
/// instructions at low rates (callgrind, issue #16).
async fn ask_one(
    server: SocketAddr,
    deadline: Instant,
    health: &Health,
    attempt: impl Future<Output = Result<Vec<u8>, AttemptError>>,
) -> Option<Vec<u8>> {
    match tokio::time::timeout_at(deadline, attempt).await {
        Ok(result) => judge(server, result, health).map_or_else(|failing| failing, Some),
        Err(_) => {
            health.failed(server, std::time::Instant::now());
            None
        }
    }
}

/// One try's result, recorded in `health`: `Ok` with a usable answer,
/// else `Err` with the failing answer if there was one (SERVFAIL, say).
fn judge(
    server: SocketAddr,
    result: Result<Vec<u8>, AttemptError>,
    health: &Health,
) -> Result<Vec<u8>, Option<Vec<u8>>> {
    let now = std::time::Instant::now();
    match result {
        Ok(answer) if !fails_over(&answer) => {
            health.succeeded(server, now);
            Ok(answer)
        }
        other => {
            tracing::debug!(%server, failure = ?other.as_ref().err(), "upstream failed");
            health.failed(server, now);
            Err(other.ok())
        }
    }
}

/// SERVFAIL and REFUSED mean "ask someone else" (as Docker does).
fn fails_over(answer: &[u8]) -> bool {
    answer.len() < 12 || matches!(wire::rcode(answer), wire::SERVFAIL | wire::REFUSED)
}

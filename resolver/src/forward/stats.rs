//! Counters of what the forwarder did, for the metrics endpoint and the
//! tests, and a warning about the in-flight bound logged at most once a
//! second so that a flood cannot flood the log too.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Monotonic counters; read with [`ForwardStats::snapshot`].
#[derive(Debug, Default)]
pub struct ForwardStats {
    /// Questions handed to upstream servers.
    pub forwarded: AtomicU64,
    /// Forwarded questions that got an answer.
    pub answered: AtomicU64,
    /// Time from forwarding to answer, summed over `answered`, in
    /// microseconds (their mean is the upstream latency).
    pub answer_micros: AtomicU64,
    /// Questions refused because the in-flight bound was reached.
    pub refused_over_bound: AtomicU64,
    /// Questions that got no usable answer in time (SERVFAIL to the client).
    pub failed: AtomicU64,
    /// Datagrams dropped because id, source or question did not match a
    /// query in flight (late, duplicated or spoofed answers).
    pub mismatched: AtomicU64,
    /// Questions not sent because no server may be used (internal networks).
    pub no_servers: AtomicU64,
    last_bound_warning: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// See [`ForwardStats::forwarded`].
    pub forwarded: u64,
    /// See [`ForwardStats::answered`].
    pub answered: u64,
    /// See [`ForwardStats::answer_micros`].
    pub answer_micros: u64,
    /// See [`ForwardStats::refused_over_bound`].
    pub refused_over_bound: u64,
    /// See [`ForwardStats::failed`].
    pub failed: u64,
    /// See [`ForwardStats::mismatched`].
    pub mismatched: u64,
    /// See [`ForwardStats::no_servers`].
    pub no_servers: u64,
}

impl ForwardStats {
    /// Adds one to `counter`.
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters now.
    pub fn snapshot(&self) -> StatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            forwarded: get(&self.forwarded),
            answered: get(&self.answered),
            answer_micros: get(&self.answer_micros),
            refused_over_bound: get(&self.refused_over_bound),
            failed: get(&self.failed),
            mismatched: get(&self.mismatched),
            no_servers: get(&self.no_servers),
        }
    }

    /// Counts a refusal over the bound and warns, at most once a second.
    pub fn refused(&self, sandbox_id: &str) {
        Self::bump(&self.refused_over_bound);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let last = self.last_bound_warning.load(Ordering::Relaxed);
        if now > last
            && self
                .last_bound_warning
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let total = self.refused_over_bound.load(Ordering::Relaxed);
            tracing::warn!(sandbox = %sandbox_id, total, "forwarding bound reached: answering REFUSED");
        }
    }
}

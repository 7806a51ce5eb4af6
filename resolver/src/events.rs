//! Events a client can cause at will (a malformed EDNS option, a TCP
//! client over a bound), logged without letting it flood the log (issue
//! #14: 10,000 bad queries once wrote 10,000 WARN lines).
//!
//! Every event is counted in [`EventCounts`], shared by all sandboxes and
//! shown on the metrics endpoint. The log is limited per sandbox and per
//! kind of event by an [`EventLog`]: the first [`BURST`] events of a kind
//! in an [`INTERVAL`] are logged, the rest only counted, and the first
//! event after the interval logs one summary line with how many were not
//! logged. Relaxed atomics only: no lock and no allocation on the answer
//! path.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Events of one kind logged per sandbox per [`INTERVAL`].
pub const BURST: u32 = 5;
/// The rate limit's window.
pub const INTERVAL: Duration = Duration::from_secs(60);

/// A kind of event a client can cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A query whose OPT record's options do not parse (RFC 6891 section
    /// 6.1.2): answered FORMERR.
    MalformedEdns = 0,
    /// A TCP frame too short to hold a DNS header: connection closed.
    TcpMalformedFrame = 1,
    /// A TCP client with too many unanswered queries: connection closed.
    TcpUnansweredBound = 2,
    /// A TCP client that took no answer within the write timeout:
    /// connection closed.
    TcpWriteTimeout = 3,
    /// A TCP connection over the per-sandbox or overall bound: closed at
    /// once.
    TcpConnectionRefused = 4,
    /// accept(2) failed (out of file descriptors, say): retried after a
    /// pause.
    TcpAcceptFailed = 5,
}

const KINDS: usize = 6;

impl Event {
    const ALL: [Event; KINDS] = [
        Event::MalformedEdns,
        Event::TcpMalformedFrame,
        Event::TcpUnansweredBound,
        Event::TcpWriteTimeout,
        Event::TcpConnectionRefused,
        Event::TcpAcceptFailed,
    ];

    /// The metrics label.
    pub fn name(self) -> &'static str {
        match self {
            Event::MalformedEdns => "malformed_edns",
            Event::TcpMalformedFrame => "tcp_malformed_frame",
            Event::TcpUnansweredBound => "tcp_unanswered_bound",
            Event::TcpWriteTimeout => "tcp_write_timeout",
            Event::TcpConnectionRefused => "tcp_connection_refused",
            Event::TcpAcceptFailed => "tcp_accept_failed",
        }
    }

    fn message(self) -> &'static str {
        match self {
            Event::MalformedEdns => "malformed EDNS options: answered FORMERR",
            Event::TcpMalformedFrame => "malformed tcp frame: connection closed",
            Event::TcpUnansweredBound => {
                "tcp client over its unanswered queries: connection closed"
            }
            Event::TcpWriteTimeout => "tcp client took no answer in time: connection closed",
            Event::TcpConnectionRefused => "too many tcp connections: the new one closed",
            Event::TcpAcceptFailed => "tcp accept failed (out of file descriptors?): retrying",
        }
    }
}

/// Every event counted, over all sandboxes.
#[derive(Debug, Default)]
pub struct EventCounts {
    counts: [AtomicU64; KINDS],
}

impl EventCounts {
    /// Every kind with its count, zeros included.
    pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
        Event::ALL
            .iter()
            .map(|&event| (event.name(), self.get(event)))
            .collect()
    }

    /// How many events of this kind there were.
    pub fn get(&self, event: Event) -> u64 {
        self.counts[event as usize].load(Ordering::Relaxed)
    }
}

/// One kind's window in one sandbox's log.
#[derive(Debug, Default)]
struct Window {
    /// Start of the window, in milliseconds since the log's epoch.
    start_ms: AtomicU64,
    logged: AtomicU32,
    suppressed: AtomicU64,
}

/// One sandbox's rate-limited log of events, counting into the shared
/// [`EventCounts`].
#[derive(Debug)]
pub struct EventLog {
    counts: Arc<EventCounts>,
    /// The sandbox's short id, on every line.
    sandbox: Box<str>,
    epoch: Instant,
    windows: [Window; KINDS],
}

impl EventLog {
    /// The log of the sandbox `sandbox_id`, counting into `counts`.
    pub fn new(counts: Arc<EventCounts>, sandbox_id: &str) -> EventLog {
        EventLog {
            counts,
            sandbox: sandbox_id[..sandbox_id.len().min(12)].into(),
            epoch: Instant::now(),
            windows: Default::default(),
        }
    }

    /// Counts `event` and logs it unless its kind is over the rate limit.
    pub fn note(&self, event: Event) {
        self.note_at(event, self.epoch.elapsed().as_millis() as u64);
    }

    /// [`EventLog::note`] at `now`, in milliseconds since the log began.
    fn note_at(&self, event: Event, now: u64) {
        self.counts.counts[event as usize].fetch_add(1, Ordering::Relaxed);
        let window = &self.windows[event as usize];
        let start = window.start_ms.load(Ordering::Relaxed);
        let interval = INTERVAL.as_millis() as u64;
        if now.saturating_sub(start) >= interval
            && window
                .start_ms
                .compare_exchange(start, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            window.logged.store(0, Ordering::Relaxed);
            let suppressed = window.suppressed.swap(0, Ordering::Relaxed);
            if suppressed > 0 {
                tracing::warn!(
                    sandbox = %self.sandbox,
                    kind = event.name(),
                    suppressed,
                    "{}: {suppressed} more not logged in the last interval",
                    event.message()
                );
            }
        }
        // Loaded first so that the count cannot wrap round to 0.
        if window.logged.load(Ordering::Relaxed) < BURST
            && window.logged.fetch_add(1, Ordering::Relaxed) < BURST
        {
            tracing::warn!(sandbox = %self.sandbox, kind = event.name(), "{}", event.message());
        } else {
            window.suppressed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::{Event, EventLog, BURST, INTERVAL};
    use crate::handler::flood_tests::WarnCounter;

    #[test]
    fn a_burst_per_interval_then_one_summary_and_per_kind() {
        let log = EventLog::new(Arc::default(), "sandbox");
        let warnings = Arc::new(AtomicUsize::new(0));
        let interval = INTERVAL.as_millis() as u64;
        tracing::subscriber::with_default(WarnCounter(Arc::clone(&warnings)), || {
            for _ in 0..100 {
                log.note_at(Event::MalformedEdns, 10);
            }
            assert_eq!(warnings.load(Ordering::Relaxed), BURST as usize);
            // Another kind has its own allowance.
            log.note_at(Event::TcpWriteTimeout, 10);
            assert_eq!(warnings.load(Ordering::Relaxed), BURST as usize + 1);
            // The next interval: one summary line, then a new burst.
            for _ in 0..100 {
                log.note_at(Event::MalformedEdns, interval + 20);
            }
            assert_eq!(warnings.load(Ordering::Relaxed), 2 * BURST as usize + 2);
        });
        assert_eq!(log.counts.get(Event::MalformedEdns), 200);
        assert_eq!(log.counts.get(Event::TcpWriteTimeout), 1);
    }
}

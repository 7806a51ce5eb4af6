//! One timer kept pending on the forwarder's runtime while questions are
//! being forwarded, so that the timers each question arms (the race's
//! fallback and total deadlines, [`super::race`]) never wake the runtime's
//! driver (issue #16, measured with `bench/floor/profile.sh`).
//!
//! Why: tokio's time driver, on arming a timer earlier than the earliest
//! one it will wake for, unparks itself: an eventfd write and one more
//! `epoll_wait` return. At low rates each question is answered before the
//! next comes, so its timers were the only ones and every question paid
//! that (0.85 writes and 0.7 extra wake-ups per forwarded question at
//! 5,000 q/s). With a tick of [`TICK`] pending, shorter than the fallback
//! delay and the total timeout, the driver always wakes earlier than any
//! new deadline and arming one costs no system call. The tick runs only
//! while questions come: a tick in which none began puts it to sleep, and
//! the next question wakes it (a task wake on the same thread, no system
//! call; its first timer is the one unpark of a busy period).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// The tick: shorter than the default fallback delay (150 ms).
pub const TICK: Duration = Duration::from_millis(100);

/// What the forwarder and the tick task share.
#[derive(Debug, Default)]
pub struct Ticker {
    started: AtomicU64,
    idle: AtomicBool,
    wake: Notify,
}

impl Ticker {
    /// Starts the tick task on the current runtime; it ends when the
    /// handle is aborted.
    pub fn start() -> (Arc<Ticker>, JoinHandle<()>) {
        let ticker = Arc::new(Ticker::default());
        let task = tokio::spawn(Arc::clone(&ticker).run());
        (ticker, task)
    }

    /// Tells the tick a question is being forwarded.
    pub fn question(&self) {
        self.started.fetch_add(1, Ordering::Relaxed);
        if self.idle.swap(false, Ordering::AcqRel) {
            self.wake.notify_one();
        }
    }

    async fn run(self: Arc<Self>) {
        loop {
            let seen = self.started.load(Ordering::Relaxed);
            tokio::time::sleep(TICK).await;
            if self.started.load(Ordering::Relaxed) == seen {
                self.idle.store(true, Ordering::Release);
                // A question that came between the check and here found
                // `idle` set and left a permit: no wake is lost.
                if self.started.load(Ordering::Relaxed) == seen {
                    self.wake.notified().await;
                } else {
                    self.idle.store(false, Ordering::Release);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_idle(ticker: &Ticker) -> bool {
        ticker.idle.load(Ordering::Acquire)
    }

    /// On tokio's paused clock: time moves only as the test says.
    #[tokio::test(start_paused = true)]
    async fn ticks_while_questions_come_and_sleeps_after_a_quiet_tick() {
        let (ticker, task) = Ticker::start();
        tokio::task::yield_now().await;
        ticker.question();
        tokio::time::advance(TICK + Duration::from_millis(1)).await;
        tokio::task::yield_now().await;
        assert!(!is_idle(&ticker), "a question came during the tick");
        tokio::time::advance(TICK + Duration::from_millis(1)).await;
        tokio::task::yield_now().await;
        assert!(is_idle(&ticker), "a quiet tick puts it to sleep");
        ticker.question();
        assert!(!is_idle(&ticker), "a question wakes it");
        task.abort();
    }
}

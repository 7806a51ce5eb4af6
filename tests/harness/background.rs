//! A piece of a test's world (a fake upstream, an in-process server) run on
//! a thread of its own with a current-thread runtime, stopped and joined
//! when dropped.

use std::future::Future;
use std::thread::JoinHandle;

use tokio::sync::oneshot;

/// A running background runtime.
pub struct Background {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Background {
    /// Runs `work(stopped)` on a new thread; `stopped` resolves when the
    /// `Background` is dropped, and `work` should end then.
    pub fn spawn<F, Fut>(work: F) -> Background
    where
        F: FnOnce(oneshot::Receiver<()>) -> Fut + Send + 'static,
        Fut: Future<Output = ()>,
    {
        let (stop, stopped) = oneshot::channel();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(work(stopped));
        });
        Background {
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

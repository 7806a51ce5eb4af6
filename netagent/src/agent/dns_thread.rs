//! The thread that serves DNS: a current-thread tokio runtime of its own
//! for every sandbox's server, the forwarder's pool and the host
//! resolv.conf watch (docs/ARCHITECTURE.md, threads).
//!
//! The agent's control path makes blocking system calls: deleting a veth
//! waits out RCU grace periods inside `RTM_DELLINK`, unpinning a
//! namespace unmounts, a record is fsynced. On the thread that answers,
//! each of those held every sandbox's answers for milliseconds (up to 40
//! measured while 20 sandboxes were removed, tests/netns_stall.rs). Here
//! the agent keeps the runtime it was started on and the resolvers get
//! this one, so no agent operation, however slow, sits between a question
//! and its answer. One thread for all resolvers still, as DESIGN.md's
//! spike measured best on two cores.

use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// The DNS thread's runtime. Dropping it ends the thread, and with it
/// every task still on the runtime.
pub(super) struct DnsRuntime {
    handle: Handle,
    _stop: oneshot::Sender<()>,
}

impl DnsRuntime {
    /// Starts the thread and its runtime.
    pub(super) fn start() -> std::io::Result<DnsRuntime> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("dns".into())
            .spawn(move || {
                // Until the agent drops its end.
                runtime.block_on(async {
                    let _ = stopped.await;
                });
            })?;
        Ok(DnsRuntime {
            handle,
            _stop: stop,
        })
    }

    /// The runtime's handle: sockets made and tasks spawned inside
    /// `handle().enter()` belong to the DNS thread.
    pub(super) fn handle(&self) -> &Handle {
        &self.handle
    }
}

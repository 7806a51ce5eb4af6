//! Releasing containers whose process has exited. `ctr run -d` never sends
//! CNI DEL, and a hook's poststop may never run if the runtime dies; the
//! agent's own resolver sockets would then keep the dead container's
//! namespace, veth and name alive for ever. So the agent watches the
//! process of every container it adopted by process (a pidfd, no polling)
//! and releases the container when it exits.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::Agent;
use crate::kernel::netns::NsRef;
use crate::kernel::process::ProcessExit;

/// A process to watch, and the container its exit releases.
#[derive(Debug)]
pub(super) struct WatchedExit {
    container: String,
    pid: u32,
    netns_inode: u64,
}

/// The queue of processes to watch; the agent keeps the sending end.
pub(super) type ExitQueue = mpsc::UnboundedSender<WatchedExit>;

/// Starts the task that watches the queued processes.
pub(super) fn spawn(agent: Arc<Agent>, mut queue: mpsc::UnboundedReceiver<WatchedExit>) {
    tokio::spawn(async move {
        while let Some(watched) = queue.recv().await {
            let agent = Arc::clone(&agent);
            tokio::spawn(async move { agent.release_on_exit(watched).await });
        }
    });
}

impl Agent {
    /// Watches process `pid` of container `container` (sandbox `sandbox`)
    /// and releases the container when it exits.
    pub(super) fn watch_exit(&self, sandbox: &str, container: &str, pid: u32, netns_inode: u64) {
        tracing::debug!(sandbox, container, pid, "watching the container's process");
        let _ = self.exits.send(WatchedExit {
            container: container.to_owned(),
            pid,
            netns_inode,
        });
    }

    async fn release_on_exit(&self, watched: WatchedExit) {
        // The pid must still be the container's: a pid reused after the
        // agent was down would otherwise release the wrong one, or none.
        let same = NsRef::Path(format!("/proc/{}/ns/net", watched.pid).into())
            .inode()
            .is_ok_and(|inode| inode == watched.netns_inode);
        if same {
            match ProcessExit::open(watched.pid) {
                Ok(Some(exit)) => {
                    if let Err(err) = exit.wait().await {
                        tracing::warn!(%err, pid = watched.pid, "cannot wait for the container's process");
                        return;
                    }
                }
                Ok(None) => {}
                Err(err) => {
                    tracing::warn!(%err, pid = watched.pid, "cannot watch the container's process");
                    return;
                }
            }
        }
        tracing::info!(
            container = %watched.container,
            pid = watched.pid,
            "the container's process has exited: releasing it"
        );
        if let Err(err) = self.release_container(&watched.container, None).await {
            tracing::warn!(%err, container = %watched.container, "cannot release the container");
        }
    }
}

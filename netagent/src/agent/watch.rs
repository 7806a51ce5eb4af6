//! Namespaces deleted behind the agent's back (`ip netns del`): inotify on
//! the namespace directory tells the agent at once, and it takes that
//! sandbox apart (and the sandboxes sharing its namespace). Without that,
//! the resolver's sockets would keep the dead namespace, and with it the
//! veth, alive.

use std::sync::Arc;

use futures_util::StreamExt;
use inotify::{EventMask, Inotify, WatchMask};

use super::{Agent, AgentMetrics};

/// Starts watching the namespace directory.
pub fn spawn(agent: Arc<Agent>) -> std::io::Result<()> {
    let inotify = Inotify::init()?;
    inotify.watches().add(
        &agent.config.paths.netns_dir,
        WatchMask::DELETE | WatchMask::MOVED_FROM,
    )?;
    let mut events = inotify.into_event_stream(vec![0u8; 4096])?;
    tokio::spawn(async move {
        while let Some(Ok(event)) = events.next().await {
            if !event
                .mask
                .intersects(EventMask::DELETE | EventMask::MOVED_FROM)
            {
                continue;
            }
            if let Some(name) = event.name.and_then(|n| n.to_str().map(str::to_owned)) {
                agent.namespace_vanished(&name).await;
            }
        }
    });
    Ok(())
}

impl Agent {
    /// The namespace file of sandbox `name` was removed by someone else:
    /// take the sandbox apart (a removal by the agent itself finds no
    /// record left and does nothing).
    pub async fn namespace_vanished(&self, name: &str) {
        let mut inner = self.inner.lock().await;
        let expected = self.config.paths.netns_dir.join(name);
        let owned_here = inner
            .state
            .sandboxes
            .get(name)
            .is_some_and(|s| s.netns == expected && s.shares_with.is_none());
        if !owned_here {
            return;
        }
        tracing::warn!(
            sandbox = name,
            "its namespace was deleted behind the agent's back: removing it"
        );
        AgentMetrics::add(&self.metrics.vanished, 1);
        let sharing = inner.state.sharing(name);
        for other in sharing {
            let _ = self.dismantle(&mut inner, &other).await;
        }
        for err in self.dismantle(&mut inner, name).await {
            tracing::debug!(%err, "while removing a vanished sandbox");
        }
        if let Err(err) = self.persist(&inner) {
            tracing::error!(%err, "cannot save the state");
        }
    }
}

//! A sandbox's way out: the network that gives it its default route and
//! carries its published ports. Docker's documented rule: "when a
//! container is connected to multiple networks, its external connectivity
//! is provided via the first non-internal network in lexical order". The
//! default route follows it through connect and disconnect.

use super::{Agent, AgentError, Inner};
use crate::agent::store::{NetworkRecord, SandboxRecord, State};
use crate::kernel::link::Links;
use crate::kernel::netns::NsRef;

/// The network that gives `record` its way out, if any.
pub(super) fn way_out<'a>(state: &'a State, record: &SandboxRecord) -> Option<&'a NetworkRecord> {
    record
        .endpoints
        .iter()
        .filter_map(|e| state.networks.get(&e.network))
        .filter(|n| !n.internal && !n.dns_only)
        .min_by(|a, b| a.name.cmp(&b.name))
}

/// On attaching `net` (`before` the sandbox as it was, `after` with the
/// new endpoint): if `net` becomes the way out, the default route moves
/// here, the old one going first.
pub(super) async fn enter_way_out(
    inside: &Links,
    state: &State,
    before: &SandboxRecord,
    after: &SandboxRecord,
    net: &NetworkRecord,
) -> Result<(), AgentError> {
    if way_out(state, after).is_none_or(|n| n.name != net.name) {
        return Ok(());
    }
    if way_out(state, before).is_some() {
        inside.delete_default_routes().await?;
    }
    add_default_routes(inside, net).await
}

impl Agent {
    /// After leaving `left`: if it was the sandbox's way out, the next one
    /// (if any) gets the default route. Best effort: a detach goes on.
    pub(super) async fn move_way_out(&self, inner: &Inner, record: &SandboxRecord, left: &str) {
        let was_way_out = inner
            .state
            .networks
            .get(left)
            .is_some_and(|n| !n.internal && !n.dns_only);
        let Some(next) = way_out(&inner.state, record) else {
            return;
        };
        if !was_way_out || next.name.as_str() < left || !record.netns.exists() {
            return;
        }
        let moved = async {
            let inside = self.links_in(&NsRef::Path(record.netns.clone())).await?;
            add_default_routes(&inside, next).await
        };
        if let Err(err) = moved.await {
            tracing::warn!(sandbox = %record.name, network = %next.name, %err, "cannot move the default route");
        }
    }
}

/// A default route via each of the network's gateways.
async fn add_default_routes(inside: &Links, net: &NetworkRecord) -> Result<(), AgentError> {
    for gateway in net.subnets.iter().map(|s| s.gateway) {
        inside.add_default_route(gateway).await?;
    }
    Ok(())
}

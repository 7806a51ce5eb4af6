//! Picking the state up after a restart, `kill -9` included: networks get
//! their bridges back if the host lost them, sandboxes whose namespace is
//! still there get their endpoints and a new resolver (the old sockets died
//! with the old process), and what vanished meanwhile is cleaned up, as is
//! what a creation cut short by the crash had made (`intent`).

use super::endpoint::table_endpoint;
use super::network::{ipam_of, table_network};
use super::{Agent, AgentError, Inner};
use crate::agent::store::SandboxRecord;
use crate::kernel::netns::NsRef;

impl Agent {
    pub(super) async fn restore(&self) -> Result<(), AgentError> {
        let state = self
            .store
            .load()
            .map_err(AgentError::io("load the state"))?;
        let mut inner = self.inner.lock().await;
        for record in state.networks.values() {
            let gateways: Vec<ipnet::IpNet> = record
                .subnets
                .iter()
                .map(|s| ipnet::IpNet::new(s.gateway, s.subnet.prefix_len()).expect("prefix"))
                .collect();
            if !record.dns_only && self.links.index_of(&record.bridge).await?.is_none() {
                self.links
                    .create_bridge(&record.bridge, &gateways, record.bridge_options().mtu)
                    .await?;
            }
            if !record.builtin {
                self.table.add_network(table_network(record))?;
            }
            inner.ipam.insert(record.name.clone(), ipam_of(record));
        }
        inner.state.networks = state.networks;
        // Owners before the sandboxes that share their namespace.
        let (owners, sharers): (Vec<_>, Vec<_>) = state
            .sandboxes
            .into_values()
            .partition(|s| s.shares_with.is_none());
        for record in owners.into_iter().chain(sharers) {
            self.restore_sandbox(&mut inner, record).await;
        }
        let dns_only: Vec<String> = inner
            .state
            .networks
            .values()
            .filter(|n| n.dns_only)
            .map(|n| n.name.clone())
            .collect();
        for name in dns_only {
            self.drop_empty_dns_only(&mut inner, &name);
        }
        // After the records: what they own is spared.
        self.sweep_intents(&inner)
            .await
            .map_err(AgentError::io("sweep what a crash left"))?;
        self.persist(&inner)
    }

    async fn restore_sandbox(&self, inner: &mut Inner, record: SandboxRecord) {
        let alive = record.host_mode
            || record.shares_with.as_ref().map_or_else(
                || {
                    NsRef::Path(record.netns.clone())
                        .inode()
                        .is_ok_and(|ino| ino == record.netns_inode)
                },
                |owner| inner.state.sandboxes.contains_key(owner),
            );
        if !alive {
            tracing::warn!(sandbox = %record.name, "its namespace is gone: cleaning up");
            for endpoint in &record.endpoints {
                let _ = self.links.delete(&endpoint.host_veth).await;
            }
            self.remove_resolv_conf(&record.name);
            return;
        }
        let mut kept = record.clone();
        kept.endpoints.clear();
        for endpoint in record.endpoints {
            // A DNS-only endpoint has no veth or address of the agent's:
            // it lives as long as the namespace.
            let dns_only = inner
                .state
                .networks
                .get(&endpoint.network)
                .is_some_and(|n| n.dns_only);
            if dns_only {
                kept.endpoints.push(endpoint);
                continue;
            }
            let veth_there = self
                .links
                .index_of(&endpoint.host_veth)
                .await
                .ok()
                .flatten()
                .is_some();
            let reserved = reserve(
                inner,
                &endpoint.network,
                [endpoint.ipv4.map(Into::into), endpoint.ipv6.map(Into::into)],
            );
            if veth_there && reserved {
                kept.endpoints.push(endpoint);
            } else {
                tracing::warn!(sandbox = %record.name, network = %endpoint.network, "endpoint lost while the agent was down");
            }
        }
        inner
            .state
            .sandboxes
            .insert(kept.name.clone(), kept.clone());
        for endpoint in &kept.endpoints {
            let user = inner
                .state
                .networks
                .get(&endpoint.network)
                .is_some_and(|n| !n.builtin);
            if user {
                if let Err(err) = self.table.connect(table_endpoint(&kept, endpoint)) {
                    tracing::error!(%err, sandbox = %kept.name, "cannot restore its names");
                }
            }
        }
        if self.on_user_network(inner, &kept) {
            if let Err(err) = self.ensure_resolver(inner, &kept).await {
                tracing::error!(%err, sandbox = %kept.name, "cannot restore its resolver");
            }
        }
        if kept.shares_with.is_none() {
            if let Err(err) = self.write_resolv_conf(inner, &kept) {
                tracing::warn!(%err, sandbox = %kept.name, "cannot rewrite its resolv.conf");
            }
        }
        self.hold_ports_again(inner, &kept);
        if let Some(container) = &kept.container {
            if let Some(pid) = container.pid {
                self.watch_exit(&kept.name, &container.id, pid, kept.netns_inode);
            }
        }
        tracing::info!(sandbox = %kept.name, endpoints = kept.endpoints.len(), "sandbox restored");
    }
}

impl Agent {
    /// Holds the restored sandbox's host ports again (they were freed with
    /// the old process). A port a host process took meanwhile is named in
    /// the log; its rule stays, as the sandbox's port was published first.
    fn hold_ports_again(&self, inner: &mut Inner, record: &SandboxRecord) {
        let mut held = Vec::new();
        for mapping in &record.ports {
            let port = mapping.host_port.unwrap_or(0);
            let protocol = super::dataplane::protocol_number(mapping.protocol);
            match crate::kernel::ports::reserve(protocol, mapping.host_ip, port) {
                Ok(reservation) => held.push(reservation),
                Err(err) => tracing::warn!(
                    sandbox = %record.name, %mapping, %err,
                    "cannot hold the published port again; a host process may have it"
                ),
            }
        }
        inner.ports.insert(record.name.clone(), held);
    }
}

fn reserve(inner: &mut Inner, network: &str, addresses: [Option<std::net::IpAddr>; 2]) -> bool {
    let Some(subnets) = inner.ipam.get_mut(network) else {
        return false;
    };
    addresses.into_iter().flatten().all(|address| {
        subnets
            .iter_mut()
            .find(|s| s.contains(&address))
            .is_some_and(|s| s.reserve(address, network).is_ok())
    })
}

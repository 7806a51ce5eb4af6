//! DNS-only networks: what the CNI plugin chained after `bridge` +
//! `host-local` (or any plugins that return addresses) joins. The other
//! plugins made the interface and gave the addresses; the agent only
//! records the container's names and addresses in the endpoint table and
//! injects the resolver, so containers on the same CNI network resolve
//! each other by name (nerdctl writes a static /etc/hosts instead,
//! containerd/nerdctl#1387). Nothing else about that network changes.
//!
//! Such a network is named after the CNI network, made on the first
//! container's ADD, and removed with its last endpoint.

use ipnet::IpNet;

use super::endpoint::table_endpoint;
use super::network::table_network;
use super::{Agent, AgentError, Inner};
use crate::agent::store::{new_id, now_rfc3339, EndpointRecord, NetworkRecord};
use crate::kernel::netns::NsRef;

impl Agent {
    /// Makes the DNS-only network `name` unless it exists; refused when a
    /// bridge network has that name.
    pub(super) async fn ensure_dns_only_network(
        &self,
        inner: &mut Inner,
        name: &str,
    ) -> Result<(), AgentError> {
        match inner.state.networks.get(name) {
            Some(net) if net.dns_only => return Ok(()),
            Some(_) => {
                return Err(AgentError::Conflict(format!(
                    "network {name:?} is a netagent bridge network: use the plugin as its main \
                     plugin, or give the CNI network another name"
                )))
            }
            None => {}
        }
        config::check_dns_name(name, "network").map_err(|err| {
            AgentError::Invalid(config::ConfigErrors::from(vec![config::ConfigError::new(
                "network",
                err.to_string(),
            )]))
        })?;
        let record = NetworkRecord {
            name: name.to_owned(),
            id: new_id(),
            created: now_rfc3339(),
            bridge: String::new(),
            subnets: vec![],
            builtin: false,
            internal: false,
            ipv6: false,
            dns: vec![],
            labels: Default::default(),
            dns_only: true,
            options: Default::default(),
            user_subnets: false,
            overlay: None,
        };
        self.table.add_network(table_network(&record))?;
        inner.state.networks.insert(name.to_owned(), record);
        if let Err(err) = self.persist(inner) {
            inner.state.networks.remove(name);
            let _ = self.table.remove_network(name);
            return Err(err);
        }
        tracing::info!(network = name, "DNS-only network created");
        Ok(())
    }

    /// Removes the DNS-only network `name` if no sandbox is on it.
    pub(super) fn drop_empty_dns_only(&self, inner: &mut Inner, name: &str) {
        let dns_only = inner.state.networks.get(name).is_some_and(|n| n.dns_only);
        let used = inner
            .state
            .sandboxes
            .values()
            .any(|s| s.endpoints.iter().any(|e| e.network == name));
        if !dns_only || used {
            return;
        }
        let _ = self.table.remove_network(name);
        inner.state.networks.remove(name);
        tracing::info!(
            network = name,
            "DNS-only network removed with its last endpoint"
        );
    }

    /// Records the container's addresses on `ifname` as its endpoint on a
    /// DNS-only network and starts its resolver.
    pub(super) async fn attach_dns_only(
        &self,
        inner: &mut Inner,
        name: &str,
        spec: &config::ContainerSpec,
        ifname: &str,
        addresses: &[IpNet],
    ) -> Result<(), AgentError> {
        let record = inner.state.sandboxes[name].clone();
        let ns = NsRef::Path(record.netns.clone());
        let mac = self
            .links_in(&ns)
            .await?
            .mac_of(ifname)
            .await
            .ok()
            .flatten();
        let endpoint = EndpointRecord {
            network: spec.network.clone(),
            id: new_id(),
            ifname: ifname.to_owned(),
            host_veth: String::new(),
            ipv4: addresses.iter().find_map(|a| match a.addr() {
                std::net::IpAddr::V4(v4) => Some(v4),
                _ => None,
            }),
            ipv6: addresses.iter().find_map(|a| match a.addr() {
                std::net::IpAddr::V6(v6) => Some(v6),
                _ => None,
            }),
            mac,
            aliases: spec.aliases.clone(),
            services: vec![],
        };
        let mut updated = record.clone();
        updated.endpoints.push(endpoint.clone());
        let started = self.ensure_resolver(inner, &updated).await?;
        if let Err(err) = self.table.connect(table_endpoint(&updated, &endpoint)) {
            if started {
                self.remove_resolver(inner, &updated).await;
            }
            return Err(err.into());
        }
        inner.state.sandboxes.insert(name.to_owned(), updated);
        Ok(())
    }
}

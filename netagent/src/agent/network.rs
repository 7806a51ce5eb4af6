//! Networks: the default `bridge` and user-defined bridge networks.

use std::net::IpAddr;

use config::{NetworkSpec, BUILTIN_NETWORKS};
use ipnet::IpNet;
use resolver::Network;

use super::intent::network_key;
use super::{faults, Agent, AgentError, Inner};
use crate::agent::ipam::{self, overlaps, IpamError, SubnetAddresses};
use crate::agent::store::{new_id, now_rfc3339, NetworkRecord, SubnetRecord};

/// The default network's name, as in Docker.
pub const DEFAULT_BRIDGE: &str = "bridge";
/// The default network's Linux bridge.
const DEFAULT_BRIDGE_DEVICE: &str = "netagent0";

impl Agent {
    /// Creates a user-defined bridge network.
    pub async fn create_network(&self, spec: NetworkSpec) -> Result<NetworkRecord, AgentError> {
        let spec = normalised(spec);
        match spec.driver.as_str() {
            "" | "bridge" => {}
            "overlay" => return self.create_overlay_network(spec).await,
            other => {
                return Err(AgentError::BadInput(format!(
                    "driver {other:?} is not one of bridge, overlay"
                )))
            }
        }
        spec.check()?;
        // Before the agent's lock: the watch takes the two the other way.
        let overlays = self.overlay_subnets().await;
        let mut inner = self.inner.lock().await;
        if inner.state.networks.contains_key(&spec.name) {
            return Err(AgentError::Conflict(format!(
                "a network named {:?} exists already",
                spec.name
            )));
        }
        super::dotted::check_network(&inner.state, &spec.name)?;
        let subnets = self.choose_subnets(&inner, &spec).await?;
        clear_of_overlays(&subnets, &overlays)?;
        let options = config::BridgeOptions::parse(&spec.options).unwrap_or_default();
        if let Some(bridge) = &options.name {
            if let Some(other) = inner.state.networks.values().find(|n| &n.bridge == bridge) {
                return Err(AgentError::Conflict(format!(
                    "bridge {bridge:?} belongs to network {:?} already",
                    other.name
                )));
            }
        }
        let id = new_id();
        let record = NetworkRecord {
            name: spec.name.clone(),
            bridge: options
                .name
                .clone()
                .unwrap_or_else(|| format!("na-{}", &id[..12])),
            id,
            created: now_rfc3339(),
            subnets,
            builtin: false,
            internal: spec.internal,
            ipv6: spec.ipv6 || spec.subnets.iter().any(|s| s.addr().is_ipv6()),
            dns: spec.dns.clone(),
            labels: spec.labels.clone(),
            dns_only: false,
            options: spec.options.clone(),
            user_subnets: !spec.subnets.is_empty(),
            overlay: None,
        };
        self.bring_up_network(&mut inner, record.clone()).await?;
        self.local_subnets_changed();
        Ok(record)
    }

    /// Makes the default `bridge` network if the state has none.
    pub(super) async fn ensure_default_bridge(&self) -> Result<(), AgentError> {
        let mut inner = self.inner.lock().await;
        if inner.state.networks.contains_key(DEFAULT_BRIDGE) {
            return Ok(());
        }
        let wanted = self.config.agent.bridge_subnet;
        let taken = self.taken_prefixes(&inner).await?;
        let subnet = if taken.iter().any(|t| overlaps(t, &wanted)) {
            ipam::pick_from_pools(&self.config.agent.address_pools, &taken)?
        } else {
            wanted
        };
        let record = NetworkRecord {
            name: DEFAULT_BRIDGE.into(),
            id: new_id(),
            created: now_rfc3339(),
            bridge: DEFAULT_BRIDGE_DEVICE.into(),
            subnets: vec![subnet_record(subnet, None)],
            builtin: true,
            internal: false,
            ipv6: false,
            dns: vec![],
            labels: Default::default(),
            dns_only: false,
            options: Default::default(),
            user_subnets: false,
            overlay: None,
        };
        self.bring_up_network(&mut inner, record).await
    }

    /// Makes the bridge, registers the network and persists it, undoing
    /// every step if a later one fails. The bridge's intent is noted
    /// first, so a crash part-way leaves nothing the next start keeps.
    pub(super) async fn bring_up_network(
        &self,
        inner: &mut Inner,
        record: NetworkRecord,
    ) -> Result<(), AgentError> {
        let key = network_key(&record.name);
        self.intents
            .note_link(&key, &record.bridge)
            .map_err(AgentError::io("note the bridge's intent"))?;
        match self.network_steps(inner, &record).await {
            Ok(()) => {
                self.intents.done(&key);
                tracing::info!(network = %record.name, bridge = %record.bridge, "network created");
                Ok(())
            }
            Err(err) => {
                let mut errors = vec![err];
                inner.state.networks.remove(&record.name);
                inner.ipam.remove(&record.name);
                let _ = self.table.remove_network(&record.name);
                self.sync_dataplane_or_log(inner).await;
                if record.overlay.is_some() {
                    if let Err(undo) = self.links.delete(&record.vxlan_device()).await {
                        errors.push(undo.into());
                    }
                }
                // Deleting a bridge never made succeeds.
                match self.links.delete(&record.bridge).await {
                    Ok(()) => self.intents.done(&key),
                    Err(undo) => errors.push(undo.into()),
                }
                Err(AgentError::from_steps(errors).expect_err("the cause is in"))
            }
        }
    }

    /// The steps of [`Agent::bring_up_network`], undone by it on failure.
    async fn network_steps(
        &self,
        inner: &mut Inner,
        record: &NetworkRecord,
    ) -> Result<(), AgentError> {
        let gateways: Vec<IpNet> = record
            .subnets
            .iter()
            .map(|s| IpNet::new(s.gateway, s.subnet.prefix_len()).expect("prefix of the subnet"))
            .collect();
        // A bridge made part-way (its address refused) is deleted by the
        // caller's undo like a whole one.
        let mtu = record.bridge_options().mtu;
        self.links
            .create_bridge(&record.bridge, &gateways, mtu)
            .await?;
        self.ensure_vxlan(record, true).await?;
        faults::stall(faults::STALL_BRIDGE).await;
        faults::check(faults::NETWORK_BRIDGE)?;
        if !record.builtin {
            self.table.add_network(table_network(record))?;
        }
        inner.ipam.insert(record.name.clone(), ipam_of(record));
        inner
            .state
            .networks
            .insert(record.name.clone(), record.clone());
        self.sync_dataplane(inner).await?;
        self.persist(inner)
    }

    /// The subnets a new network gets: the ones asked for, checked against
    /// the other networks, or free ones from the pools, clear of the other
    /// networks and of every route the host has.
    async fn choose_subnets(
        &self,
        inner: &Inner,
        spec: &NetworkSpec,
    ) -> Result<Vec<SubnetRecord>, AgentError> {
        let others: Vec<(String, IpNet)> = inner
            .state
            .networks
            .values()
            .flat_map(|n| {
                let kind = if n.overlay.is_some() { "overlay " } else { "" };
                let name = format!("{kind}network {:?}", n.name);
                n.subnets.iter().map(move |s| (name.clone(), s.subnet))
            })
            .collect();
        let mut chosen: Vec<SubnetRecord> = Vec::new();
        for (i, subnet) in spec.subnets.iter().enumerate() {
            if let Some((name, other)) = others.iter().find(|(_, o)| overlaps(o, subnet)) {
                return Err(IpamError::Overlap {
                    subnet: *subnet,
                    other: format!("{other} of {name}"),
                }
                .into());
            }
            let gateway = spec
                .gateways
                .iter()
                .find(|g| subnet.contains(*g))
                .copied()
                .or_else(|| spec.gateways.get(i).copied());
            let mut record = subnet_record(*subnet, gateway);
            record.ip_range = spec.ip_ranges.iter().find(|r| subnet.contains(*r)).copied();
            record.aux = spec
                .aux_addresses
                .values()
                .filter(|a| subnet.contains(*a))
                .copied()
                .collect();
            chosen.push(record);
        }
        let taken = self.taken_prefixes(inner).await?;
        if !chosen.iter().any(|s| s.subnet.addr().is_ipv4()) {
            let subnet = ipam::pick_from_pools(&self.config.agent.address_pools, &taken)?;
            chosen.insert(0, subnet_record(subnet, None));
        }
        if spec.ipv6 && !chosen.iter().any(|s| s.subnet.addr().is_ipv6()) {
            let subnet = ipam::pick_subnet(&[ipam::default_v6_pool()], 64, &taken)?;
            chosen.push(subnet_record(subnet, None));
        }
        Ok(chosen)
    }

    /// Every subnet in use: the networks' and the host's routes.
    pub(super) async fn taken_prefixes(&self, inner: &Inner) -> Result<Vec<IpNet>, AgentError> {
        let mut taken: Vec<IpNet> = inner
            .state
            .networks
            .values()
            .flat_map(|n| n.subnets.iter().map(|s| s.subnet))
            .collect();
        taken.extend(self.links.routed_prefixes().await?);
        Ok(taken)
    }

    /// Removes a user-defined network; refused while sandboxes are on it.
    pub async fn remove_network(&self, name: &str) -> Result<(), AgentError> {
        if BUILTIN_NETWORKS.contains(&name) {
            return Err(AgentError::Conflict(format!(
                "{name:?} is a built-in network and cannot be removed"
            )));
        }
        let overlay = {
            let inner = self.inner.lock().await;
            inner.state.networks.get(name).map(|n| n.overlay.is_some())
        };
        // A name this host does not have yet may be an overlay network
        // made on another host a moment ago: the cluster says.
        if overlay == Some(true) || (overlay.is_none() && self.cluster().is_some()) {
            return self.remove_overlay_network(name).await;
        }
        self.remove_network_any(name).await
    }

    /// Removes a network, built-in or not, refused while sandboxes are on it.
    pub(super) async fn remove_network_any(&self, name: &str) -> Result<(), AgentError> {
        let mut inner = self.inner.lock().await;
        let record = inner
            .state
            .networks
            .get(name)
            .cloned()
            .ok_or_else(|| AgentError::not_found("network", name))?;
        let attached: Vec<String> = inner
            .state
            .sandboxes
            .values()
            .filter(|s| s.endpoints.iter().any(|e| e.network == name))
            .map(|s| s.name.clone())
            .collect();
        if !attached.is_empty() {
            return Err(AgentError::Conflict(format!(
                "network {name:?} has sandboxes attached: {}; disconnect or remove them first",
                attached.join(", ")
            )));
        }
        if !record.builtin {
            self.table.remove_network(name)?;
        }
        if record.overlay.is_some() {
            self.links.delete(&record.vxlan_device()).await?;
        }
        if !record.dns_only {
            self.links.delete(&record.bridge).await?;
        }
        inner.state.networks.remove(name);
        inner.ipam.remove(name);
        self.persist(&inner)?;
        self.sync_dataplane_or_log(&inner).await;
        self.local_subnets_changed();
        tracing::info!(network = %name, "network removed");
        Ok(())
    }

    /// Removes every user-defined network no sandbox is on; returns their
    /// names.
    pub async fn prune_networks(&self) -> Result<Vec<String>, AgentError> {
        let unused: Vec<String> = {
            let inner = self.inner.lock().await;
            inner
                .state
                .networks
                .values()
                .filter(|n| !n.builtin)
                .filter(|n| {
                    !inner
                        .state
                        .sandboxes
                        .values()
                        .any(|s| s.endpoints.iter().any(|e| e.network == n.name))
                })
                .map(|n| n.name.clone())
                .collect()
        };
        let mut pruned = Vec::new();
        for name in unused {
            match self.remove_network(&name).await {
                Ok(()) => pruned.push(name),
                // An overlay network with sandboxes on other hosts is in
                // use: Docker's prune leaves such a network too.
                Err(AgentError::Conflict(why)) if self.cluster().is_some() => {
                    tracing::info!(network = %name, %why, "not pruned");
                }
                Err(err) => return Err(err),
            }
        }
        Ok(pruned)
    }
}

impl Agent {
    /// Tells the cluster, if any, at the lease's next tick (a third of its
    /// TTL at most) that this host's local subnets changed.
    fn local_subnets_changed(&self) {
        if let Some(cluster) = self.cluster() {
            cluster
                .host_dirty
                .store(true, std::sync::atomic::Ordering::Release);
        }
    }
}

/// Refuses a local network's subnet that overlaps an overlay network of
/// the cluster (one this host may not have made yet), naming it.
fn clear_of_overlays(
    subnets: &[SubnetRecord],
    overlays: &[(String, IpNet)],
) -> Result<(), IpamError> {
    for s in subnets {
        if let Some((name, other)) = overlays.iter().find(|(_, o)| overlaps(o, &s.subnet)) {
            return Err(IpamError::Overlap {
                subnet: s.subnet,
                other: format!("{other} of overlay network {name:?}"),
            });
        }
    }
    Ok(())
}

fn subnet_record(subnet: IpNet, gateway: Option<IpAddr>) -> SubnetRecord {
    let addresses = SubnetAddresses::new(subnet, gateway);
    SubnetRecord {
        subnet,
        gateway: addresses.gateway,
        ip_range: None,
        aux: vec![],
    }
}

/// The spec with host bits cleared from its subnets and ranges
/// (`10.1.2.3/24` is `10.1.0.0/24`): Docker accepts such a subnet and
/// uses its network, so netagent does too, and says so in its log (the
/// CLI warns the user).
fn normalised(mut spec: NetworkSpec) -> NetworkSpec {
    for net in spec.subnets.iter_mut().chain(spec.ip_ranges.iter_mut()) {
        if net.trunc() != *net {
            tracing::warn!(given = %net, used = %net.trunc(), "subnet with host bits set");
            *net = net.trunc();
        }
    }
    spec
}

/// The IPAM of a network, without any endpoint yet.
pub(super) fn ipam_of(record: &NetworkRecord) -> Vec<SubnetAddresses> {
    let mut subnets: Vec<SubnetAddresses> = record
        .subnets
        .iter()
        .map(|s| SubnetAddresses::new(s.subnet, Some(s.gateway)).with_limits(s.ip_range, &s.aux))
        .collect();
    // An overlay network's dynamic addresses: this host's blocks only.
    if let (Some(overlay), Some(first)) = (&record.overlay, subnets.first_mut()) {
        first.set_blocks(overlay.blocks.iter().map(|b| (*b).into()).collect());
    }
    subnets
}

/// The network as the resolver's table knows it.
pub(super) fn table_network(record: &NetworkRecord) -> Network {
    Network {
        name: record.name.clone(),
        id: record.id.clone(),
        subnets: record.subnets.iter().map(|s| s.subnet).collect(),
        internal: record.internal,
        dns: record.dns.clone(),
    }
}

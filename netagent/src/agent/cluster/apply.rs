//! What this host does with what it sees in the cluster: an overlay
//! network is made here (its bridge and VXLAN device) when it appears and
//! removed when it goes; an endpoint on another host goes into the
//! endpoint table (so every sandbox's resolver answers its names) and into
//! the kernel (its forwarding and neighbour entries on the VXLAN device).
//! This host's own endpoints are the attach path's, never the watch's.

use super::keys::{EndpointDoc, Key, NetworkDoc};
use super::Mirror;
use crate::agent::store::{NetworkRecord, OverlayRecord, SubnetRecord};
use crate::agent::Agent;
use crate::kernel::vxlan::{parse_mac, RemoteEntry, VXLAN_OVERHEAD};

/// An overlay network's MTU when its record has none, or no link holds
/// the advertised address: a 1500-byte underlay less VXLAN's headers.
pub const OVERLAY_MTU: u32 = 1500 - VXLAN_OVERHEAD;

impl Agent {
    /// Makes this host match `wanted`, the whole cluster as just read.
    /// `first`: the agent just started, so its VXLAN devices are made anew
    /// (the kernel's entries from before are not known to be right).
    pub(crate) async fn apply_all(&self, wanted: Mirror, first: bool) {
        let cluster = self.cluster().expect("running with a cluster");
        let mut mirror = cluster.mirror.lock().await;
        let gone: Vec<EndpointDoc> = mirror
            .endpoints
            .iter()
            .filter(|(key, old)| wanted.endpoints.get(*key) != Some(*old))
            .map(|(_, old)| old.clone())
            .collect();
        for old in gone {
            self.remove_remote(&old).await;
        }
        // Gone, or removed and made again (another id) while this host
        // was away.
        for (name, id) in self.overlay_ids().await {
            if wanted.networks.get(&name).is_none_or(|n| n.id != id) {
                self.drop_overlay(&name).await;
            }
        }
        for doc in wanted.networks.values() {
            self.ensure_overlay(doc, first).await;
        }
        for (key, doc) in &wanted.endpoints {
            if first || mirror.endpoints.get(key) != Some(doc) {
                self.add_remote(doc).await;
            }
        }
        self.note_all_claims(&wanted.claims).await;
        *mirror = wanted;
    }

    /// Applies one watch event (`value` is `None` for a delete).
    pub(crate) async fn apply_event(&self, mirror: &mut Mirror, key: Key, value: Option<&[u8]>) {
        match key {
            Key::Network(name) => match value.and_then(|v| serde_json::from_slice(v).ok()) {
                Some(doc) => {
                    self.ensure_overlay(&doc, false).await;
                    mirror.networks.insert(name, doc);
                }
                None => {
                    mirror.networks.remove(&name);
                    self.drop_overlay(&name).await;
                }
            },
            Key::Endpoint {
                network,
                sandbox_id,
                ..
            } => {
                let key = (network, sandbox_id);
                if let Some(old) = mirror.endpoints.remove(&key) {
                    self.remove_remote(&old).await;
                }
                if let Some(doc) = value.and_then(|v| serde_json::from_slice::<EndpointDoc>(v).ok())
                {
                    self.add_remote(&doc).await;
                    mirror.endpoints.insert(key, doc);
                }
            }
            Key::Address { network, address } => {
                let holder = value.map(|v| String::from_utf8_lossy(v).into_owned());
                self.note_claim(&network, address, holder.clone()).await;
                match holder {
                    Some(holder) => mirror.claims.insert((network, address), holder),
                    None => mirror.claims.remove(&(network, address)),
                };
            }
            Key::Other => {}
        }
    }

    /// Names and ids of the overlay networks made here.
    async fn overlay_ids(&self) -> Vec<(String, String)> {
        let inner = self.inner.lock().await;
        inner
            .state
            .networks
            .values()
            .filter(|n| n.overlay.is_some())
            .map(|n| (n.name.clone(), n.id.clone()))
            .collect()
    }

    /// Makes the overlay network `doc` here if it is not, and its VXLAN
    /// device if that is missing (or anew when `fresh`).
    pub(crate) async fn ensure_overlay(&self, doc: &NetworkDoc, fresh: bool) {
        if let Err(err) = self.try_ensure_overlay(doc, fresh).await {
            tracing::error!(network = %doc.name, %err, "cannot make the overlay network here");
        }
    }

    /// [`Agent::ensure_overlay`], its failure returned.
    pub(crate) async fn try_ensure_overlay(
        &self,
        doc: &NetworkDoc,
        fresh: bool,
    ) -> Result<(), crate::agent::AgentError> {
        let mut inner = self.inner.lock().await;
        match inner.state.networks.get(&doc.name) {
            Some(local) if local.overlay.is_some() && local.id == doc.id => {
                let mut local = local.clone();
                if !super::room::same_limits(&local, doc) {
                    // The IPv4 subnet's limits only: the IPv6 one has none.
                    let advertise = std::net::Ipv4Addr::UNSPECIFIED;
                    local.subnets[0] = overlay_record(doc, advertise).subnets.remove(0);
                    let first = &local.subnets[0];
                    if let Some(subnets) = inner.ipam.get_mut(&doc.name) {
                        subnets[0].set_limits(first.ip_range, &first.aux);
                    }
                    inner.state.networks.insert(doc.name.clone(), local.clone());
                    self.persist(&inner)?;
                }
                drop(inner);
                self.ensure_vxlan(&local, fresh).await
            }
            Some(_) => Err(crate::agent::AgentError::Conflict(format!(
                "a network of host {} is named {:?} like an overlay network of the cluster; the overlay is not usable here until it is removed",
                self.cluster().map(|c| c.config.host.as_str()).unwrap_or_default(),
                doc.name
            ))),
            None => {
                let advertise = self.cluster().map(|c| c.config.advertise);
                let record = overlay_record(doc, advertise.unwrap_or(std::net::Ipv4Addr::UNSPECIFIED));
                self.bring_up_network(&mut inner, record).await
            }
        }
    }

    /// The VXLAN device of `net`, made if missing (or made anew).
    pub(crate) async fn ensure_vxlan(
        &self,
        net: &NetworkRecord,
        fresh: bool,
    ) -> Result<(), crate::agent::AgentError> {
        let (Some(overlay), Some(cluster)) = (&net.overlay, self.cluster()) else {
            return Ok(());
        };
        let device = net.vxlan_device();
        if fresh {
            self.links.delete(&device).await?;
        } else if self.links.index_of(&device).await?.is_some() {
            return Ok(());
        }
        let bridge = self
            .links
            .existing_index(&net.bridge, "find the overlay's bridge")
            .await?;
        self.links
            .create_vxlan(
                &device,
                overlay.vni,
                cluster.config.advertise,
                bridge,
                net.bridge_options().mtu.unwrap_or(OVERLAY_MTU),
            )
            .await?;
        Ok(())
    }

    /// Removes the overlay network `name` from this host, with the remote
    /// endpoints the table has on it.
    pub(crate) async fn drop_overlay(&self, name: &str) {
        let local: Vec<String> = {
            let inner = self.inner.lock().await;
            match inner.state.networks.get(name) {
                Some(net) if net.overlay.is_some() => {}
                _ => return,
            }
            inner
                .state
                .sandboxes
                .values()
                .map(|s| s.id.clone())
                .collect()
        };
        // Only the other hosts' entries: a sandbox of this host's keeps its
        // own, and the removal below refuses to go on while it is there.
        if let Some(zone) = self.table.zone(name) {
            let ids: Vec<String> = zone
                .endpoints()
                .map(|e| e.id.clone())
                .filter(|id| !local.contains(id))
                .collect();
            for id in ids {
                let _ = self.table.disconnect(&id, name);
            }
        }
        if let Err(err) = self.remove_network_any(name).await {
            tracing::error!(network = %name, %err, "cannot remove the overlay network here");
        }
    }

    /// Puts another host's endpoint in the table and the kernel.
    async fn add_remote(&self, doc: &EndpointDoc) {
        let cluster = self.cluster().expect("running with a cluster");
        if doc.host == cluster.config.host {
            return;
        }
        let endpoint = resolver::Endpoint {
            sandbox: doc.sandbox.clone(),
            id: doc.sandbox_id.clone(),
            hostname: doc.hostname.clone(),
            network: doc.network.clone(),
            aliases: doc.aliases.clone(),
            ipv4: Some(doc.ipv4),
            ipv6: doc.ipv6,
            services: vec![],
        };
        if let Err(err) = self.table.connect(endpoint) {
            tracing::warn!(sandbox = %doc.sandbox, host = %doc.host, network = %doc.network, %err, "a remote endpoint is not resolvable here");
        }
        if let Err(err) = self.program_remote(doc, true).await {
            tracing::warn!(sandbox = %doc.sandbox, host = %doc.host, %err, "cannot program a remote endpoint");
        }
    }

    /// Takes another host's endpoint out of the table and the kernel.
    async fn remove_remote(&self, doc: &EndpointDoc) {
        let cluster = self.cluster().expect("running with a cluster");
        if doc.host == cluster.config.host {
            return;
        }
        let _ = self.table.disconnect(&doc.sandbox_id, &doc.network);
        if let Err(err) = self.program_remote(doc, false).await {
            tracing::warn!(sandbox = %doc.sandbox, host = %doc.host, %err, "cannot remove a remote endpoint's entries");
        }
    }

    /// Adds or removes a remote endpoint's VXLAN entries.
    async fn program_remote(
        &self,
        doc: &EndpointDoc,
        add: bool,
    ) -> Result<(), crate::agent::AgentError> {
        let device = {
            let inner = self.inner.lock().await;
            match inner.state.networks.get(&doc.network) {
                Some(net) if net.overlay.is_some() => net.vxlan_device(),
                _ => return Ok(()),
            }
        };
        let Some(index) = self.links.index_of(&device).await? else {
            return Ok(());
        };
        let Some(mac) = parse_mac(&doc.mac) else {
            return Err(crate::agent::AgentError::BadInput(format!(
                "endpoint of {:?} on host {}: {:?} is not a MAC address",
                doc.sandbox, doc.host, doc.mac
            )));
        };
        let entry = RemoteEntry {
            ip: doc.ipv4,
            ip6: doc.ipv6,
            mac,
            host: doc.advertise,
        };
        if add {
            self.links.add_remote(index, entry).await?;
        } else {
            self.links.remove_remote(index, entry).await?;
        }
        Ok(())
    }
}

/// The local record of an overlay network: a bridge of this host's own
/// (`na-` and the id, as any network's), the cluster's subnet and
/// gateway, range and aux addresses, MTU and upstream servers, and no
/// block of addresses until this host claims one on its first attach.
fn overlay_record(doc: &NetworkDoc, advertise: std::net::Ipv4Addr) -> NetworkRecord {
    let mut subnets = vec![SubnetRecord {
        subnet: doc.subnet.into(),
        gateway: doc.gateway.into(),
        ip_range: doc.ip_range.map(Into::into),
        aux: doc.aux.iter().map(|a| (*a).into()).collect(),
    }];
    // IPv6 addresses from this host's own /96: unique with no claim.
    if let (Some(subnet6), Some(gateway6)) = (doc.subnet6, doc.gateway6) {
        subnets.push(SubnetRecord {
            subnet: subnet6.into(),
            gateway: gateway6.into(),
            ip_range: super::keys::host_range6(subnet6, advertise).map(Into::into),
            aux: vec![],
        });
    }
    NetworkRecord {
        name: doc.name.clone(),
        id: doc.id.clone(),
        created: doc.created.clone(),
        bridge: format!("na-{}", &doc.id[..12]),
        subnets,
        builtin: false,
        internal: doc.internal,
        ipv6: doc.subnet6.is_some(),
        dns: doc.dns.clone(),
        labels: doc.labels.clone(),
        dns_only: false,
        // The MTU as a bridge option: the bridge and every veth take it
        // from there, as on a local network.
        options: [(
            config::bridge_options::MTU.to_owned(),
            doc.mtu.unwrap_or(OVERLAY_MTU).to_string(),
        )]
        .into(),
        user_subnets: true,
        overlay: Some(OverlayRecord {
            vni: doc.vni,
            blocks: vec![],
        }),
    }
}

//! The control path's side of overlay networks: `network create -d
//! overlay` and `network rm` through the cluster, and each attach and
//! detach written to the cluster (the addresses are `room`'s). Every call
//! to etcd here fails fast (see [`super::REQUEST_TIMEOUT`]) with an error
//! that says what still works.

use std::net::IpAddr;

use config::NetworkSpec;
use ipnet::IpNet;

use super::keys::EndpointDoc;
use super::ops::OverlaySpec;
use super::Cluster;
use crate::agent::store::{EndpointRecord, NetworkRecord, SandboxRecord};
use crate::agent::{Agent, AgentError, Inner};
use crate::kernel::vxlan::VXLAN_OVERHEAD;

impl Agent {
    /// The cluster, when this host is in one.
    pub(crate) fn need_cluster(&self) -> Result<&Cluster, AgentError> {
        self.cluster().map(|c| &**c).ok_or_else(|| {
            AgentError::BadInput(
                "the overlay driver needs a cluster: this daemon's config has no [cluster] section (see README, \"Several hosts\"); on one host use -d bridge".into(),
            )
        })
    }

    /// `network create -d overlay`: the network in the cluster, then here.
    pub async fn create_overlay_network(
        &self,
        spec: NetworkSpec,
    ) -> Result<NetworkRecord, AgentError> {
        let cluster = self.need_cluster()?;
        spec.check()?;
        let largest = self.largest_overlay_mtu(cluster).await;
        let overlay = overlay_spec(&spec, largest.unwrap_or(super::apply::OVERLAY_MTU))?;
        if let Some(largest) = largest.filter(|largest| overlay.mtu > *largest) {
            // A VXLAN packet bigger than the underlay carries is dropped
            // (VXLAN does not fragment, RFC 7348 section 4.3): TCP would
            // hang on its first full-size segment rather than fail.
            return Err(AgentError::BadInput(format!(
                "network {:?}: MTU {} is more than this host's underlay carries: {largest} (the MTU of the link holding {} less VXLAN's {VXLAN_OVERHEAD} bytes)",
                spec.name, overlay.mtu, cluster.config.advertise
            )));
        }
        let local = {
            let inner = self.inner.lock().await;
            if inner.state.networks.contains_key(&spec.name) {
                return Err(AgentError::Conflict(format!(
                    "a network named {:?} exists already",
                    spec.name
                )));
            }
            self.taken_prefixes(&inner).await?
        };
        let doc = cluster.create_network(&overlay, &local).await?;
        if let Err(err) = self.try_ensure_overlay(&doc, false).await {
            // Undone in the cluster too: a network no host can carry is
            // worse than none.
            let mut errors = vec![err];
            errors.extend(cluster.remove_network(&doc.name).await.err());
            return Err(AgentError::from_steps(errors).expect_err("the cause is in"));
        }
        let inner = self.inner.lock().await;
        inner
            .state
            .networks
            .get(&doc.name)
            .cloned()
            .ok_or_else(|| AgentError::not_found("network", &doc.name))
    }

    /// The largest MTU an overlay can have here: this host's underlay (the
    /// link holding `advertise`) less VXLAN's headers. It is the MTU when
    /// `-o` gives none, as Docker's overlay driver does, stored in the
    /// network's record so every host uses the creator's; `None` (and
    /// [`super::apply::OVERLAY_MTU`] then) when the link is not found.
    async fn largest_overlay_mtu(&self, cluster: &Cluster) -> Option<u32> {
        let advertise = cluster.config.advertise;
        match self.links.mtu_of_address(advertise).await {
            Ok(Some(mtu)) if mtu > VXLAN_OVERHEAD + 68 => Some(mtu - VXLAN_OVERHEAD),
            found => {
                tracing::warn!(%advertise, ?found, "no usable link holds the advertised address; overlay MTU {}", super::apply::OVERLAY_MTU);
                None
            }
        }
    }

    /// `network rm` of an overlay network: refused in the cluster while
    /// any host has an endpoint on it, else removed there and here.
    pub(crate) async fn remove_overlay_network(&self, name: &str) -> Result<(), AgentError> {
        self.need_cluster()?.remove_network(name).await?;
        self.drop_overlay(name).await;
        Ok(())
    }

    /// Writes a new endpoint to the cluster when `net` is an overlay
    /// network; the caller undoes the attach if it fails.
    pub(in crate::agent) async fn publish_if_overlay(
        &self,
        inner: &Inner,
        net: &NetworkRecord,
        sandbox: &str,
        endpoint: &EndpointRecord,
    ) -> Result<(), AgentError> {
        if net.overlay.is_none() {
            return Ok(());
        }
        let cluster = self.need_cluster()?;
        let record = inner
            .state
            .sandboxes
            .get(sandbox)
            .ok_or_else(|| AgentError::not_found("sandbox", sandbox))?;
        let claimed = endpoint.ipv4.is_some_and(|a| !in_own_blocks(net, a));
        cluster
            .put_endpoint(&endpoint_doc(cluster, record, endpoint), claimed)
            .await
    }

    /// Deletes an endpoint from the cluster when `network` is an overlay
    /// network; when etcd does not answer, the lease task deletes it later.
    pub(in crate::agent) async fn unpublish_if_overlay(
        &self,
        inner: &Inner,
        network: &str,
        sandbox_id: &str,
        address: Option<std::net::Ipv4Addr>,
    ) {
        let overlay = inner
            .state
            .networks
            .get(network)
            .is_some_and(|n| n.overlay.is_some());
        let Some(cluster) = self.cluster().filter(|_| overlay) else {
            return;
        };
        if let Err(err) = cluster.delete_endpoint(network, sandbox_id, address).await {
            tracing::warn!(%err, network, "cannot delete the endpoint from the cluster yet; will retry");
            cluster
                .dirty
                .store(true, std::sync::atomic::Ordering::Release);
        }
    }

    /// This host's endpoints on overlay networks, as the cluster keeps
    /// them, each with whether its address is claimed on its own key
    /// (outside this host's blocks).
    pub(crate) async fn own_overlay_endpoints(&self) -> Vec<(EndpointDoc, bool)> {
        let Some(cluster) = self.cluster() else {
            return vec![];
        };
        let inner = self.inner.lock().await;
        let overlay = |name: &str| {
            inner
                .state
                .networks
                .get(name)
                .filter(|n| n.overlay.is_some())
        };
        inner
            .state
            .sandboxes
            .values()
            .flat_map(|s| s.endpoints.iter().map(move |e| (s, e)))
            .filter_map(|(s, e)| Some((s, e, overlay(&e.network)?, e.ipv4?)))
            .map(|(s, e, net, a)| (endpoint_doc(cluster, s, e), !in_own_blocks(net, a)))
            .collect()
    }

    /// The cluster's overlay networks and their subnets, as this host last
    /// saw them (never waiting on etcd: a local network is made while
    /// etcd is away too).
    pub(crate) async fn overlay_subnets(&self) -> Vec<(String, IpNet)> {
        let Some(cluster) = self.cluster() else {
            return vec![];
        };
        let mirror = cluster.mirror.lock().await;
        mirror
            .networks
            .values()
            .map(|n| (n.name.clone(), IpNet::V4(n.subnet)))
            .collect()
    }

    /// Every endpoint the cluster has on `network`, every host's.
    pub async fn overlay_endpoints(&self, network: &str) -> Vec<EndpointDoc> {
        let Some(cluster) = self.cluster() else {
            return vec![];
        };
        let mirror = cluster.mirror.lock().await;
        let mut all: Vec<EndpointDoc> = mirror
            .endpoints
            .values()
            .filter(|e| e.network == network)
            .cloned()
            .collect();
        // This host's from its own state: the watch may not be back yet.
        for (mine, _) in self.own_overlay_endpoints().await {
            if mine.network == network && !all.iter().any(|e| e.sandbox_id == mine.sandbox_id) {
                all.push(mine);
            }
        }
        all
    }
}

/// Whether `address` lies in one of the blocks of `net` this host holds
/// (else it is claimed on its own key: a static or a borrowed one).
pub(super) fn in_own_blocks(net: &NetworkRecord, address: std::net::Ipv4Addr) -> bool {
    net.overlay
        .as_ref()
        .is_some_and(|o| o.blocks.iter().any(|b| b.contains(&address)))
}

/// The cluster's form of an endpoint of this host.
fn endpoint_doc(
    cluster: &Cluster,
    sandbox: &SandboxRecord,
    endpoint: &EndpointRecord,
) -> EndpointDoc {
    EndpointDoc {
        network: endpoint.network.clone(),
        host: cluster.config.host.clone(),
        advertise: cluster.config.advertise,
        sandbox: sandbox.name.clone(),
        sandbox_id: sandbox.id.clone(),
        hostname: sandbox.spec.hostname.clone(),
        aliases: endpoint.aliases.clone(),
        ipv4: endpoint.ipv4.unwrap_or(std::net::Ipv4Addr::UNSPECIFIED),
        ipv6: endpoint.ipv6,
        mac: endpoint.mac.clone().unwrap_or_default(),
    }
}

/// What of `spec` an overlay network takes: one IPv4 subnet at most, one
/// IPv6 subnet with `--ipv6`, their gateways, one IPv4 `--ip-range`, IPv4
/// `--aux-address`es, `--internal`, `--dns`, labels and `-o` (MTU, VXLAN
/// id; else `default_mtu`); the rest is refused by name.
fn overlay_spec(spec: &NetworkSpec, default_mtu: u32) -> Result<OverlaySpec, AgentError> {
    let refuse = |what: &str| {
        Err(AgentError::BadInput(format!(
            "network {:?}: an overlay network does not take {what} (yet)",
            spec.name
        )))
    };
    let (v4, v6): (Vec<IpNet>, Vec<IpNet>) = spec.subnets.iter().partition(|s| s.addr().is_ipv4());
    if v4.len() > 1 || v6.len() > 1 {
        return refuse("several subnets of one family");
    }
    if spec.ipv6 && v6.is_empty() {
        return Err(AgentError::BadInput(format!(
            "network {:?}: an overlay network takes --ipv6 with an IPv6 --subnet (a /64 or larger): no IPv6 pool is shared across hosts",
            spec.name
        )));
    }
    if spec.ip_ranges.len() > 1 {
        return refuse("several --ip-range");
    }
    let options = config::OverlayOptions::parse(&spec.options)
        .map_err(|errors| AgentError::Invalid(errors.into()))?;
    let subnet = v4.first().map(|s| match s {
        IpNet::V4(v4) => v4.trunc(),
        IpNet::V6(_) => unreachable!("partitioned"),
    });
    let subnet6 = v6.first().map(|s| match s {
        IpNet::V6(v6) => v6.trunc(),
        IpNet::V4(_) => unreachable!("partitioned"),
    });
    let gateway = spec.gateways.iter().find_map(|g| match g {
        IpAddr::V4(g) => Some(*g),
        IpAddr::V6(_) => None,
    });
    let gateway6 = spec.gateways.iter().find_map(|g| match g {
        IpAddr::V6(g) => Some(*g),
        IpAddr::V4(_) => None,
    });
    let v4 = |a: &IpAddr| match a {
        IpAddr::V4(v4) => Some(*v4),
        IpAddr::V6(_) => None,
    };
    let ip_range = spec.ip_ranges.first().map(|r| match r {
        IpNet::V4(v4) => Ok(v4.trunc()),
        IpNet::V6(v6) => Err(AgentError::BadInput(format!(
            "network {:?}: ip-range {v6} is not IPv4",
            spec.name
        ))),
    });
    let mut aux = Vec::new();
    for (name, address) in &spec.aux_addresses {
        aux.push(v4(address).ok_or_else(|| {
            AgentError::BadInput(format!(
                "network {:?}: aux-address {name}={address} is not IPv4",
                spec.name
            ))
        })?);
    }
    Ok(OverlaySpec {
        name: spec.name.clone(),
        subnet,
        gateway,
        subnet6,
        gateway6,
        internal: spec.internal,
        labels: spec.labels.clone(),
        ip_range: ip_range.transpose()?,
        aux,
        mtu: options.mtu.unwrap_or(default_mtu),
        vni: options.vni,
        dns: spec.dns.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str) -> NetworkSpec {
        NetworkSpec {
            name: name.into(),
            driver: "overlay".into(),
            ..NetworkSpec::default()
        }
    }

    #[test]
    fn an_overlay_takes_one_ipv4_subnet_and_its_gateway() {
        let mut given = spec("app");
        given.subnets = vec!["10.9.0.0/24".parse().unwrap()];
        given.gateways = vec!["10.9.0.254".parse().unwrap()];
        let overlay = overlay_spec(&given, 1450).unwrap();
        assert_eq!(overlay.subnet.unwrap().to_string(), "10.9.0.0/24");
        assert_eq!(overlay.gateway.unwrap().to_string(), "10.9.0.254");
        assert_eq!(overlay.mtu, 1450);
        let bare = overlay_spec(&spec("bare"), 1450).unwrap();
        assert_eq!((bare.subnet, bare.vni), (None, None));
    }

    #[test]
    fn an_overlay_takes_an_ipv6_subnet_beside_its_ipv4_one() {
        let mut given = spec("dual");
        given.ipv6 = true;
        given.subnets = vec![
            "fd00:9::/64".parse().unwrap(),
            "10.9.0.0/24".parse().unwrap(),
        ];
        given.gateways = vec!["fd00:9::fe".parse().unwrap()];
        let overlay = overlay_spec(&given, 1450).unwrap();
        assert_eq!(overlay.subnet.unwrap().to_string(), "10.9.0.0/24");
        assert_eq!(overlay.subnet6.unwrap().to_string(), "fd00:9::/64");
        assert_eq!(overlay.gateway6.unwrap().to_string(), "fd00:9::fe");
        assert_eq!(overlay.gateway, None);
    }

    #[test]
    fn an_overlay_takes_its_mtu_vni_and_dns() {
        let mut given = spec("app");
        given.options = [
            ("com.docker.network.driver.mtu", "1400"),
            ("com.docker.network.driver.overlay.vxlanid_list", "7000"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .into();
        given.dns = vec!["192.0.2.1".parse().unwrap()];
        let overlay = overlay_spec(&given, 1450).unwrap();
        assert_eq!((overlay.mtu, overlay.vni), (1400, Some(7000)));
        assert_eq!(overlay.dns, given.dns);
        given.options = [("encrypted".to_owned(), String::new())].into();
        let err = overlay_spec(&given, 1450).unwrap_err().to_string();
        assert!(
            err.contains("options[encrypted]") && err.contains("no IPsec"),
            "{err}"
        );
    }

    #[test]
    fn an_overlay_takes_an_ip_range_and_aux_addresses() {
        let mut given = spec("app");
        given.subnets = vec!["10.9.0.0/24".parse().unwrap()];
        given.ip_ranges = vec!["10.9.0.128/25".parse().unwrap()];
        given.aux_addresses = [("router".to_owned(), "10.9.0.5".parse().unwrap())].into();
        let overlay = overlay_spec(&given, 1450).unwrap();
        assert_eq!(overlay.ip_range.unwrap().to_string(), "10.9.0.128/25");
        assert_eq!(
            overlay.aux,
            vec!["10.9.0.5".parse::<std::net::Ipv4Addr>().unwrap()]
        );
    }

    #[test]
    fn what_an_overlay_does_not_take_is_refused_by_name() {
        let mut v6 = spec("six");
        v6.ipv6 = true;
        v6.subnets = vec!["10.1.0.0/24".parse().unwrap()];
        let mut two = spec("two");
        two.subnets = vec![
            "10.1.0.0/24".parse().unwrap(),
            "10.2.0.0/24".parse().unwrap(),
        ];
        let mut range = spec("range");
        range.ip_ranges = vec![
            "10.1.0.0/25".parse().unwrap(),
            "10.1.0.128/25".parse().unwrap(),
        ];
        for (given, needle) in [
            (v6, "with an IPv6 --subnet"),
            (two, "several subnets of one family"),
            (range, "several --ip-range"),
        ] {
            let err = overlay_spec(&given, 1450).unwrap_err().to_string();
            assert!(err.contains(needle) && err.contains(&given.name), "{err}");
        }
    }
}

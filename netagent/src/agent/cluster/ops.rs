//! The cluster's writes, each one etcd transaction, so that two hosts
//! asking at once never both win: a network with its VXLAN id and subnet
//! (compared absent on `create_revision`), and a network's removal,
//! refused while any host has an endpoint on it. Addresses and endpoints
//! are [`super::claims`]'.

use std::net::{Ipv4Addr, Ipv6Addr};

use etcd_client::{Compare, CompareOp, GetOptions, PutOptions, Txn, TxnOp};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::keys::{self, EndpointDoc, NetworkDoc};
use super::Cluster;
use crate::agent::store::{new_id, now_rfc3339};
use crate::agent::AgentError;

/// VXLAN ids handed out start here (Docker's overlay starts at 4096 too,
/// clear of the small ids people give by hand).
const FIRST_VNI: u32 = 4096;
/// A transaction lost to another host is tried again this many times.
const TRIES: usize = 5;

/// What `network create -d overlay` asks for.
#[derive(Debug, Clone)]
pub struct OverlaySpec {
    /// The name.
    pub name: String,
    /// The subnet given (`--subnet`), else one from the pool.
    pub subnet: Option<Ipv4Net>,
    /// The gateway given (`--gateway`).
    pub gateway: Option<Ipv4Addr>,
    /// The IPv6 subnet given (`--ipv6 --subnet`).
    pub subnet6: Option<Ipv6Net>,
    /// Its gateway given.
    pub gateway6: Option<Ipv6Addr>,
    /// `--internal`.
    pub internal: bool,
    /// `--label`.
    pub labels: std::collections::BTreeMap<String, String>,
    /// `--ip-range`: dynamic addresses from this part only.
    pub ip_range: Option<Ipv4Net>,
    /// `--aux-address`: never handed out.
    pub aux: Vec<Ipv4Addr>,
    /// `-o com.docker.network.driver.mtu`, else the underlay's less VXLAN's
    /// headers (the caller fills it in).
    pub mtu: u32,
    /// `-o com.docker.network.driver.overlay.vxlanid_list`, else the first
    /// free one.
    pub vni: Option<u32>,
    /// `--dns`.
    pub dns: Vec<config::NameServer>,
}

impl Cluster {
    /// Creates an overlay network in one transaction; `local` are the
    /// subnets this host has already (its local networks and routes), to
    /// which the other hosts' local networks are added.
    pub async fn create_network(
        &self,
        spec: &OverlaySpec,
        local: &[IpNet],
    ) -> Result<NetworkDoc, AgentError> {
        let mut local: Vec<(String, IpNet)> = local
            .iter()
            .map(|net| (self.config.host.clone(), *net))
            .collect();
        local.extend(self.hosts_subnets().await?);
        for _ in 0..TRIES {
            let existing = self.network_docs().await?;
            if existing.iter().any(|n| n.name == spec.name) {
                return Err(exists(&spec.name));
            }
            let doc = self.plan_network(spec, &local, &existing)?;
            let k = &self.keys;
            let mut when = vec![
                Compare::create_revision(k.network(&doc.name), CompareOp::Equal, 0),
                Compare::create_revision(k.vni(doc.vni), CompareOp::Equal, 0),
                Compare::create_revision(k.subnet(doc.subnet), CompareOp::Equal, 0),
            ];
            let mut then = vec![
                TxnOp::put(k.network(&doc.name), json(&doc), None),
                TxnOp::put(k.vni(doc.vni), doc.name.clone(), None),
                TxnOp::put(k.subnet(doc.subnet), doc.name.clone(), None),
            ];
            if let Some(subnet6) = doc.subnet6 {
                when.push(Compare::create_revision(
                    k.subnet(subnet6),
                    CompareOp::Equal,
                    0,
                ));
                then.push(TxnOp::put(k.subnet(subnet6), doc.name.clone(), None));
            }
            let txn = Txn::new().when(when).and_then(then);
            if self.call(self.client().txn(txn)).await?.succeeded() {
                return Ok(doc);
            }
        }
        Err(AgentError::Conflict(format!(
            "network {:?}: other hosts kept taking the VXLAN id or subnet chosen; try again",
            spec.name
        )))
    }

    /// The network `spec` would be, given the networks that exist.
    fn plan_network(
        &self,
        spec: &OverlaySpec,
        local: &[(String, IpNet)],
        existing: &[NetworkDoc],
    ) -> Result<NetworkDoc, AgentError> {
        let clash = |net: &Ipv4Net| {
            existing
                .iter()
                .find(|n| n.subnet.contains(net) || net.contains(&n.subnet))
                .map(|n| format!("{} of overlay network {:?}", n.subnet, n.name))
                .or_else(|| {
                    local
                        .iter()
                        .find(|(_, l)| crate::agent::ipam::overlaps(l, &IpNet::V4(*net)))
                        .map(|(host, l)| format!("{l}, in use on host {host}"))
                })
        };
        let subnet = match spec.subnet {
            Some(given) => {
                if let Some(other) = clash(&given) {
                    return Err(AgentError::Conflict(format!(
                        "subnet {given} overlaps {other}"
                    )));
                }
                given
            }
            None => {
                let pool = self.config.overlay_pool;
                // A /20 (4,096 addresses): 64 blocks of 64, one a host,
                // where a /24 would give a host 16 addresses.
                let size = pool.prefix_len().max(20);
                pool.subnets(size)
                    .ok()
                    .and_then(|mut all| all.find(|s| clash(s).is_none()))
                    .ok_or_else(|| {
                        AgentError::Conflict(format!(
                            "no free /{size} left in the overlay pool {pool}"
                        ))
                    })?
            }
        };
        let vni = match spec.vni {
            Some(given) => match existing.iter().find(|n| n.vni == given) {
                Some(other) => {
                    return Err(AgentError::Conflict(format!(
                        "VXLAN id {given} is overlay network {:?}'s",
                        other.name
                    )))
                }
                None => given,
            },
            None => (FIRST_VNI..)
                .find(|v| !existing.iter().any(|n| n.vni == *v))
                .expect("fewer networks than ids"),
        };
        let gateway = match spec.gateway {
            Some(g) if subnet.contains(&g) => g,
            Some(g) => {
                return Err(AgentError::BadInput(format!(
                    "gateway {g} is not in subnet {subnet}"
                )))
            }
            None => subnet.hosts().next().unwrap_or(subnet.network()),
        };
        if let Some(range) = spec.ip_range.filter(|r| !subnet.contains(r)) {
            return Err(AgentError::BadInput(format!(
                "ip-range {range} is not inside subnet {subnet}"
            )));
        }
        if let Some(aux) = spec.aux.iter().find(|a| !subnet.contains(*a)) {
            return Err(AgentError::BadInput(format!(
                "aux-address {aux} is not inside subnet {subnet}"
            )));
        }
        let (subnet6, gateway6) = match spec.subnet6 {
            Some(given) => {
                let (subnet6, gateway6) = plan_subnet6(spec, given, local, existing)?;
                (Some(subnet6), Some(gateway6))
            }
            None => (None, None),
        };
        Ok(NetworkDoc {
            name: spec.name.clone(),
            id: new_id(),
            vni,
            subnet,
            gateway,
            subnet6,
            gateway6,
            created: now_rfc3339(),
            creator: self.config.host.clone(),
            internal: spec.internal,
            labels: spec.labels.clone(),
            ip_range: spec.ip_range,
            aux: spec.aux.clone(),
            mtu: Some(spec.mtu),
            dns: spec.dns.clone(),
        })
    }

    /// The other hosts' local subnets, each with its host.
    async fn hosts_subnets(&self) -> Result<Vec<(String, IpNet)>, AgentError> {
        let response = self
            .call(
                self.client()
                    .get(self.keys.hosts(), Some(GetOptions::new().with_prefix())),
            )
            .await?;
        let mut subnets = Vec::new();
        for kv in response.kvs() {
            let host = String::from_utf8_lossy(kv.key());
            let host = host.rsplit('/').next().unwrap_or_default().to_owned();
            if let Ok(doc) = serde_json::from_slice::<keys::HostDoc>(kv.value()) {
                subnets.extend(doc.subnets.into_iter().map(|s| (host.clone(), s)));
            }
        }
        Ok(subnets)
    }

    /// Writes this host's entry (its local subnets) under its lease.
    pub async fn put_host(&self, doc: &keys::HostDoc) -> Result<(), AgentError> {
        let lease = self.lease_id();
        if lease == 0 {
            return Err(self.unreachable("this host holds no lease yet"));
        }
        let options = PutOptions::new().with_lease(lease);
        self.call(
            self.client()
                .put(self.keys.host(&self.config.host), json(doc), Some(options)),
        )
        .await
        .map(drop)
    }

    /// Every overlay network.
    pub async fn network_docs(&self) -> Result<Vec<NetworkDoc>, AgentError> {
        let response = self
            .call(
                self.client()
                    .get(self.keys.networks(), Some(GetOptions::new().with_prefix())),
            )
            .await?;
        Ok(response
            .kvs()
            .iter()
            .filter_map(|kv| serde_json::from_slice(kv.value()).ok())
            .collect())
    }

    /// Removes an overlay network, refused (naming host and sandbox) while
    /// any host has an endpoint on it.
    pub async fn remove_network(&self, name: &str) -> Result<(), AgentError> {
        let k = &self.keys;
        let endpoints = self
            .call(
                self.client()
                    .get(k.endpoints_of(name), Some(GetOptions::new().with_prefix())),
            )
            .await?;
        let users: Vec<String> = endpoints
            .kvs()
            .iter()
            .filter_map(|kv| serde_json::from_slice::<EndpointDoc>(kv.value()).ok())
            .map(|e| format!("{} on host {}", e.sandbox, e.host))
            .collect();
        if !users.is_empty() {
            return Err(AgentError::Conflict(format!(
                "network {name:?} has sandboxes attached: {}; disconnect or remove them first",
                users.join(", ")
            )));
        }
        let Some(doc) = self
            .network_docs()
            .await?
            .into_iter()
            .find(|n| n.name == name)
        else {
            return Err(AgentError::not_found("network", name));
        };
        let mut then = vec![
            TxnOp::delete(k.network(name), None),
            TxnOp::delete(k.vni(doc.vni), None),
            TxnOp::delete(k.subnet(doc.subnet), None),
            TxnOp::delete(
                k.blocks(name),
                Some(etcd_client::DeleteOptions::new().with_prefix()),
            ),
            TxnOp::delete(
                k.addresses_of(name),
                Some(etcd_client::DeleteOptions::new().with_prefix()),
            ),
        ];
        then.extend(doc.subnet6.map(|s| TxnOp::delete(k.subnet(s), None)));
        let txn = Txn::new()
            .when([
                Compare::version(k.endpoints_of(name), CompareOp::Equal, 0).with_prefix(),
                Compare::create_revision(k.network(name), CompareOp::Greater, 0),
            ])
            .and_then(then);
        if self.call(self.client().txn(txn)).await?.succeeded() {
            Ok(())
        } else {
            Err(AgentError::Conflict(format!(
                "network {name:?} changed while it was being removed (a sandbox attached on another host?); try again"
            )))
        }
    }
}

/// An overlay's IPv6 subnet and gateway: a /64 or larger (each host's
/// addresses come from its own /96, [`keys::host_range6`]), clear of every
/// overlay network's and every host's local subnets.
fn plan_subnet6(
    spec: &OverlaySpec,
    given: Ipv6Net,
    local: &[(String, IpNet)],
    existing: &[NetworkDoc],
) -> Result<(Ipv6Net, Ipv6Addr), AgentError> {
    let given = given.trunc();
    if given.prefix_len() > 64 {
        return Err(AgentError::BadInput(format!(
            "network {:?}: IPv6 subnet {given} is smaller than a /64; an overlay network's hosts each take a /96 of it",
            spec.name
        )));
    }
    let clash = existing
        .iter()
        .filter_map(|n| n.subnet6.map(|s| (s, &n.name)))
        .find(|(s, _)| s.contains(&given) || given.contains(s))
        .map(|(s, n)| format!("{s} of overlay network {n:?}"))
        .or_else(|| {
            local
                .iter()
                .find(|(_, l)| crate::agent::ipam::overlaps(l, &IpNet::V6(given)))
                .map(|(host, l)| format!("{l}, in use on host {host}"))
        });
    if let Some(other) = clash {
        return Err(AgentError::Conflict(format!(
            "subnet {given} overlaps {other}"
        )));
    }
    let gateway6 = match spec.gateway6 {
        Some(g) if given.contains(&g) => g,
        Some(g) => {
            return Err(AgentError::BadInput(format!(
                "gateway {g} is not in subnet {given}"
            )))
        }
        None => Ipv6Addr::from(u128::from(given.network()) + 1),
    };
    Ok((given, gateway6))
}

fn exists(name: &str) -> AgentError {
    AgentError::Conflict(format!("a network named {name:?} exists already"))
}

pub(super) fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("plain data")
}

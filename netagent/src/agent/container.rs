//! Containers that real runtimes start, attached through the CNI plugin or
//! the OCI hook (DESIGN.md, seam 9). The doors are short-lived clients;
//! every step and every undo happens here, in the agent.
//!
//! A container is a sandbox that adopts the runtime's namespace and
//! remembers the runtime's container id, by which the runtime later
//! releases it (CNI DEL, the hook's poststop), checks it (CNI CHECK) or
//! sweeps it (CNI GC). A container id of 64 hex digits becomes the
//! sandbox's id, so its 12-digit short id answers as Docker's does.
//!
//! - As a bridge network's main plugin (or through the hook), it joins a
//!   netagent network like `netagent attach`, with the interface name the
//!   runtime asked for.
//! - Chained after other plugins, it joins a DNS-only network named after
//!   the CNI network ([`super::dns_only`]) with the addresses they gave.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use config::{Adopt, ContainerSpec, Door, Joining, NetworkMode, SandboxSpec};

use super::endpoint::AttachOptions;
use super::{Agent, AgentError, Inner};
use crate::agent::store::{ContainerRecord, EndpointRecord, NetworkRecord, SandboxRecord};
use crate::kernel::netns::NsRef;

/// What an attached container got: what a CNI result and a hook report.
#[derive(Debug, Clone)]
pub struct ContainerAttachment {
    /// The sandbox (its name and id).
    pub sandbox: SandboxRecord,
    /// Its endpoint on the network asked for.
    pub endpoint: EndpointRecord,
    /// The gateways of the network's subnets (none for a DNS-only one or
    /// an internal one: no default route there).
    pub gateways: Vec<IpAddr>,
    /// The prefix length of each of the endpoint's addresses.
    pub prefixes: Vec<(IpAddr, u8)>,
    /// The MAC of the host's end of the veth (none for DNS-only).
    pub host_mac: Option<String>,
    /// The sandbox's resolv.conf, as the agent wrote it.
    pub resolv_conf: String,
}

impl Agent {
    /// Attaches a runtime's container to a network (CNI ADD, the hook's
    /// createRuntime). Asked again for a network it is on, it answers with
    /// the attachment as it is.
    pub async fn attach_container(
        &self,
        spec: ContainerSpec,
    ) -> Result<ContainerAttachment, AgentError> {
        spec.check()?;
        let mut inner = self.inner.lock().await;
        if let Joining::DnsOnly { .. } = spec.joining {
            self.ensure_dns_only_network(&mut inner, &spec.network)
                .await?;
        } else {
            self.check_bridge_network(&inner, &spec.network)?;
        }
        let name = match container_sandbox(&inner, &spec.id) {
            Some(record) => record.name.clone(),
            None => {
                let record = self.adopt_container(&mut inner, &spec).await?;
                let name = record.name.clone();
                inner.state.sandboxes.insert(name.clone(), record);
                name
            }
        };
        let attached = self.join(&mut inner, &name, &spec).await;
        if let Err(err) = attached {
            let mut errors = vec![err];
            if inner.state.sandboxes[&name].endpoints.is_empty() {
                errors.extend(self.dismantle(&mut inner, &name).await);
            }
            self.drop_empty_dns_only(&mut inner, &spec.network);
            if errors.len() == 1 {
                // Undone in full; else the next start sweeps the rest.
                self.intents.done(&super::intent::sandbox_key(&name));
            }
            return Err(AgentError::from_steps(errors).expect_err("the cause is in"));
        }
        self.persist_sandboxes(&inner, &[&name])?;
        self.intents.done(&super::intent::sandbox_key(&name));
        let record = inner.state.sandboxes[&name].clone();
        if let Some(pid) = record.container.as_ref().and_then(|c| c.pid) {
            self.watch_exit(&record.name, &spec.id, pid, record.netns_inode);
        }
        self.attachment(&inner, record, &spec.network).await
    }

    /// Joins the network unless the sandbox is on it already.
    async fn join(
        &self,
        inner: &mut Inner,
        name: &str,
        spec: &ContainerSpec,
    ) -> Result<(), AgentError> {
        let record = &inner.state.sandboxes[name];
        if record.endpoints.iter().any(|e| e.network == spec.network) {
            return Ok(());
        }
        match &spec.joining {
            Joining::Bridge { ifname } => {
                let options = AttachOptions {
                    aliases: spec.aliases.clone(),
                    ifname: Some(ifname.clone()),
                    ..AttachOptions::default()
                };
                self.attach(inner, name, &spec.network, options).await?;
            }
            Joining::DnsOnly { ifname, addresses } => {
                self.attach_dns_only(inner, name, spec, ifname, addresses)
                    .await?;
            }
        }
        let record = inner.state.sandboxes[name].clone();
        self.write_resolv_conf(inner, &record)
    }

    /// A sandbox record for the container's namespace, `lo` up; refused
    /// when its name is another sandbox's.
    async fn adopt_container(
        &self,
        inner: &mut Inner,
        spec: &ContainerSpec,
    ) -> Result<SandboxRecord, AgentError> {
        let name = spec.sandbox_name();
        if let Some(other) = inner.state.sandboxes.get(name) {
            return Err(AgentError::Conflict(format!(
                "a sandbox named {name:?} exists already (container {:?}); give this one another name",
                other.container.as_ref().map_or("none", |c| c.id.as_str())
            )));
        }
        let mut sandbox = SandboxSpec::named(name);
        sandbox.network = NetworkMode::Network(spec.network.clone());
        sandbox.aliases = spec.aliases.clone();
        sandbox.adopt = Some(Adopt::Path(spec.netns.clone()));
        sandbox.publish = spec.publish.clone();
        let wanted = self.wanted_ports(inner, &sandbox);
        let (ports, held) = match spec.door {
            Door::Cni => (self.runtime_held_ports(inner, &wanted)?, Vec::new()),
            Door::Hook => self.reserve_ports(inner, name, &wanted)?,
        };
        let mut record = self.own_namespace(&sandbox).await?;
        record.ports = ports;
        inner.ports.insert(name.to_owned(), held);
        if is_full_hex_id(&spec.id) {
            record.id = spec.id.clone();
        }
        let pid = spec.pid.or_else(|| pid_of_proc_path(&spec.netns));
        record.container = Some(ContainerRecord {
            id: spec.id.clone(),
            door: spec.door,
            pid,
        });
        Ok(record)
    }

    fn check_bridge_network(&self, inner: &Inner, network: &str) -> Result<(), AgentError> {
        match inner.state.networks.get(network) {
            None => Err(AgentError::not_found("network", network)),
            Some(net) if net.dns_only => Err(AgentError::Conflict(format!(
                "network {network:?} is a DNS-only network of chained CNI plugins, not a bridge"
            ))),
            Some(_) => Ok(()),
        }
    }

    /// What the runtime gets back for `network`.
    async fn attachment(
        &self,
        inner: &Inner,
        sandbox: SandboxRecord,
        network: &str,
    ) -> Result<ContainerAttachment, AgentError> {
        let endpoint = sandbox
            .endpoints
            .iter()
            .find(|e| e.network == network)
            .cloned()
            .ok_or_else(|| AgentError::not_found("endpoint", network))?;
        let net = &inner.state.networks[network];
        let gateways = if net.internal || net.dns_only {
            vec![]
        } else {
            net.subnets.iter().map(|s| s.gateway).collect()
        };
        let prefixes = endpoint_prefixes(&endpoint, net);
        let host_mac = if endpoint.host_veth.is_empty() {
            None
        } else {
            self.links.mac_of(&endpoint.host_veth).await.ok().flatten()
        };
        let path = self.resolv_conf_path(&sandbox.name);
        let resolv_conf = std::fs::read_to_string(&path)
            .map_err(AgentError::io(format!("read {}", path.display())))?;
        Ok(ContainerAttachment {
            sandbox,
            endpoint,
            gateways,
            prefixes,
            host_mac,
            resolv_conf,
        })
    }

    /// Releases a container (CNI DEL, the hook's poststop, its process's
    /// exit): from `network` only, or from everything. Releasing what is
    /// not there succeeds: runtimes repeat DEL (CNI spec, DEL).
    pub async fn release_container(
        &self,
        id: &str,
        network: Option<&str>,
    ) -> Result<(), AgentError> {
        let mut inner = self.inner.lock().await;
        let Some(record) = container_sandbox(&inner, id).cloned() else {
            return Ok(());
        };
        let mut errors = Vec::new();
        let leaves_some = network.is_some_and(|n| {
            record.endpoints.iter().any(|e| e.network != n)
                && record.endpoints.iter().any(|e| e.network == n)
        });
        if let (true, Some(network)) = (leaves_some, network) {
            if let Err(err) = self.detach(&mut inner, &record.name, network).await {
                errors.push(err);
            }
        } else if network.is_none_or(|n| record.endpoints.iter().all(|e| e.network == n)) {
            errors.extend(self.dismantle(&mut inner, &record.name).await);
        }
        for endpoint in &record.endpoints {
            self.drop_empty_dns_only(&mut inner, &endpoint.network);
        }
        if let Err(err) = self.persist(&inner) {
            errors.push(err);
        }
        tracing::info!(container = id, sandbox = %record.name, "container released");
        AgentError::from_steps(errors)
    }

    /// The problems with a container's attachment to `network` (CNI
    /// CHECK): its namespace, its interface, its resolver, its redirect.
    pub async fn check_container(&self, id: &str, network: &str) -> Result<(), AgentError> {
        let inner = self.inner.lock().await;
        let record = container_sandbox(&inner, id)
            .cloned()
            .ok_or_else(|| AgentError::not_found("container", id))?;
        let endpoint = record
            .endpoints
            .iter()
            .find(|e| e.network == network)
            .cloned()
            .ok_or_else(|| AgentError::not_found("endpoint", &format!("{id} on {network}")))?;
        let problems = self.problems_of(&inner, &record, &endpoint).await;
        if problems.is_empty() {
            return Ok(());
        }
        Err(AgentError::Conflict(format!(
            "container {id:?} on network {network:?}: {}",
            problems.join("; ")
        )))
    }

    async fn problems_of(
        &self,
        inner: &Inner,
        record: &SandboxRecord,
        endpoint: &EndpointRecord,
    ) -> Vec<String> {
        let mut problems = Vec::new();
        let ns = NsRef::Path(record.netns.clone());
        if ns.inode().ok() != Some(record.netns_inode) {
            problems.push(format!("its namespace {} is gone", record.netns.display()));
            return problems;
        }
        match self.links_in(&ns).await {
            Ok(inside) => match inside.index_of(&endpoint.ifname).await {
                Ok(Some(_)) => {}
                _ => problems.push(format!("interface {} is missing", endpoint.ifname)),
            },
            Err(err) => problems.push(format!("cannot look inside its namespace: {err}")),
        }
        if !endpoint.host_veth.is_empty()
            && !matches!(self.links.index_of(&endpoint.host_veth).await, Ok(Some(_)))
        {
            problems.push(format!("host interface {} is missing", endpoint.host_veth));
        }
        if !inner.resolvers.contains_key(&record.name) {
            problems.push("its resolver is not running".into());
        } else if record.dns_mode == config::DnsMode::Redirect
            && !crate::kernel::redirect::is_programmed(&self.worker, &ns)
                .await
                .unwrap_or(false)
        {
            problems.push("the DNS redirect to its resolver is missing".into());
        }
        problems
    }

    /// Releases every container attached to `network` through the CNI
    /// plugin whose id is not in `valid` (CNI GC, `cni.dev/valid-attachments`),
    /// and every adopted container whose namespace is gone. Returns the
    /// container ids released.
    pub async fn gc_containers(
        &self,
        network: &str,
        valid: &[String],
    ) -> Result<Vec<String>, AgentError> {
        let stale: Vec<String> = {
            let inner = self.inner.lock().await;
            inner
                .state
                .sandboxes
                .values()
                .filter_map(|s| {
                    let container = s.container.as_ref()?;
                    let on_network = s.endpoints.iter().any(|e| e.network == network);
                    let invalid = on_network
                        && container.door == config::Door::Cni
                        && !valid.contains(&container.id);
                    let gone = NsRef::Path(s.netns.clone()).inode().ok() != Some(s.netns_inode);
                    (invalid || gone).then(|| container.id.clone())
                })
                .collect()
        };
        let mut errors = Vec::new();
        for id in &stale {
            if let Err(err) = self.release_container(id, None).await {
                errors.push(err);
            }
        }
        AgentError::from_steps(errors)?;
        Ok(stale)
    }
}

/// The sandbox of a runtime's container.
pub(super) fn container_sandbox<'a>(inner: &'a Inner, id: &str) -> Option<&'a SandboxRecord> {
    inner
        .state
        .sandboxes
        .values()
        .find(|s| s.container.as_ref().is_some_and(|c| c.id == id))
}

/// Whether `id` is a full container id in Docker's form (64 hex digits).
fn is_full_hex_id(id: &str) -> bool {
    id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()) && id == id.to_ascii_lowercase()
}

/// The pid in `/proc/PID/ns/net`, the form ctr passes as CNI_NETNS.
fn pid_of_proc_path(path: &Path) -> Option<u32> {
    let rest = path.strip_prefix("/proc").ok()?;
    let mut parts = rest.iter();
    let pid = parts.next()?.to_str()?.parse().ok()?;
    (parts.map(PathBuf::from).collect::<PathBuf>() == Path::new("ns/net")).then_some(pid)
}

/// Each address of the endpoint with its subnet's prefix length; a host
/// prefix where the agent knows no subnet (a DNS-only network, whose
/// plugins' own result carries the real one).
fn endpoint_prefixes(endpoint: &EndpointRecord, net: &NetworkRecord) -> Vec<(IpAddr, u8)> {
    let addresses = endpoint
        .ipv4
        .map(IpAddr::V4)
        .into_iter()
        .chain(endpoint.ipv6.map(IpAddr::V6));
    addresses
        .map(|address| {
            let prefix = net
                .subnets
                .iter()
                .find(|s| s.subnet.contains(&address))
                .map_or(if address.is_ipv4() { 32 } else { 128 }, |s| {
                    s.subnet.prefix_len()
                });
            (address, prefix)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctr_style_namespace_paths_give_their_pid() {
        assert_eq!(pid_of_proc_path(Path::new("/proc/4242/ns/net")), Some(4242));
        assert_eq!(pid_of_proc_path(Path::new("/run/netns/cni-1")), None);
        assert_eq!(pid_of_proc_path(Path::new("/proc/self/ns/net")), None);
        assert_eq!(pid_of_proc_path(Path::new("/proc/12/ns/net/x")), None);
    }

    #[test]
    fn only_docker_shaped_ids_become_sandbox_ids() {
        assert!(is_full_hex_id(&"ab12".repeat(16)));
        assert!(!is_full_hex_id("default-web"));
        assert!(!is_full_hex_id(&"AB12".repeat(16)));
    }
}

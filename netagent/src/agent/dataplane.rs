//! The bridges' data plane as the agent's state says it should be: which
//! network gives a sandbox its way out (and so its default route and its
//! published ports), the host ports a sandbox holds, and the firewall
//! inputs ([`crate::kernel::firewall`]) made again after every change.
//!
//! Choices (README, "Ports and the way out"):
//! - A sandbox's way out is its first non-internal network in lexical
//!   order (Docker's documented rule); its published ports go to its
//!   address there, and move with it through connect and disconnect. A
//!   sandbox with internal networks only publishes nothing (as Docker).
//! - `-p HOSTPORT:PORT` without an address is published on every host
//!   address, IPv4 to the sandbox's IPv4 address and IPv6 to its IPv6
//!   address when it has one; an address picks its family.

use std::net::IpAddr;

use config::{NetworkMode, PortMapping, Protocol, SandboxSpec};

use super::way_out::way_out;
use super::{Agent, AgentError, Inner};
use crate::agent::store::State;
use crate::kernel::firewall::{BridgeNet, Forward, Inputs};
use crate::kernel::ports::{self, Reservation};

/// The firewall's inputs for `state`.
pub(super) fn inputs(state: &State) -> Inputs {
    let networks = state
        .networks
        .values()
        .filter(|n| !n.dns_only)
        .map(|n| BridgeNet {
            bridge: n.bridge.clone(),
            subnets: n.subnets.iter().map(|s| s.subnet).collect(),
            internal: n.internal,
            masquerade: n.bridge_options().masquerade,
        })
        .collect();
    let mut forwards = Vec::new();
    for record in state.sandboxes.values().filter(|s| !s.ports.is_empty()) {
        let Some(net) = way_out(state, record) else {
            continue;
        };
        let endpoint = record
            .endpoints
            .iter()
            .find(|e| e.network == net.name)
            .expect("way_out comes from the endpoints");
        let targets = [endpoint.ipv4.map(IpAddr::V4), endpoint.ipv6.map(IpAddr::V6)];
        for mapping in &record.ports {
            for target in targets.into_iter().flatten() {
                if mapping
                    .host_ip
                    .is_some_and(|ip| ip.is_ipv4() != target.is_ipv4())
                {
                    continue;
                }
                forwards.push(Forward {
                    protocol: protocol_number(mapping.protocol),
                    host_ip: mapping.host_ip,
                    host_port: mapping.host_port.expect("chosen when the sandbox was made"),
                    target,
                    target_port: mapping.container_port,
                });
            }
        }
    }
    Inputs { networks, forwards }
}

pub(super) fn protocol_number(protocol: Protocol) -> u8 {
    match protocol {
        Protocol::Tcp => ports::TCP,
        Protocol::Udp => ports::UDP,
        Protocol::Sctp => ports::SCTP,
    }
}

/// The mappings a spec asks for: `-p` as given, and with `-P` each
/// exposed port on an ephemeral host port. Host and none modes publish
/// nothing (the CLI prints Docker's warning).
pub(super) fn wanted_ports(spec: &SandboxSpec, host_binding: Option<IpAddr>) -> Vec<PortMapping> {
    if matches!(spec.network, NetworkMode::Host | NetworkMode::None) {
        return Vec::new();
    }
    let mut wanted: Vec<PortMapping> = spec.publish.clone();
    if spec.publish_all {
        for exposed in &spec.expose {
            let already = wanted
                .iter()
                .any(|m| m.container_port == exposed.port && m.protocol == exposed.protocol);
            if !already {
                wanted.push(PortMapping {
                    host_ip: None,
                    host_port: None,
                    container_port: exposed.port,
                    protocol: exposed.protocol,
                });
            }
        }
    }
    for mapping in &mut wanted {
        mapping.host_ip = mapping
            .host_ip
            .or(host_binding)
            .filter(|ip| !ip.is_unspecified());
    }
    wanted
}

impl Agent {
    /// Holds the host ports `wanted` asks for, choosing ephemeral ones
    /// where no port was given; refuses a port another sandbox publishes
    /// or a host process holds, naming it. Nothing is held on failure.
    pub(super) fn reserve_ports(
        &self,
        inner: &Inner,
        sandbox: &str,
        wanted: &[PortMapping],
    ) -> Result<(Vec<PortMapping>, Vec<Reservation>), AgentError> {
        let mut chosen = Vec::new();
        let mut held = Vec::new();
        for mapping in wanted {
            refuse_published(&inner.state, mapping)?;
            let protocol = protocol_number(mapping.protocol);
            let reservation =
                ports::reserve(protocol, mapping.host_ip, mapping.host_port.unwrap_or(0))
                    .map_err(|err| port_error(sandbox, mapping, err))?;
            chosen.push(PortMapping {
                host_port: Some(reservation.port),
                ..*mapping
            });
            held.push(reservation);
        }
        Ok((chosen, held))
    }

    /// The ports a CNI runtime asks for: checked against the other
    /// sandboxes' but not held, because the runtime holds them itself
    /// (podman binds each host port after the plugin's ADD, as it does for
    /// the `portmap` plugin), and CNI mappings always name their port.
    pub(super) fn runtime_held_ports(
        &self,
        inner: &Inner,
        wanted: &[PortMapping],
    ) -> Result<Vec<PortMapping>, AgentError> {
        for mapping in wanted {
            refuse_published(&inner.state, mapping)?;
        }
        Ok(wanted.to_vec())
    }

    /// Makes the firewall match the state: one transaction, from a
    /// blocking thread in the agent's own namespace.
    pub(super) async fn sync_dataplane(&self, inner: &Inner) -> Result<(), AgentError> {
        let inputs = inputs(&inner.state);
        let firewall = self.firewall.clone();
        tokio::task::spawn_blocking(move || firewall.apply(inputs))
            .await
            .map_err(|err| AgentError::io("program the host firewall")(std::io::Error::other(err)))?
            .map_err(AgentError::io(
                "program the host firewall (nftables table inet netagent)",
            ))
    }

    /// [`Agent::sync_dataplane`] on a path that must go on (a removal):
    /// a failure is logged, and the guard retries on the next change.
    pub(super) async fn sync_dataplane_or_log(&self, inner: &Inner) {
        if let Err(err) = self.sync_dataplane(inner).await {
            tracing::error!(%err, "the host firewall is not up to date");
        }
    }
}

/// Refuses `mapping` when another sandbox publishes its host port.
fn refuse_published(state: &State, mapping: &PortMapping) -> Result<(), AgentError> {
    match publisher_of(state, mapping) {
        Some(owner) => Err(AgentError::Conflict(format!(
            "host port {} is already published by sandbox {owner:?}",
            describe(mapping, mapping.host_port.unwrap_or(0))
        ))),
        None => Ok(()),
    }
}

/// The sandbox that already publishes `mapping`'s host port, if any.
fn publisher_of(state: &State, mapping: &PortMapping) -> Option<String> {
    let port = mapping.host_port?;
    state
        .sandboxes
        .values()
        .find(|s| {
            s.ports.iter().any(|p| {
                p.host_port == Some(port)
                    && p.protocol == mapping.protocol
                    && (p.host_ip.is_none()
                        || mapping.host_ip.is_none()
                        || p.host_ip == mapping.host_ip)
            })
        })
        .map(|s| s.name.clone())
}

fn describe(mapping: &PortMapping, port: u16) -> String {
    match mapping.host_ip {
        Some(IpAddr::V6(ip)) => format!("[{ip}]:{port}/{}", mapping.protocol.as_str()),
        Some(IpAddr::V4(ip)) => format!("{ip}:{port}/{}", mapping.protocol.as_str()),
        None => format!("{port}/{}", mapping.protocol.as_str()),
    }
}

fn port_error(sandbox: &str, mapping: &PortMapping, err: std::io::Error) -> AgentError {
    let what = describe(mapping, mapping.host_port.unwrap_or(0));
    match err.raw_os_error() {
        Some(libc::EADDRINUSE) => AgentError::Conflict(format!(
            "host port {what} is in use by a process on the host; cannot publish it for {sandbox:?}"
        )),
        Some(libc::EADDRNOTAVAIL) => AgentError::BadInput(format!(
            "cannot publish {what}: {} is not an address of this host",
            mapping.host_ip.map(|ip| ip.to_string()).unwrap_or_default()
        )),
        _ => AgentError::io(format!("hold host port {what}"))(err),
    }
}

#[cfg(test)]
mod tests;

//! Attaching a sandbox to a network, and detaching it. Every step of an
//! attach is recorded in an [`Undo`], so a failure part-way leaves nothing
//! behind: no address held, no veth, no resolver, no table entry.

use std::net::IpAddr;
use std::os::fd::AsFd;
use std::time::Instant;

use resolver::Endpoint;

use super::addresses::{addresses_with_prefix, allocate, next_ifname, release};
use super::intent::sandbox_key;
use super::way_out::enter_way_out;
use super::{faults, Agent, AgentError, AgentMetrics, Inner};
use crate::agent::store::{new_id, EndpointRecord, NetworkRecord, SandboxRecord};
use crate::kernel::link::{Links, PortOptions};
use crate::kernel::netns::NsRef;
use config::NetworkMode;

/// What a sandbox asks for on one network.
#[derive(Debug, Clone, Default)]
pub struct AttachOptions {
    /// Aliases on this network.
    pub aliases: Vec<String>,
    /// A static address.
    pub ip: Option<IpAddr>,
    /// A static IPv6 address too (`--ip6`).
    pub ip6: Option<std::net::Ipv6Addr>,
    /// The interface's MAC address (`--mac-address`).
    pub mac: Option<[u8; 6]>,
    /// The interface's name inside the sandbox (a CNI runtime's
    /// CNI_IFNAME); the next free `ethN` when not given.
    pub ifname: Option<String>,
}

/// The steps of an attach done so far, to take back on failure.
#[derive(Default)]
struct Undo {
    addresses: Vec<IpAddr>,
    veth: Option<String>,
    resolver_started: bool,
    in_table: bool,
}

impl Agent {
    /// Connects an existing sandbox to a network (`network connect`).
    pub async fn connect(
        &self,
        network: &str,
        sandbox: &str,
        options: AttachOptions,
    ) -> Result<EndpointRecord, AgentError> {
        let mut inner = self.inner.lock().await;
        let attached = self.attach(&mut inner, sandbox, network, options).await;
        if let Err(err) = attached {
            // Several: an undo step failed too, and the intent stays for
            // the next start's sweep.
            if !matches!(err, AgentError::Several(_)) {
                self.intents.done(&sandbox_key(sandbox));
            }
            return Err(err);
        }
        self.persist_sandboxes(&inner, &[sandbox])?;
        self.intents.done(&sandbox_key(sandbox));
        attached
    }

    /// Disconnects a sandbox from a network (`network disconnect`).
    pub async fn disconnect(&self, network: &str, sandbox: &str) -> Result<(), AgentError> {
        let mut inner = self.inner.lock().await;
        self.detach(&mut inner, sandbox, network).await?;
        self.persist_sandboxes(&inner, &[sandbox])
    }

    /// Attaches `sandbox` to `network`: address, veth into the sandbox,
    /// address and route inside, the resolver (user-defined networks), the
    /// table entry, the resolv.conf. Persisting is the caller's.
    pub(super) async fn attach(
        &self,
        inner: &mut Inner,
        sandbox: &str,
        network: &str,
        options: AttachOptions,
    ) -> Result<EndpointRecord, AgentError> {
        let started = Instant::now();
        let net = inner
            .state
            .networks
            .get(network)
            .cloned()
            .ok_or_else(|| AgentError::not_found("network", network))?;
        let record = inner
            .state
            .sandboxes
            .get(sandbox)
            .cloned()
            .ok_or_else(|| AgentError::not_found("sandbox", sandbox))?;
        if record.spec.network == NetworkMode::None && record.container.is_none() {
            // Docker refuses to connect a `--network none` container.
            return Err(AgentError::Conflict(format!(
                "sandbox {sandbox:?} is on network none: it cannot be connected to another network"
            )));
        }
        if record.shares_with.is_some() || record.host_mode {
            return Err(AgentError::Conflict(format!(
                "sandbox {sandbox:?} shares another namespace; connect that one instead"
            )));
        }
        if record.endpoints.iter().any(|e| e.network == network) {
            return Err(AgentError::Conflict(format!(
                "sandbox {sandbox:?} is already on network {network:?}"
            )));
        }
        let names: Vec<&str> = std::iter::once(record.name.as_str())
            .chain(record.spec.hostname.as_deref())
            .chain(options.aliases.iter().map(String::as_str))
            .collect();
        super::dotted::check_names(&inner.state, &names)?;
        let room = self.make_room(inner, &net, options.ip).await?;
        let net = room.net.clone();
        let options = AttachOptions {
            ip: room.ip,
            ..options
        };
        let mut undo = Undo::default();
        match self
            .attach_steps(inner, &net, &record, options, &mut undo)
            .await
        {
            Ok(endpoint) => {
                let published = self.publish_if_overlay(inner, &net, sandbox, &endpoint);
                if let Err(err) = published.await.and(self.sync_dataplane(inner).await) {
                    let mut errors = vec![err];
                    errors.extend(self.detach(inner, sandbox, network).await.err());
                    return Err(AgentError::from_steps(errors).expect_err("the cause is in"));
                }
                AgentMetrics::add(&self.metrics.attaches, 1);
                AgentMetrics::add(
                    &self.metrics.attach_micros,
                    started.elapsed().as_micros() as u64,
                );
                tracing::info!(
                    sandbox,
                    network,
                    took_us = started.elapsed().as_micros() as u64,
                    "attached"
                );
                Ok(endpoint)
            }
            Err(err) => {
                let mut errors = vec![err];
                errors.extend(self.undo(inner, &net, &record, undo).await);
                errors.extend(self.give_back(&room).await);
                Err(AgentError::from_steps(errors).expect_err("the cause is in"))
            }
        }
    }

    async fn attach_steps(
        &self,
        inner: &mut Inner,
        net: &NetworkRecord,
        record: &SandboxRecord,
        options: AttachOptions,
        undo: &mut Undo,
    ) -> Result<EndpointRecord, AgentError> {
        let (ipv4, ipv6) = allocate(inner, net, options.ip, options.ip6, &mut undo.addresses)?;
        let chosen_ifname = options.ifname.is_some();
        let ifname = match options.ifname {
            Some(ifname) if record.endpoints.iter().any(|e| e.ifname == ifname) => {
                return Err(AgentError::Conflict(format!(
                    "sandbox {:?} has an interface {ifname:?} already",
                    record.name
                )))
            }
            Some(ifname) => ifname,
            None => next_ifname(record),
        };
        let host_veth = format!("veth{:08x}", fastrand::u32(..));
        let ns = NsRef::Path(record.netns.clone());
        if chosen_ifname {
            self.check_ifname_free(&ns, &record.name, &ifname).await?;
        }
        let bridge = self.links.index_of(&net.bridge).await?.ok_or_else(|| {
            AgentError::Conflict(format!(
                "the bridge {} of network {:?} is gone",
                net.bridge, net.name
            ))
        })?;
        let options_in_force = net.bridge_options();
        faults::check(faults::ATTACH_VETH)?;
        // Noted on disk before it exists, for the sweep after a crash.
        self.intents
            .note_link(&sandbox_key(&record.name), &host_veth)
            .map_err(AgentError::io("note the veth's intent"))?;
        // Recorded before it exists: a pair made whose later step (the
        // bridge, say) fails must go too, and deleting a link that was
        // never made succeeds.
        undo.veth = Some(host_veth.clone());
        {
            let namespace = ns
                .open()
                .map_err(AgentError::io(format!("open {}", record.netns.display())))?;
            self.links
                .create_veth(
                    &host_veth,
                    &ifname,
                    namespace.as_fd(),
                    bridge,
                    PortOptions {
                        mtu: options_in_force.mtu,
                        isolated: !options_in_force.icc,
                        hairpin: !record.ports.is_empty(),
                    },
                )
                .await?;
        }
        faults::stall(faults::STALL_VETH).await;
        let inside = self.links_in(&ns).await?;
        let index = inside.existing_index(&ifname, "bring up").await?;
        if ipv6.is_none() {
            inside.without_ipv6_addresses(index, &ifname).await?;
        }
        if let Some(mac) = options.mac {
            inside.set_mac(index, mac, &ifname).await?;
        }
        inside.set_up(index, &ifname).await?;
        for subnet in addresses_with_prefix(net, ipv4, ipv6) {
            inside.add_address(index, subnet, &ifname).await?;
        }
        let mac = inside.mac_of(&ifname).await?;
        let endpoint = EndpointRecord {
            network: net.name.clone(),
            id: new_id(),
            ifname,
            host_veth,
            ipv4,
            ipv6,
            mac,
            aliases: options.aliases,
            services: record.spec.expose.clone(),
        };
        let mut updated = record.clone();
        updated.endpoints.push(endpoint.clone());
        enter_way_out(&inside, &inner.state, record, &updated, net).await?;
        if !net.builtin {
            undo.resolver_started = self.ensure_resolver(inner, &updated).await?;
            self.table.connect(table_endpoint(&updated, &endpoint))?;
            undo.in_table = true;
        }
        self.write_resolv_conf(inner, &updated)?;
        inner.state.sandboxes.insert(updated.name.clone(), updated);
        Ok(endpoint)
    }

    /// Takes back the steps of a failed attach, newest first; every step
    /// that cannot be undone is returned.
    async fn undo(
        &self,
        inner: &mut Inner,
        net: &NetworkRecord,
        record: &SandboxRecord,
        undo: Undo,
    ) -> Vec<AgentError> {
        let mut errors = Vec::new();
        if undo.in_table {
            let _ = self.table.disconnect(&record.id, &net.name);
        }
        if undo.resolver_started {
            self.remove_resolver(inner, record).await;
        }
        if let Some(veth) = &undo.veth {
            if let Err(err) = self.links.delete(veth).await {
                errors.push(AgentError::from(err));
            }
        }
        release(inner, &net.name, &undo.addresses);
        errors
    }

    /// Detaches `sandbox` from `network`: table entry, veth (its peer goes
    /// with it), addresses, and the resolver when no user-defined network
    /// is left. Persisting is the caller's.
    pub(super) async fn detach(
        &self,
        inner: &mut Inner,
        sandbox: &str,
        network: &str,
    ) -> Result<(), AgentError> {
        let mut record = inner
            .state
            .sandboxes
            .get(sandbox)
            .cloned()
            .ok_or_else(|| AgentError::not_found("sandbox", sandbox))?;
        let position = record
            .endpoints
            .iter()
            .position(|e| e.network == network)
            .ok_or_else(|| {
                AgentError::Conflict(format!("sandbox {sandbox:?} is not on network {network:?}"))
            })?;
        let endpoint = record.endpoints.remove(position);
        // The veth first: if the kernel keeps it, the endpoint stays whole
        // (state, table and addresses), as the kernel has it, and the
        // detach can be asked again.
        faults::check(faults::DETACH_VETH)?;
        // A DNS-only endpoint has no veth of the agent's.
        if !endpoint.host_veth.is_empty() {
            self.links.delete(&endpoint.host_veth).await?;
        }
        let builtin = inner
            .state
            .networks
            .get(network)
            .map(|n| n.builtin)
            .unwrap_or(true);
        if !builtin {
            let _ = self.table.disconnect(&record.id, network);
        }
        let addresses: Vec<IpAddr> = endpoint
            .ipv4
            .map(IpAddr::V4)
            .into_iter()
            .chain(endpoint.ipv6.map(IpAddr::V6))
            .collect();
        release(inner, network, &addresses);
        self.move_way_out(inner, &record, network).await;
        if !self.on_user_network(inner, &record) {
            self.remove_resolver(inner, &record).await;
        }
        if record.netns.exists() {
            self.write_resolv_conf(inner, &record)?;
        }
        let sandbox_id = record.id.clone();
        inner.state.sandboxes.insert(record.name.clone(), record);
        self.sync_dataplane_or_log(inner).await;
        self.unpublish_if_overlay(inner, network, &sandbox_id, endpoint.ipv4)
            .await;
        self.release_block_if_unused(inner, network, endpoint.ipv4)
            .await;
        AgentMetrics::add(&self.metrics.detaches, 1);
        tracing::info!(sandbox, network, "detached");
        Ok(())
    }

    /// Refuses an interface name the runtime chose (CNI_IFNAME) that the
    /// adopted namespace has already: the caller's clash (409), which the
    /// kernel would otherwise report as the agent's own failure, naming
    /// the host-side veth instead of the interface.
    async fn check_ifname_free(
        &self,
        ns: &NsRef,
        sandbox: &str,
        ifname: &str,
    ) -> Result<(), AgentError> {
        if self.links_in(ns).await?.index_of(ifname).await?.is_some() {
            return Err(AgentError::Conflict(format!(
                "sandbox {sandbox:?} has an interface {ifname:?} already"
            )));
        }
        Ok(())
    }

    /// Whether the sandbox is still on a user-defined network.
    pub(super) fn on_user_network(&self, inner: &Inner, record: &SandboxRecord) -> bool {
        record.endpoints.iter().any(|e| {
            inner
                .state
                .networks
                .get(&e.network)
                .is_some_and(|n| !n.builtin)
        })
    }

    /// An rtnetlink handle inside the sandbox's namespace: its socket is
    /// made by the namespace worker there.
    pub(super) async fn links_in(&self, ns: &NsRef) -> Result<Links, AgentError> {
        let parts = self
            .worker
            .run_in(ns, Links::socket_here)
            .await
            .map_err(AgentError::io("open netlink in the sandbox"))?;
        Ok(Links::from_connection(parts))
    }
}

/// The endpoint as the resolver's table knows it.
pub(super) fn table_endpoint(record: &SandboxRecord, endpoint: &EndpointRecord) -> Endpoint {
    Endpoint {
        sandbox: record.name.clone(),
        id: record.id.clone(),
        hostname: record.spec.hostname.clone(),
        network: endpoint.network.clone(),
        aliases: endpoint.aliases.clone(),
        ipv4: endpoint.ipv4,
        ipv6: endpoint.ipv6,
        services: endpoint.services.clone(),
    }
}

//! Sandboxes: made (a named namespace pinned in the netns directory, as
//! `ip netns add` does), adopted (a runtime's namespace by path or
//! process id), or sharing another's (`container:NAME`) or the agent's own
//! (`host`); and removed with every step undone.

use std::path::PathBuf;

use config::{Adopt, NetworkMode, SandboxSpec};

use super::dataplane::wanted_ports;
use super::endpoint::AttachOptions;
use super::intent::sandbox_key;
use super::network::DEFAULT_BRIDGE;
use super::{faults, Agent, AgentError, Inner};
use crate::agent::store::{new_id, now_rfc3339, SandboxRecord};
use crate::kernel::netns::{delete_named, NsRef};

impl Agent {
    /// Creates (or adopts) a sandbox and attaches it as its spec says.
    pub async fn create_sandbox(&self, spec: SandboxSpec) -> Result<SandboxRecord, AgentError> {
        spec.check()?;
        let mut inner = self.inner.lock().await;
        if inner.state.sandboxes.contains_key(&spec.name) {
            return Err(AgentError::Conflict(format!(
                "a sandbox named {:?} exists already",
                spec.name
            )));
        }
        if let NetworkMode::Network(network) = &spec.network {
            if !inner.state.networks.contains_key(network) {
                return Err(AgentError::not_found("network", network));
            }
        }
        let (ports, held) =
            self.reserve_ports(&inner, &spec.name, &self.wanted_ports(&inner, &spec))?;
        let record = match &spec.network {
            NetworkMode::Container(other) => self.sharing_record(&inner, &spec, other)?,
            NetworkMode::Host => SandboxRecord {
                host_mode: true,
                ..self.base_record(&spec, "/proc/self/ns/net".into(), 0, false)
            },
            _ => match self.own_namespace(&spec).await {
                Ok(record) => record,
                Err(err) => {
                    // Nothing of it is left (it undid its own steps).
                    self.intents.done(&sandbox_key(&spec.name));
                    return Err(err);
                }
            },
        };
        let record = SandboxRecord { ports, ..record };
        inner.ports.insert(record.name.clone(), held);
        inner
            .state
            .sandboxes
            .insert(record.name.clone(), record.clone());
        let key = sandbox_key(&record.name);
        match self.wire_up(&mut inner, &record).await {
            Ok(record) => {
                self.intents.done(&key);
                Ok(record)
            }
            Err(err) => {
                // The cause first, then every undo step that failed too.
                let mut errors = vec![err];
                let undo = self.dismantle(&mut inner, &record.name).await;
                if undo.is_empty() {
                    // Else the intent stays, for the next start's sweep.
                    self.intents.done(&key);
                }
                errors.extend(undo);
                Err(AgentError::from_steps(errors).expect_err("the cause is in"))
            }
        }
    }

    /// The ports `spec` publishes, on its network's `host_binding_ipv4`
    /// where no address is given.
    pub(super) fn wanted_ports(
        &self,
        inner: &Inner,
        spec: &SandboxSpec,
    ) -> Vec<config::PortMapping> {
        let network = match &spec.network {
            NetworkMode::Network(network) => network.as_str(),
            _ => DEFAULT_BRIDGE,
        };
        let binding = inner
            .state
            .networks
            .get(network)
            .and_then(|n| n.bridge_options().host_binding_ipv4);
        wanted_ports(spec, binding.map(std::net::IpAddr::V4))
    }

    /// Attaches the sandbox to the network of its mode, writes its
    /// resolv.conf and persists it.
    async fn wire_up(
        &self,
        inner: &mut Inner,
        record: &SandboxRecord,
    ) -> Result<SandboxRecord, AgentError> {
        let options = AttachOptions {
            aliases: record.spec.aliases.clone(),
            ip: record.spec.ip,
            ip6: record.spec.ip6,
            mac: record
                .spec
                .mac_address
                .as_deref()
                .and_then(config::parse_mac),
            ifname: None,
        };
        match &record.spec.network {
            NetworkMode::Bridge => {
                self.attach(inner, &record.name, DEFAULT_BRIDGE, options)
                    .await?;
            }
            NetworkMode::Network(network) => {
                self.attach(inner, &record.name, network, options).await?;
            }
            NetworkMode::None | NetworkMode::Host | NetworkMode::Container(_) => {}
        }
        let record = inner
            .state
            .sandboxes
            .get(&record.name)
            .cloned()
            .expect("inserted above");
        match &record.shares_with {
            Some(owner) => self.copy_resolv_conf(owner, &record.name)?,
            None => self.write_resolv_conf(inner, &record)?,
        }
        self.write_etc_files(&record)?;
        self.persist_sandboxes(inner, &[&record.name])?;
        tracing::info!(sandbox = %record.name, "sandbox created");
        Ok(record)
    }

    fn base_record(
        &self,
        spec: &SandboxSpec,
        netns: PathBuf,
        inode: u64,
        owns: bool,
    ) -> SandboxRecord {
        SandboxRecord {
            name: spec.name.clone(),
            id: new_id(),
            created: now_rfc3339(),
            spec: spec.clone(),
            netns,
            netns_inode: inode,
            owns_netns: owns,
            shares_with: None,
            host_mode: false,
            endpoints: vec![],
            dns_mode: self.config.agent.dns_mode,
            container: None,
            ports: vec![],
            command: None,
        }
    }

    /// A sandbox in `other`'s namespace, answered by `other`'s resolver.
    fn sharing_record(
        &self,
        inner: &Inner,
        spec: &SandboxSpec,
        other: &str,
    ) -> Result<SandboxRecord, AgentError> {
        let owner = inner
            .state
            .sandboxes
            .get(other)
            .ok_or_else(|| AgentError::not_found("sandbox", other))?;
        let owner_name = owner
            .shares_with
            .clone()
            .unwrap_or_else(|| owner.name.clone());
        let owner = inner
            .state
            .sandboxes
            .get(&owner_name)
            .expect("an owner never shares");
        let mut record = self.base_record(spec, owner.netns.clone(), owner.netns_inode, false);
        record.shares_with = Some(owner_name);
        record.host_mode = owner.host_mode;
        Ok(record)
    }

    /// Makes or adopts the namespace, with `lo` up.
    pub(super) async fn own_namespace(
        &self,
        spec: &SandboxSpec,
    ) -> Result<SandboxRecord, AgentError> {
        let (path, owns) = match &spec.adopt {
            Some(adopt) => (adoptable(adopt)?, false),
            None => (self.pin_namespace(&spec.name).await?, true),
        };
        let ns = NsRef::Path(path.clone());
        let forget = |err: AgentError| {
            if owns {
                let _ = delete_named(&path);
            }
            err
        };
        let inode = ns
            .inode()
            .map_err(AgentError::io(format!("open namespace {}", path.display())))
            .map_err(forget)?;
        let record = self.base_record(spec, path.clone(), inode, owns);
        let lo_up = async {
            self.links_in(&ns)
                .await?
                .set_up_by_name("lo")
                .await
                .map_err(AgentError::from)
        };
        lo_up.await.map_err(forget)?;
        Ok(record)
    }

    /// Pins a new namespace for sandbox `name` in the netns directory,
    /// its intent noted first so a crash after the pin is swept.
    async fn pin_namespace(&self, name: &str) -> Result<PathBuf, AgentError> {
        let path = self.config.paths.netns_dir.join(name);
        // Checked before the intent is noted, so that a crash right after
        // cannot leave a note naming someone else's file for the sweep.
        if path.exists() {
            return Err(taken(&path, name));
        }
        self.intents
            .note_netns(&sandbox_key(name), name, &path)
            .map_err(AgentError::io("note the namespace's intent"))?;
        match self.worker.create_named(&path).await {
            Ok(()) => {}
            // Not one of the agent's (those have records or intents):
            // someone else's `ip netns add`, the caller's to resolve.
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(taken(&path, name));
            }
            Err(err) => {
                return Err(AgentError::io(format!(
                    "create namespace {}",
                    path.display()
                ))(err))
            }
        }
        faults::stall(faults::STALL_NETNS).await;
        Ok(path)
    }

    fn copy_resolv_conf(&self, owner: &str, sandbox: &str) -> Result<(), AgentError> {
        let from = self.resolv_conf_path(owner);
        let to = self.resolv_conf_path(sandbox);
        std::fs::create_dir_all(to.parent().expect("in a directory"))
            .map_err(AgentError::io(format!("create {}", to.display())))?;
        std::fs::copy(&from, &to).map_err(AgentError::io(format!(
            "copy {} to {}",
            from.display(),
            to.display()
        )))?;
        Ok(())
    }

    /// Removes a sandbox. Sandboxes sharing its namespace are removed with
    /// it only when `force` is set; otherwise they make it refuse.
    pub async fn remove_sandbox(&self, name: &str, force: bool) -> Result<(), AgentError> {
        let mut inner = self.inner.lock().await;
        if !inner.state.sandboxes.contains_key(name) {
            return Err(AgentError::not_found("sandbox", name));
        }
        let sharing = inner.state.sharing(name);
        for sandbox in std::iter::once(name).chain(sharing.iter().map(String::as_str)) {
            if let Some(record) = inner.state.sandboxes.get(sandbox) {
                super::command::stop_for_removal(record, force)?;
            }
        }
        if !sharing.is_empty() && !force {
            return Err(AgentError::Conflict(format!(
                "sandboxes {} share the namespace of {name:?}; remove them first or use --force",
                sharing.join(", ")
            )));
        }
        let mut errors = Vec::new();
        for other in &sharing {
            errors.extend(self.dismantle(&mut inner, other).await);
        }
        errors.extend(self.dismantle(&mut inner, name).await);
        let mut removed: Vec<&str> = sharing.iter().map(String::as_str).collect();
        removed.push(name);
        if let Err(err) = self.persist_sandboxes(&inner, &removed) {
            errors.push(err);
        }
        AgentError::from_steps(errors)
    }

    /// Takes a sandbox apart, every step best effort, gathering the errors
    /// (netavark's teardown does the same): endpoints, resolver, table,
    /// namespace, resolv.conf, record.
    pub(super) async fn dismantle(&self, inner: &mut Inner, name: &str) -> Vec<AgentError> {
        let mut errors = Vec::new();
        let Some(record) = inner.state.sandboxes.get(name).cloned() else {
            return errors;
        };
        for endpoint in &record.endpoints {
            if let Err(err) = self.detach(inner, name, &endpoint.network).await {
                errors.push(err);
            }
        }
        self.remove_resolver(inner, &record).await;
        self.table.remove_sandbox(&record.id);
        if record.owns_netns {
            let deleted = faults::check(faults::DELETE_NETNS).and_then(|()| {
                delete_named(&record.netns).map_err(AgentError::io(format!(
                    "delete namespace {}",
                    record.netns.display()
                )))
            });
            if let Err(err) = deleted {
                errors.push(err);
            }
        }
        self.remove_resolv_conf(name);
        inner.state.sandboxes.remove(name);
        inner.ports.remove(name);
        tracing::info!(sandbox = name, "sandbox removed");
        errors
    }

    /// The sandbox, if it exists.
    pub async fn sandbox(&self, name: &str) -> Result<SandboxRecord, AgentError> {
        self.inner
            .lock()
            .await
            .state
            .sandboxes
            .get(name)
            .cloned()
            .ok_or_else(|| AgentError::not_found("sandbox", name))
    }

    /// The port of the sandbox's resolver, if it has one.
    pub async fn resolver_port_of(&self, name: &str) -> Option<u16> {
        Agent::resolver_port(&*self.inner.lock().await, name)
    }
}

/// A namespace file under the sandbox's name that is not the agent's.
fn taken(path: &std::path::Path, name: &str) -> AgentError {
    AgentError::Conflict(format!(
        "namespace file {} exists already and is not netagent's; \
         remove it (ip netns del {name}) or choose another name",
        path.display()
    ))
}

/// The namespace file an adoption names, checked: a path or process that
/// does not exist is 404, a file that is no network namespace 400, each
/// naming the value (not the agent's own failure, 500).
fn adoptable(adopt: &Adopt) -> Result<PathBuf, AgentError> {
    let path = match adopt {
        Adopt::Path(path) => path.clone(),
        Adopt::Pid(pid) => {
            if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
                return Err(AgentError::Absent(format!(
                    "cannot adopt the namespace of process {pid}: no such process"
                )));
            }
            PathBuf::from(format!("/proc/{pid}/ns/net"))
        }
    };
    match NsRef::Path(path.clone()).is_network_namespace() {
        Ok(true) => Ok(path),
        Ok(false) => Err(AgentError::BadInput(format!(
            "cannot adopt {}: not a network namespace",
            path.display()
        ))),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Err(AgentError::Absent(format!(
            "cannot adopt {}: no such file",
            path.display()
        ))),
        Err(err) => Err(AgentError::BadInput(format!(
            "cannot adopt {}: {err}",
            path.display()
        ))),
    }
}

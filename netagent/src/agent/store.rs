//! What must survive a restart of the agent (DESIGN.md, seam 8): networks,
//! sandboxes and their endpoints (which hold the IPAM allocations), one
//! JSON file per record under the state directory. Every write goes to a
//! temporary file, is synced, and is renamed over the old one, so a crash
//! (even `kill -9`) leaves either the old record or the new, never half of
//! one.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use config::{BridgeOptions, NameServer, PortMapping, SandboxSpec, ServicePort};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use config::DnsMode;

/// A network the agent made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkRecord {
    /// Its name.
    pub name: String,
    /// Its 64-hex id.
    pub id: String,
    /// When it was made (RFC 3339).
    pub created: String,
    /// Its Linux bridge.
    pub bridge: String,
    /// Its subnets, each with its gateway on the bridge.
    pub subnets: Vec<SubnetRecord>,
    /// `bridge` (the default network) or `user` (user-defined).
    pub builtin: bool,
    /// No route out, no forwarding to the host's servers.
    pub internal: bool,
    /// Whether it has an IPv6 subnet.
    pub ipv6: bool,
    /// Its own upstream servers.
    pub dns: Vec<NameServer>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Names only, for containers a chain of CNI plugins gave addresses
    /// to: no bridge and no IPAM of the agent's. Made on first use, removed
    /// with its last endpoint.
    #[serde(default)]
    pub dns_only: bool,
    /// Driver options as given (`-o`), Docker's keys.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// Whether the user gave its subnets (`--subnet`): Docker takes a
    /// static `--ip` only on such a network.
    #[serde(default)]
    pub user_subnets: bool,
    /// Set for an overlay network (one whose state lives in the cluster
    /// store): its VXLAN id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlay: Option<OverlayRecord>,
}

/// What makes a network an overlay network on this host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverlayRecord {
    /// Its VXLAN id, the same on every host.
    pub vni: u32,
    /// The blocks of its addresses this host holds in the cluster, lowest
    /// first: dynamic addresses here come from these only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blocks: Vec<ipnet::Ipv4Net>,
}

impl NetworkRecord {
    /// The name of its VXLAN device: `vx-` and the id's first 12 digits.
    pub fn vxlan_device(&self) -> String {
        format!("vx-{}", &self.id[..12])
    }
}

impl NetworkRecord {
    /// Its options in force (checked when it was made).
    pub fn bridge_options(&self) -> BridgeOptions {
        BridgeOptions::parse(&self.options).unwrap_or_default()
    }
}

/// A subnet and its gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubnetRecord {
    /// The subnet.
    pub subnet: IpNet,
    /// The bridge's address on it.
    pub gateway: std::net::IpAddr,
    /// Addresses are handed out from this part of it only (`--ip-range`).
    #[serde(default)]
    pub ip_range: Option<IpNet>,
    /// Addresses never handed out (`--aux-address`).
    #[serde(default)]
    pub aux: Vec<std::net::IpAddr>,
}

/// A sandbox the agent made or adopted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxRecord {
    /// Its name.
    pub name: String,
    /// Its 64-hex id.
    pub id: String,
    /// When it was made (RFC 3339).
    pub created: String,
    /// What it was asked to be.
    pub spec: SandboxSpec,
    /// Its namespace file (`/proc/PID/ns/net` for an adopted process).
    pub netns: PathBuf,
    /// The namespace's inode when it was made or adopted: a different
    /// namespace at the same path after a restart is not ours.
    pub netns_inode: u64,
    /// Whether the agent made the namespace (and so removes it).
    pub owns_netns: bool,
    /// The sandbox whose namespace this one shares (`container:NAME`).
    pub shares_with: Option<String>,
    /// Whether it is the agent's own namespace (`host`).
    pub host_mode: bool,
    /// Its endpoints, one per network.
    pub endpoints: Vec<EndpointRecord>,
    /// How its resolver is bound, if it has one.
    pub dns_mode: DnsMode,
    /// The container a runtime attached through the CNI plugin or the OCI
    /// hook, if it came that way.
    #[serde(default)]
    pub container: Option<ContainerRecord>,
    /// Its published ports, host port chosen (`-p`, `-P`).
    #[serde(default)]
    pub ports: Vec<PortMapping>,
    /// The command `netagent run` started in it, as the CLI reported it.
    #[serde(default)]
    pub command: Option<config::CommandState>,
}

/// The runtime's container behind a sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerRecord {
    /// The runtime's container id.
    pub id: String,
    /// The door it came through.
    pub door: config::Door,
    /// Its process, watched so that its exit releases the sandbox.
    pub pid: Option<u32>,
}

/// One sandbox's attachment to one network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointRecord {
    /// The network's name.
    pub network: String,
    /// 64-hex endpoint id.
    pub id: String,
    /// The interface inside the sandbox (`eth0`, ...).
    pub ifname: String,
    /// The veth end on the host, attached to the bridge.
    pub host_veth: String,
    /// IPv4 address.
    pub ipv4: Option<Ipv4Addr>,
    /// IPv6 address.
    pub ipv6: Option<Ipv6Addr>,
    /// MAC address of the interface in the sandbox.
    pub mac: Option<String>,
    /// Aliases on this network.
    pub aliases: Vec<String>,
    /// Exposed services.
    pub services: Vec<ServicePort>,
}

/// Everything the agent persists.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// Networks by name.
    pub networks: BTreeMap<String, NetworkRecord>,
    /// Sandboxes by name.
    pub sandboxes: BTreeMap<String, SandboxRecord>,
}

impl State {
    /// Names of the sandboxes that share `owner`'s namespace
    /// (`container:OWNER`).
    pub fn sharing(&self, owner: &str) -> Vec<String> {
        self.sandboxes
            .values()
            .filter(|s| s.shares_with.as_deref() == Some(owner))
            .map(|s| s.name.clone())
            .collect()
    }
}

/// The state directory: `networks/NAME.json` and `sandboxes/NAME.json`,
/// one file per record, so an attach writes one small file however many
/// sandboxes there are.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    /// What the files hold now, to write only what changed.
    written: std::sync::Mutex<State>,
}

impl Store {
    /// The store in `state_dir`, created if missing.
    pub fn open(state_dir: &Path) -> std::io::Result<Store> {
        for sub in ["networks", "sandboxes"] {
            std::fs::create_dir_all(state_dir.join(sub))?;
        }
        Ok(Store {
            dir: state_dir.to_owned(),
            written: Default::default(),
        })
    }

    /// Reads every record; an empty directory is an empty state.
    pub fn load(&self) -> std::io::Result<State> {
        let state = State {
            networks: self.load_kind("networks")?,
            sandboxes: self.load_kind("sandboxes")?,
        };
        *self.written.lock().unwrap_or_else(|p| p.into_inner()) = state.clone();
        Ok(state)
    }

    fn load_kind<T: serde::de::DeserializeOwned>(
        &self,
        kind: &str,
    ) -> std::io::Result<BTreeMap<String, T>> {
        let mut records = BTreeMap::new();
        for entry in std::fs::read_dir(self.dir.join(kind))? {
            let path = entry?.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let bytes = std::fs::read(&path)?;
            let record = serde_json::from_slice(&bytes)
                .map_err(|err| std::io::Error::other(format!("{}: {err}", path.display())))?;
            let name = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default()
                .to_owned();
            records.insert(name, record);
        }
        Ok(records)
    }

    /// Makes the files match `state`, writing only records that changed.
    pub fn save(&self, state: &State) -> std::io::Result<()> {
        let mut written = self.written.lock().unwrap_or_else(|p| p.into_inner());
        sync_kind(
            &self.dir.join("networks"),
            &state.networks,
            &mut written.networks,
        )?;
        sync_kind(
            &self.dir.join("sandboxes"),
            &state.sandboxes,
            &mut written.sandboxes,
        )
    }

    /// Makes the files of the sandboxes `names` match `state` (written,
    /// or removed when `state` has no such sandbox): what an attach or a
    /// removal changed, in time that does not grow with the other
    /// sandboxes.
    pub fn save_sandboxes(&self, state: &State, names: &[&str]) -> std::io::Result<()> {
        let mut written = self.written.lock().unwrap_or_else(|p| p.into_inner());
        let dir = self.dir.join("sandboxes");
        for name in names {
            sync_record(
                &dir,
                name,
                state.sandboxes.get(*name),
                &mut written.sandboxes,
            )?;
        }
        Ok(())
    }
}

fn sync_kind<T: Serialize + Clone + PartialEq>(
    dir: &Path,
    wanted: &BTreeMap<String, T>,
    written: &mut BTreeMap<String, T>,
) -> std::io::Result<()> {
    // Collected first: syncing changes `written`.
    let names: std::collections::BTreeSet<String> =
        wanted.keys().chain(written.keys()).cloned().collect();
    for name in names {
        sync_record(dir, &name, wanted.get(&name), written)?;
    }
    Ok(())
}

/// Makes one record's file hold `wanted` (or removes it), unless it does
/// already.
fn sync_record<T: Serialize + Clone + PartialEq>(
    dir: &Path,
    name: &str,
    wanted: Option<&T>,
    written: &mut BTreeMap<String, T>,
) -> std::io::Result<()> {
    if written.get(name) == wanted {
        return Ok(());
    }
    let path = dir.join(format!("{name}.json"));
    match wanted {
        Some(record) => {
            let bytes = serde_json::to_vec_pretty(record).map_err(std::io::Error::other)?;
            write_atomically(&path, &bytes)?;
            written.insert(name.to_owned(), record.clone());
        }
        None => {
            match std::fs::remove_file(&path) {
                Err(err) if err.kind() != std::io::ErrorKind::NotFound => return Err(err),
                _ => {}
            }
            written.remove(name);
        }
    }
    Ok(())
}

/// Temporary file, fsync, rename over the old one, fsync of the directory:
/// a crash leaves the old record or the new, never half of one.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let staged = path.with_extension("json.tmp");
    let mut file = std::fs::File::create(&staged)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&staged, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// A new random 64-hex id.
pub fn new_id() -> String {
    (0..4)
        .map(|_| format!("{:016x}", fastrand::u64(..)))
        .collect()
}

/// Now, as RFC 3339 in UTC to the second (`2026-11-30T00:57:00Z`).
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests;

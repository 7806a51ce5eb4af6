//! What a runtime hands the plugin: the network configuration on stdin
//! and the `CNI_*` environment (CNI spec 1.1, "Parameters" and "Network
//! configuration"). Everything here is hostile input: sizes are bounded,
//! and a bad value is an error that names it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use serde_json::Value;

use super::result::CniError;

/// The most stdin the plugin reads: a network configuration with a
/// previous result is a few KiB.
pub const MAX_CONF_BYTES: u64 = 1 << 20;

/// The network configuration, as much of it as the plugin reads.
#[derive(Debug, Clone, Deserialize)]
pub struct NetConf {
    /// The version the runtime speaks.
    #[serde(rename = "cniVersion", default)]
    pub cni_version: String,
    /// The CNI network's name (the conflist's).
    #[serde(default)]
    pub name: String,
    /// `netagent`.
    #[serde(rename = "type", default)]
    pub plugin_type: String,
    /// The netagent network to join as the main plugin; without it, the
    /// plugin must be chained after plugins that gave addresses.
    #[serde(default)]
    pub network: Option<String>,
    /// The agent's control socket, when not the default.
    #[serde(default)]
    pub socket: Option<PathBuf>,
    /// `args.cni.name` and `args.cni.aliases` (the spec's convention for
    /// per-container arguments in the configuration).
    #[serde(default)]
    pub args: Option<ConfArgs>,
    /// Capabilities the runtime filled in: podman's `aliases`, keyed by
    /// network name.
    #[serde(rename = "runtimeConfig", default)]
    pub runtime_config: RuntimeConfig,
    /// The result of the plugins before this one in the chain.
    #[serde(rename = "prevResult", default)]
    pub prev_result: Option<Value>,
    /// GC's list of what is still in use.
    #[serde(rename = "cni.dev/valid-attachments", default)]
    pub valid_attachments: Vec<Attachment>,
}

/// `args` in the configuration.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ConfArgs {
    /// The `cni` namespace of the args.
    #[serde(default)]
    pub cni: CniArgs,
}

/// `args.cni`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CniArgs {
    /// A name for the container.
    #[serde(default)]
    pub name: Option<String>,
    /// Aliases.
    #[serde(default)]
    pub aliases: Vec<String>,
}

/// `runtimeConfig`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RuntimeConfig {
    /// Aliases by network name (podman's `aliases` capability).
    #[serde(default)]
    pub aliases: BTreeMap<String, Vec<String>>,
    /// Published ports (the `portMappings` capability, CONVENTIONS.md of
    /// the CNI spec): podman's and containerd's `-p`.
    #[serde(rename = "portMappings", default)]
    pub port_mappings: Vec<CniPortMapping>,
}

/// One `portMappings` entry.
#[derive(Debug, Clone, Deserialize)]
pub struct CniPortMapping {
    /// The host port.
    #[serde(rename = "hostPort")]
    pub host_port: u16,
    /// The container's port.
    #[serde(rename = "containerPort")]
    pub container_port: u16,
    /// `tcp`, `udp` or `sctp`; tcp when absent.
    #[serde(default)]
    pub protocol: Option<String>,
    /// The host address; every one when absent or empty.
    #[serde(rename = "hostIP", default)]
    pub host_ip: Option<String>,
}

impl CniPortMapping {
    /// As a `-p` mapping; a bad protocol or address is CNI error 7
    /// ("invalid network config"), naming it.
    pub fn mapping(&self) -> Result<config::PortMapping, CniError> {
        let protocol = self.protocol.as_deref().unwrap_or("tcp");
        let protocol = config::Protocol::parse(protocol).ok_or_else(|| {
            CniError::new(
                7,
                "a port mapping's protocol is not tcp, udp or sctp",
                protocol,
            )
        })?;
        let host_ip = match self.host_ip.as_deref() {
            None | Some("") => None,
            Some(text) => Some(text.parse().map_err(|_| {
                CniError::new(7, "a port mapping's hostIP is not an address", text)
            })?),
        };
        Ok(config::PortMapping {
            host_ip,
            host_port: Some(self.host_port),
            container_port: self.container_port,
            protocol,
        })
    }
}

/// One entry of `cni.dev/valid-attachments`.
#[derive(Debug, Clone, Deserialize)]
pub struct Attachment {
    /// The container's id.
    #[serde(rename = "containerID")]
    pub container_id: String,
}

impl NetConf {
    /// Parses stdin; an unreadable configuration is CNI error 6
    /// ("failed to decode content").
    pub fn parse(bytes: &[u8]) -> Result<NetConf, CniError> {
        let conf: NetConf = serde_json::from_slice(bytes)
            .map_err(|err| CniError::new(6, "cannot decode the network configuration", err))?;
        if conf.name.is_empty() {
            return Err(CniError::new(
                7,
                "the network configuration has no name",
                "",
            ));
        }
        Ok(conf)
    }

    /// The netagent network this configuration names: `network`, or for a
    /// chained plugin the CNI network's own name.
    pub fn netagent_network(&self) -> &str {
        self.network.as_deref().unwrap_or(&self.name)
    }

    /// The aliases from the configuration's args and the runtime's
    /// `aliases` capability for this network.
    pub fn aliases(&self) -> Vec<String> {
        let mut aliases: Vec<String> = self
            .args
            .as_ref()
            .map(|a| a.cni.aliases.clone())
            .unwrap_or_default();
        if let Some(more) = self.runtime_config.aliases.get(&self.name) {
            aliases.extend(more.iter().cloned());
        }
        aliases.sort();
        aliases.dedup();
        aliases
    }
}

/// The `CNI_*` environment of one call.
#[derive(Debug, Clone, Default)]
pub struct CniEnv {
    /// CNI_COMMAND.
    pub command: String,
    /// CNI_CONTAINERID.
    pub container_id: String,
    /// CNI_NETNS (empty on a DEL from ctr).
    pub netns: String,
    /// CNI_IFNAME.
    pub ifname: String,
    /// CNI_ARGS, split into its `KEY=VALUE` pairs.
    pub args: BTreeMap<String, String>,
}

impl CniEnv {
    /// Reads the environment through `var`.
    pub fn read(var: impl Fn(&str) -> Option<String>) -> Result<CniEnv, CniError> {
        let get = |name: &str| var(name).unwrap_or_default();
        let args = parse_cni_args(&get("CNI_ARGS"))?;
        Ok(CniEnv {
            command: get("CNI_COMMAND"),
            container_id: get("CNI_CONTAINERID"),
            netns: get("CNI_NETNS"),
            ifname: get("CNI_IFNAME"),
            args,
        })
    }

    /// Fails with CNI error 4 unless every variable named is set.
    pub fn require(&self, names: &[&str]) -> Result<(), CniError> {
        for name in names {
            let value = match *name {
                "CNI_CONTAINERID" => &self.container_id,
                "CNI_NETNS" => &self.netns,
                "CNI_IFNAME" => &self.ifname,
                _ => continue,
            };
            if value.is_empty() {
                return Err(CniError::new(
                    4,
                    format!("{name} is not set"),
                    format!("{} needs it", self.command),
                ));
            }
        }
        Ok(())
    }

    /// The container's name: K8S_POD_NAME from CNI_ARGS (podman passes
    /// the container's name there).
    pub fn pod_name(&self) -> Option<&str> {
        self.args
            .get("K8S_POD_NAME")
            .map(String::as_str)
            .filter(|n| !n.is_empty())
    }
}

/// `IgnoreUnknown=1;K8S_POD_NAME=web`: pairs separated by `;`.
fn parse_cni_args(text: &str) -> Result<BTreeMap<String, String>, CniError> {
    let mut args = BTreeMap::new();
    for pair in text.split(';').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').ok_or_else(|| {
            CniError::new(4, format!("CNI_ARGS has {pair:?}, not KEY=VALUE"), text)
        })?;
        args.insert(key.to_owned(), value.to_owned());
    }
    Ok(args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn podmans_args_give_the_name_and_a_bad_pair_is_named() {
        let env = CniEnv::read(|name| match name {
            "CNI_ARGS" => Some("IgnoreUnknown=1;K8S_POD_NAME=web".into()),
            "CNI_COMMAND" => Some("ADD".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(env.pod_name(), Some("web"));
        let err = env.require(&["CNI_CONTAINERID"]).unwrap_err();
        assert_eq!(err.code, 4);
        assert!(err.msg.contains("CNI_CONTAINERID"), "{}", err.msg);
        let bad = CniEnv::read(|name| (name == "CNI_ARGS").then(|| "a=1;oops".into()));
        assert!(bad.unwrap_err().msg.contains("\"oops\""));
    }

    #[test]
    fn port_mappings_become_published_ports_and_bad_ones_are_named() {
        let conf = NetConf::parse(
            br#"{"cniVersion":"1.0.0","name":"app","type":"netagent",
                 "runtimeConfig":{"portMappings":[
                   {"hostPort":8080,"containerPort":80,"protocol":"tcp"},
                   {"hostPort":5353,"containerPort":53,"protocol":"udp","hostIP":"127.0.0.1"},
                   {"hostPort":1,"containerPort":2,"protocol":"icmp"}]}}"#,
        )
        .unwrap();
        let mappings = &conf.runtime_config.port_mappings;
        assert_eq!(mappings[0].mapping().unwrap().to_string(), "8080:80/tcp");
        assert_eq!(
            mappings[1].mapping().unwrap().to_string(),
            "127.0.0.1:5353:53/udp"
        );
        let err = mappings[2].mapping().unwrap_err();
        assert!(format!("{err:?}").contains("icmp"), "{err:?}");
    }

    #[test]
    fn aliases_come_from_args_and_the_runtimes_capability() {
        let conf = NetConf::parse(
            br#"{"cniVersion":"1.0.0","name":"app","type":"netagent",
                 "args":{"cni":{"aliases":["www"]}},
                 "runtimeConfig":{"aliases":{"app":["web2","www"],"other":["x"]}}}"#,
        )
        .unwrap();
        assert_eq!(conf.aliases(), ["web2", "www"]);
        assert_eq!(conf.netagent_network(), "app");
        assert_eq!(NetConf::parse(b"{").unwrap_err().code, 6);
        assert_eq!(NetConf::parse(b"{}").unwrap_err().code, 7);
    }
}

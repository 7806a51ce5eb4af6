//! A bridge network's driver options (`network create -o KEY=VALUE`),
//! with Docker's keys and meanings (moby's `libnetwork/drivers/bridge`
//! `options.go`); any other key, or a value that is not what its key
//! takes, is refused naming it.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use crate::ConfigError;

/// The Linux bridge's name.
pub const BRIDGE_NAME: &str = "com.docker.network.bridge.name";
/// Whether the network's sandboxes may reach each other.
pub const ENABLE_ICC: &str = "com.docker.network.bridge.enable_icc";
/// Whether traffic leaving the host is masqueraded.
pub const ENABLE_IP_MASQUERADE: &str = "com.docker.network.bridge.enable_ip_masquerade";
/// The default host address of the network's published ports.
pub const HOST_BINDING_IPV4: &str = "com.docker.network.bridge.host_binding_ipv4";
/// The MTU of the bridge and its veths.
pub const MTU: &str = "com.docker.network.driver.mtu";
/// Shown on the default network only, as Docker shows it.
pub const DEFAULT_BRIDGE: &str = "com.docker.network.bridge.default_bridge";

/// The options in force for one network, defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeOptions {
    /// The bridge's name, if the user chose it.
    pub name: Option<String>,
    /// Sandboxes may reach each other (Docker's default: yes).
    pub icc: bool,
    /// Masquerade traffic leaving the host (default: yes).
    pub masquerade: bool,
    /// Published ports without an address are published on this one
    /// (default: every address).
    pub host_binding_ipv4: Option<Ipv4Addr>,
    /// MTU of the bridge and veths (default: the kernel's, 1500).
    pub mtu: Option<u32>,
}

impl Default for BridgeOptions {
    fn default() -> Self {
        BridgeOptions {
            name: None,
            icc: true,
            masquerade: true,
            host_binding_ipv4: None,
            mtu: None,
        }
    }
}

/// The smallest MTU IPv4 allows (RFC 791) and the largest a veth takes.
const MTU_RANGE: std::ops::RangeInclusive<u32> = 68..=65535;

impl BridgeOptions {
    /// Reads the options of `network create -o`; every problem is
    /// reported, each naming its key and value.
    pub fn parse(options: &BTreeMap<String, String>) -> Result<BridgeOptions, Vec<ConfigError>> {
        let mut parsed = BridgeOptions::default();
        let mut errors = Vec::new();
        for (key, value) in options {
            let field = format!("options[{key}]");
            let result = match key.as_str() {
                BRIDGE_NAME => interface_name(value).map(|name| parsed.name = Some(name)),
                ENABLE_ICC => boolean(value).map(|on| parsed.icc = on),
                ENABLE_IP_MASQUERADE => boolean(value).map(|on| parsed.masquerade = on),
                HOST_BINDING_IPV4 => value
                    .parse::<Ipv4Addr>()
                    .map(|ip| parsed.host_binding_ipv4 = (!ip.is_unspecified()).then_some(ip))
                    .map_err(|_| format!("{value:?} is not an IPv4 address")),
                MTU => mtu(value).map(|mtu| parsed.mtu = Some(mtu)),
                _ => Err(format!(
                    "unknown option {key:?}; known: {BRIDGE_NAME}, {ENABLE_ICC}, \
                     {ENABLE_IP_MASQUERADE}, {HOST_BINDING_IPV4}, {MTU}"
                )),
            };
            if let Err(message) = result {
                errors.push(ConfigError::new(field, message));
            }
        }
        if errors.is_empty() {
            Ok(parsed)
        } else {
            Err(errors)
        }
    }

    /// What `network inspect` shows for the default `bridge`, as Docker
    /// shows docker0's: every option, with its value in force.
    pub fn shown_for_default(&self, bridge: &str) -> BTreeMap<String, String> {
        let mut shown = BTreeMap::new();
        let mut put = |key: &str, value: String| shown.insert(key.to_owned(), value);
        put(DEFAULT_BRIDGE, "true".into());
        put(ENABLE_ICC, self.icc.to_string());
        put(ENABLE_IP_MASQUERADE, self.masquerade.to_string());
        put(
            HOST_BINDING_IPV4,
            self.host_binding_ipv4
                .unwrap_or(Ipv4Addr::UNSPECIFIED)
                .to_string(),
        );
        put(BRIDGE_NAME, bridge.to_owned());
        put(MTU, self.mtu.unwrap_or(1500).to_string());
        shown
    }
}

/// An MTU as `-o com.docker.network.driver.mtu` takes it.
pub(crate) fn mtu(value: &str) -> Result<u32, String> {
    value
        .parse::<u32>()
        .ok()
        .filter(|mtu| MTU_RANGE.contains(mtu))
        .ok_or_else(|| format!("{value:?} is not an MTU from 68 to 65535"))
}

/// Go's `strconv.ParseBool`, which Docker uses for these options.
fn boolean(value: &str) -> Result<bool, String> {
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(format!("{value:?} is not true or false")),
    }
}

/// A Linux interface name: 1 to 15 bytes (IFNAMSIZ less the NUL), no
/// '/', ':' or whitespace (`dev_valid_name`, net/core/dev.c).
fn interface_name(value: &str) -> Result<String, String> {
    let valid = (1..=15).contains(&value.len())
        && value != "."
        && value != ".."
        && !value
            .chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace());
    if valid {
        Ok(value.to_owned())
    } else {
        Err(format!(
            "{value:?} is not an interface name (1-15 characters, no '/', ':' or spaces)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn dockers_keys_are_read_with_defaults_for_the_rest() {
        let parsed = BridgeOptions::parse(&options(&[
            (ENABLE_ICC, "false"),
            (MTU, "1400"),
            (BRIDGE_NAME, "br-app"),
            (HOST_BINDING_IPV4, "127.0.0.1"),
        ]))
        .unwrap();
        assert!(!parsed.icc && parsed.masquerade);
        assert_eq!(parsed.mtu, Some(1400));
        assert_eq!(parsed.name.as_deref(), Some("br-app"));
        assert_eq!(parsed.host_binding_ipv4, Some(Ipv4Addr::LOCALHOST));
        assert_eq!(
            BridgeOptions::parse(&BTreeMap::new()).unwrap(),
            BridgeOptions::default()
        );
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let errors = BridgeOptions::parse(&options(&[
            ("com.docker.network.bridge.enable_icc", "maybe"),
            ("colour", "blue"),
            (MTU, "40"),
            (BRIDGE_NAME, "a-name-far-too-long"),
        ]))
        .unwrap_err();
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        let text = text.join("\n");
        for expected in [
            "\"maybe\" is not true or false",
            "unknown option \"colour\"",
            "\"40\" is not an MTU",
            "\"a-name-far-too-long\" is not an interface name",
        ] {
            assert!(text.contains(expected), "{expected} missing in {text}");
        }
    }

    #[test]
    fn the_default_bridge_shows_every_option() {
        let shown = BridgeOptions::default().shown_for_default("netagent0");
        assert_eq!(shown.len(), 6);
        assert_eq!(shown[DEFAULT_BRIDGE], "true");
        assert_eq!(shown[HOST_BINDING_IPV4], "0.0.0.0");
        assert_eq!(shown[MTU], "1500");
        assert_eq!(shown[BRIDGE_NAME], "netagent0");
    }
}

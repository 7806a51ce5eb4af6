//! What the plugin prints: a CNI result on success, a CNI error on
//! failure (CNI spec 1.1, "Success" and "Error"), in the version the
//! runtime asked for. 0.3.x and 0.4.0 results carry a `version` on each
//! address; 1.x results do not.

use std::fmt::Display;
use std::net::IpAddr;

use serde_json::{json, Map, Value};

use crate::daemon::api::model::ContainerView;

/// The versions this plugin speaks (VERSION's answer).
pub const SUPPORTED_VERSIONS: &[&str] = &["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];

/// A CNI error: the spec's code, a message naming the problem, details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CniError {
    /// 1-99 are the spec's; 100 and up are netagent's own.
    pub code: u32,
    /// What went wrong.
    pub msg: String,
    /// More about it.
    pub details: String,
}

/// The agent refused the request (netagent's own code): the message is
/// the agent's.
pub const AGENT_REFUSED: u32 = 100;

impl CniError {
    /// An error with `code`, a message and details.
    pub fn new(code: u32, msg: impl Into<String>, details: impl Display) -> CniError {
        CniError {
            code,
            msg: msg.into(),
            details: details.to_string(),
        }
    }

    /// The error JSON, in `version`.
    pub fn to_json(&self, version: &str) -> Value {
        json!({
            "cniVersion": version,
            "code": self.code,
            "msg": self.msg,
            "details": self.details,
        })
    }
}

/// The result of an ADD as the network's main plugin.
pub fn main_result(version: &str, view: &ContainerView) -> Value {
    let mut interfaces = Vec::new();
    if let Some(host) = &view.host_ifname {
        let mut interface = Map::new();
        interface.insert("name".into(), json!(host));
        if let Some(mac) = &view.host_mac {
            interface.insert("mac".into(), json!(mac));
        }
        interfaces.push(Value::Object(interface));
    }
    let mut inside = Map::new();
    inside.insert("name".into(), json!(view.ifname));
    if let Some(mac) = &view.mac {
        inside.insert("mac".into(), json!(mac));
    }
    inside.insert("sandbox".into(), json!(view.netns));
    let inside_index = interfaces.len();
    interfaces.push(Value::Object(inside));
    let ips: Vec<Value> = view
        .addresses
        .iter()
        .map(|address| {
            ip_entry(
                version,
                address,
                gateway_for(address, &view.gateways),
                inside_index,
            )
        })
        .collect();
    let routes: Vec<Value> = view
        .gateways
        .iter()
        .map(|gateway| {
            let default = if gateway.is_ipv4() {
                "0.0.0.0/0"
            } else {
                "::/0"
            };
            json!({ "dst": default, "gw": gateway })
        })
        .collect();
    json!({
        "cniVersion": version,
        "interfaces": interfaces,
        "ips": ips,
        "routes": routes,
        "dns": dns_of(view),
    })
}

/// The result of an ADD chained after other plugins: theirs, passed on
/// with `dns` pointing at the container's resolver.
pub fn chained_result(version: &str, mut previous: Value, view: &ContainerView) -> Value {
    if let Some(object) = previous.as_object_mut() {
        object.insert("cniVersion".into(), json!(version));
        object.insert("dns".into(), dns_of(view));
    }
    previous
}

/// `dns`: the nameserver, search list and options of the sandbox's
/// resolv.conf (podman uses the nameservers; ctr uses none of it).
fn dns_of(view: &ContainerView) -> Value {
    json!({
        "nameservers": view.nameservers,
        "search": view.search,
        "options": view.options,
    })
}

fn ip_entry(version: &str, address: &str, gateway: Option<IpAddr>, interface: usize) -> Value {
    let mut entry = Map::new();
    if version.starts_with("0.") {
        let family = if address.contains(':') { "6" } else { "4" };
        entry.insert("version".into(), json!(family));
    }
    entry.insert("address".into(), json!(address));
    if let Some(gateway) = gateway {
        entry.insert("gateway".into(), json!(gateway));
    }
    entry.insert("interface".into(), json!(interface));
    Value::Object(entry)
}

fn gateway_for(address: &str, gateways: &[IpAddr]) -> Option<IpAddr> {
    let v6 = address.contains(':');
    gateways.iter().copied().find(|g| g.is_ipv6() == v6)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view() -> ContainerView {
        ContainerView {
            sandbox: "web".into(),
            id: "c0ffee".into(),
            netns: "/run/netns/cni-1".into(),
            network: "app".into(),
            ifname: "eth0".into(),
            mac: Some("02:42:0a:59:00:05".into()),
            host_ifname: Some("veth1234abcd".into()),
            host_mac: Some("ee:ee:ee:ee:ee:01".into()),
            addresses: vec!["10.89.0.5/24".into(), "fd00::5/64".into()],
            gateways: vec!["10.89.0.1".parse().unwrap(), "fd00::1".parse().unwrap()],
            resolv_conf: String::new(),
            nameservers: vec!["127.0.0.11".into()],
            search: vec!["netagent.internal".into()],
            options: vec!["ndots:0".into()],
        }
    }

    #[test]
    fn a_main_result_in_1_0_0() {
        let result = main_result("1.0.0", &view());
        assert_eq!(
            result,
            json!({
                "cniVersion": "1.0.0",
                "interfaces": [
                    {"name": "veth1234abcd", "mac": "ee:ee:ee:ee:ee:01"},
                    {"name": "eth0", "mac": "02:42:0a:59:00:05", "sandbox": "/run/netns/cni-1"}
                ],
                "ips": [
                    {"address": "10.89.0.5/24", "gateway": "10.89.0.1", "interface": 1},
                    {"address": "fd00::5/64", "gateway": "fd00::1", "interface": 1}
                ],
                "routes": [
                    {"dst": "0.0.0.0/0", "gw": "10.89.0.1"},
                    {"dst": "::/0", "gw": "fd00::1"}
                ],
                "dns": {"nameservers": ["127.0.0.11"], "search": ["netagent.internal"], "options": ["ndots:0"]}
            })
        );
    }

    #[test]
    fn old_versions_name_the_family_of_each_address() {
        let result = main_result("0.4.0", &view());
        assert_eq!(result["ips"][0]["version"], "4");
        assert_eq!(result["ips"][1]["version"], "6");
    }

    #[test]
    fn a_chained_result_keeps_the_previous_and_sets_dns() {
        let previous =
            json!({"cniVersion": "1.0.0", "ips": [{"address": "10.88.0.2/16"}], "dns": {}});
        let result = chained_result("1.0.0", previous, &view());
        assert_eq!(result["ips"][0]["address"], "10.88.0.2/16");
        assert_eq!(result["dns"]["nameservers"][0], "127.0.0.11");
    }

    #[test]
    fn errors_carry_code_message_and_details() {
        let err = CniError::new(7, "no network \"x\"", "create it first");
        assert_eq!(
            err.to_json("1.0.0"),
            json!({"cniVersion": "1.0.0", "code": 7, "msg": "no network \"x\"", "details": "create it first"})
        );
    }
}

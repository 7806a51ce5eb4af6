//! Published ports as `ps` and `inspect` show them, in Docker's shapes:
//! `0.0.0.0:8080->80/tcp` in `ps`; `NetworkSettings.Ports` (what is
//! published, host port chosen, and exposed ports with `null`) and
//! `HostConfig.PortBindings` (what `-p` asked for, `""` for what it left
//! to the agent) in `inspect`.

use std::collections::BTreeMap;
use std::net::IpAddr;

use config::PortMapping;
use serde_json::{json, Value};

use crate::daemon::api::model::SandboxView;

/// `ps`'s PORTS cell: `0.0.0.0:8080->80/tcp, 127.0.0.1:5353->53/udp`.
pub fn ports_cell(view: &SandboxView) -> String {
    let cells: Vec<String> = view
        .ports
        .iter()
        .map(|p| {
            format!(
                "{}:{}->{}",
                host_ip(p.host_ip),
                p.host_port.unwrap_or(0),
                key(p)
            )
        })
        .collect();
    cells.join(", ")
}

/// `inspect`'s `NetworkSettings.Ports`: `{"80/tcp": [{"HostIp",
/// "HostPort"}]}`, and `null` for a port exposed but not published.
pub fn network_settings_ports(view: &SandboxView) -> Value {
    let mut ports: BTreeMap<String, Value> = view
        .spec
        .expose
        .iter()
        .map(|e| (format!("{}/{}", e.port, e.protocol.as_str()), Value::Null))
        .collect();
    for mapping in &view.ports {
        let binding = json!({
            "HostIp": host_ip(mapping.host_ip),
            "HostPort": mapping.host_port.unwrap_or(0).to_string(),
        });
        match ports.entry(key(mapping)).or_insert(Value::Null) {
            Value::Array(bindings) => bindings.push(binding),
            slot => *slot = Value::Array(vec![binding]),
        }
    }
    json!(ports)
}

/// `inspect`'s `HostConfig.PortBindings`: what `-p` asked for.
pub fn host_config_port_bindings(view: &SandboxView) -> Value {
    let mut bindings: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for mapping in &view.spec.publish {
        bindings.entry(key(mapping)).or_default().push(json!({
            "HostIp": mapping.host_ip.map(|ip| ip.to_string()).unwrap_or_default(),
            "HostPort": mapping.host_port.map(|p| p.to_string()).unwrap_or_default(),
        }));
    }
    json!(bindings)
}

/// `80/tcp`
fn key(mapping: &PortMapping) -> String {
    format!("{}/{}", mapping.container_port, mapping.protocol.as_str())
}

/// Every address when none was given, as Docker shows it.
fn host_ip(ip: Option<IpAddr>) -> String {
    ip.map_or_else(|| "0.0.0.0".to_owned(), |ip| ip.to_string())
}

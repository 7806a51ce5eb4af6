//! Published ports as `ps` and `inspect` show them. Port publishing
//! (`-p`, `-P`, `--expose`) is its own piece of work (issue #13 leaves it
//! to the data-plane change); until it lands these say "none", and that
//! change fills them from the sandbox's view in this one place.

use serde_json::{json, Value};

use crate::daemon::api::model::SandboxView;

/// `ps`'s PORTS cell (`0.0.0.0:80->80/tcp, ...` once ports are published).
pub fn ports_cell(_view: &SandboxView) -> String {
    String::new()
}

/// `inspect`'s `NetworkSettings.Ports`: `{"80/tcp": [{"HostIp", "HostPort"}]}`.
pub fn network_settings_ports(_view: &SandboxView) -> Value {
    json!({})
}

/// `inspect`'s `HostConfig.PortBindings`: what `-p` asked for.
pub fn host_config_port_bindings(_view: &SandboxView) -> Value {
    json!({})
}

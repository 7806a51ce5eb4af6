//! The sandbox's /etc/hostname and /etc/hosts, beside its resolv.conf in
//! `/etc/netns/NAME/`, where `ip netns exec NAME` bind-mounts them over
//! /etc and `netagent exec` does the same (issue #13: `--hostname` must
//! hold inside the sandbox, not only as a DNS name). The hosts file is
//! Docker's: loopback and the IPv6 names, the `--add-host` lines, then the
//! sandbox's own address and hostname.

use std::net::IpAddr;
use std::path::Path;

use super::store::SandboxRecord;
use super::{Agent, AgentError};

/// The lines Docker writes first in every container's /etc/hosts.
const DEFAULT_HOSTS: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n";

/// The hostname a sandbox has inside: `--hostname`, else its name.
pub fn hostname_of(record: &SandboxRecord) -> &str {
    record.spec.hostname.as_deref().unwrap_or(&record.name)
}

/// The text of the sandbox's /etc/hosts.
pub(super) fn hosts_text(record: &SandboxRecord) -> String {
    let mut text = DEFAULT_HOSTS.to_owned();
    for entry in &record.spec.extra_hosts {
        if let Some((host, address)) = entry.split_once(':') {
            text.push_str(&format!("{address}\t{host}\n"));
        }
    }
    let own: Vec<IpAddr> = record
        .endpoints
        .iter()
        .flat_map(|e| {
            e.ipv4
                .map(IpAddr::V4)
                .into_iter()
                .chain(e.ipv6.map(IpAddr::V6))
        })
        .collect();
    for address in own {
        text.push_str(&format!("{address}\t{}\n", hostname_of(record)));
    }
    text
}

impl Agent {
    /// Writes the sandbox's hostname and hosts files; a host-mode sandbox
    /// keeps the host's, as in Docker.
    pub(super) fn write_etc_files(&self, record: &SandboxRecord) -> Result<(), AgentError> {
        if record.host_mode {
            return Ok(());
        }
        let dir = self.config.paths.resolv_dir.join(&record.name);
        std::fs::create_dir_all(&dir)
            .map_err(AgentError::io(format!("create {}", dir.display())))?;
        write_atomically(&dir.join("hostname"), &format!("{}\n", hostname_of(record)))?;
        write_atomically(&dir.join("hosts"), &hosts_text(record))
    }
}

fn write_atomically(path: &Path, text: &str) -> Result<(), AgentError> {
    let staged = path.with_extension("tmp");
    std::fs::write(&staged, text).map_err(AgentError::io(format!("write {}", staged.display())))?;
    std::fs::rename(&staged, path).map_err(AgentError::io(format!("write {}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::store::SandboxRecord;

    #[test]
    fn hosts_has_dockers_lines_the_extra_hosts_and_the_own_address_last() {
        let mut spec = config::SandboxSpec::named("web");
        spec.hostname = Some("web-1".into());
        spec.extra_hosts = vec!["db:10.0.0.5".into(), "v6:::1".into()];
        let record: SandboxRecord = serde_json::from_value(serde_json::json!({
            "name": "web", "id": "0".repeat(64), "created": "", "spec": spec,
            "netns": "/run/netns/web", "netns_inode": 1, "owns_netns": true,
            "shares_with": null, "host_mode": false, "dns_mode": "redirect",
            "endpoints": [{"network": "app", "id": "1".repeat(64), "ifname": "eth0",
                "host_veth": "veth0", "ipv4": "10.89.0.2", "ipv6": null, "mac": null,
                "aliases": [], "services": []}]
        }))
        .unwrap();
        let text = hosts_text(&record);
        assert!(text.starts_with("127.0.0.1\tlocalhost\n"), "{text}");
        assert!(
            text.contains("10.0.0.5\tdb\n::1\tv6\n10.89.0.2\tweb-1\n"),
            "{text}"
        );
        assert_eq!(hostname_of(&record), "web-1");
    }
}

//! What the integration tests share: the real `netagent` binary serving a
//! table on loopback, and the real DNS clients (dig, kdig) run against it.

pub mod background;
pub mod certs;
pub mod clients;
pub mod cluster;
pub mod cni_call;
pub mod fake_upstream;
pub mod host;
pub mod inprocess;
pub mod output;
pub mod runtimes;
pub mod serve;
pub mod tables;
pub mod world;

use std::path::PathBuf;

/// The fixture table: `client` and `web` (alias `www`, hostname `web-host`,
/// `http=80/tcp`), `web2` (alias `www`), `v6only`, a sandbox whose 70-byte
/// name cannot be a PTR target, and 40 sandboxes `m0`..`m39` sharing the
/// alias `many`, on `app`; `secret` on `other`.
pub fn fixture_table() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/data/table.json")
}

/// Fails the test with a clear message when a program the test runs is
/// missing. Never a quiet pass: the README's test command installs them.
pub fn require_program(name: &str, package: &str) {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(name).is_file()))
        .unwrap_or(false);
    assert!(found, "{name} is not installed: install the Debian package {package} (the README's test command, .ci/run, does)");
}

//! Namespace tier, the never-reading TCP client (issue #14): inside a
//! sandbox, two clients pipeline queries to 127.0.0.11 and never read,
//! with the sandbox's TCP connections bounded at 2; a third client is
//! still served and the two are closed by the agent. Before the bounds,
//! the two held both slots and the sandbox's TCP DNS was refused.

use crate::harness::host::{OutputExt, TestHost};

#[test]
fn never_reading_tcp_clients_in_a_sandbox_are_closed_and_others_served() {
    // Idle connections are kept a minute, past the script's 20 s of
    // retries: only the bounds can free the slots.
    let host =
        TestHost::with_config("[resolver]\nmax_tcp_connections = 2\ntcp_idle_timeout_ms = 60000\n");
    host.cli(&["network", "create", "app"])
        .assert_ok("network create");
    for name in ["web", "client"] {
        host.cli(&["run", "--name", name, "--network", "app"])
            .assert_ok(&format!("run {name}"));
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/data/tcp_hogs.py");
    let out = host.exec("client", &["python3", script]);
    let text = out.stdout_text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines, ["served", "closed", "closed"], "{text}");
    host.assert_clean_after_removal();
}

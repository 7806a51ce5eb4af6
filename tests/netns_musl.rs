//! Namespace tier, musl (issue #14): a static test binary built with
//! musl-gcc asks through getaddrinfo for an alias shared by 40 sandboxes.
//! Its answer does not fit 512 bytes; musl (1.2.3 and before) never
//! retries over TCP, so it gets addresses only because the truncated
//! answer carries the whole records that fit.

use std::process::Command;

use crate::harness::host::{OutputExt, TestHost};
use crate::harness::require_program;

const SHARING: usize = 40;

/// Builds tests/data/musl_resolve.c static with musl-gcc into `dir`.
fn build_musl_client(dir: &std::path::Path) -> std::path::PathBuf {
    require_program("musl-gcc", "musl-tools");
    let source = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/data/musl_resolve.c");
    let binary = dir.join("musl_resolve");
    let out = Command::new("musl-gcc")
        .args(["-static", "-O2", "-o"])
        .arg(&binary)
        .arg(source)
        .output()
        .expect("run musl-gcc");
    assert!(
        out.status.success(),
        "musl-gcc: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    binary
}

#[test]
fn musl_resolves_an_alias_of_40_addresses_from_a_truncated_answer() {
    let host = TestHost::new();
    let client = build_musl_client(host.dir.path());
    host.cli(&["network", "create", "app", "--subnet", "10.78.0.0/24"])
        .assert_ok("network create");
    for i in 0..SHARING {
        let (name, ip) = (format!("m{i}"), format!("10.78.0.{}", 10 + i));
        host.cli(&[
            "run",
            "--name",
            &name,
            "--network",
            "app",
            "--alias",
            "many",
            "--ip",
            &ip,
        ])
        .assert_ok(&format!("run {name}"));
    }
    host.cli(&["run", "--name", "client", "--network", "app"])
        .assert_ok("run client");
    let out = host.exec("client", &[client.to_str().unwrap(), "many"]);
    let text = out.stdout_text();
    assert!(out.status.success(), "musl's getaddrinfo failed: {text}");
    let addresses: Vec<&str> = text.lines().collect();
    assert!(
        !addresses.is_empty() && addresses.len() < SHARING,
        "a truncated answer's whole records: {text}"
    );
    assert!(
        addresses.iter().all(|a| a.starts_with("10.78.0.")),
        "{text}"
    );
    host.assert_clean_after_removal();
}

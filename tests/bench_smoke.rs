//! The benchmark harness's smoke run (`bench/run --quick`), so it cannot
//! rot: every step once, briefly, with the debug binary. The numbers it
//! prints mean nothing; that it completes and reports every section does.

use std::process::Command;

use crate::harness::host::{require_root, OutputExt};
use crate::harness::require_program;

#[test]
fn bench_run_quick_completes_every_step() {
    require_root();
    for (program, package) in [
        ("dnsperf", "dnsperf"),
        ("dnsmasq", "dnsmasq-base"),
        ("curl", "curl"),
        ("python3", "python3"),
        ("socat", "socat"),
        ("iperf3", "iperf3"),
        ("cc", "gcc"),
    ] {
        require_program(program, package);
    }
    assert!(
        std::path::Path::new("/usr/lib/podman/aardvark-dns").exists(),
        "install the Debian package aardvark-dns"
    );
    let out = tempfile::NamedTempFile::new().unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../bench/run");
    let output = Command::new(script)
        .args(["--quick", "--out", out.path().to_str().unwrap()])
        .env("NETAGENT_BIN", env!("CARGO_BIN_EXE_netagent"))
        .output()
        .expect("run bench/run");
    output.assert_ok("bench/run --quick");
    let report = std::fs::read_to_string(out.path()).unwrap();
    for section in [
        "| local | 8 | netagent-redirect |",
        "| local | 8 | aardvark-dns |",
        "| local | 8 | dnsmasq |",
        "| local | Q5000 | netagent-redirect |",
        "| forwarded-warm | Q5000 | netagent-redirect |",
        "| forwarded-warm | Q5000 | dnsmasq |",
        "## Dead first upstream",
        "## Attach",
        "## Published ports: DNAT beside a userland proxy",
        "| DNAT (netagent -p) |",
        "| userland proxy: socat |",
        "| userland proxy: spliceproxy |",
        "| direct (no NAT) |",
        "### Attach with a published port",
        "## 1,000 quiet sandboxes",
        "| sandboxes | target | answers/s | CPU s per run |",
        "| netagent-redirect | local |",
        "| aardvark-dns | cold |",
        "| dnsmasq | warm |",
        "no lost or late answer from netagent",
        "## Targets",
        "## Versions",
    ] {
        assert!(report.contains(section), "missing {section:?} in\n{report}");
    }
    assert!(
        !report.contains("NaN") && !report.contains("nan"),
        "{report}"
    );
}

/// The overlay step (issue #15), asked for on its own as people run it:
/// two hosts and etcd, every number printed.
#[test]
fn bench_run_quick_overlay_step_completes() {
    require_root();
    for (program, package) in [
        ("etcd", "etcd-server"),
        ("etcdctl", "etcd-client"),
        ("curl", "curl"),
        ("python3", "python3"),
    ] {
        require_program(program, package);
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../bench/run");
    let output = Command::new(script)
        .args(["--only", "overlay", "--quick"])
        .env("NETAGENT_BIN", env!("CARGO_BIN_EXE_netagent"))
        .output()
        .expect("run bench/run");
    output.assert_ok("bench/run --only overlay --quick");
    let printed = output.stdout_text();
    for line in [
        "propagation A -> B: p50=",
        "attach p50: overlay",
        "1000 FDB entries",
    ] {
        assert!(printed.contains(line), "missing {line:?} in\n{printed}");
    }
    assert!(!printed.contains("nan"), "{printed}");
}

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

//! Namespace tier: `kill -9` of the agent while it makes things (issue
//! #14). A creation cut short must leave nothing a restart keeps: no
//! namespace file without a sandbox, no veth or bridge without a record,
//! and every name usable again. Deterministic cases stall the debug build
//! at a step (agent/faults.rs, `stall.*`) and kill it there; the burst
//! kills it while several `run`s are queued and in flight.

use std::process::Child;
use std::time::{Duration, Instant};

use crate::harness::host::{OutputExt, TestHost};

/// Waits (bounded) until the agent says it stalls on purpose.
fn wait_for_stall(host: &TestHost) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !host.daemon_log().contains("stalling on purpose") {
        assert!(
            Instant::now() < deadline,
            "the agent never reached its stall:\n{}",
            host.daemon_log()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn reap(children: Vec<Child>) {
    for mut child in children {
        let _ = child.wait();
    }
}

/// Every namespace file belongs to a sandbox the agent lists, and every
/// veth on the host to one of their endpoints.
fn assert_no_orphans(host: &TestHost) {
    let ps = host
        .cli(&["ps", "-a", "--format", "{{.Names}}"])
        .assert_ok("ps")
        .stdout_text();
    let sandboxes: Vec<&str> = ps.lines().map(str::trim).collect();
    for file in host.files_in("netns") {
        assert!(
            sandboxes.contains(&file.as_str()),
            "namespace {file} has no sandbox ({sandboxes:?}):\n{}",
            host.daemon_log()
        );
    }
    let mut owned = Vec::new();
    for name in &sandboxes {
        owned.push(host.cli(&["inspect", name]).stdout_text());
    }
    for link in host.links().iter().filter(|l| l.starts_with("veth")) {
        assert!(
            owned.iter().any(|inspect| inspect.contains(link.as_str())),
            "veth {link} belongs to no sandbox"
        );
    }
}

#[test]
fn kill_9_mid_run_leaves_nothing_and_the_name_stays_usable() {
    let mut host = TestHost::new();
    host.cli(&["network", "create", "app"])
        .assert_ok("network create app");
    for stall in ["stall.netns", "stall.veth"] {
        host.restart_with_faults(stall);
        let run = host.cli_spawn(&["run", "--name", "crash", "--network", "app"]);
        wait_for_stall(&host);
        host.kill_daemon();
        reap(vec![run]);
        host.restart_with_faults("");
        assert!(
            host.files_in("netns").is_empty(),
            "{stall}: namespace left: {:?}",
            host.files_in("netns")
        );
        assert_no_orphans(&host);
        host.cli(&["run", "--name", "crash", "--network", "app"])
            .assert_ok("the name is usable again");
        host.cli(&["rm", "crash"]).assert_ok("rm crash");
    }
    host.assert_clean_after_removal();
}

#[test]
fn kill_9_during_bursts_of_attaches_leaves_no_orphans() {
    let mut host = TestHost::new();
    host.cli(&["network", "create", "app"])
        .assert_ok("network create app");
    let mut names = Vec::new();
    for round in 0..3u64 {
        let burst: Vec<String> = (0..6).map(|i| format!("b{round}-{i}")).collect();
        let runs: Vec<Child> = burst
            .iter()
            .map(|name| host.cli_spawn(&["run", "--name", name, "--network", "app"]))
            .collect();
        // Each round kills a little later, to land in a different step.
        std::thread::sleep(Duration::from_millis(20 + 15 * round));
        host.kill_daemon();
        reap(runs);
        host.start_daemon();
        assert_no_orphans(&host);
        names.extend(burst);
    }
    for name in &names {
        host.cli(&["rm", "--force", name]);
        host.cli(&["run", "--name", name, "--network", "app"])
            .assert_ok("every name is usable again");
    }
    host.assert_clean_after_removal();
}

#[test]
fn kill_9_mid_network_create_leaves_no_bridge() {
    let mut host = TestHost::new();
    host.restart_with_faults("stall.bridge");
    let create = host.cli_spawn(&["network", "create", "app"]);
    wait_for_stall(&host);
    host.kill_daemon();
    reap(vec![create]);
    host.restart_with_faults("");
    let links = host.links();
    assert!(
        links.iter().all(|l| !l.starts_with("na-")),
        "a bridge left: {links:?}"
    );
    host.cli(&["network", "create", "app"])
        .assert_ok("the name is usable again");
    host.assert_clean_after_removal();
}

#[test]
fn a_failed_network_create_leaves_no_bridge() {
    let mut host = TestHost::new();
    host.restart_with_faults("network.bridge");
    host.cli(&["network", "create", "app"])
        .assert_fails_with("network.bridge");
    let links = host.links();
    assert!(
        links.iter().all(|l| !l.starts_with("na-")),
        "a bridge left: {links:?}"
    );
    assert!(!host.cli(&["network", "ls"]).stdout_text().contains("app"));
}

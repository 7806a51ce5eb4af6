//! Namespace tier: the agent's failure paths, provoked with the debug
//! build's fault points (netagent/src/agent/faults.rs). Each case is one
//! the agent got wrong before: a removal or a failed creation that
//! reported only one of the steps that failed, an injection that left its
//! redirect (and the guard holding the namespace) behind, a detach that
//! took the name out of the table although the kernel kept the veth.

use crate::harness::host::{OutputExt, TestHost};

fn create_app_network(host: &TestHost) {
    host.cli(&["network", "create", "app"])
        .assert_ok("network create");
}

#[test]
fn a_removal_reports_every_step_that_failed() {
    let host = TestHost::with_faults("detach.veth,sandbox.delete_netns");
    create_app_network(&host);
    host.cli(&["run", "--name", "web", "--network", "app"])
        .assert_ok("run web");
    let out = host.cli(&["rm", "web"]);
    assert!(
        !out.status.success(),
        "rm should fail: {}",
        out.stdout_text()
    );
    let stderr = out.stderr_text();
    assert!(
        stderr.contains("detach.veth") && stderr.contains("sandbox.delete_netns"),
        "both failed steps named: {stderr}"
    );
    // Every step that could be done was: the sandbox is gone from the
    // agent's view.
    assert!(
        !host.cli(&["ps"]).stdout_text().contains("web"),
        "the record is removed"
    );
}

#[test]
fn a_failed_creation_reports_its_cause_and_the_undo_that_failed() {
    let host = TestHost::with_faults("attach.veth,sandbox.delete_netns");
    create_app_network(&host);
    let out = host.cli(&["run", "--name", "web", "--network", "app"]);
    assert!(!out.status.success(), "run should fail");
    let stderr = out.stderr_text();
    let cause = stderr.find("attach.veth").expect("the cause named");
    let undo = stderr
        .find("sandbox.delete_netns")
        .unwrap_or_else(|| panic!("the failed undo named: {stderr}"));
    assert!(cause < undo, "the cause first: {stderr}");
    assert!(!host.cli(&["ps"]).stdout_text().contains("web"));
}

#[test]
fn an_injection_failing_part_way_leaves_no_redirect_and_no_guard() {
    let host = TestHost::with_faults("inject.serve");
    create_app_network(&host);
    // On the default bridge, which has no resolver: connecting it to
    // `app` injects one (Docker refuses to connect a `none` sandbox).
    host.cli(&["run", "--name", "lonely"])
        .assert_ok("run lonely without a resolver");
    host.cli(&["network", "connect", "app", "lonely"])
        .assert_fails_with("inject.serve");
    let netns = format!("--net={}", host.netns_path("lonely").display());
    let in_sandbox = |args: &[&str]| {
        let mut full = vec!["nsenter", netns.as_str(), "--"];
        full.extend_from_slice(args);
        host.in_host(&full)
    };
    let tables = in_sandbox(&["nft", "list", "tables"])
        .assert_ok("nft list tables in the sandbox")
        .stdout_text();
    assert!(
        !tables.contains("netagent"),
        "the redirect was taken out: {tables}"
    );
    // Had the guard been left running, it would put the rules back the
    // moment anything touched the ruleset.
    in_sandbox(&["nft", "add", "table", "ip", "other"]).assert_ok("touch the ruleset");
    std::thread::sleep(std::time::Duration::from_millis(200));
    let tables = in_sandbox(&["nft", "list", "tables"]).stdout_text();
    assert!(
        !tables.contains("netagent"),
        "no guard restored it: {tables}"
    );
    let inspect = host.cli(&["inspect", "lonely"]).stdout_text();
    assert!(!inspect.contains("\"app\""), "not on app: {inspect}");
    host.assert_clean_after_removal();
}

#[test]
fn a_detach_whose_veth_stays_keeps_the_endpoint_whole() {
    let host = TestHost::with_faults("detach.veth");
    create_app_network(&host);
    host.cli(&["run", "--name", "web", "--network", "app"])
        .assert_ok("run web");
    host.cli(&["run", "--name", "client", "--network", "app"])
        .assert_ok("run client");
    let before = host.dig_short("client", &["web"]);
    assert_eq!(before.len(), 1, "{before:?}");
    host.cli(&["network", "disconnect", "app", "web"])
        .assert_fails_with("detach.veth");
    assert_eq!(
        host.dig_short("client", &["web"]),
        before,
        "the kernel kept the veth, so the name still answers"
    );
    let inspect = host.cli(&["inspect", "web"]).stdout_text();
    assert!(inspect.contains("\"app\""), "still on app: {inspect}");
}

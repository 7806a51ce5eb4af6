//! Namespace tier: how 127.0.0.11 reaches the resolver in a sandbox
//! (kernel/redirect): a process may still bind port 53 in redirect mode,
//! a flushed ruleset is put back in each sandbox and after a restart, and
//! direct mode binds 127.0.0.11:53 with no rules.

use crate::harness::host::{OutputExt, TestHost};
use crate::netns_agent::run;

#[test]
fn a_process_can_bind_port_53_and_the_resolver_still_answers() {
    let host = TestHost::new();
    host.cli(&["network", "create", "app"])
        .assert_ok("network create");
    run(&host, &["--name", "web", "--network", "app"]);
    run(&host, &["--name", "dns", "--network", "app"]);
    let script = "import socket,subprocess\n\
                  u=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); u.bind(('0.0.0.0',53))\n\
                  t=socket.socket(); t.bind(('0.0.0.0',53)); t.listen()\n\
                  print(subprocess.run(['dig','+short','+time=2','web'],capture_output=True,text=True).stdout.strip())";
    let out = host.exec("dns", &["python3", "-c", script]);
    out.assert_ok("bind 0.0.0.0:53 in the sandbox");
    assert_eq!(out.stdout_text().trim(), host.dig_short("dns", &["web"])[0]);
    host.assert_clean_after_removal();
}

/// Flushes the sandbox's whole ruleset behind the agent's back and waits
/// (5 s at most) until its resolver answers at 127.0.0.11 again.
fn flush_and_wait_for_the_redirect(host: &TestHost, sandbox: &str) {
    let netns = host.netns_path(sandbox);
    let enter = format!("--net={}", netns.display());
    host.in_host(&["nsenter", &enter, "nft", "flush", "ruleset"])
        .assert_ok("flush");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while host.dig_short(sandbox, &[sandbox]).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the redirect of {sandbox} was not restored:\n{}",
            host.daemon_log()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn a_flushed_ruleset_is_restored_in_each_sandbox_and_after_a_restart() {
    let mut host = TestHost::new();
    host.cli(&["network", "create", "app"])
        .assert_ok("network create");
    run(&host, &["--name", "web", "--network", "app"]);
    run(&host, &["--name", "db", "--network", "app"]);
    // One subscription hears every sandbox's events, each tagged with its
    // namespace's id: each flush must reach its own sandbox's guard.
    flush_and_wait_for_the_redirect(&host, "web");
    flush_and_wait_for_the_redirect(&host, "db");
    assert!(host.daemon_log().contains("restored"));
    // The guards of sandboxes picked up again after a crash watch too.
    host.kill_daemon();
    host.start_daemon();
    flush_and_wait_for_the_redirect(&host, "db");
    assert!(host.daemon_log().contains("restored"));
    host.assert_clean_after_removal();
}

#[test]
fn direct_mode_binds_127_0_0_11_port_53() {
    let host = TestHost::with_config("[agent]\ndns_mode = \"direct\"\n");
    host.cli(&["network", "create", "app"])
        .assert_ok("network create");
    run(&host, &["--name", "web", "--network", "app"]);
    run(&host, &["--name", "db", "--network", "app"]);
    assert_eq!(host.dig_short("web", &["db"]).len(), 1);
    let sockets = host.exec("web", &["ss", "-lun"]).stdout_text();
    assert!(sockets.contains("127.0.0.11:53"), "{sockets}");
    let rules = host.in_host(&[
        "nsenter",
        &format!("--net={}", host.netns_path("web").display()),
        "nft",
        "list",
        "ruleset",
    ]);
    assert!(
        rules.stdout_text().trim().is_empty(),
        "no rules in direct mode"
    );
    host.assert_clean_after_removal();
}

//! Namespace tier: the host firewall's table itself (issue #12): healed
//! after `nft flush ruleset`, beside another table that drops forwarded
//! traffic, kept through a restart, and large (hundreds of published ports
//! in one transaction).

use crate::harness::host::{OutputExt, TestHost};
use crate::harness::world::{
    ask_until_answered, make_world, remove_world, serve, world, HOST_ADDRESS,
};
use crate::netns_dataplane::{agent_table, assert_only_default_bridge_rules, cli_ok};

#[test]
fn a_flushed_ruleset_is_restored_and_a_restart_keeps_publishing() {
    let mut host = TestHost::with_private_run("");
    make_world(&host);
    cli_ok(&host, &["network", "create", "app"]);
    cli_ok(
        &host,
        &["run", "--name", "web", "--network", "app", "-p", "8080:80"],
    );
    let _server = serve(&host, Some(&host.netns_path("web")), 80);
    ask_until_answered(&host, Some(world()), HOST_ADDRESS, 8080, "tcp").expect("published");

    host.in_host(&["nft", "flush", "ruleset"])
        .assert_ok("nft flush ruleset");
    assert!(
        ask_until_answered(&host, Some(world()), HOST_ADDRESS, 8080, "tcp").is_some(),
        "healed after a flush: {}",
        agent_table(&host)
    );
    // After the agent's own commit (another `run -p`) its guard trusts the
    // ruleset's generation; someone else's change after it is still seen:
    // here only the published chain emptied.
    cli_ok(
        &host,
        &["run", "--name", "api", "--network", "app", "-p", "8081:80"],
    );
    host.in_host(&["nft", "flush", "chain", "inet", "netagent", "published"])
        .assert_ok("nft flush chain");
    assert!(
        ask_until_answered(&host, Some(world()), HOST_ADDRESS, 8080, "tcp").is_some(),
        "healed after the published chain was flushed: {}",
        agent_table(&host)
    );
    let metrics = host.metrics_text();
    assert!(
        metrics.contains("netagent_firewall_restored_total"),
        "{metrics}"
    );
    assert!(
        !metrics.contains("netagent_firewall_restored_total 0"),
        "{metrics}"
    );

    // Another table whose forward chain drops by default (Docker's
    // FORWARD policy): the agent says so, naming the chain and the fix.
    for step in [
        "nft add table ip filter",
        "nft add chain ip filter FORWARD { type filter hook forward priority 0; policy drop; }",
    ] {
        let args: Vec<&str> = step.split(' ').collect();
        host.in_host(&args).assert_ok(step);
    }
    cli_ok(&host, &["network", "create", "other"]);
    let log = host.daemon_log();
    assert!(
        log.contains("ip filter FORWARD") && log.contains("drops forwarded traffic"),
        "{log}"
    );
    host.in_host(&["nft", "delete", "table", "ip", "filter"])
        .assert_ok("delete it");

    host.kill_daemon();
    host.start_daemon();
    assert!(
        ask_until_answered(&host, Some(world()), HOST_ADDRESS, 8080, "tcp").is_some(),
        "published again after a restart"
    );
    cli_ok(&host, &["rm", "web"]);
    remove_world(&host);
    host.assert_clean_after_removal();
    assert_only_default_bridge_rules(&host);
}

#[test]
fn hundreds_of_published_ports_fit_one_transaction() {
    let host = TestHost::with_private_run("");
    cli_ok(&host, &["network", "create", "app"]);
    let flags: Vec<String> = (0..400).map(|i| format!("-p={}:80", 20_000 + i)).collect();
    let mut run = vec!["run", "--name", "many", "--network", "app"];
    run.extend(flags.iter().map(String::as_str));
    cli_ok(&host, &run);
    let dnat_rules = |host: &TestHost| agent_table(host).matches("dnat ip to").count();
    assert_eq!(dnat_rules(&host), 400, "added in one transaction");
    // A new network reloads the whole table, 400 ports included (it once
    // overflowed the acknowledgements past about 220 rules: ENOBUFS).
    cli_ok(&host, &["network", "create", "other"]);
    assert_eq!(dnat_rules(&host), 400, "reloaded whole");
    cli_ok(&host, &["rm", "many"]);
    assert_eq!(dnat_rules(&host), 0, "removed with the sandbox");
    host.assert_clean_after_removal();
}

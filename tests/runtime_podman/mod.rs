//! Runtime tier: podman 4.3 (Debian's) with netagent as its CNI plugin,
//! as the network's main plugin and chained after `bridge` +
//! `host-local`, and with netagent's OCI hook on a `--network none`
//! container. Each test loads the example files users copy from
//! `contrib/` as they are written, changing only what the private host
//! needs (the agent's socket; the hook's path and `--host`), runs busybox
//! containers from the fixture image (no registry), checks names against
//! the addresses podman and netagent report, and ends with nothing of
//! netagent's, podman's or the machine's left changed.
//!
//! Each test also prints (with `--nocapture`) the resolv.conf podman gave
//! the container and how long a container's name takes to answer from a
//! peer, counted from the start of `podman run -d`.

mod support;
mod timing;

use std::time::Duration;

use serde_json::Value;

use crate::harness::host::{OutputExt, TestHost};
use crate::harness::runtimes::podman::NetworkBackend;
use crate::harness::runtimes::procs::MachineSnapshot;
use crate::harness::runtimes::{checked, rootfs, wait_for, OciRuntime};

use support::*;
use timing::{from_outside, report_timing, time_then_remove};

#[test]
fn podman_cni_main_plugin() {
    let machine = MachineSnapshot::take();
    let libpod_parent = libpod_parent_exists();
    let host = TestHost::new();
    host.cli(&["network", "create", "app"])
        .assert_ok("netagent network create app");
    let podman = podman_for(&host, NetworkBackend::Cni, OciRuntime::Runc);
    let network = install_conflist(&podman, &host, "10-netagent.conflist");
    assert_eq!(network, "app");

    let net = ["--network", "app"];
    // `-p` reaches netagent through the conflist's portMappings capability.
    let web_id = podman.run_detached("web", &["--network", "app", "-p", "8088:80"], &HTTPD);
    podman.run_detached("client", &net, &["sleep", "600"]);
    let web_ip = agent_ip(&host, "web", "app");
    assert_eq!(
        podman.ip("web", "app"),
        web_ip,
        "podman has netagent's address"
    );
    let web = agent_inspect(&host, "web");
    assert_eq!(web["Id"], web_id.as_str(), "the sandbox has podman's id");
    assert_eq!(
        inspect(&podman, "web")["NetworkSettings"]["Networks"]["app"]["MacAddress"],
        web["Netagent"]["Endpoints"][0]["mac"],
        "podman has the MAC of netagent's interface"
    );
    check_resolv_conf(&podman, "client", "CNI, netagent as the main plugin");

    assert_client_finds_web(&podman, &web_ip, &web_id);
    let page = host.in_host(&["busybox", "wget", "-q", "-O", "-", "http://127.0.0.1:8088/"]);
    assert_eq!(
        page.assert_ok("wget localhost:8088 on the host")
            .stdout_text()
            .trim(),
        rootfs::INDEX_HTML.trim(),
        "podman run -p 8088:80, published by netagent"
    );

    // podman appends the host's nameservers to the plugin's (it keeps host
    // servers whenever the network gave some); with --dns it writes only
    // those given, and then only the search domains given.
    let strict = [
        "--network",
        "app",
        "--dns",
        "127.0.0.11",
        "--dns-search",
        "netagent.internal",
    ];
    podman.run_detached("strict", &strict, &["sleep", "600"]);
    let mode = "CNI, main plugin, --dns 127.0.0.11 --dns-search netagent.internal";
    let nameservers = check_resolv_conf(&podman, "strict", mode);
    assert_eq!(nameservers, ["127.0.0.11"], "only netagent's resolver");
    let (answers, text) = nslookup(&podman, "strict", "web");
    assert_eq!(
        answers,
        [web_ip.as_str()],
        "nslookup web from strict:\n{text}"
    );

    time_then_remove(&host, &podman, "CNI, netagent as the main plugin", "app");
    let inspect = checked(host.cli(&["network", "inspect", "app"]), "network inspect");
    let inspect: Value = serde_json::from_str(&inspect).unwrap();
    assert_eq!(
        inspect[0]["Containers"],
        serde_json::json!({}),
        "app has no containers left: {inspect}"
    );
    host.assert_clean_after_removal();
    finish(podman, host, machine, libpod_parent);
}

#[test]
fn podman_cni_chained_after_bridge() {
    let machine = MachineSnapshot::take();
    let libpod_parent = libpod_parent_exists();
    let host = TestHost::new();
    let podman = podman_for(&host, NetworkBackend::Cni, OciRuntime::Runc);
    let network = install_conflist(&podman, &host, "20-mesh-chained.conflist");
    assert_eq!(network, "mesh");

    let net = ["--network", "mesh"];
    let web_id = podman.run_detached("web", &net, &HTTPD);
    podman.run_detached("client", &net, &["sleep", "600"]);
    let web_ip = podman.ip("web", "mesh");
    assert_eq!(
        agent_ip(&host, "web", "mesh"),
        web_ip,
        "netagent recorded host-local's address"
    );
    assert!(
        agent_networks(&host).contains(&"mesh".to_owned()),
        "the DNS-only network exists while containers are on it"
    );
    check_resolv_conf(&podman, "client", "CNI, chained after bridge + host-local");

    assert_client_finds_web(&podman, &web_ip, &web_id);

    time_then_remove(
        &host,
        &podman,
        "CNI, chained after bridge + host-local",
        "mesh",
    );
    assert!(
        !agent_networks(&host).contains(&"mesh".to_owned()),
        "the DNS-only network went with its last container: {:?}",
        agent_networks(&host)
    );
    // The bridge plugin's bridge stays (the bridge plugin never deletes it).
    host.in_host(&["ip", "link", "del", "cni-mesh"])
        .assert_ok("delete the bridge plugin's bridge");
    host.assert_clean_after_removal();
    finish(podman, host, machine, libpod_parent);
}

#[test]
fn podman_hook_with_network_none() {
    let machine = MachineSnapshot::take();
    let libpod_parent = libpod_parent_exists();
    let host = TestHost::new();
    host.cli(&["network", "create", "app"])
        .assert_ok("netagent network create app");
    host.cli(&["run", "--name", "peer", "--network", "app"])
        .assert_ok("netagent run peer");
    let peer_ip = agent_ip(&host, "peer", "app");
    let podman = podman_for(&host, NetworkBackend::Netavark, OciRuntime::Crun);
    install_hooks(&podman, &host);

    let hooked = |name: &str| -> Vec<String> {
        [
            "--network",
            "none",
            "--annotation",
            "netagent.network=app",
            "--annotation",
            &format!("netagent.name={name}"),
        ]
        .map(str::to_owned)
        .to_vec()
    };
    let options = hooked("hooked");
    let options: Vec<&str> = options.iter().map(String::as_str).collect();
    podman.run_detached("hooked", &options, &HTTPD);
    let hooked_ip = agent_ip(&host, "hooked", "app");
    let inside = checked(
        podman.exec("hooked", &["ip", "-4", "-o", "addr", "show", "eth0"]),
        "ip addr in the container",
    );
    assert!(
        inside.contains(&format!("inet {hooked_ip}/")),
        "the container's eth0 has netagent's address {hooked_ip}: {inside}"
    );
    check_resolv_conf(&podman, "hooked", "netavark, --network none, OCI hook");

    let (answers, text) = nslookup(&podman, "hooked", "peer");
    assert_eq!(answers, [peer_ip.as_str()], "nslookup peer:\n{text}");
    assert_eq!(
        host.dig_short("peer", &["hooked"]),
        [hooked_ip.as_str()],
        "the container's name from the peer"
    );
    let page = checked(
        host.exec(
            "peer",
            &[
                "timeout",
                "5",
                "busybox",
                "wget",
                "-q",
                "-O",
                "-",
                "http://hooked/",
            ],
        ),
        "wget http://hooked/ from the peer",
    );
    assert_eq!(page, rootfs::INDEX_HTML.trim());

    let peer_ns = from_outside(&host, &host.netns_path("peer"));
    report_timing(
        "netavark, --network none, OCI hook",
        &podman,
        &peer_ns,
        &hooked,
        &|name| agent_ip(&host, name, "app"),
    );

    checked(
        podman.podman(&["rm", "-f", "-t0", "hooked"]),
        "podman rm hooked",
    );
    // Released when its process exits (the agent watches it) and by the
    // poststop hook, which podman's cleanup may run after `rm` returned.
    wait_for("only the peer left", Duration::from_secs(5), || {
        (agent_sandboxes(&host) == ["peer"]).then_some(())
    });
    host.cli(&["rm", "peer"]).assert_ok("netagent rm peer");
    assert_no_sandbox_left(&host);
    host.assert_clean_after_removal();
    finish(podman, host, machine, libpod_parent);
}

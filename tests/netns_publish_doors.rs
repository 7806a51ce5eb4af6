//! Namespace tier: published ports through the runtime doors (issue #12
//! with #11): the CNI plugin's `portMappings` capability, as podman and
//! containerd pass `-p` to a plugin that declares it.

use serde_json::json;

use crate::harness::cni_call::CniCall;
use crate::harness::host::{OutputExt, TestHost};
use crate::harness::world::{
    ask, ask_until_answered, make_world, remove_world, serve, world, HOST_ADDRESS, WORLD_ADDRESS,
};

const ID: &str = "5f0c1e2d3b4a59687766554433221100ffeeddccbbaa99887766554433221100";

fn call<'a>(command: &'a str, netns: &'a str) -> CniCall<'a> {
    CniCall {
        command,
        container: ID,
        netns,
        args: "K8S_POD_NAME=web",
    }
}

#[test]
fn a_cni_containers_port_mappings_are_published_and_go_with_del() {
    let host = TestHost::with_private_run("");
    make_world(&host);
    host.cli(&["network", "create", "app"])
        .assert_ok("network create");
    host.in_host(&["ip", "netns", "add", "c1"])
        .assert_ok("ip netns add");
    let conf = json!({
        "cniVersion": "1.0.0",
        "name": "appnet",
        "type": "netagent",
        "network": "app",
        "socket": host.socket(),
        "runtimeConfig": {"portMappings": [
            {"hostPort": 8085, "containerPort": 80, "protocol": "tcp"}
        ]}
    });
    let added = call("ADD", "/run/netns/c1").netagent(&host, &conf);
    assert!(added.ok, "ADD: {:?} {}", added.json, added.stderr);
    let _server = serve(&host, Some(std::path::Path::new("/run/netns/c1")), 80);
    assert_eq!(
        ask_until_answered(&host, Some(world()), HOST_ADDRESS, 8085, "tcp").as_deref(),
        Some(WORLD_ADDRESS)
    );
    let ps = host.cli(&["ps"]).stdout_text();
    assert!(ps.contains("0.0.0.0:8085->80/tcp"), "{ps}");
    let deleted = call("DEL", "/run/netns/c1").netagent(&host, &conf);
    assert!(deleted.ok, "DEL: {}", deleted.stderr);
    assert_eq!(ask(&host, Some(world()), HOST_ADDRESS, 8085, "tcp"), None);
    host.in_host(&["ip", "netns", "del", "c1"])
        .assert_ok("ip netns del");
    remove_world(&host);
    host.assert_clean_after_removal();
}

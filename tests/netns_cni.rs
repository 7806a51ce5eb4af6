//! Namespace tier: netagent's CNI plugin under the contract of the CNI
//! spec, called as a runtime calls it but without one: every command, the
//! error JSON, DEL twice and with an empty CNI_NETNS, CHECK after a manual
//! change, GC, STATUS with the agent up and down, a process's exit
//! releasing a container adopted the way `ctr` passes it, and the plugin
//! chained after the real `bridge` + `host-local` plugins.

use serde_json::{json, Value};

use crate::harness::cni_call::{CniAnswer, CniCall};
use crate::harness::host::{OutputExt, TestHost};

const ID_WEB: &str = "aaaaaaaaaaaa1111111111111111111111111111111111111111111111111111";
const ID_DB: &str = "bbbbbbbbbbbb2222222222222222222222222222222222222222222222222222";

/// A private host whose /run is a tmpfs of its own, so `ip netns add`
/// pins its namespaces there and nowhere else.
fn host_with_private_run() -> TestHost {
    TestHost::with_private_run("")
}

fn add_netns(host: &TestHost, name: &str) -> String {
    host.in_host(&["ip", "netns", "add", name])
        .assert_ok("ip netns add");
    format!("/run/netns/{name}")
}

fn main_conf(host: &TestHost, version: &str) -> Value {
    json!({
        "cniVersion": version,
        "name": "appnet",
        "type": "netagent",
        "network": "app",
        "socket": host.socket(),
    })
}

fn call<'a>(command: &'a str, container: &'a str, netns: &'a str, args: &'a str) -> CniCall<'a> {
    CniCall {
        command,
        container,
        netns,
        args,
    }
}

/// `dig +short` through 127.0.0.11 inside the namespace at `netns`.
fn dig_in(host: &TestHost, netns: &str, name: &str) -> Vec<String> {
    let out = host.in_host(&[
        "nsenter",
        &format!("--net={netns}"),
        "dig",
        "+short",
        "+time=2",
        "+tries=1",
        "@127.0.0.11",
        name,
    ]);
    out.stdout_text()
        .lines()
        .filter(|l| !l.starts_with(';'))
        .map(str::to_owned)
        .collect()
}

fn assert_error(answer: &CniAnswer, code: u64, needle: &str) {
    assert!(!answer.ok, "expected error {code}: {:?}", answer.json);
    assert_eq!(answer.json["code"], code, "{:?}", answer.json);
    let msg = answer.json["msg"].as_str().unwrap_or_default();
    assert!(msg.contains(needle), "{needle:?} not in {msg:?}");
}

#[test]
fn cni_main_plugin_add_check_del_and_errors() {
    let host = host_with_private_run();
    host.cli(&["network", "create", "app"])
        .assert_ok("network create");
    let (ns_web, ns_db) = (add_netns(&host, "c1"), add_netns(&host, "c2"));
    let conf = main_conf(&host, "1.0.0");
    let args = "IgnoreUnknown=1;K8S_POD_NAME=web";
    let added = call("ADD", ID_WEB, &ns_web, args).netagent(&host, &conf);
    assert!(added.ok, "ADD: {:?} {}", added.json, added.stderr);
    let result = &added.json;
    assert_eq!(result["cniVersion"], "1.0.0");
    assert_eq!(result["interfaces"][1]["name"], "eth0");
    assert_eq!(result["interfaces"][1]["sandbox"], ns_web.as_str());
    assert!(result["interfaces"][1]["mac"].is_string(), "{result}");
    assert!(result["interfaces"][0]["mac"].is_string(), "{result}");
    let web_ip = result["ips"][0]["address"]
        .as_str()
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(result["ips"][0]["interface"], 1);
    assert_eq!(result["routes"][0]["dst"], "0.0.0.0/0");
    assert_eq!(result["dns"]["nameservers"], json!(["127.0.0.11"]));
    let again = call("ADD", ID_DB, &ns_db, "K8S_POD_NAME=db").netagent(&host, &conf);
    assert!(again.ok, "ADD db: {:?}", again.json);
    assert_eq!(
        dig_in(&host, &ns_db, "web"),
        std::slice::from_ref(&web_ip),
        "by name"
    );
    assert_eq!(
        dig_in(&host, &ns_db, &ID_WEB[..12]),
        [web_ip],
        "by short id"
    );

    assert!(
        call("CHECK", ID_WEB, &ns_web, args)
            .netagent(&host, &conf)
            .ok
    );
    host.in_host(&["ip", "-n", "c1", "link", "del", "eth0"])
        .assert_ok("break the container's interface");
    let check = call("CHECK", ID_WEB, &ns_web, args).netagent(&host, &conf);
    assert_error(&check, 100, "interface eth0 is missing");

    for _ in 0..2 {
        let del = call("DEL", ID_WEB, &ns_web, args).netagent(&host, &conf);
        assert!(
            del.ok && del.json.is_null(),
            "DEL is idempotent: {:?}",
            del.json
        );
    }
    let del_empty = call("DEL", ID_DB, "", "").netagent(&host, &conf);
    assert!(del_empty.ok, "DEL with no netns: {:?}", del_empty.json);

    let unknown = json!({"cniVersion": "1.0.0", "name": "x", "type": "netagent",
                         "network": "nosuch", "socket": host.socket()});
    let refused = call("ADD", ID_WEB, &ns_web, "").netagent(&host, &unknown);
    assert_error(&refused, 7, "nosuch");
    let old = call("ADD", ID_WEB, &ns_web, "").netagent(&host, &main_conf(&host, "9.9.9"));
    assert_error(&old, 1, "9.9.9");
    let no_netns = call("ADD", ID_WEB, "", "").netagent(&host, &conf);
    assert_error(&no_netns, 4, "CNI_NETNS");
    let hostile = call("ADD", "../../x", &ns_web, "").netagent(&host, &conf);
    assert_error(&hostile, 100, "\"../../x\" is not a container id");
    host.assert_clean_after_removal();
}

#[test]
fn cni_version_status_and_gc() {
    let mut host = host_with_private_run();
    host.cli(&["network", "create", "app"])
        .assert_ok("network create");
    let conf = main_conf(&host, "1.1.0");
    let version = call("VERSION", "", "", "").netagent(&host, &json!({"cniVersion": "1.1.0"}));
    assert!(version.ok);
    assert!(version.json["supportedVersions"]
        .as_array()
        .unwrap()
        .contains(&json!("0.4.0")));
    assert!(call("STATUS", "", "", "").netagent(&host, &conf).ok);
    let (ns_web, ns_db) = (add_netns(&host, "c1"), add_netns(&host, "c2"));
    assert!(
        call("ADD", ID_WEB, &ns_web, "K8S_POD_NAME=web")
            .netagent(&host, &conf)
            .ok
    );
    assert!(
        call("ADD", ID_DB, &ns_db, "K8S_POD_NAME=db")
            .netagent(&host, &conf)
            .ok
    );
    let mut gc_conf = conf.clone();
    gc_conf["cni.dev/valid-attachments"] = json!([{"containerID": ID_WEB, "ifname": "eth0"}]);
    assert!(call("GC", "", "", "").netagent(&host, &gc_conf).ok);
    let ps = host.cli(&["ps"]).stdout_text();
    assert!(
        ps.contains("web") && !ps.contains("db"),
        "GC released db only:\n{ps}"
    );

    host.kill_daemon();
    let status = call("STATUS", "", "", "").netagent(&host, &conf);
    assert_error(&status, 50, "not available");
    let add = call("ADD", ID_DB, &ns_db, "").netagent(&host, &conf);
    assert_error(&add, 11, "not running");
    host.start_daemon();
    host.assert_clean_after_removal();
}

#[test]
fn cni_a_container_adopted_by_process_goes_when_the_process_exits() {
    let host = host_with_private_run();
    host.cli(&["network", "create", "app"])
        .assert_ok("network create");
    // What ctr passes: /proc/PID/ns/net of the container's first process,
    // and no DEL at all for `ctr run -d`.
    let mut container = std::process::Command::new("nsenter")
        .args(["-t", &host.pid().to_string(), "-n", "-m", "--"])
        .args(["unshare", "--net", "sleep", "60"])
        .spawn()
        .unwrap();
    let pid = container.id();
    wait_for_own_netns(&host, pid);
    let netns = format!("/proc/{pid}/ns/net");
    let conf = main_conf(&host, "1.0.0");
    let added = call("ADD", "default-web", &netns, "").netagent(&host, &conf);
    assert!(added.ok, "{:?}", added.json);
    assert!(host.cli(&["ps"]).stdout_text().contains("default-web"));
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
    let _ = container.wait();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    while host.cli(&["ps"]).stdout_text().contains("default-web") {
        assert!(
            std::time::Instant::now() < deadline,
            "still there a second after its process died:\n{}",
            host.daemon_log()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    host.assert_clean_after_removal();
}

/// Waits until `pid` (nsenter, which execs unshare, which execs sleep)
/// is `sleep` in a namespace of its own.
fn wait_for_own_netns(host: &TestHost, pid: u32) {
    let host_ns = std::fs::read_link(format!("/proc/{}/ns/net", host.pid())).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let ns = std::fs::read_link(format!("/proc/{pid}/ns/net"));
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if ns.is_ok_and(|ns| ns != host_ns) && comm.trim() == "sleep" {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "no container process");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[test]
fn cni_chained_after_bridge_and_host_local_gives_names_only() {
    let host = host_with_private_run();
    let ipam_dir = host.dir.path().join("ipam");
    let bridge_conf = |version: &str| {
        json!({
            "cniVersion": version, "name": "mesh", "type": "bridge", "bridge": "cni-mesh",
            "isGateway": true, "ipMasq": false,
            "ipam": {"type": "host-local", "dataDir": ipam_dir,
                     "ranges": [[{"subnet": "10.77.0.0/24"}]]}
        })
    };
    let netagent_conf = |previous: &Value| {
        json!({"cniVersion": "1.0.0", "name": "mesh", "type": "netagent",
               "socket": host.socket(), "prevResult": previous,
               "args": {"cni": {"aliases": ["api"]}}})
    };
    let mut addresses = vec![];
    for (name, id) in [("c1", ID_WEB), ("c2", ID_DB)] {
        let netns = add_netns(&host, name);
        let bridge =
            call("ADD", id, &netns, "").run(&host, "/usr/lib/cni/bridge", &bridge_conf("1.0.0"));
        assert!(
            bridge.ok,
            "bridge plugin: {:?} {}",
            bridge.json, bridge.stderr
        );
        let args = format!("K8S_POD_NAME={}", if name == "c1" { "web" } else { "db" });
        let ours = call("ADD", id, &netns, &args).netagent(&host, &netagent_conf(&bridge.json));
        assert!(ours.ok, "netagent chained: {:?}", ours.json);
        assert_eq!(
            ours.json["ips"], bridge.json["ips"],
            "the addresses pass on unchanged"
        );
        assert_eq!(ours.json["dns"]["nameservers"], json!(["127.0.0.11"]));
        addresses.push(
            bridge.json["ips"][0]["address"]
                .as_str()
                .unwrap()
                .split('/')
                .next()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(
        dig_in(&host, "/run/netns/c2", "web"),
        [addresses[0].clone()]
    );
    assert_eq!(
        dig_in(&host, "/run/netns/c1", "db.mesh"),
        [addresses[1].clone()]
    );
    let networks = host.cli(&["network", "ls"]).stdout_text();
    assert!(networks.contains("mesh"), "{networks}");
    for (name, id) in [("c1", ID_WEB), ("c2", ID_DB)] {
        let netns = format!("/run/netns/{name}");
        let del = call("DEL", id, &netns, "").netagent(&host, &netagent_conf(&Value::Null));
        assert!(del.ok, "{:?}", del.json);
        assert!(
            call("DEL", id, &netns, "")
                .run(&host, "/usr/lib/cni/bridge", &bridge_conf("1.0.0"))
                .ok
        );
    }
    let networks = host.cli(&["network", "ls"]).stdout_text();
    assert!(
        !networks.contains("mesh"),
        "gone with its last endpoint: {networks}"
    );
    host.in_host(&["ip", "link", "del", "cni-mesh"])
        .assert_ok("the bridge plugin's bridge");
    host.assert_clean_after_removal();
}

#[test]
fn the_netns_directory_survives_ip_netns_add_after_the_agent_pinned_there() {
    // The agent pins in /run/netns, as in production; `ip netns add` then
    // makes that directory a shared mount. Before the agent made it one
    // itself, `netagent rm` failed with EBUSY and left the file.
    let host = TestHost::with_private_run("[paths]\nnetns_dir = \"/run/netns\"\n");
    host.cli(&["network", "create", "app"])
        .assert_ok("network create");
    host.cli(&["run", "--name", "early", "--network", "app"])
        .assert_ok("run early");
    host.in_host(&["ip", "netns", "add", "podmanlike"])
        .assert_ok("ip netns add");
    host.cli(&["run", "--name", "late", "--network", "app"])
        .assert_ok("run late");
    host.cli(&["rm", "early", "late"]).assert_ok("rm both");
    let left = host.in_host(&["ls", "/run/netns"]).stdout_text();
    assert_eq!(
        left.split_whitespace().collect::<Vec<_>>(),
        ["podmanlike"],
        "{left}"
    );
    host.in_host(&["ip", "netns", "del", "podmanlike"])
        .assert_ok("ip netns del");
    host.cli(&["network", "rm", "app"]).assert_ok("network rm");
}

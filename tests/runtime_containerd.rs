//! Runtime tier: containerd's `ctr run --cni` with netagent's CNI plugin,
//! from contrib/cni/10-netagent.conflist as written (the conflist's
//! netagent entry gains `socket`). Names resolve to the addresses the
//! containers really have, and nothing is left afterwards.

use std::time::{Duration, Instant};

use crate::harness::host::{OutputExt, TestHost};
use crate::harness::runtimes::containerd::Containerd;
use crate::harness::runtimes::procs::MachineSnapshot;
use crate::harness::runtimes::{checked, rootfs};
use crate::runtime_oci::{
    assert_nslookup, await_name_from, cni_conf_dir, ctr_resolv_mount, netagent_plugin_dir,
    ps_address, ps_lists,
};

/// The machine as it was, a test host with network `app`, and containerd
/// whose CNI configuration is contrib's conflist with netagent's plugin.
fn containerd_on_app() -> (MachineSnapshot, TestHost, Containerd) {
    let machine = MachineSnapshot::take();
    let host = TestHost::new();
    host.cli(&["network", "create", "app"])
        .assert_ok("network create app");
    let (netd, plugins) = (cni_conf_dir(&host), netagent_plugin_dir(&host));
    let containerd = Containerd::new(&host, &netd, Some(&plugins));
    (machine, host, containerd)
}

/// Stops containerd and checks that nothing of it, of the agent's or on
/// the machine is left.
fn finish_containerd(machine: MachineSnapshot, host: TestHost, containerd: Containerd) {
    let probe = containerd.probe();
    drop(containerd);
    probe.assert_clean();
    host.assert_clean_after_removal();
    drop(host);
    machine.assert_unchanged();
}

#[test]
fn ctr_cni_two_containers_resolve_each_other() {
    let (machine, host, containerd) = containerd_on_app();
    host.cli(&["run", "--name", "peer", "--network", "app"])
        .assert_ok("run peer");
    let mount = ctr_resolv_mount(&host);
    let http = ["httpd", "-f", "-p", "80", "-h", "/var/www"];
    let mut names = Vec::new();
    for id in ["a", "b"] {
        // The sandbox is named after the CNI container id: NAMESPACE-ID.
        let name = format!("{}-{id}", containerd.namespace());
        let start = Instant::now();
        containerd.run_detached(id, &["--mount", &mount], &http);
        let ran = start.elapsed();
        let (answered, lookups) = await_name_from(&host, "peer", &name);
        eprintln!(
            "timing: ctr run -d --cni: run {ran:?}; the name answered a peer {:?} after the \
             start (lookup {lookups})",
            start.elapsed()
        );
        let address = containerd.ip(id);
        assert_eq!(answered, address, "{name} from the peer");
        assert_eq!(ps_address(&host, &name), address, "{name} in netagent ps");
        names.push((id, name, address));
    }
    for (from, to) in [(0, 1), (1, 0)] {
        let (id, _, _) = &names[from];
        let (_, name, address) = &names[to];
        assert_nslookup(containerd.exec(id, &["nslookup", name]), name, address);
        let url = format!("http://{name}/");
        let fetched = containerd.exec(id, &["timeout", "5", "wget", "-q", "-O", "-", &url]);
        assert_eq!(
            checked(fetched, &format!("wget {url} in {id}")),
            rootfs::INDEX_HTML.trim()
        );
    }

    finish_containerd(machine, host, containerd);
}

#[test]
fn ctr_run_d_killed_leaves_no_sandbox() {
    let (machine, host, containerd) = containerd_on_app();
    let links = host.links();
    let name = format!("{}-k", containerd.namespace());
    containerd.run_detached("k", &[], &["sleep", "600"]);
    let address = containerd.ip("k");
    assert_eq!(ps_address(&host, &name), address, "{name} in ps");
    let links_with_k = host.links();
    assert_eq!(links_with_k.len(), links.len() + 1, "a veth for {name}");

    // A foreground `ctr run --rm` finds it by name; ctr then sends DEL
    // (with an empty CNI_NETNS) and nothing of the second one is left.
    let mount = ctr_resolv_mount(&host);
    let once = containerd.run_foreground("once", &["--mount", &mount], &["nslookup", &name]);
    assert_nslookup(once, &name, &address);
    let once_name = format!("{}-once", containerd.namespace());
    assert!(!ps_lists(&host, &once_name), "{once_name} after ctr's DEL");
    assert_eq!(
        host.links(),
        links_with_k,
        "the foreground one's veth is gone"
    );

    // ctr sends no DEL for a -d task: the agent sees its process exit.
    let killed = Instant::now();
    checked(
        containerd.ctr(&["task", "kill", "--signal", "SIGKILL", "k"]),
        "ctr task kill",
    );
    let deadline = killed + Duration::from_secs(1);
    while ps_lists(&host, &name) {
        assert!(
            Instant::now() < deadline,
            "{name} still listed a second after its task was killed:\n{}",
            host.daemon_log()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    eprintln!(
        "timing: ctr task kill to the sandbox gone {:?}",
        killed.elapsed()
    );
    assert_eq!(host.links(), links, "the veth is gone with it");

    finish_containerd(machine, host, containerd);
}

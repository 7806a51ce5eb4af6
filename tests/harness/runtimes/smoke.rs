//! One smoke run per fixture, with the standard CNI plugins only: each
//! proves the fixture works on this machine, prints what it measured and
//! what the runtime passed (CNI calls, hook states), and checks that the
//! drop leaves nothing (no runtime process, no cgroup, no change to the
//! machine's /etc/cni, /opt/cni, /run/netns, /var/lib/cni, ...). Call them
//! from a `#[test]`; they are also a template for netagent's own tests.

use super::cni::{self, CniCall};
use super::containerd::Containerd;
use super::oci::{self, Netns, OciBundle};
use super::podman::{NetworkBackend, Podman, PodmanOptions};
use super::procs::MachineSnapshot;
use super::{checked, rootfs, timed, OciRuntime};
use crate::harness::host::TestHost;

/// podman, CNI backend, runc: two busybox containers on a bridge +
/// host-local network (10.89.7.0/24, private host only); one fetches the
/// other's httpd by IP; the logging plugin records ADD and DEL.
pub fn smoke_podman_cni() {
    let machine = MachineSnapshot::take();
    let host = TestHost::new();
    let scratch = host.dir.path();
    let (plugins, log) = (scratch.join("cni-bin"), scratch.join("cni.log"));
    cni::install_logging_plugin(&plugins);
    let options = PodmanOptions {
        backend: NetworkBackend::Cni,
        runtime: OciRuntime::Runc,
        cni_plugin_dir: Some(plugins),
    };
    let (podman, setup) = timed(|| Podman::new(&host, options));
    eprintln!("timing: podman setup + import {setup:?}");
    let tail = [cni::logging_plugin(&log)];
    let conflist = cni::bridge_conflist(
        "smokenet",
        "cni-smoke0",
        "10.89.7.0/24",
        &scratch.join("ipam"),
        &tail,
    );
    std::fs::write(
        podman.network_config_dir().join("smokenet.conflist"),
        conflist,
    )
    .unwrap();

    let http = ["httpd", "-f", "-p", "80", "-h", "/var/www"];
    let (_, web) = timed(|| podman.run_detached("web", &["--network", "smokenet"], &http));
    let (_, cli) =
        timed(|| podman.run_detached("cli", &["--network", "smokenet"], &["sleep", "600"]));
    eprintln!("timing: podman run -d (cni, runc) {web:?}, {cli:?}");
    let url = format!("http://{}/", podman.ip("web", "smokenet"));
    assert_fetches(
        podman.exec("cli", &["timeout", "5", "wget", "-q", "-O", "-", &url]),
        &url,
    );

    let (_, removal) =
        timed(|| checked(podman.podman(&["rm", "-f", "-t0", "web"]), "podman rm web"));
    eprintln!("timing: podman rm -f web {removal:?}");
    let calls = cni::read_log(&log);
    eprintln!("podman CNI calls:\n{}", cni::describe(&calls));
    assert_eq!(cni::commands(&calls), ["ADD", "ADD", "DEL"]);
    assert_podman_cni_call(&calls[0], "web");
    assert!(
        calls[2].stdin.get("prevResult").is_some(),
        "DEL carries prevResult"
    );

    let probe = podman.probe();
    drop(podman);
    probe.assert_clean();
    drop(host);
    machine.assert_unchanged();
}

fn assert_podman_cni_call(call: &CniCall, name: &str) {
    let id = &call.env["CNI_CONTAINERID"];
    assert!(
        id.len() == 64 && id.chars().all(|c| c.is_ascii_hexdigit()),
        "{id}"
    );
    assert!(
        call.env["CNI_NETNS"].starts_with("/run/netns/netns-"),
        "{:?}",
        call.env
    );
    assert!(
        call.env["CNI_ARGS"].contains(&format!("K8S_POD_NAME={name}")),
        "{:?}",
        call.env
    );
    assert_eq!(call.env["CNI_IFNAME"], "eth0");
    assert_eq!(call.stdin["name"], "smokenet");
}

fn assert_fetches(output: std::process::Output, url: &str) {
    assert_eq!(
        checked(output, &format!("wget {url}")),
        rootfs::INDEX_HTML.trim()
    );
}

/// podman, netavark backend, crun: a `--network none` container whose
/// createRuntime and poststop hooks come from the fixture's hooks
/// directory (selected by annotation) and save the OCI state they get.
pub fn smoke_podman_netavark_hooks() {
    let machine = MachineSnapshot::take();
    let host = TestHost::new();
    let scratch = host.dir.path();
    let options = PodmanOptions {
        backend: NetworkBackend::Netavark,
        runtime: OciRuntime::Crun,
        cni_plugin_dir: None,
    };
    let podman = Podman::new(&host, options);
    let hook = oci::state_hook(scratch);
    let (created, stopped) = (scratch.join("create.json"), scratch.join("poststop.json"));
    for (file, stage, out) in [
        ("10-create.json", "createRuntime", &created),
        ("20-stop.json", "poststop", &stopped),
    ] {
        let args = ["save-state", out.to_str().unwrap()];
        podman.add_hook(file, &hook, &args, &[stage], "^smoke\\.hook$");
    }
    let options = [
        "--network",
        "none",
        "--annotation",
        "smoke.hook=yes",
        "--annotation",
        "netagent.name=h1",
    ];
    let (id, took) = timed(|| podman.run_detached("h1", &options, &["sleep", "600"]));
    eprintln!("timing: podman run -d (netavark, none, crun, 2 hooks) {took:?}");
    let state = oci::saved_state(&created);
    eprintln!(
        "podman createRuntime state: {state}\n  env: {:?}",
        oci::saved_env(&created)
    );
    oci::assert_state(&state, &id, None, ("netagent.name", "h1"), false);

    checked(podman.podman(&["rm", "-f", "-t0", "h1"]), "podman rm h1");
    let state = oci::saved_state(&stopped);
    eprintln!(
        "podman poststop state: {state}\n  env: {:?}",
        oci::saved_env(&stopped)
    );
    oci::assert_state(&state, &id, None, ("netagent.name", "h1"), true);

    let probe = podman.probe();
    drop(podman);
    probe.assert_clean();
    drop(host);
    machine.assert_unchanged();
}

/// containerd + `ctr run --cni`: two detached busybox containers on a
/// bridge + host-local network (10.88.9.0/24), one fetches the other's
/// httpd by IP; then a foreground `ctr run --rm` shows the DEL.
pub fn smoke_containerd_cni() {
    let machine = MachineSnapshot::take();
    let host = TestHost::new();
    let scratch = host.dir.path();
    let (plugins, log, netd) = (
        scratch.join("cni-bin"),
        scratch.join("cni.log"),
        scratch.join("net.d"),
    );
    cni::install_logging_plugin(&plugins);
    std::fs::create_dir_all(&netd).unwrap();
    let tail = [cni::logging_plugin(&log)];
    let conflist = cni::bridge_conflist(
        "ctrnet",
        "ctr-smoke0",
        "10.88.9.0/24",
        &scratch.join("ipam"),
        &tail,
    );
    std::fs::write(netd.join("10-ctrnet.conflist"), conflist).unwrap();
    let (containerd, setup) = timed(|| Containerd::new(&host, &netd, Some(&plugins)));
    eprintln!("timing: containerd start + import {setup:?}");

    let http = ["httpd", "-f", "-p", "80", "-h", "/var/www"];
    let (_, web) = timed(|| containerd.run_detached("web", &[], &http));
    let (_, cli) = timed(|| containerd.run_detached("cli", &[], &["sleep", "600"]));
    eprintln!("timing: ctr run -d --cni {web:?}, {cli:?}");
    let url = format!("http://{}/", containerd.ip("web"));
    assert_fetches(
        containerd.exec("cli", &["timeout", "5", "wget", "-q", "-O", "-", &url]),
        &url,
    );
    let (once, took) = timed(|| containerd.run_foreground("once", &[], &["true"]));
    checked(once, "ctr run --rm once");
    eprintln!("timing: ctr run --rm --cni true (ADD, run, DEL) {took:?}");

    let calls = cni::read_log(&log);
    eprintln!("ctr CNI calls:\n{}", cni::describe(&calls));
    assert_eq!(cni::commands(&calls), ["ADD", "ADD", "ADD", "DEL"]);
    let namespace = containerd.namespace();
    assert_eq!(calls[0].env["CNI_CONTAINERID"], format!("{namespace}-web"));
    assert!(
        calls[0].env["CNI_NETNS"].starts_with("/proc/"),
        "{:?}",
        calls[0].env
    );

    let probe = containerd.probe();
    drop(containerd);
    probe.assert_clean();
    drop(host);
    machine.assert_unchanged();
}

/// runc: a bundle with createRuntime and poststop hooks and a bind-mounted
/// resolv.conf, in a new network namespace.
pub fn smoke_runc_hooks() {
    smoke_oci(OciRuntime::Runc, false);
}

/// crun: the same, joining a network namespace made by `ip netns add`.
pub fn smoke_crun_hooks() {
    smoke_oci(OciRuntime::Crun, true);
}

fn smoke_oci(runtime: OciRuntime, given_netns: bool) {
    let machine = MachineSnapshot::take();
    let host = TestHost::new();
    let scratch = host.dir.path();
    let id = format!("smoke-{}", runtime.program());
    let mut bundle = OciBundle::new(&host, runtime, &id);
    let hook = oci::state_hook(scratch);
    let (created, stopped) = (scratch.join("create.json"), scratch.join("poststop.json"));
    bundle.add_hook(
        "createRuntime",
        &hook,
        &["save-state", created.to_str().unwrap()],
        &["HOOK=1"],
    );
    bundle.add_hook(
        "poststop",
        &hook,
        &["save-state", stopped.to_str().unwrap()],
        &[],
    );
    bundle.annotate("netagent.name", &id);
    let resolv = scratch.join("resolv-smoke.conf");
    std::fs::write(&resolv, "nameserver 127.0.0.11\n").unwrap();
    bundle.bind_mount(&resolv, "/etc/resolv.conf", true);
    if given_netns {
        bundle.host().run_ok(&["ip", "netns", "add", "smoke"]);
        bundle.set_netns(Netns::Path("/run/netns/smoke".into()));
    }

    let (out, took) = timed(|| bundle.run_detached());
    checked(out, &format!("{} run -d", runtime.program()));
    eprintln!(
        "timing: {} run -d (2 hooks, 1 bind) {took:?}",
        runtime.program()
    );
    let state = oci::saved_state(&created);
    eprintln!(
        "{} createRuntime state: {state}\n  env: {:?}",
        runtime.program(),
        oci::saved_env(&created)
    );
    oci::assert_state(
        &state,
        &id,
        Some(bundle.dir()),
        ("netagent.name", &id),
        false,
    );
    assert_eq!(bundle.state()["status"], "running");
    let seen = checked(bundle.exec(&["cat", "/etc/resolv.conf"]), "cat resolv.conf");
    assert_eq!(seen, "nameserver 127.0.0.11");

    bundle.delete();
    let state = oci::saved_state(&stopped);
    eprintln!("{} poststop state: {state}", runtime.program());
    oci::assert_state(
        &state,
        &id,
        Some(bundle.dir()),
        ("netagent.name", &id),
        true,
    );
    if given_netns {
        bundle.host().run_ok(&["ip", "netns", "del", "smoke"]);
    }
    let probe = bundle.probe();
    drop(bundle);
    probe.assert_clean();
    drop(host);
    machine.assert_unchanged();
}

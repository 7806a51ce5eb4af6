//! Runtime tier: bare runc and crun with the OCI hook (containerd's
//! `ctr run --cni` is in `runtime_containerd`).
//!
//! Both use the files users get, as written: contrib/oci/config-fragment.json
//! merged into the bundle's config.json with jq, and
//! contrib/cni/10-netagent.conflist in /etc/cni/net.d. Only what the test
//! host needs changes: the hooks' `path` is this build's binary and their
//! args gain `--host SOCKET`; the conflist's netagent entry gains `socket`.
//! Every test compares the addresses names resolve to with the ones the
//! containers really have, and checks that nothing is left afterwards.
//! Each prints `timing:` lines: how long until a container's name answers.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::harness::host::{OutputExt, TestHost};
use crate::harness::runtimes::oci::OciBundle;
use crate::harness::runtimes::procs::MachineSnapshot;
use crate::harness::runtimes::{checked, require_runtime_programs, wait_for, OciRuntime};

/// The name and alias contrib/oci/config-fragment.json gives its container.
const FRAGMENT_NAME: &str = "web";
const FRAGMENT_ALIAS: &str = "www";

/// What `ctr` containers get as /etc/resolv.conf (ctr gives them none):
/// what the plugin's CNI result says, written by hand.
const CTR_RESOLV_CONF: &str = "nameserver 127.0.0.11\nsearch netagent.internal\noptions ndots:0\n";

fn contrib(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../contrib")
        .join(path)
}

fn read_json(path: &Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// contrib/oci/config-fragment.json with its hooks pointed at this build's
/// binary and `host`'s agent: `path` replaced, `--host SOCKET` inserted
/// after `netagent` in `args`. Nothing else changes.
fn oci_fragment(host: &TestHost) -> Value {
    let mut fragment = read_json(&contrib("oci/config-fragment.json"));
    let hooks = fragment["hooks"]
        .as_object_mut()
        .expect("the fragment's hooks");
    let stages: Vec<&String> = hooks.keys().collect();
    assert_eq!(
        stages,
        ["createRuntime", "poststop"],
        "the fragment's stages"
    );
    for hook in hooks.values_mut().flat_map(|h| h.as_array_mut().unwrap()) {
        hook["path"] = env!("CARGO_BIN_EXE_netagent").into();
        let args = hook["args"].as_array_mut().expect("hook args");
        assert_eq!(args[0], "netagent", "args[0] of a hook: {args:?}");
        args.splice(1..1, [json!("--host"), json!(host.socket())]);
    }
    fragment
}

/// Merges `fragment` into the bundle's config.json the way the README
/// says: `jq -s '.[0] * .[1]' config.json fragment.json`.
fn merge_fragment(bundle: &mut OciBundle, fragment: &Value) {
    let base = bundle.dir().join("config.base.json");
    let extra = bundle.dir().join("netagent-fragment.json");
    std::fs::write(&base, bundle.config_mut().to_string()).unwrap();
    std::fs::write(&extra, fragment.to_string()).unwrap();
    let out = Command::new("jq")
        .args(["-s", ".[0] * .[1]"])
        .arg(&base)
        .arg(&extra)
        .output()
        .expect("run jq");
    let merged = checked(out, "jq merge of the fragment");
    *bundle.config_mut() = serde_json::from_str(&merged).expect("jq's JSON");
}

/// contrib/cni/10-netagent.conflist with `socket` added to its netagent
/// entry, written into a new `net.d` directory of the scratch space.
pub(crate) fn cni_conf_dir(host: &TestHost) -> PathBuf {
    let file = "10-netagent.conflist";
    let mut conflist = read_json(&contrib(&format!("cni/{file}")));
    let plugins = conflist["plugins"].as_array_mut().expect("plugins");
    let entry = plugins
        .iter_mut()
        .find(|p| p["type"] == "netagent")
        .expect("a netagent entry");
    entry["socket"] = json!(host.socket());
    let dir = host.dir.path().join("net.d");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(file), conflist.to_string()).unwrap();
    dir
}

/// ctr's `--mount` option for a resolv.conf pointing at 127.0.0.11 (ctr
/// gives containers none): [`CTR_RESOLV_CONF`], written once per host.
pub(crate) fn ctr_resolv_mount(host: &TestHost) -> String {
    let resolv = host.dir.path().join("ctr-resolv.conf");
    std::fs::write(&resolv, CTR_RESOLV_CONF).unwrap();
    format!(
        "type=bind,src={},dst=/etc/resolv.conf,options=rbind:ro",
        resolv.display()
    )
}

/// A plugin directory holding what users install: a symlink named
/// `netagent` to the binary.
pub(crate) fn netagent_plugin_dir(host: &TestHost) -> PathBuf {
    let dir = host.dir.path().join("cni-bin");
    std::fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_netagent"), dir.join("netagent"))
        .expect("link the plugin");
    dir
}

/// `netagent ps` as (name, IPv4 addresses) rows.
fn ps(host: &TestHost) -> Vec<(String, String)> {
    let text = checked(
        host.cli(&["ps", "-a", "--format", "{{.Names}} {{.Addresses}}"]),
        "netagent ps",
    );
    text.lines()
        .map(|line| {
            let (name, addresses) = line.split_once(' ').unwrap_or((line, ""));
            let ipv4: Vec<&str> = addresses.split(',').filter(|a| a.contains('.')).collect();
            (name.to_owned(), ipv4.join(","))
        })
        .collect()
}

/// The address `netagent ps` shows for sandbox `name`.
pub(crate) fn ps_address(host: &TestHost, name: &str) -> String {
    ps(host)
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("{name} is not in netagent ps: {:?}", ps(host)))
        .1
}

pub(crate) fn ps_lists(host: &TestHost, name: &str) -> bool {
    ps(host).iter().any(|(n, _)| n == name)
}

/// The IPv4 address in `ip -4 -o addr show eth0`'s output.
fn inet_of(text: &str) -> String {
    let cidr = text.split_whitespace().skip_while(|w| *w != "inet").nth(1);
    cidr.and_then(|c| c.split('/').next())
        .unwrap_or_else(|| panic!("no IPv4 address in: {text}"))
        .to_owned()
}

/// Polls `dig` from sandbox `peer` until `name` answers, bounded; returns
/// its one address and how many lookups it took.
pub(crate) fn await_name_from(host: &TestHost, peer: &str, name: &str) -> (String, u32) {
    // Under the domain: answered by the agent alone, so that a name not yet
    // there is a quick NXDOMAIN, never a wait on the host's upstreams.
    let fqdn = format!("{name}.netagent.internal");
    let mut lookups = 0;
    let answer = wait_for(
        &format!("{name} answering from {peer}"),
        Duration::from_secs(10),
        || {
            lookups += 1;
            let answer = host.dig_short(peer, &[&fqdn]);
            (!answer.is_empty()).then_some(answer)
        },
    );
    assert_eq!(answer.len(), 1, "{name}: {answer:?}");
    (answer[0].clone(), lookups)
}

/// Asserts busybox nslookup succeeded and shows `name` (asked under the
/// domain, the first search domain) at `address`.
pub(crate) fn assert_nslookup(output: std::process::Output, name: &str, address: &str) {
    let text = output.stdout_text();
    assert!(
        output.status.success()
            && text.contains(&format!(
                "Name:\t{name}.netagent.internal\nAddress: {address}\n"
            )),
        "busybox nslookup {name} (status {:?}):\n{text}\n{}",
        output.status,
        output.stderr_text()
    );
}

/// A test host whose own resolv.conf has no `search` line, so that the
/// containers' is `search netagent.internal` alone. With the test host's
/// `search test.example`, busybox `nslookup peer` also asks
/// `peer.test.example`, which the agent forwards to 127.0.0.53, where
/// nothing listens in the private host: SERVFAIL, and busybox waits out
/// its 5 s timeout (measured 4.8 s a lookup) before it exits 1.
fn host_without_search_domains() -> TestHost {
    let host = TestHost::new();
    // The agent reads it each time it writes a sandbox's resolv.conf.
    std::fs::write(
        host.dir.path().join("host-resolv.conf"),
        "# the test host's\nnameserver 127.0.0.53\n",
    )
    .unwrap();
    host
}

/// How the container's /etc/resolv.conf reaches it.
#[derive(Clone, Copy, Debug)]
enum Resolv {
    /// A per-container file bind-mounted onto /etc/resolv.conf.
    BindMount,
    /// No mount: the hook writes rootfs/etc/resolv.conf.
    Rootfs,
}

#[test]
fn runc_and_crun_hook_attach_and_release() {
    require_runtime_programs(&["runc", "crun", "jq"]);
    let machine = MachineSnapshot::take();
    let host = host_without_search_domains();
    host.cli(&["network", "create", "app"])
        .assert_ok("network create app");
    host.cli(&["run", "--name", "peer", "--network", "app"])
        .assert_ok("run peer");
    let peer = ps_address(&host, "peer");
    let links = host.links();
    let fragment = oci_fragment(&host);
    let cases = [
        (OciRuntime::Runc, Resolv::BindMount),
        (OciRuntime::Runc, Resolv::Rootfs),
        (OciRuntime::Crun, Resolv::BindMount),
        (OciRuntime::Crun, Resolv::Rootfs),
    ];
    for (runtime, resolv) in cases {
        hook_case(&host, &fragment, runtime, resolv, &peer);
        assert_eq!(
            host.links(),
            links,
            "veths left after {runtime:?} {resolv:?}"
        );
    }
    host.assert_clean_after_removal();
    drop(host);
    machine.assert_unchanged();
}

/// One container with the fragment: attached and named on `run -d`,
/// released when killed and deleted.
fn hook_case(host: &TestHost, fragment: &Value, runtime: OciRuntime, resolv: Resolv, peer: &str) {
    let program = runtime.program();
    let case = format!("{program} {resolv:?}");
    let id = format!("{FRAGMENT_NAME}-{program}-{resolv:?}").to_lowercase();
    let mut bundle = OciBundle::new(host, runtime, &id);
    merge_fragment(&mut bundle, fragment);
    let resolv_file = bundle.dir().join("resolv.conf");
    match resolv {
        Resolv::BindMount => {
            // The mount's source must exist when the runtime mounts it,
            // before createRuntime: an empty file the hook then fills in.
            std::fs::write(&resolv_file, "").unwrap();
            bundle.bind_mount(&resolv_file, "/etc/resolv.conf", true);
        }
        // A read-only root, as `runc spec` makes it: the hook writes the
        // file from the host's side all the same.
        Resolv::Rootfs => bundle.config_mut()["root"]["readonly"] = true.into(),
    }

    let start = Instant::now();
    checked(bundle.run_detached(), &format!("{program} run -d"));
    let ran = start.elapsed();
    let (answered, lookups) = await_name_from(host, "peer", FRAGMENT_NAME);
    eprintln!(
        "timing: {case}: run -d {ran:?}; the name answered a peer {:?} after the start \
         (lookup {lookups})",
        start.elapsed()
    );

    // What the container has, and what the names say.
    let address = inet_of(&checked(
        bundle.exec(&["ip", "-4", "-o", "addr", "show", "eth0"]),
        "ip addr in the container",
    ));
    assert_eq!(answered, address, "{case}: web from the peer");
    assert_eq!(ps_address(host, FRAGMENT_NAME), address, "{case}: ps");
    assert_eq!(
        host.dig_short("peer", &[FRAGMENT_ALIAS]),
        [address.as_str()],
        "{case}: the alias from the peer"
    );
    assert_eq!(
        host.dig_short("peer", &[FRAGMENT_NAME]),
        [address.as_str()],
        "{case}: the short name from the peer"
    );
    let seen = checked(bundle.exec(&["cat", "/etc/resolv.conf"]), "cat resolv.conf");
    assert!(
        seen.lines().any(|l| l == "nameserver 127.0.0.11"),
        "{case}: {seen}"
    );
    assert!(
        seen.lines().any(|l| l == "search netagent.internal"),
        "{case}: {seen}"
    );
    let in_rootfs = std::fs::read_to_string(bundle.dir().join("rootfs/etc/resolv.conf")).unwrap();
    match resolv {
        Resolv::BindMount => {
            assert_eq!(std::fs::read_to_string(&resolv_file).unwrap(), seen + "\n");
            assert_eq!(in_rootfs, "", "{case}: the image's file is left alone");
        }
        Resolv::Rootfs => assert_eq!(in_rootfs, seen + "\n", "{case}"),
    }
    assert_nslookup(bundle.exec(&["nslookup", "peer"]), "peer", peer);

    // Kill and delete: the exit watcher or poststop releases it, whichever
    // comes first; poststop must succeed either way.
    let stopped = Instant::now();
    let deleted = bundle.kill_and_delete();
    let deleted = deleted.expect("the container was there");
    deleted.assert_ok(&format!("{program} delete (poststop)"));
    assert!(
        deleted.stderr_text().trim().is_empty(),
        "{case}: {program} delete said: {}",
        deleted.stderr_text()
    );
    assert!(!ps_lists(host, FRAGMENT_NAME), "{case}: web is still there");
    eprintln!(
        "timing: {case}: kill + delete (poststop) {:?}",
        stopped.elapsed()
    );
    assert_eq!(
        host.dig_status("peer", &["web.netagent.internal"]),
        "NXDOMAIN",
        "{case}"
    );
    let probe = bundle.probe();
    drop(bundle);
    probe.assert_clean();
}

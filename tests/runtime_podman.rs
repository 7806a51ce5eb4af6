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

use std::fs::File;
use std::net::{Ipv4Addr, UdpSocket};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, Query};
use hickory_proto::rr::{Name, RData, RecordType};
use nix::sched::CloneFlags;
use serde_json::Value;

use crate::harness::host::{OutputExt, TestHost};
use crate::harness::runtimes::podman::{NetworkBackend, Podman, PodmanOptions};
use crate::harness::runtimes::procs::MachineSnapshot;
use crate::harness::runtimes::{checked, rootfs, wait_for, OciRuntime};

/// The netagent binary the tests run: the agent, the CLI, the plugin and
/// the hook.
const NETAGENT: &str = env!("CARGO_BIN_EXE_netagent");

/// busybox httpd in the foreground, serving the image's `/var/www`.
const HTTPD: [&str; 6] = ["httpd", "-f", "-p", "80", "-h", "/var/www"];

/// How many containers each test starts to time its name's arrival.
const TIMED_RUNS: usize = 5;

/// How long a name may take to answer after `podman run -d` started.
const NAME_LIMIT: Duration = Duration::from_secs(10);

/// A file of the repository's `contrib/` directory, as JSON.
fn contrib(path: &str) -> Value {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../contrib")
        .join(path);
    let text =
        std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("read {}: {e}", file.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", file.display()))
}

/// The example conflist `name` with the agent's socket set in its netagent
/// entry (the only change the private host needs), written into podman's
/// network config directory; returns the CNI network's name.
fn install_conflist(podman: &Podman, host: &TestHost, name: &str) -> String {
    let mut list = contrib(&format!("cni/{name}"));
    let plugins = list["plugins"].as_array_mut().expect("a conflist");
    let ours: Vec<&mut Value> = plugins
        .iter_mut()
        .filter(|p| p["type"] == "netagent")
        .collect();
    assert_eq!(ours.len(), 1, "{name} has one netagent plugin");
    for plugin in ours {
        plugin["socket"] = serde_json::json!(host.socket());
    }
    let path = podman.network_config_dir().join(name);
    std::fs::write(&path, serde_json::to_string_pretty(&list).unwrap()).unwrap();
    list["name"].as_str().expect("a network name").to_owned()
}

/// A CNI plugin directory holding only the link users make:
/// `netagent -> the binary`.
fn plugin_dir(host: &TestHost) -> PathBuf {
    let dir = host.dir.path().join("cni-bin");
    std::fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::symlink(NETAGENT, dir.join("netagent")).expect("link the plugin");
    dir
}

/// The example hook files with `path` set to the test's binary and
/// `--host SOCKET` after `netagent` in the arguments, in podman's hooks
/// directory.
fn install_hooks(podman: &Podman, host: &TestHost) {
    let socket = host.socket();
    for file in ["netagent-createRuntime.json", "netagent-poststop.json"] {
        let mut hook = contrib(&format!("hooks/{file}"));
        hook["hook"]["path"] = serde_json::json!(NETAGENT);
        let args = hook["hook"]["args"].as_array_mut().expect("hook args");
        assert_eq!(args[0], "netagent", "{file}: args start with the program");
        args.insert(1, serde_json::json!("--host"));
        args.insert(2, serde_json::json!(socket));
        std::fs::write(podman.hooks_dir().join(file), hook.to_string()).unwrap();
    }
}

/// A podman with netagent's plugin directory, on `backend`.
fn podman_for(host: &TestHost, backend: NetworkBackend, runtime: OciRuntime) -> Podman {
    let cni_plugin_dir = (backend == NetworkBackend::Cni).then(|| plugin_dir(host));
    Podman::new(
        host,
        PodmanOptions {
            backend,
            runtime,
            cni_plugin_dir,
        },
    )
}

/// The addresses `busybox nslookup NAME` printed for NAME (the server's
/// own lines left out), and its whole output.
///
/// busybox 1.35 asks `NAME.<domain>` for every search domain at once (A
/// and AAAA), never the bare name, and prints once all have answered.
/// Here the search list ends with the test host's `test.example`, which
/// netagent forwards to the test host's upstream, absent from the private
/// host: SERVFAIL, which busybox retries until its own 5 s are up. So
/// each call takes about 5 s, and the bound is well above that.
fn nslookup(podman: &Podman, container: &str, name: &str) -> (Vec<String>, String) {
    let out = podman.exec(container, &["timeout", "12", "nslookup", name]);
    let text = format!("{}{}", out.stdout_text(), out.stderr_text());
    (answers_of_nslookup(&text), text)
}

/// `Address: X` lines after the first `Name:` line of busybox nslookup.
fn answers_of_nslookup(text: &str) -> Vec<String> {
    let mut answers: Vec<String> = text
        .lines()
        .skip_while(|l| !l.starts_with("Name:"))
        .filter_map(|l| l.strip_prefix("Address:"))
        .map(|a| a.trim().to_owned())
        .collect();
    answers.sort();
    answers.dedup();
    answers
}

/// podman's inspect of one container.
fn inspect(podman: &Podman, name: &str) -> Value {
    let text = checked(podman.podman(&["inspect", name]), "podman inspect");
    let mut all: Value = serde_json::from_str(&text).expect("inspect JSON");
    all[0].take()
}

/// The network namespace podman made for a container.
fn netns_of(podman: &Podman, name: &str) -> String {
    let netns = inspect(podman, name)["NetworkSettings"]["SandboxKey"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        netns.starts_with("/run/netns/"),
        "{name}'s netns: {netns:?}"
    );
    netns
}

/// netagent's view of a sandbox (`netagent inspect`).
fn agent_inspect(host: &TestHost, name: &str) -> Value {
    let out = host.cli(&["inspect", name]);
    serde_json::from_str(&checked(out, &format!("netagent inspect {name}"))).unwrap()
}

/// The IPv4 address netagent gave sandbox `name` on `network`.
fn agent_ip(host: &TestHost, name: &str, network: &str) -> String {
    let view = agent_inspect(host, name);
    let endpoint = view["endpoints"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["network"] == network)
        .unwrap_or_else(|| panic!("{name} is not on {network}: {view}"));
    endpoint["ipv4"]
        .as_str()
        .expect("an IPv4 address")
        .to_owned()
}

/// The sandbox names `netagent ps` lists.
fn agent_sandboxes(host: &TestHost) -> Vec<String> {
    let ps = checked(host.cli(&["ps"]), "netagent ps");
    ps.lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(1).map(str::to_owned))
        .collect()
}

/// The network names `netagent network ls` lists.
fn agent_networks(host: &TestHost) -> Vec<String> {
    let ls = checked(host.cli(&["network", "ls"]), "netagent network ls");
    ls.lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(1).map(str::to_owned))
        .collect()
}

/// The veths left in the private host.
fn veths(host: &TestHost) -> Vec<String> {
    let out = host.in_host(&["ip", "-o", "link", "show", "type", "veth"]);
    out.stdout_text()
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n).to_owned())
        .collect()
}

/// The container's resolv.conf, printed for the report; checks that its
/// first nameserver is netagent's resolver and its first search domain
/// netagent's. Returns its nameservers.
fn check_resolv_conf(podman: &Podman, container: &str, mode: &str) -> Vec<String> {
    let text = checked(
        podman.exec(container, &["cat", "/etc/resolv.conf"]),
        "cat /etc/resolv.conf",
    );
    eprintln!("resolv.conf podman gave {container} ({mode}):\n{text}\n--");
    let nameservers: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("nameserver"))
        .map(str::trim)
        .collect();
    assert_eq!(
        nameservers.first(),
        Some(&"127.0.0.11"),
        "{mode}: the first nameserver is netagent's resolver:\n{text}"
    );
    let search: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("search"))
        .flat_map(str::split_whitespace)
        .collect();
    assert_eq!(
        search.first(),
        Some(&"netagent.internal"),
        "{mode}: netagent's domain comes first (names answer there first):\n{text}"
    );
    nameservers.into_iter().map(str::to_owned).collect()
}

/// Fetches web's page by name from `client` with busybox wget.
fn assert_fetches_by_name(podman: &Podman, client: &str, name: &str) {
    let url = format!("http://{name}/");
    let page = checked(
        podman.exec(client, &["timeout", "5", "wget", "-q", "-O", "-", &url]),
        &format!("wget {url} from {client}"),
    );
    assert_eq!(page, rootfs::INDEX_HTML.trim(), "{url}");
}

/// A path of the private host's mount namespace as the test process can
/// open it: through the holder's root, which gives "the same view of the
/// filesystem (including namespaces and the set of per-process mounts) as
/// the process itself" (proc(5)).
fn from_outside(host: &TestHost, path: &Path) -> PathBuf {
    let inside = path.strip_prefix("/").expect("an absolute path");
    PathBuf::from(format!("/proc/{}/root", host.pid())).join(inside)
}

/// Asks 127.0.0.11 for `name.`'s A records from inside the network
/// namespace at `netns` (a path the test process can open), as any process
/// in there would, every 10 ms until an answer has addresses or `limit`
/// passes. In-process and on a thread of its own (setns moves one thread
/// only), so that polling costs next to no CPU while a runtime starts a
/// container on the same two cores. Returns the addresses and when they
/// came.
fn ask_until_answered(
    netns: PathBuf,
    name: String,
    limit: Duration,
) -> JoinHandle<Option<(Vec<Ipv4Addr>, Instant)>> {
    std::thread::spawn(move || {
        let file = File::open(&netns).unwrap_or_else(|e| panic!("open {}: {e}", netns.display()));
        nix::sched::setns(&file, CloneFlags::CLONE_NEWNET).expect("setns into the peer");
        let socket = UdpSocket::bind("0.0.0.0:0").expect("a socket in the peer");
        socket
            .set_read_timeout(Some(Duration::from_millis(10)))
            .unwrap();
        let question = Name::from_ascii(format!("{name}.")).expect("a DNS name");
        let deadline = Instant::now() + limit;
        let mut id = 0u16;
        let mut buffer = [0u8; 1500];
        while Instant::now() < deadline {
            id = id.wrapping_add(1);
            let mut query = Message::query();
            query.metadata.id = id;
            query.metadata.recursion_desired = true;
            query.add_query(Query::query(question.clone(), RecordType::A));
            let sent = Instant::now();
            // Nothing listens before the resolver is injected: the send
            // may fail or the answer never come; both mean "not yet".
            let _ = socket.send_to(&query.to_vec().unwrap(), "127.0.0.11:53");
            while let Ok(len) = socket.recv(&mut buffer) {
                let Ok(reply) = Message::from_vec(&buffer[..len]) else {
                    continue;
                };
                if reply.metadata.id != id {
                    continue;
                }
                let addresses: Vec<Ipv4Addr> = reply
                    .answers
                    .iter()
                    .filter_map(|r| match &r.data {
                        RData::A(a) => Some(a.0),
                        _ => None,
                    })
                    .collect();
                if !addresses.is_empty() {
                    return Some((addresses, Instant::now()));
                }
                break;
            }
            if let Some(rest) = Duration::from_millis(10).checked_sub(sent.elapsed()) {
                std::thread::sleep(rest);
            }
        }
        None
    })
}

/// What one timed start measured.
struct Timing {
    /// From the start of `podman run -d` until the name answered.
    named: Duration,
    /// From the start of `podman run -d` until it returned.
    returned: Duration,
}

/// Starts `podman run -d --name NAME OPTIONS IMAGE sleep 600` while asking
/// for NAME from the peer namespace `peer` (see [`ask_until_answered`]);
/// checks that the answer is the address `address_of(NAME)` reports, then
/// removes the container.
fn time_name(
    podman: &Podman,
    peer: &Path,
    name: &str,
    options: &[String],
    address_of: &dyn Fn(&str) -> String,
) -> Timing {
    let options: Vec<&str> = options.iter().map(String::as_str).collect();
    let start = Instant::now();
    let asking = ask_until_answered(peer.to_owned(), name.to_owned(), NAME_LIMIT);
    let mut run = podman.run_detached_command(name, &options, &["sleep", "600"]);
    let out = run.output().expect("run podman");
    let returned = start.elapsed();
    out.assert_ok(&format!("podman run -d --name {name} {options:?}"));
    let (addresses, when) = asking
        .join()
        .expect("the asking thread")
        .unwrap_or_else(|| panic!("{name} did not answer within {NAME_LIMIT:?}"));
    let expected: Ipv4Addr = address_of(name).parse().expect("an IPv4 address");
    assert_eq!(addresses, [expected], "{name} answers with its address");
    checked(podman.podman(&["rm", "-f", "-t0", name]), "podman rm");
    Timing {
        named: when - start,
        returned,
    }
}

/// Runs [`time_name`] [`TIMED_RUNS`] times (containers `timed0`, ...,
/// started with `options_for(NAME)`) and prints the medians.
fn report_timing(
    mode: &str,
    podman: &Podman,
    peer: &Path,
    options_for: &dyn Fn(&str) -> Vec<String>,
    address_of: &dyn Fn(&str) -> String,
) {
    let runs: Vec<Timing> = (0..TIMED_RUNS)
        .map(|i| {
            let name = format!("timed{i}");
            time_name(podman, peer, &name, &options_for(&name), address_of)
        })
        .collect();
    let mut named: Vec<Duration> = runs.iter().map(|t| t.named).collect();
    let mut returned: Vec<Duration> = runs.iter().map(|t| t.returned).collect();
    named.sort();
    returned.sort();
    let ms = |d: &Duration| format!("{:.0}", d.as_secs_f64() * 1000.0);
    eprintln!(
        "timing ({mode}, {TIMED_RUNS} runs): podman run -d start -> name answers from a peer: \
         median {} ms (all {:?} ms); podman run -d returned after: median {} ms",
        ms(&named[TIMED_RUNS / 2]),
        named.iter().map(ms).collect::<Vec<_>>(),
        ms(&returned[TIMED_RUNS / 2]),
    );
}

/// podman with the CNI backend leaves its default cgroup parent behind
/// when a container is started without `--cgroup-parent`: note whether it
/// exists, to check at the end that the test made none.
fn libpod_parent_exists() -> bool {
    Path::new("/sys/fs/cgroup/memory/libpod_parent").exists()
        || Path::new("/sys/fs/cgroup/libpod_parent").exists()
}

/// The end of each test, in order: podman dropped and its probe checked,
/// the host dropped, the machine as it was.
fn finish(podman: Podman, host: TestHost, machine: MachineSnapshot, libpod_parent: bool) {
    let probe = podman.probe();
    drop(podman);
    probe.assert_clean();
    drop(host);
    machine.assert_unchanged();
    assert_eq!(
        libpod_parent_exists(),
        libpod_parent,
        "podman's default cgroup parent appeared: a container ran outside the fixture's"
    );
}

/// Checks what is left once every container is gone: no sandbox, no veth.
fn assert_no_sandbox_left(host: &TestHost) {
    assert_eq!(agent_sandboxes(host), Vec::<String>::new(), "netagent ps");
    assert_eq!(veths(host), Vec::<String>::new(), "veths left");
}

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
    let web_id = podman.run_detached("web", &net, &HTTPD);
    podman.run_detached("client", &net, &["sleep", "600"]);
    let web_ip = agent_ip(&host, "web", "app");
    assert_eq!(
        podman.ip("web", "app"),
        web_ip,
        "podman has netagent's address"
    );
    let web = agent_inspect(&host, "web");
    assert_eq!(web["id"], web_id.as_str(), "the sandbox has podman's id");
    assert_eq!(
        inspect(&podman, "web")["NetworkSettings"]["Networks"]["app"]["MacAddress"],
        web["endpoints"][0]["mac"],
        "podman has the MAC of netagent's interface"
    );
    check_resolv_conf(&podman, "client", "CNI, netagent as the main plugin");

    let (answers, text) = nslookup(&podman, "client", "web");
    assert_eq!(answers, [web_ip.as_str()], "nslookup web:\n{text}");
    assert_fetches_by_name(&podman, "client", "web");
    let short = &web_id[..12];
    let (answers, text) = nslookup(&podman, "client", short);
    assert_eq!(answers, [web_ip.as_str()], "nslookup {short}:\n{text}");

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

    let peer = from_outside(&host, Path::new(&netns_of(&podman, "client")));
    report_timing(
        "CNI, netagent as the main plugin",
        &podman,
        &peer,
        &|_| vec!["--network".into(), "app".into()],
        &|name| podman.ip(name, "app"),
    );

    podman.remove_all();
    assert_no_sandbox_left(&host);
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

    let (answers, text) = nslookup(&podman, "client", "web");
    assert_eq!(answers, [web_ip.as_str()], "nslookup web:\n{text}");
    assert_fetches_by_name(&podman, "client", "web");
    let short = &web_id[..12];
    let (answers, text) = nslookup(&podman, "client", short);
    assert_eq!(answers, [web_ip.as_str()], "nslookup {short}:\n{text}");

    let peer = from_outside(&host, Path::new(&netns_of(&podman, "client")));
    report_timing(
        "CNI, chained after bridge + host-local",
        &podman,
        &peer,
        &|_| vec!["--network".into(), "mesh".into()],
        &|name| podman.ip(name, "mesh"),
    );

    podman.remove_all();
    assert_no_sandbox_left(&host);
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

//! What the podman tests share: the contrib files loaded as written and
//! fitted to the private host, the podman fixture set up for each mode,
//! and reading names and addresses back from podman and the agent.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::harness::host::{OutputExt, TestHost};
use crate::harness::runtimes::podman::{NetworkBackend, Podman, PodmanOptions};
use crate::harness::runtimes::procs::MachineSnapshot;
use crate::harness::runtimes::{checked, rootfs, OciRuntime};

/// The netagent binary the tests run: the agent, the CLI, the plugin and
/// the hook.
pub(super) const NETAGENT: &str = env!("CARGO_BIN_EXE_netagent");

/// busybox httpd in the foreground, serving the image's `/var/www`.
pub(super) const HTTPD: [&str; 6] = ["httpd", "-f", "-p", "80", "-h", "/var/www"];

/// How many containers each test starts to time its name's arrival.
pub(super) const TIMED_RUNS: usize = 5;

/// How long a name may take to answer after `podman run -d` started.
pub(super) const NAME_LIMIT: Duration = Duration::from_secs(10);

/// A file of the repository's `contrib/` directory, as JSON.
pub(super) fn contrib(path: &str) -> Value {
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
pub(super) fn install_conflist(podman: &Podman, host: &TestHost, name: &str) -> String {
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
pub(super) fn plugin_dir(host: &TestHost) -> PathBuf {
    let dir = host.dir.path().join("cni-bin");
    std::fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::symlink(NETAGENT, dir.join("netagent")).expect("link the plugin");
    dir
}

/// The example hook files with `path` set to the test's binary and
/// `--host SOCKET` after `netagent` in the arguments, in podman's hooks
/// directory.
pub(super) fn install_hooks(podman: &Podman, host: &TestHost) {
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
pub(super) fn podman_for(host: &TestHost, backend: NetworkBackend, runtime: OciRuntime) -> Podman {
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
pub(super) fn nslookup(podman: &Podman, container: &str, name: &str) -> (Vec<String>, String) {
    let out = podman.exec(container, &["timeout", "12", "nslookup", name]);
    let text = format!("{}{}", out.stdout_text(), out.stderr_text());
    (answers_of_nslookup(&text), text)
}

/// `Address: X` lines after the first `Name:` line of busybox nslookup.
pub(super) fn answers_of_nslookup(text: &str) -> Vec<String> {
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
pub(super) fn inspect(podman: &Podman, name: &str) -> Value {
    let text = checked(podman.podman(&["inspect", name]), "podman inspect");
    let mut all: Value = serde_json::from_str(&text).expect("inspect JSON");
    all[0].take()
}

/// The network namespace podman made for a container.
pub(super) fn netns_of(podman: &Podman, name: &str) -> String {
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
pub(super) fn agent_inspect(host: &TestHost, name: &str) -> Value {
    let out = host.cli(&["inspect", name]);
    let all: Value =
        serde_json::from_str(&checked(out, &format!("netagent inspect {name}"))).unwrap();
    all[0].clone()
}

/// The IPv4 address netagent gave sandbox `name` on `network`.
pub(super) fn agent_ip(host: &TestHost, name: &str, network: &str) -> String {
    let view = agent_inspect(host, name);
    let endpoint = view["Netagent"]["Endpoints"]
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
pub(super) fn agent_sandboxes(host: &TestHost) -> Vec<String> {
    let ps = checked(
        host.cli(&["ps", "-a", "--format", "{{.Names}}"]),
        "netagent ps",
    );
    ps.lines().map(str::to_owned).collect()
}

/// The network names `netagent network ls` lists.
pub(super) fn agent_networks(host: &TestHost) -> Vec<String> {
    let ls = checked(
        host.cli(&["network", "ls", "--format", "{{.Name}}"]),
        "netagent network ls",
    );
    ls.lines().map(str::to_owned).collect()
}

/// The veths left in the private host.
pub(super) fn veths(host: &TestHost) -> Vec<String> {
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
pub(super) fn check_resolv_conf(podman: &Podman, container: &str, mode: &str) -> Vec<String> {
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
pub(super) fn assert_fetches_by_name(podman: &Podman, client: &str, name: &str) {
    let url = format!("http://{name}/");
    let page = checked(
        podman.exec(client, &["timeout", "5", "wget", "-q", "-O", "-", &url]),
        &format!("wget {url} from {client}"),
    );
    assert_eq!(page, rootfs::INDEX_HTML.trim(), "{url}");
}

/// podman with the CNI backend leaves its default cgroup parent behind
/// when a container is started without `--cgroup-parent`: note whether it
/// exists, to check at the end that the test made none.
pub(super) fn libpod_parent_exists() -> bool {
    Path::new("/sys/fs/cgroup/memory/libpod_parent").exists()
        || Path::new("/sys/fs/cgroup/libpod_parent").exists()
}

/// The end of each test, in order: podman dropped and its probe checked,
/// the host dropped, the machine as it was.
pub(super) fn finish(
    podman: Podman,
    host: TestHost,
    machine: MachineSnapshot,
    libpod_parent: bool,
) {
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
pub(super) fn assert_no_sandbox_left(host: &TestHost) {
    assert_eq!(agent_sandboxes(host), Vec::<String>::new(), "netagent ps");
    assert_eq!(veths(host), Vec::<String>::new(), "veths left");
}

/// From `client`: `web` and web's short id resolve to `web_ip` with busybox
/// nslookup, and web's page can be fetched by name.
pub(super) fn assert_client_finds_web(podman: &Podman, web_ip: &str, web_id: &str) {
    let (answers, text) = nslookup(podman, "client", "web");
    assert_eq!(answers, [web_ip], "nslookup web:\n{text}");
    assert_fetches_by_name(podman, "client", "web");
    let short = &web_id[..12];
    let (answers, text) = nslookup(podman, "client", short);
    assert_eq!(answers, [web_ip], "nslookup {short}:\n{text}");
}

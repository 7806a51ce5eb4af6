//! Several hosts for the overlay tests (issue #15): an underlay namespace
//! with a bridge (192.0.2.1/24, TEST-NET-1 of RFC 5737) where etcd runs
//! (Debian's `etcd-server`, data in a temp dir, stopped and started by the
//! test), and private hosts ([`TestHost`]) each joined to the bridge by a
//! veth (`ul0`, 192.0.2.1N) before its agent starts with `[cluster]`.
//! Dropping it kills etcd and the underlay holder; the hosts go with
//! their own drop.

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::host::{OutputExt, TestHost};
use super::require_program;

/// etcd's client URL on the underlay.
pub const ETCD: &str = "http://192.0.2.1:2379";
/// The key prefix the hosts use.
pub const PREFIX: &str = "/netagent-test/";

/// The underlay and its etcd.
pub struct Underlay {
    holder: Child,
    etcd: Option<Child>,
    data: TempDir,
}

impl Underlay {
    /// The underlay namespace, its bridge, and etcd started on it.
    pub fn new() -> Underlay {
        require_program("etcd", "etcd-server");
        require_program("etcdctl", "etcd-client");
        // Bounded: the holder ends by itself if the test process dies.
        let holder = Command::new("unshare")
            .args(["--net", "sleep", "900"])
            .stdin(Stdio::null())
            .spawn()
            .expect("start the underlay holder");
        let mut underlay = Underlay {
            holder,
            etcd: None,
            data: tempfile::tempdir().expect("etcd's data directory"),
        };
        underlay.wait_for_holder();
        for step in [
            "ip link set lo up",
            "ip link add br0 type bridge",
            "ip addr add 192.0.2.1/24 dev br0",
            "ip link set br0 up",
        ] {
            underlay
                .run(&step.split(' ').collect::<Vec<_>>())
                .assert_ok(step);
        }
        underlay.start_etcd();
        underlay
    }

    fn wait_for_holder(&self) {
        let own = std::fs::read_link("/proc/self/ns/net").unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::fs::read_link(format!("/proc/{}/ns/net", self.holder.id()))
            .map(|ns| ns == own)
            .unwrap_or(true)
        {
            assert!(
                Instant::now() < deadline,
                "the underlay holder never entered its namespace"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Runs a command in the underlay namespace.
    pub fn run(&self, args: &[&str]) -> Output {
        Command::new("nsenter")
            .arg("-t")
            .arg(self.holder.id().to_string())
            .args(["-n", "--"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run in the underlay")
    }

    /// Starts etcd (again, on the same data) and waits until it answers.
    pub fn start_etcd(&mut self) {
        let data = self.data.path();
        let log = std::fs::File::create(data.join("etcd.log")).unwrap();
        let etcd = Command::new("nsenter")
            .arg("-t")
            .arg(self.holder.id().to_string())
            .args(["-n", "--", "etcd", "--name", "t"])
            .arg("--data-dir")
            .arg(data.join("member-data"))
            .args([
                "--listen-client-urls",
                ETCD,
                "--advertise-client-urls",
                ETCD,
                "--listen-peer-urls",
                "http://127.0.0.1:2380",
                "--initial-advertise-peer-urls",
                "http://127.0.0.1:2380",
                "--initial-cluster",
                "t=http://127.0.0.1:2380",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start etcd");
        self.etcd = Some(etcd);
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.etcdctl(&["endpoint", "health"]).status.success() {
            assert!(Instant::now() < deadline, "etcd did not come up");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops etcd (SIGKILL: the hosts see it vanish).
    pub fn stop_etcd(&mut self) {
        if let Some(mut etcd) = self.etcd.take() {
            let _ = etcd.kill();
            let _ = etcd.wait();
        }
    }

    /// Runs etcdctl against the underlay's etcd.
    pub fn etcdctl(&self, args: &[&str]) -> Output {
        let mut full = vec!["etcdctl", "--endpoints", ETCD, "--command-timeout=2s"];
        full.extend_from_slice(args);
        self.run(&full)
    }

    /// etcd's current revision.
    pub fn revision(&self) -> i64 {
        let status = self
            .etcdctl(&["endpoint", "status", "-w", "json"])
            .assert_ok("endpoint status")
            .stdout_text();
        let json: serde_json::Value = serde_json::from_str(&status).expect("etcdctl's JSON");
        json[0]["Status"]["header"]["revision"]
            .as_i64()
            .expect("a revision")
    }

    /// Every key under the hosts' prefix.
    pub fn keys(&self) -> Vec<String> {
        self.etcdctl(&["get", "--prefix", "--keys-only", PREFIX])
            .assert_ok("list the keys")
            .stdout_text()
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// A private host `hN` on the underlay (192.0.2.1N), its agent in the
    /// cluster with `lease_ttl_s`.
    pub fn host(&self, n: u8, lease_ttl_s: u64) -> TestHost {
        let config = format!(
            "[cluster]\nendpoints = [\"{ETCD}\"]\nhost = \"h{n}\"\nadvertise = \"192.0.2.1{n}\"\nprefix = \"{PREFIX}\"\nlease_ttl_s = {lease_ttl_s}\n"
        );
        TestHost::prepared(&config, |host| {
            let pid = host.pid().to_string();
            let port = format!("ul{n}");
            for step in [
                format!("ip link add {port} type veth peer name ul0 netns {pid}"),
                format!("ip link set {port} master br0"),
                format!("ip link set {port} up"),
            ] {
                self.run(&step.split(' ').collect::<Vec<_>>())
                    .assert_ok(&step);
            }
            for step in [
                format!("ip addr add 192.0.2.1{n}/24 dev ul0"),
                "ip link set ul0 up".into(),
            ] {
                host.in_host(&step.split(' ').collect::<Vec<_>>())
                    .assert_ok(&step);
            }
        })
    }

    /// Cuts host `n` off the underlay, or joins it again.
    pub fn link(&self, n: u8, up: bool) {
        let port = format!("ul{n}");
        let state = if up { "up" } else { "down" };
        self.run(&["ip", "link", "set", &port, state])
            .assert_ok("set the host's port");
    }
}

impl Drop for Underlay {
    fn drop(&mut self) {
        self.stop_etcd();
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

/// Polls `check` every 20 ms until it holds or `limit` passes; returns
/// whether it held, and when.
pub fn within(limit: Duration, mut check: impl FnMut() -> bool) -> Option<Duration> {
    let started = Instant::now();
    loop {
        if check() {
            return Some(started.elapsed());
        }
        if started.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The overlay devices and bridges left on a host, its FDB entries on
/// them, beside what a fresh host has (`lo`, `netagent0`, `ul0`).
pub fn leftovers(host: &TestHost) -> Vec<String> {
    let mut left: Vec<String> = host
        .links()
        .into_iter()
        .filter(|l| !matches!(l.as_str(), "lo" | "netagent0" | "ul0"))
        .collect();
    let fdb = host.in_host(&["bridge", "fdb", "show"]).stdout_text();
    left.extend(
        fdb.lines()
            .filter(|l| l.contains("dev vx-"))
            .map(str::to_owned),
    );
    left
}

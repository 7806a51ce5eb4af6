//! Several hosts for the overlay tests (issue #15): an underlay namespace
//! with a bridge (192.0.2.1/24, TEST-NET-1 of RFC 5737) where etcd runs
//! (Debian's `etcd-server`, data in a temp dir, stopped and started by the
//! test), and private hosts ([`TestHost`]) each joined to the bridge by a
//! veth (`ul0`, 192.0.2.1N) before its agent starts with `[cluster]`.
//! Dropping it kills etcd and the underlay holder; the hosts go with
//! their own drop. [`Underlay::with_tls`] runs etcd on https with client
//! certificates ([`Certs`]), and the hosts' `[cluster]` has TLS lines.

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::certs::Certs;
use super::host::{OutputExt, TestHost};
use super::require_program;

/// etcd's client URL on the underlay.
pub const ETCD: &str = "http://192.0.2.1:2379";
/// The same over TLS.
pub const ETCD_TLS: &str = "https://192.0.2.1:2379";
/// The key prefix the hosts use.
pub const PREFIX: &str = "/netagent-test/";

/// The underlay and its etcd.
pub struct Underlay {
    holder: Child,
    etcd: Option<Child>,
    data: TempDir,
    /// etcd's and the hosts' certificates, when etcd speaks TLS.
    pub tls: Option<Certs>,
}

impl Underlay {
    /// The underlay namespace, its bridge, and etcd started on it.
    pub fn new() -> Underlay {
        Self::build(None)
    }

    /// The same with etcd on https, wanting client certificates.
    pub fn with_tls() -> Underlay {
        Self::build(Some(Certs::make("192.0.2.1")))
    }

    /// etcd's client URL.
    pub fn endpoint(&self) -> &'static str {
        if self.tls.is_some() {
            ETCD_TLS
        } else {
            ETCD
        }
    }

    fn build(tls: Option<Certs>) -> Underlay {
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
            tls,
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
        super::host::wait_until_unshared(self.holder.id(), "the underlay holder");
    }

    /// The pid of the underlay namespace's holder (to bind a server there).
    pub fn pid(&self) -> u32 {
        self.holder.id()
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
        let mut etcd = Command::new("nsenter");
        etcd.arg("-t")
            .arg(self.holder.id().to_string())
            .args(["-n", "--", "etcd", "--name", "t"])
            .arg("--data-dir")
            .arg(data.join("member-data"));
        if let Some(certs) = &self.tls {
            for (flag, file) in [
                ("--cert-file", "server.pem"),
                ("--key-file", "server.key"),
                ("--trusted-ca-file", "ca.pem"),
            ] {
                etcd.arg(flag).arg(certs.path(file));
            }
            etcd.arg("--client-cert-auth");
        }
        let etcd = etcd
            .args([
                "--listen-client-urls",
                self.endpoint(),
                "--advertise-client-urls",
                self.endpoint(),
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
        let mut full: Vec<String> = ["etcdctl", "--endpoints", self.endpoint()]
            .map(String::from)
            .into();
        full.push("--command-timeout=2s".into());
        if let Some(certs) = &self.tls {
            for (flag, file) in [
                ("--cacert", "ca.pem"),
                ("--cert", "client.pem"),
                ("--key", "client.key"),
            ] {
                full.push(format!("{flag}={}", certs.path(file).display()));
            }
        }
        full.extend(args.iter().map(|a| a.to_string()));
        self.run(&full.iter().map(String::as_str).collect::<Vec<_>>())
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
    /// cluster with `lease_ttl_s` (and the right certificates, with TLS).
    pub fn host(&self, n: u8, lease_ttl_s: u64) -> TestHost {
        let tls = match &self.tls {
            Some(certs) => certs.lines(&certs.path("ca.pem"), true),
            None => String::new(),
        };
        let mut host = self.host_stopped(n, lease_ttl_s, &tls);
        host.start_daemon();
        host
    }

    /// The host of [`Underlay::host`] with `tls` as its `[cluster]`'s TLS
    /// lines (the last lines of its config), its agent not started.
    pub fn host_stopped(&self, n: u8, lease_ttl_s: u64, tls: &str) -> TestHost {
        let config = format!(
            "[cluster]\nendpoints = [\"{}\"]\nhost = \"h{n}\"\nadvertise = \"192.0.2.1{n}\"\nprefix = \"{PREFIX}\"\nlease_ttl_s = {lease_ttl_s}\n{tls}",
            self.endpoint()
        );
        TestHost::prepared_stopped(&config, |host| {
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

/// The value of the counter `name` in `host`'s `GET /metrics` (0 when
/// absent).
pub fn metric(host: &TestHost, name: &str) -> u64 {
    host.metrics_text()
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0)
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

/// Starts `host`'s agent where it must fail: waits (at most 15 s) for it
/// to exit unsuccessfully and returns what it printed.
pub fn start_failing(host: &TestHost) -> String {
    let config = host.config_path().to_str().unwrap().to_owned();
    let mut daemon = host
        .host_command(&[
            env!("CARGO_BIN_EXE_netagent"),
            "daemon",
            "--config",
            &config,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the daemon");
    let exited = within(Duration::from_secs(15), || {
        daemon.try_wait().expect("wait for the daemon").is_some()
    });
    if exited.is_none() {
        let _ = daemon.kill();
    }
    let output = daemon.wait_with_output().expect("the daemon's output");
    let text = format!("{}{}", output.stdout_text(), output.stderr_text());
    assert!(exited.is_some(), "the daemon did not fail: {text}");
    assert!(!output.status.success(), "the daemon exited 0: {text}");
    text
}

/// Replaces the TLS lines of a host from [`Underlay::host_stopped`].
pub fn set_tls(host: &TestHost, tls: &str) {
    let text = std::fs::read_to_string(host.config_path()).unwrap();
    let cut = text.find("ca_file").unwrap_or(text.len());
    std::fs::write(host.config_path(), format!("{}{tls}", &text[..cut])).unwrap();
}

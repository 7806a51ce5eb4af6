//! The namespace tier's private host: a holder process in a new network
//! and mount namespace (so bridges, veths, rules and namespace mounts all
//! live there), the real `netagent daemon` run inside it, and helpers to
//! run the CLI and commands in it. Dropping it kills the daemon and the
//! holder, and with them everything made inside: nothing is left behind on
//! the machine, even when a test fails half-way.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

pub use super::output::OutputExt;
use super::require_program;

/// A private host with an agent.
pub struct TestHost {
    /// Scratch directory: config, state, namespaces, resolv.conf files.
    pub dir: TempDir,
    holder: Child,
    daemon: Option<Child>,
    config: PathBuf,
    /// Environment the daemon starts with (`NETAGENT_FAULTS`, say).
    daemon_env: Vec<(String, String)>,
}

/// Root, or fail: the namespace tier must run (never a quiet skip).
pub fn require_root() {
    let euid = nix::unistd::geteuid().as_raw();
    assert_eq!(
        euid,
        0,
        "the namespace tests need root (CI={:?}); run them as root",
        std::env::var("CI").ok()
    );
    for (program, package) in [
        ("unshare", "util-linux"),
        ("nsenter", "util-linux"),
        ("ip", "iproute2"),
        ("nft", "nftables"),
        ("dig", "dnsutils"),
    ] {
        require_program(program, package);
    }
}

impl TestHost {
    /// A private host with the agent running with default settings.
    pub fn new() -> TestHost {
        Self::with_config("")
    }

    /// A private host whose agent config has `extra` TOML appended (for
    /// example `[agent]\ndns_mode = "direct"`; `[forwarding]` is taken: the
    /// tests give up on dead upstreams after 800 ms, well inside dig's wait).
    pub fn with_config(extra: &str) -> TestHost {
        Self::build(extra, &[], false)
    }

    /// A private host with a tmpfs of its own on /run, mounted before the
    /// agent starts, whose agent config has `extra` appended: for tests
    /// that use the machine-wide paths under /run (`ip netns add` pins in
    /// /run/netns) without touching the machine's.
    pub fn with_private_run(extra: &str) -> TestHost {
        Self::build(extra, &[], true)
    }

    /// A private host whose (debug-built) agent fails on purpose at the
    /// fault points named, comma-separated (netagent's agent/faults.rs).
    pub fn with_faults(faults: &str) -> TestHost {
        Self::build("", &[("NETAGENT_FAULTS", faults)], false)
    }

    /// A private host whose agent config has `extra` appended, with
    /// `prepare` run in it (links to an underlay that the agent's config
    /// names, say); its agent not started (the caller starts it, or checks
    /// that it fails to).
    pub fn prepared_stopped(extra: &str, prepare: impl FnOnce(&TestHost)) -> TestHost {
        let host = Self::build_stopped(extra, &[], false);
        prepare(&host);
        host
    }

    /// The agent's config file (a test may rewrite it between starts).
    pub fn config_path(&self) -> &std::path::Path {
        &self.config
    }

    fn build(extra: &str, env: &[(&str, &str)], private_run: bool) -> TestHost {
        let mut host = Self::build_stopped(extra, env, private_run);
        host.start_daemon();
        host
    }

    fn build_stopped(extra: &str, env: &[(&str, &str)], private_run: bool) -> TestHost {
        require_root();
        let dir = tempfile::tempdir().expect("scratch directory");
        let root = dir.path();
        std::fs::write(
            root.join("host-resolv.conf"),
            "# the test host's\nnameserver 127.0.0.53\nsearch test.example\n",
        )
        .unwrap();
        let config = root.join("netagent.toml");
        let (paths, extra) = match extra.split_once("[paths]") {
            Some((before, after)) => (after.to_owned(), before.to_owned()),
            None => (String::new(), extra.to_owned()),
        };
        std::fs::write(
            &config,
            format!(
                "[paths]\n{}{paths}\n\
                 [forwarding]\ntotal_timeout_ms = 800\nfallback_delay_ms = 100\n{extra}\n",
                default_paths(root, &paths)
            ),
        )
        .unwrap();
        // Bounded: the holder ends by itself if the test process dies.
        let holder = Command::new("unshare")
            .args([
                "--net",
                "--mount",
                "--propagation",
                "private",
                "sleep",
                "900",
            ])
            .stdin(Stdio::null())
            .spawn()
            .expect("start the namespace holder");
        let host = TestHost {
            dir,
            holder,
            daemon: None,
            config,
            daemon_env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        host.wait_for_holder();
        host.in_host(&["ip", "link", "set", "lo", "up"])
            .assert_ok("lo up in the private host");
        if private_run {
            // -n: util-linux would otherwise create /run/mount on the
            // machine before the tmpfs covers /run.
            host.in_host(&["mount", "-n", "-t", "tmpfs", "netagent-test", "/run"])
                .assert_ok("a private /run");
        }
        host
    }

    fn wait_for_holder(&self) {
        wait_until_unshared(self.holder.id(), "the holder");
    }

    /// The text of the agent's `GET /metrics`.
    pub fn metrics_text(&self) -> String {
        let socket = self.socket();
        self.in_host(&[
            "curl",
            "-s",
            "--unix-socket",
            socket.to_str().unwrap(),
            "http://localhost/metrics",
        ])
        .stdout_text()
    }

    /// The holder's pid: `nsenter -t PID -n -m` enters the private host.
    pub fn pid(&self) -> u32 {
        self.holder.id()
    }

    /// The agent's socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("agent.sock")
    }

    /// Starts (or restarts) `netagent daemon` in the private host and waits
    /// until its API answers.
    pub fn start_daemon(&mut self) {
        let log = std::fs::File::create(self.dir.path().join("daemon.log")).unwrap();
        let daemon = self
            .host_command(&[
                env!("CARGO_BIN_EXE_netagent"),
                "daemon",
                "--config",
                self.config.to_str().unwrap(),
            ])
            .env("RUST_LOG", "info")
            .envs(self.daemon_env.iter().map(|(k, v)| (k, v)))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start the daemon");
        self.daemon = Some(daemon);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if self.cli(&["network", "ls"]).status.success() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the daemon did not come up:\n{}",
                self.daemon_log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the daemon with SIGKILL, as a crash would.
    pub fn kill_daemon(&mut self) {
        if let Some(mut daemon) = self.daemon.take() {
            let _ = daemon.kill();
            let _ = daemon.wait();
        }
    }

    /// Kills the daemon (SIGKILL) and starts it again with the fault
    /// points `faults` (empty: none).
    pub fn restart_with_faults(&mut self, faults: &str) {
        self.kill_daemon();
        self.daemon_env.retain(|(k, _)| k != "NETAGENT_FAULTS");
        if !faults.is_empty() {
            self.daemon_env
                .push(("NETAGENT_FAULTS".into(), faults.to_owned()));
        }
        self.start_daemon();
    }

    /// Starts the CLI against this host's agent without waiting for it.
    pub fn cli_spawn(&self, args: &[&str]) -> Child {
        Command::new(env!("CARGO_BIN_EXE_netagent"))
            .arg("--host")
            .arg(self.socket())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start netagent")
    }

    /// What the daemon logged.
    pub fn daemon_log(&self) -> String {
        let mut text = String::new();
        if let Ok(mut file) = std::fs::File::open(self.dir.path().join("daemon.log")) {
            let _ = file.read_to_string(&mut text);
        }
        text
    }

    /// A command that runs in the private host (spawn it for a server).
    pub fn host_command(&self, args: &[&str]) -> Command {
        let mut command = Command::new("nsenter");
        command
            .arg("-t")
            .arg(self.pid().to_string())
            .args(["-n", "-m", "--"])
            .args(args);
        command.stdin(Stdio::null());
        command
    }

    /// Runs a command in the private host.
    pub fn in_host(&self, args: &[&str]) -> Output {
        self.host_command(args)
            .output()
            .expect("run in the private host")
    }

    /// Runs the CLI against this host's agent.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_netagent"))
            .arg("--host")
            .arg(self.socket())
            .args(args)
            .output()
            .expect("run netagent")
    }

    /// Runs a command inside a sandbox, through `netagent exec` (its
    /// namespace and its resolv.conf).
    pub fn exec(&self, sandbox: &str, args: &[&str]) -> Output {
        let socket = self.socket();
        let mut full = vec![
            env!("CARGO_BIN_EXE_netagent"),
            "--host",
            socket.to_str().unwrap(),
            "exec",
            sandbox,
            "--",
        ];
        full.extend_from_slice(args);
        self.in_host(&full)
    }

    /// `dig +short` from inside a sandbox through 127.0.0.11.
    pub fn dig_short(&self, sandbox: &str, args: &[&str]) -> Vec<String> {
        let mut full = vec!["dig", "+short", "+time=2", "+tries=1"];
        full.extend_from_slice(args);
        let text = self.exec(sandbox, &full).stdout_text();
        // dig prints ";; connection timed out" and the like on stdout too.
        let mut lines: Vec<String> = text
            .lines()
            .filter(|l| !l.starts_with(';'))
            .map(str::to_owned)
            .collect();
        lines.sort();
        lines
    }

    /// dig's status (NOERROR, NXDOMAIN, SERVFAIL, ...) from inside a sandbox.
    pub fn dig_status(&self, sandbox: &str, args: &[&str]) -> String {
        let mut full = vec!["dig", "+time=2", "+tries=1"];
        full.extend_from_slice(args);
        let text = self.exec(sandbox, &full).stdout_text();
        text.split("status: ")
            .nth(1)
            .and_then(|s| s.split(',').next())
            .unwrap_or("no answer")
            .to_owned()
    }

    /// `getent hosts NAME` inside a sandbox: the C library's resolver.
    pub fn getent(&self, sandbox: &str, name: &str) -> Option<String> {
        let out = self.exec(sandbox, &["getent", "hosts", name]);
        out.status.success().then(|| {
            out.stdout_text()
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned()
        })
    }

    /// The private host's links, one name per entry (`veth1234@if2` cut at `@`).
    pub fn links(&self) -> Vec<String> {
        self.in_host(&["ip", "-o", "link", "show"])
            .stdout_text()
            .lines()
            .filter_map(|l| {
                l.split(": ")
                    .nth(1)
                    .map(|n| n.split('@').next().unwrap_or(n).to_owned())
            })
            .collect()
    }

    /// Files in a directory of the scratch space.
    pub fn files_in(&self, sub: &str) -> Vec<String> {
        std::fs::read_dir(self.dir.path().join(sub))
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Removes every sandbox and user-defined network through the CLI and
    /// checks that nothing of them is left: no veth, no bridge but the
    /// default one, no namespace file, no resolv.conf.
    pub fn assert_clean_after_removal(&self) {
        let ps = self
            .cli(&["ps", "-a", "--format", "{{.Names}}"])
            .stdout_text();
        for name in ps.lines() {
            self.cli(&["rm", "--force", name]);
        }
        self.cli(&["network", "prune", "--force"])
            .assert_ok("prune");
        let links = self.links();
        assert!(
            links.iter().all(|l| l == "lo" || l == "netagent0"),
            "links left: {links:?}"
        );
        assert!(
            self.files_in("netns").is_empty(),
            "namespaces left: {:?}",
            self.files_in("netns")
        );
        assert!(
            self.files_in("resolv").is_empty(),
            "resolv.conf left: {:?}",
            self.files_in("resolv")
        );
    }

    /// Path of a sandbox's namespace file.
    pub fn netns_path(&self, sandbox: &str) -> PathBuf {
        self.dir.path().join("netns").join(sandbox)
    }
}

impl Drop for TestHost {
    fn drop(&mut self) {
        self.kill_daemon();
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

/// The scratch paths of a test host's agent, less the keys the test's own
/// `[paths]` lines set.
fn default_paths(root: &std::path::Path, overrides: &str) -> String {
    let r = root.display();
    [
        ("state_dir", format!("{r}/state")),
        ("netns_dir", format!("{r}/netns")),
        ("socket", format!("{r}/agent.sock")),
        ("host_resolv_conf", format!("{r}/host-resolv.conf")),
        ("resolv_dir", format!("{r}/resolv")),
    ]
    .into_iter()
    .filter(|(key, _)| {
        !overrides.lines().any(|line| {
            line.trim_start().starts_with(&format!("{key} "))
                || line.trim_start().starts_with(&format!("{key}="))
        })
    })
    .map(|(key, value)| format!("{key} = \"{value}\"\n"))
    .collect()
}

/// Waits (10 s at most) until the process `pid`, started under `unshare`,
/// is in a network namespace other than the test's: `who` names it in the
/// failure.
pub fn wait_until_unshared(pid: u32, who: &str) {
    let own = std::fs::read_link("/proc/self/ns/net").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_link(format!("/proc/{pid}/ns/net"))
        .map(|ns| ns == own)
        .unwrap_or(true)
    {
        assert!(
            Instant::now() < deadline,
            "{who} never entered its namespace"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

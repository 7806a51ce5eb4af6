//! containerd 1.6 and `ctr` in a private host: a containerd of the
//! fixture's own (cri plugin off, root, state, socket and `opt` on a tmpfs
//! of the namespace), the busybox image imported as an OCI layout, and
//! `ctr run --cni` with the conflists of a directory the caller chooses.
//!
//! `ctr` (go-cni) reads the first conflist of /etc/cni/net.d and runs
//! plugins from /opt/cni/bin only: the fixture bind-mounts the caller's
//! conflist directory and a merged plugin directory (the standard plugins,
//! `loopback` among them, then the caller's) there, inside the private
//! mount namespace. The CNI plugins run in the `ctr` process, not in
//! containerd; ctr sends DEL only when a foreground `ctr run` ends, never
//! for `-d` tasks. The shims outlive everything but the task: the drop
//! deletes every container, stops containerd and kills what is left.

use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use super::private::PrivateHost;
use super::procs::{kill_runtime_processes_in, Cgroups, Probe};
use super::{checked, cni, require_runtime_programs, rootfs, unique_name, wait_for, wait_quietly};
use crate::harness::host::{OutputExt, TestHost};

/// The processes containerd leaves running (by `comm`).
pub const PROGRAMS: [&str; 3] = ["containerd", "containerd-shim", "ctr"];

/// The plugins a test containerd does without: Kubernetes' cri (which
/// would want CNI config of its own) and snapshotters for other disks.
const DISABLED: &str = r#"["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.devmapper"]"#;

/// A containerd of the test's own in a private host. Drop it before its
/// [`TestHost`].
pub struct Containerd {
    host: PrivateHost,
    dir: PathBuf,
    daemon: Option<Child>,
    namespace: String,
    cgroups: Cgroups,
}

impl Containerd {
    /// Starts containerd in `host`, with `/etc/cni/net.d` showing
    /// `cni_conf_dir` and `/opt/cni/bin` the standard plugins plus those of
    /// `cni_plugin_dir`, and imports the busybox image as [`rootfs::IMAGE`].
    pub fn new(host: &TestHost, cni_conf_dir: &Path, cni_plugin_dir: Option<&Path>) -> Containerd {
        require_runtime_programs(&["containerd", "ctr", "containerd-shim-runc-v2", "runc"]);
        require_runtime_programs(&["umoci", "tar"]);
        let host = PrivateHost::of(host);
        host.prepare();
        let dir = host.scratch().join(unique_name("containerd"));
        std::fs::create_dir_all(dir.join("store")).expect("containerd directory");
        host.mount_tmpfs(dir.join("store").to_str().unwrap());
        cni::merged_plugin_dir(&dir.join("cni-bin"), cni_plugin_dir);
        host.bind(&dir.join("cni-bin"), "/opt/cni/bin");
        host.bind(cni_conf_dir, "/etc/cni/net.d");
        let mut containerd = Containerd {
            host,
            dir,
            daemon: None,
            namespace: unique_name("natest"),
            cgroups: Cgroups::new(),
        };
        containerd.start();
        let tar = rootfs::oci_archive().to_str().unwrap();
        checked(
            containerd.ctr(&["image", "import", tar]),
            "ctr image import",
        );
        containerd
    }

    fn socket(&self) -> String {
        format!("{}/store/containerd.sock", self.dir.display())
    }

    fn start(&mut self) {
        let store = self.dir.join("store");
        let config = format!(
            "version = 2\nroot = \"{s}/root\"\nstate = \"{s}/state\"\ndisabled_plugins = {DISABLED}\n\
             [grpc]\n  address = \"{socket}\"\n[ttrpc]\n  address = \"{socket}.ttrpc\"\n\
             [plugins.\"io.containerd.internal.v1.opt\"]\n  path = \"{s}/opt\"\n",
            s = store.display(),
            socket = self.socket(),
        );
        let path = self.dir.join("config.toml");
        std::fs::write(&path, config).expect("write containerd's config");
        let log = std::fs::File::create(self.dir.join("containerd.log")).unwrap();
        let daemon = self
            .host
            .command(&["containerd", "--config", path.to_str().unwrap()])
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start containerd");
        self.daemon = Some(daemon);
        wait_for("containerd answers", Duration::from_secs(20), || {
            self.ctr(&["version"]).status.success().then_some(())
        });
    }

    /// The containerd namespace the fixture's containers live in (the
    /// prefix of `CNI_CONTAINERID`: `NAMESPACE-ID`).
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Runs `ctr ARGS` (bounded) against this containerd and namespace.
    pub fn ctr(&self, args: &[&str]) -> Output {
        let socket = self.socket();
        let mut full = vec!["ctr", "--address", &socket, "--namespace", &self.namespace];
        full.extend_from_slice(args);
        self.host.run(&full)
    }

    fn run_args<'a>(
        &self,
        cgroup: &'a str,
        options: &[&'a str],
        id: &'a str,
        command: &[&'a str],
    ) -> Vec<&'a str> {
        let mut args = vec!["--cni", "--cgroup", cgroup];
        args.extend_from_slice(options);
        args.extend([rootfs::IMAGE, id]);
        args.extend_from_slice(command);
        args
    }

    /// `ctr run -d --null-io --cni OPTIONS IMAGE ID COMMAND`, in the
    /// fixture's cgroup. `options` are ctr's (for example
    /// `--mount type=bind,src=F,dst=/etc/resolv.conf,options=rbind:ro`).
    pub fn run_detached(&self, id: &str, options: &[&str], command: &[&str]) {
        let cgroup = format!("{}/{id}", self.cgroups.parent());
        let mut args = vec!["run", "-d", "--null-io"];
        args.extend(self.run_args(&cgroup, options, id, command));
        checked(self.ctr(&args), &format!("ctr {args:?}"));
    }

    /// `ctr run --rm --cni OPTIONS IMAGE ID COMMAND` in the foreground: its
    /// output, once the container ended and ctr sent the CNI DEL.
    pub fn run_foreground(&self, id: &str, options: &[&str], command: &[&str]) -> Output {
        let cgroup = format!("{}/{id}", self.cgroups.parent());
        let mut args = vec!["run", "--rm"];
        args.extend(self.run_args(&cgroup, options, id, command));
        self.ctr(&args)
    }

    /// `ctr task exec` of `command` in running container `id`.
    pub fn exec(&self, id: &str, command: &[&str]) -> Output {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let exec_id = format!("exec{}", NEXT.fetch_add(1, Ordering::Relaxed));
        let mut args = vec!["task", "exec", "--exec-id", &exec_id, id];
        args.extend_from_slice(command);
        self.ctr(&args)
    }

    /// The IPv4 address of container `id`'s `eth0`.
    pub fn ip(&self, id: &str) -> String {
        let text = checked(
            self.exec(id, &["ip", "-4", "-o", "addr", "show", "eth0"]),
            "ip addr",
        );
        // "2: eth0    inet 10.88.9.2/24 brd ..."
        let cidr = text.split_whitespace().skip_while(|w| *w != "inet").nth(1);
        let address = cidr.and_then(|c| c.split('/').next());
        address
            .unwrap_or_else(|| panic!("no IPv4 address on {id}: {text}"))
            .to_owned()
    }

    /// The fixture's containers.
    pub fn containers(&self) -> Vec<String> {
        let out = self.ctr(&["containers", "ls", "-q"]).stdout_text();
        out.lines().map(str::to_owned).collect()
    }

    /// Kills container `id`'s task, deletes it and the container. Bounded.
    pub fn remove(&self, id: &str) {
        let _ = self.ctr(&["task", "kill", "--signal", "SIGKILL", id]);
        wait_quietly(Duration::from_secs(5), || {
            let out = self.ctr(&["task", "ls"]).stdout_text();
            !out.lines()
                .any(|l| l.starts_with(&format!("{id} ")) && l.contains("RUNNING"))
        });
        let _ = self.ctr(&["task", "delete", id]);
        let _ = self.ctr(&["containers", "delete", id]);
    }

    /// What to look for after the drop.
    pub fn probe(&self) -> Probe {
        Probe::new(self.host.net_inode(), &PROGRAMS, &self.dir, &self.cgroups)
    }

    fn stop_daemon(&mut self) {
        let Some(mut daemon) = self.daemon.take() else {
            return;
        };
        // SAFETY: kill has no memory preconditions; the child is not reaped yet.
        unsafe { libc::kill(daemon.id() as libc::pid_t, libc::SIGTERM) };
        let ended = wait_quietly(Duration::from_secs(5), || {
            matches!(daemon.try_wait(), Ok(Some(_)))
        });
        if !ended {
            let _ = daemon.kill();
        }
        let _ = daemon.wait();
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        for id in self.containers() {
            self.remove(&id);
        }
        self.stop_daemon();
        let killed =
            kill_runtime_processes_in(self.host.net_inode(), &PROGRAMS, Duration::from_secs(2));
        if !killed.is_empty() {
            eprintln!("{}: killed what was left: {killed:?}", self.dir.display());
        }
        self.cgroups.remove();
        self.host.unmount("/etc/cni/net.d");
        self.host.unmount("/opt/cni/bin");
        let _ = self.host.run(&[
            "umount",
            "-n",
            "-l",
            self.dir.join("store").to_str().unwrap(),
        ]);
    }
}

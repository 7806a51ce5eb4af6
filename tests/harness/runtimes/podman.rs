//! podman 4.3 in a private host, with no systemd and no registry: its own
//! containers.conf and storage.conf (through `CONTAINERS_CONF` and
//! `CONTAINERS_STORAGE_CONF`), its store on a tmpfs mounted inside the
//! private mount namespace, its own network config and hooks directories,
//! the CNI or netavark backend, runc or crun, and the busybox image
//! imported from a tar.
//!
//! Every container gets the fixture's parent cgroup (`--cgroup-parent`):
//! with `cgroup_manager = "cgroupfs"` podman puts the containers and their
//! conmon below it, so the drop can find and remove them. conmon and
//! aardvark-dns outlive the podman command that started them: the drop
//! removes every container, prunes the networks, then kills what is left
//! of them in the private host's network namespace.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;

use super::private::PrivateHost;
use super::procs::{kill_runtime_processes_in, Cgroups, Probe};
use super::{checked, require_runtime_programs, rootfs, unique_name, OciRuntime};
use crate::harness::host::TestHost;

/// The processes podman leaves running (by `comm`).
pub const PROGRAMS: [&str; 5] = ["conmon", "aardvark-dns", "netavark", "podman", "catatonit"];

/// podman's network backend (containers.conf `network_backend`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetworkBackend {
    /// libcni with the conflists of the network config directory; Debian
    /// ships no dnsname plugin, so podman resolves no names on it.
    Cni,
    /// netavark, with aardvark-dns for names on user-defined networks.
    Netavark,
}

impl NetworkBackend {
    fn name(self) -> &'static str {
        match self {
            NetworkBackend::Cni => "cni",
            NetworkBackend::Netavark => "netavark",
        }
    }
}

/// How a [`Podman`] is set up.
#[derive(Clone, Debug)]
pub struct PodmanOptions {
    /// The network backend.
    pub backend: NetworkBackend,
    /// The OCI runtime.
    pub runtime: OciRuntime,
    /// A CNI plugin directory searched before /usr/lib/cni (CNI backend).
    pub cni_plugin_dir: Option<PathBuf>,
}

impl Default for PodmanOptions {
    fn default() -> Self {
        PodmanOptions {
            backend: NetworkBackend::Cni,
            runtime: OciRuntime::Runc,
            cni_plugin_dir: None,
        }
    }
}

/// podman bound to one private host. Drop it before its [`TestHost`].
pub struct Podman {
    host: PrivateHost,
    dir: PathBuf,
    cgroups: Cgroups,
}

impl Podman {
    /// Sets podman up in `host` and imports the busybox image as
    /// [`rootfs::IMAGE`].
    pub fn new(host: &TestHost, options: PodmanOptions) -> Podman {
        require_runtime_programs(&["podman", "conmon", options.runtime.program(), "tar", "jq"]);
        let host = PrivateHost::of(host);
        host.prepare();
        if options.runtime == OciRuntime::Crun {
            host.hide_unified_cgroup();
        }
        let dir = host.scratch().join(unique_name("podman"));
        for sub in ["netconf", "hooks", "store"] {
            std::fs::create_dir_all(dir.join(sub)).expect("podman directory");
        }
        // The store on a tmpfs of the namespace: overlayfs needs an upper
        // layer that is not overlayfs, and it all vanishes with the host.
        host.mount_tmpfs(dir.join("store").to_str().unwrap());
        host.run_ok(&["mkdir", "-p", dir.join("store/tmp").to_str().unwrap()]);
        let podman = Podman {
            host,
            dir,
            cgroups: Cgroups::new(),
        };
        podman.write_config(&options);
        let tar = rootfs::podman_archive().to_str().unwrap();
        checked(
            podman.podman(&["import", "-q", tar, rootfs::IMAGE]),
            "podman import",
        );
        podman
    }

    fn write_config(&self, options: &PodmanOptions) {
        let store = self.dir.join("store");
        let plugin_dirs: Vec<String> = options
            .cni_plugin_dir
            .iter()
            .map(|d| format!("{:?}", d.display().to_string()))
            .chain([format!("{:?}", super::cni::STANDARD_PLUGINS)])
            .collect();
        let containers = format!(
            "[containers]\n\
             # root without CAP_SYS_RESOURCE cannot raise the default limits\n\
             default_ulimits = [\"nofile=20000:20000\", \"nproc=32768:32768\"]\n\
             [engine]\n\
             cgroup_manager = \"cgroupfs\"\n\
             events_logger = \"file\"\n\
             events_logfile_path = \"{store}/events.log\"\n\
             runtime = \"{runtime}\"\n\
             tmp_dir = \"{store}/tmp\"\n\
             image_copy_tmp_dir = \"{store}/tmp\"\n\
             # the config file, not --hooks-dir, which stop/start forget (podman#17935)\n\
             hooks_dir = [\"{hooks}\"]\n\
             [network]\n\
             network_backend = \"{backend}\"\n\
             cni_plugin_dirs = [{plugin_dirs}]\n\
             network_config_dir = \"{netconf}\"\n",
            store = store.display(),
            runtime = options.runtime.program(),
            hooks = self.hooks_dir().display(),
            backend = options.backend.name(),
            plugin_dirs = plugin_dirs.join(", "),
            netconf = self.network_config_dir().display(),
        );
        let storage = format!(
            "[storage]\ndriver = \"overlay\"\ngraphroot = \"{s}/graph\"\nrunroot = \"{s}/run\"\n",
            s = store.display()
        );
        std::fs::write(self.dir.join("containers.conf"), containers).unwrap();
        std::fs::write(self.dir.join("storage.conf"), storage).unwrap();
    }

    /// Where podman reads and writes networks: conflists (CNI backend) or
    /// netavark's JSON files. Write a conflist here to define a network.
    pub fn network_config_dir(&self) -> PathBuf {
        self.dir.join("netconf")
    }

    /// podman's hooks directory (see [`Self::add_hook`]).
    pub fn hooks_dir(&self) -> PathBuf {
        self.dir.join("hooks")
    }

    /// A bounded `podman ARGS` command in the private host, with this
    /// fixture's configuration.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut full = vec!["podman"];
        full.extend_from_slice(args);
        let mut command = self.host.bounded_command(&full);
        // TMPDIR too: `podman import` stages the tar in /var/tmp otherwise.
        command
            .env("CONTAINERS_CONF", self.dir.join("containers.conf"))
            .env("CONTAINERS_STORAGE_CONF", self.dir.join("storage.conf"))
            .env("TMPDIR", self.dir.join("store/tmp"));
        command
    }

    /// Runs `podman ARGS` and collects its output.
    pub fn podman(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run podman")
    }

    /// `podman run -d --name NAME OPTIONS IMAGE COMMAND`, in the fixture's
    /// cgroup; returns the container id. `options` are podman's (for
    /// example `--network`, `--annotation`, `--dns`).
    pub fn run_detached(&self, name: &str, options: &[&str], command: &[&str]) -> String {
        let output = self
            .run_detached_command(name, options, command)
            .output()
            .expect("run podman");
        checked(output, &format!("podman run -d --name {name} {options:?}"))
    }

    /// The command [`Self::run_detached`] runs, not yet started: for a
    /// test that times it or watches something while it runs. Its stdout
    /// is the container id.
    pub fn run_detached_command(&self, name: &str, options: &[&str], command: &[&str]) -> Command {
        let parent = self.cgroups.parent();
        let mut args = vec!["run", "-d", "--name", name, "--cgroup-parent", &parent];
        args.extend_from_slice(options);
        args.push(rootfs::IMAGE);
        args.extend_from_slice(command);
        self.command(&args)
    }

    /// `podman exec NAME COMMAND`.
    pub fn exec(&self, name: &str, command: &[&str]) -> Output {
        let mut args = vec!["exec", name];
        args.extend_from_slice(command);
        self.podman(&args)
    }

    /// The IPv4 address of container `name` on `network`.
    pub fn ip(&self, name: &str, network: &str) -> String {
        let text = checked(self.podman(&["inspect", name]), "podman inspect");
        let json: Value = serde_json::from_str(&text).expect("inspect JSON");
        let address = &json[0]["NetworkSettings"]["Networks"][network]["IPAddress"];
        let address = address.as_str().unwrap_or_default();
        assert!(!address.is_empty(), "{name} has no address on {network}");
        address.to_owned()
    }

    /// Removes every container at once (`rm -af -t0`).
    pub fn remove_all(&self) {
        let _ = self.podman(&["rm", "-af", "-t0"]);
    }

    /// What to look for after the drop.
    pub fn probe(&self) -> Probe {
        Probe::new(self.host.net_inode(), &PROGRAMS, &self.dir, &self.cgroups)
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        self.remove_all();
        let _ = self.podman(&["network", "prune", "-f"]);
        // The exiting conmons get a moment before what is left is killed.
        let killed =
            kill_runtime_processes_in(self.host.net_inode(), &PROGRAMS, Duration::from_secs(2));
        if !killed.is_empty() {
            eprintln!("{}: killed what was left: {killed:?}", self.dir.display());
        }
        self.cgroups.remove();
        // podman's overlay mounts are below the store: lazily unmount all.
        let _ = self.host.run(&[
            "umount",
            "-n",
            "-l",
            self.dir.join("store").to_str().unwrap(),
        ]);
    }
}

//! Commands and mounts inside a [`TestHost`]'s private namespaces.
//!
//! [`PrivateHost`] keeps the holder's network and mount namespaces open as
//! files, so its commands always enter those namespaces (never whatever
//! process later reuses the holder's pid) and the cleanups of a fixture
//! still work when the `TestHost` went first.
//!
//! [`PrivateHost::prepare`] makes the machine-wide paths the runtimes write
//! private: a tmpfs on `/run`, and overlays on `/var` and `/opt` whose
//! upper layers live on a tmpfs of their own. Every mount made here has the
//! source name [`TAG`], so a second fixture on the same host sees it is
//! done; all of them vanish with the mount namespace.
//!
//! [`TestHost`]: crate::harness::host::TestHost

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::harness::host::{OutputExt, TestHost};

/// The source name of every mount the fixtures make, as mountinfo shows it.
/// Every `mount` and `umount` here gets `-n`: util-linux would otherwise
/// make /run/mount (its utab) in the machine's /run on the first mount,
/// the one that puts the tmpfs on /run.
pub const TAG: &str = "netagent-rt";

/// How long one command may run, in seconds (see [`PrivateHost::bounded_command`]).
pub const LIMIT_SECS: &str = "120";

/// The directories `prepare` overlays: runtimes write below them at paths
/// of their own (`/var/lib/cni`, `/var/lib/containers/cache`, `/var/tmp`,
/// `/opt/cni`).
const OVERLAID: [&str; 2] = ["/var", "/opt"];

/// A way into a private host's network and mount namespaces.
pub struct PrivateHost {
    net: File,
    mnt: File,
    net_inode: u64,
    scratch: PathBuf,
}

impl PrivateHost {
    /// Opens `host`'s namespaces; `scratch` is its scratch directory.
    pub fn of(host: &TestHost) -> PrivateHost {
        let pid = host.pid();
        let open = |kind: &str| {
            File::open(format!("/proc/{pid}/ns/{kind}"))
                .unwrap_or_else(|e| panic!("open the holder's {kind} namespace: {e}"))
        };
        let net = open("net");
        let net_inode = net.metadata().expect("stat the netns").ino();
        PrivateHost {
            net,
            mnt: open("mnt"),
            net_inode,
            scratch: host.dir.path().to_owned(),
        }
    }

    /// The network namespace's inode: what `/proc/PID/ns/net` of every
    /// process in the private host points at.
    pub fn net_inode(&self) -> u64 {
        self.net_inode
    }

    /// The private host's scratch directory (visible from both sides).
    pub fn scratch(&self) -> &Path {
        &self.scratch
    }

    /// A command entering both namespaces. Paths must be absolute: entering
    /// the mount namespace moves the working directory to `/`.
    pub fn command(&self, args: &[&str]) -> Command {
        let me = std::process::id();
        let mut command = Command::new("nsenter");
        command
            .arg(format!("--net=/proc/{me}/fd/{}", self.net.as_raw_fd()))
            .arg(format!("--mount=/proc/{me}/fd/{}", self.mnt.as_raw_fd()))
            .arg("--")
            .args(args)
            .stdin(Stdio::null());
        command
    }

    /// Like [`Self::command`], but killed (by coreutils' `timeout`) when
    /// it runs longer than [`LIMIT_SECS`]: a wedged runtime fails the test
    /// instead of hanging it.
    pub fn bounded_command(&self, args: &[&str]) -> Command {
        let mut full = vec!["timeout", "--kill-after=5", LIMIT_SECS];
        full.extend_from_slice(args);
        self.command(&full)
    }

    /// Runs a command in the private host (bounded) and collects its output.
    pub fn run(&self, args: &[&str]) -> Output {
        self.bounded_command(args)
            .output()
            .unwrap_or_else(|e| panic!("run {args:?} in the private host: {e}"))
    }

    /// Runs a command that must succeed.
    pub fn run_ok(&self, args: &[&str]) {
        self.run(args)
            .assert_ok(&format!("{args:?} in the private host"));
    }

    /// Makes `/run`, `/var` and `/opt` private to the mount namespace
    /// (see the module doc). Safe to call again.
    pub fn prepare(&self) {
        if !self.is_ours("/run") {
            let resolv = self.run(&["cat", "/etc/resolv.conf"]).stdout;
            self.mount_tmpfs("/run");
            self.keep_resolv_conf(&resolv);
        }
        let upper = self.scratch.join("runtimes-private");
        std::fs::create_dir_all(&upper).expect("overlay upper directory");
        let upper = upper.to_str().unwrap();
        self.mount_tmpfs(upper);
        for dir in OVERLAID {
            self.overlay(dir, upper);
        }
    }

    /// Where /etc/resolv.conf is a link into /run (systemd-resolved), the
    /// tmpfs on /run hid its target: puts `text` back there, in the tmpfs,
    /// because podman copies the host's resolv.conf into containers.
    fn keep_resolv_conf(&self, text: &[u8]) {
        if self.exists("/etc/resolv.conf") {
            return;
        }
        let target = self
            .run(&["readlink", "-m", "/etc/resolv.conf"])
            .stdout_text();
        let target = target.trim();
        assert!(target.starts_with("/run/"), "resolv.conf gone: {target}");
        let copy = self.scratch.join("runtimes-resolv.conf");
        std::fs::write(&copy, text).expect("save resolv.conf");
        let parent = Path::new(target).parent().unwrap().to_str().unwrap();
        self.run_ok(&["mkdir", "-p", parent]);
        self.run_ok(&["cp", copy.to_str().unwrap(), target]);
    }

    /// Mounts a fresh tmpfs on `dir` unless this helper already did.
    pub fn mount_tmpfs(&self, dir: &str) {
        if self.is_ours(dir) {
            return;
        }
        self.run_ok(&["mount", "-n", "-t", "tmpfs", "-o", "mode=755", TAG, dir]);
    }

    /// Overlays `dir` with an upper layer in `upper` (a tmpfs: an overlay's
    /// upper layer cannot be on overlayfs, which CI's disks may be).
    fn overlay(&self, dir: &str, upper: &str) {
        if self.is_ours(dir) {
            return;
        }
        let name = dir.trim_start_matches('/').replace('/', "-");
        let (up, work) = (format!("{upper}/{name}.up"), format!("{upper}/{name}.work"));
        self.run_ok(&["mkdir", "-p", &up, &work]);
        let options = format!("lowerdir={dir},upperdir={up},workdir={work}");
        self.run_ok(&["mount", "-n", "-t", "overlay", "-o", &options, TAG, dir]);
    }

    /// Bind-mounts `source` onto `target`, making `target` a directory first
    /// when it is missing (inside an overlay: never on the machine's disk).
    /// A file onto a file works too when `target` exists.
    pub fn bind(&self, source: &Path, target: &str) {
        self.make_dir(target);
        self.run_ok(&["mount", "-n", "--bind", source.to_str().unwrap(), target]);
    }

    /// Undoes the topmost mount on `target` (a bind of [`Self::bind`]).
    pub fn unmount(&self, target: &str) {
        let _ = self.run(&["umount", "-n", target]);
    }

    /// Makes directory `dir` inside the private mount namespace. When it is
    /// missing, its deepest existing ancestor is overlaid first so that the
    /// machine's own directories stay as they are.
    pub fn make_dir(&self, dir: &str) {
        if self.exists(dir) {
            return;
        }
        let mut ancestor = Path::new(dir);
        while !self.exists(ancestor.to_str().unwrap()) {
            ancestor = ancestor.parent().expect("an absolute path");
        }
        assert_ne!(ancestor, Path::new("/"), "will not overlay / for {dir}");
        self.prepare();
        let upper = self.scratch.join("runtimes-private");
        self.overlay(ancestor.to_str().unwrap(), upper.to_str().unwrap());
        self.run_ok(&["mkdir", "-p", dir]);
    }

    /// Whether `path` exists in the private mount namespace.
    pub fn exists(&self, path: &str) -> bool {
        self.run(&["test", "-e", path]).status.success()
    }

    /// Unmounts cgroup v2 from the hybrid layout, inside the private mount
    /// namespace only, because crun 1.8 refuses hybrid ("cgroups in hybrid
    /// mode not supported"). Returns whether there was one to unmount.
    pub fn hide_unified_cgroup(&self) -> bool {
        let unified = "/sys/fs/cgroup/unified";
        let mounted = self
            .mounts()
            .iter()
            .any(|m| m.target == unified && m.fstype == "cgroup2");
        if mounted {
            self.run_ok(&["umount", "-n", unified]);
        }
        mounted
    }

    /// The private mount namespace's mounts, in mount order.
    pub fn mounts(&self) -> Vec<MountEntry> {
        let text = self.run(&["cat", "/proc/self/mountinfo"]).stdout_text();
        text.lines().filter_map(MountEntry::parse).collect()
    }

    /// Whether the topmost mount on `target` is one of this helper's.
    fn is_ours(&self, target: &str) -> bool {
        self.mounts()
            .iter()
            .rev()
            .find(|m| m.target == target)
            .is_some_and(|m| m.source == TAG)
    }
}

/// One line of `/proc/PID/mountinfo`, the parts the fixtures look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    /// Where it is mounted.
    pub target: String,
    /// Its filesystem type.
    pub fstype: String,
    /// Its source (`TAG` for the fixtures' own mounts).
    pub source: String,
}

impl MountEntry {
    /// Parses a mountinfo line: `ID PARENT MAJ:MIN ROOT TARGET OPTS [TAGS] - TYPE SOURCE SUPER`.
    pub fn parse(line: &str) -> Option<MountEntry> {
        let (left, right) = line.split_once(" - ")?;
        let target = left.split(' ').nth(4)?.replace("\\040", " ");
        let mut right = right.split(' ');
        Some(MountEntry {
            target,
            fstype: right.next()?.to_owned(),
            source: right.next()?.to_owned(),
        })
    }
}

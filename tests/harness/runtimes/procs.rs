//! What the runtimes leave outside the private namespaces, found and
//! cleaned: their daemons (by network namespace and name), their cgroups
//! (by the fixture's parent cgroup), and a snapshot of the machine paths
//! they would write if a fixture leaked, to check that nothing changed.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{unique_name, wait_quietly};

/// One process as `/proc/PID/stat` shows it.
#[derive(Debug, Clone)]
pub struct Proc {
    /// Its pid.
    pub pid: u32,
    /// Its name (`comm`).
    pub comm: String,
    /// Its state letter: `Z` for a zombie waiting for its parent.
    pub state: char,
}

impl Proc {
    /// Reads `/proc/PID/stat`; `None` when the process is gone.
    pub fn read(pid: u32) -> Option<Proc> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // The name is in parentheses and may hold spaces or ')'.
        let open = stat.find('(')?;
        let close = stat.rfind(')')?;
        Some(Proc {
            pid,
            comm: stat[open + 1..close].to_owned(),
            state: stat[close + 2..].chars().next()?,
        })
    }

    /// Whether it still runs (not gone, not a zombie).
    pub fn alive(&self) -> bool {
        Proc::read(self.pid).is_some_and(|p| p.state != 'Z')
    }

    /// Its network namespace's inode (`None` for zombies and the gone).
    pub fn net_inode(&self) -> Option<u64> {
        std::fs::metadata(format!("/proc/{}/ns/net", self.pid))
            .ok()
            .map(|m| m.ino())
    }

    /// Its command line, arguments joined by spaces.
    pub fn cmdline(&self) -> String {
        std::fs::read(format!("/proc/{}/cmdline", self.pid))
            .map(|raw| String::from_utf8_lossy(&raw).replace('\0', " "))
            .unwrap_or_default()
    }
}

/// Every live process of the machine.
pub fn live_processes() -> Vec<Proc> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter_map(Proc::read)
        .filter(|p| p.state != 'Z')
        .collect()
}

/// Live processes named one of `names` (a fixture's part of
/// runtimes' programs) in the network namespace with inode `net`.
pub fn runtime_processes_in(net: u64, names: &[&str]) -> Vec<Proc> {
    live_processes()
        .into_iter()
        .filter(|p| names.contains(&p.comm.as_str()) && p.net_inode() == Some(net))
        .collect()
}

/// Kills the processes named one of `names` left in network namespace
/// `net` with SIGKILL, after giving them `grace` to end by themselves, and
/// waits (up to 5 s) until they are gone; returns the killed.
pub fn kill_runtime_processes_in(net: u64, names: &[&str], grace: Duration) -> Vec<Proc> {
    wait_quietly(grace, || runtime_processes_in(net, names).is_empty());
    let left = runtime_processes_in(net, names);
    kill_all(&left);
    left
}

/// Live processes whose command line mentions `path` (a fixture's scratch
/// directory): after a drop there must be none.
pub fn processes_mentioning(path: &Path) -> Vec<Proc> {
    let needle = path.to_str().unwrap();
    live_processes()
        .into_iter()
        .filter(|p| p.pid != std::process::id() && p.cmdline().contains(needle))
        .collect()
}

/// SIGKILLs `procs` and waits up to 5 s until none is alive.
pub fn kill_all(procs: &[Proc]) {
    for proc in procs {
        // SAFETY: kill has no memory preconditions; a stale pid is the risk,
        // and the wait below is short enough for pids not to wrap.
        unsafe { libc::kill(proc.pid as libc::pid_t, libc::SIGKILL) };
    }
    wait_quietly(Duration::from_secs(5), || procs.iter().all(|p| !p.alive()));
}

/// A parent cgroup of the fixture's own, in every hierarchy: runtimes put
/// their containers (and podman its conmon) below it, and the kernel keeps
/// cgroups whatever happens to the namespaces, so the drop removes it.
pub struct Cgroups {
    name: String,
}

impl Cgroups {
    /// A new, unique parent (nothing is made until a runtime uses it).
    pub fn new() -> Cgroups {
        Cgroups {
            name: unique_name("netagent-rt"),
        }
    }

    /// What [`Probe`] needs to find this parent after the drop.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The parent as runtimes take it: `/netagent-rt-PID-N`.
    pub fn parent(&self) -> String {
        format!("/{}", self.name)
    }

    /// The parent's directories that exist, one per hierarchy.
    pub fn dirs(&self) -> Vec<PathBuf> {
        hierarchies()
            .into_iter()
            .map(|root| root.join(&self.name))
            .filter(|dir| dir.is_dir())
            .collect()
    }

    /// Kills what is still in the parent and removes it, children first.
    /// Bounded: gives up after 5 s (the leftovers then show in `dirs`).
    pub fn remove(&self) {
        for dir in self.dirs() {
            let tree = subtree(&dir);
            let pids = tree.iter().flat_map(|d| pids_in(d));
            let procs: Vec<Proc> = pids.filter_map(Proc::read).collect();
            kill_all(&procs);
            // Deepest first: a cgroup with children cannot go.
            wait_quietly(Duration::from_secs(5), || {
                tree.iter()
                    .rev()
                    .all(|d| std::fs::remove_dir(d).is_ok() || !d.exists())
            });
        }
    }
}

impl Default for Cgroups {
    fn default() -> Self {
        Cgroups::new()
    }
}

/// The roots of the mounted cgroup hierarchies: `/sys/fs/cgroup` itself on
/// a pure cgroup v2 machine, its subdirectories with v1 or hybrid.
fn hierarchies() -> Vec<PathBuf> {
    let base = Path::new("/sys/fs/cgroup");
    if base.join("cgroup.procs").exists() {
        return vec![base.to_owned()];
    }
    let mut roots: Vec<PathBuf> = std::fs::read_dir(base)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.path())
                .filter(|p| p.join("cgroup.procs").exists())
                .collect()
        })
        .unwrap_or_default();
    roots.sort();
    roots
}

/// `dir` and the cgroups below it, parents before children.
fn subtree(dir: &Path) -> Vec<PathBuf> {
    let mut all = vec![dir.to_owned()];
    let mut i = 0;
    while i < all.len() {
        if let Ok(entries) = std::fs::read_dir(&all[i]) {
            let children = entries.filter_map(|e| e.ok()).map(|e| e.path());
            all.extend(children.filter(|p| p.is_dir()).collect::<Vec<_>>());
        }
        i += 1;
    }
    all
}

fn pids_in(cgroup: &Path) -> Vec<u32> {
    std::fs::read_to_string(cgroup.join("cgroup.procs"))
        .map(|text| text.lines().filter_map(|l| l.parse().ok()).collect())
        .unwrap_or_default()
}

/// What a fixture may leave behind, noted before its drop and checked
/// after it: runtime processes in its network namespace or naming its
/// directory, and its parent cgroup.
pub struct Probe {
    net: u64,
    names: &'static [&'static str],
    dir: PathBuf,
    cgroup: String,
}

impl Probe {
    /// Notes a fixture's network namespace inode, the names of its
    /// runtime's processes, its directory and its cgroup.
    pub fn new(net: u64, names: &'static [&'static str], dir: &Path, cgroups: &Cgroups) -> Probe {
        Probe {
            net,
            names,
            dir: dir.to_owned(),
            cgroup: cgroups.name().to_owned(),
        }
    }

    /// Panics unless, within 5 s, none of it is left.
    pub fn assert_clean(&self) {
        let mut left = String::new();
        let clean = wait_quietly(Duration::from_secs(5), || {
            left = self.describe_leftovers();
            left.is_empty()
        });
        assert!(clean, "left behind: {left}");
    }

    fn describe_leftovers(&self) -> String {
        let mut procs = runtime_processes_in(self.net, self.names);
        procs.extend(processes_mentioning(&self.dir));
        let cgroups: Vec<PathBuf> = hierarchies()
            .into_iter()
            .map(|root| root.join(&self.cgroup))
            .filter(|dir| dir.exists())
            .collect();
        if procs.is_empty() && cgroups.is_empty() {
            return String::new();
        }
        let procs: Vec<String> = procs
            .iter()
            .map(|p| format!("{} {}", p.pid, p.cmdline()))
            .collect();
        format!("processes {procs:#?}, cgroups {cgroups:?}")
    }
}

/// Machine paths a leaking runtime would write (only paths the machine's
/// own services leave alone, so that the check cannot flake).
const WATCHED: [&str; 8] = [
    "/etc/cni",
    "/opt/cni",
    "/opt/containerd",
    "/run/netns",
    "/run/containers",
    "/run/libpod",
    "/var/lib/cni",
    "/var/lib/containers",
];

/// The machine as a fixture must leave it: the watched paths (names, sizes
/// and modification times two levels down) and the mounts of the test
/// process's own mount namespace.
#[derive(Debug, PartialEq, Eq)]
pub struct MachineSnapshot {
    paths: BTreeMap<&'static str, Vec<String>>,
    mounts: Vec<String>,
}

impl MachineSnapshot {
    /// Takes one now.
    pub fn take() -> MachineSnapshot {
        let paths = WATCHED
            .iter()
            .map(|p| (*p, listing(Path::new(p), 2)))
            .collect();
        let mut mounts: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(super::private::MountEntry::parse)
            .map(|m| format!("{} {} {}", m.target, m.fstype, m.source))
            .collect();
        mounts.sort();
        MachineSnapshot { paths, mounts }
    }

    /// Panics, showing what differs, unless the machine is as it was.
    pub fn assert_unchanged(&self) {
        let now = MachineSnapshot::take();
        for (path, before) in &self.paths {
            assert_eq!(&now.paths[path], before, "{path} changed on the machine");
        }
        assert_eq!(now.mounts, self.mounts, "the machine's mounts changed");
    }
}

fn listing(path: &Path, depth: u32) -> Vec<String> {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return vec![format!("{} absent", path.display())];
    };
    let (size, secs, nanos) = (meta.size(), meta.mtime(), meta.mtime_nsec());
    let mut lines = vec![format!("{} {size} {secs}.{nanos:09}", path.display())];
    if depth > 0 && meta.is_dir() {
        let mut children: Vec<PathBuf> = std::fs::read_dir(path)
            .map(|e| e.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
        children.sort();
        for child in children {
            lines.extend(listing(&child, depth - 1));
        }
    }
    lines
}

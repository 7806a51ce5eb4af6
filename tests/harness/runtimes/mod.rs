//! Real container runtimes inside a [`TestHost`]'s private namespaces:
//! podman ([`podman::Podman`]), containerd with `ctr` ([`containerd::Containerd`])
//! and bare runc or crun ([`oci::OciBundle`]), all running a busybox image
//! made from the machine's busybox-static ([`rootfs`]), with no registry.
//!
//! Every runtime command runs in the private host through `nsenter`
//! ([`private::PrivateHost`]). Before the first one, the private mount
//! namespace gets a fresh tmpfs on `/run` and overlays with a tmpfs upper
//! layer on `/var` and `/opt`, so that what the runtimes write at their
//! built-in paths (`/run/netns`, `/run/containerd`, `/var/lib/cni`,
//! `/var/lib/containers/cache`, `/var/tmp`, `/opt/cni/bin`, ...) never reaches the
//! machine, and the machine's own containerd socket is out of reach.
//! `/etc/cni/net.d` and `/opt/cni/bin` are bind mounts of the test's own
//! directories, inside that namespace only.
//!
//! What lives outside the namespaces and so must be cleaned by hand:
//! cgroups (each fixture has a parent cgroup of its own, removed on drop,
//! see [`procs::Cgroups`]) and the runtimes' daemons (conmon,
//! aardvark-dns, containerd, its shims), which are killed on drop when they
//! are still in the private host's network namespace.
//! [`procs::MachineSnapshot`] checks that the machine is as it was.
//!
//! Traps met on Debian 12 (and how the fixtures avoid them):
//! - crun refuses the hybrid cgroup layout: `/sys/fs/cgroup/unified` is
//!   unmounted inside the private mount namespace first.
//! - containerd 1.6 puts shim sockets, fifos and runc state under
//!   `/run/containerd` whatever its `state` says: hence the tmpfs on `/run`.
//! - `runc run -d` hands its stdio to the container: it is given
//!   /dev/null, or reading its output would wait for the container's end.
//! - busybox 1.35's `wget -T N` crashes (SIGSEGV): use `timeout N wget`.
//! - The machine's pid 1 here reaps orphans only every second or so: the
//!   double-forked conmon and shims stay zombies that long after they end.
//!
//! [`TestHost`]: super::host::TestHost

pub mod cni;
pub mod containerd;
pub mod oci;
pub mod podman;
pub mod private;
pub mod procs;
pub mod rootfs;

use std::process::Output;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::host::OutputExt;
use super::require_program;

/// The OCI runtime podman uses, or the one an [`oci::OciBundle`] runs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OciRuntime {
    /// runc: works with the hybrid cgroup layout as it is.
    Runc,
    /// crun: needs cgroup v2 out of the way (see [`private::PrivateHost::hide_unified_cgroup`]).
    Crun,
}

impl OciRuntime {
    /// The program's name, as podman's `runtime` setting and on `PATH`.
    pub fn program(self) -> &'static str {
        match self {
            OciRuntime::Runc => "runc",
            OciRuntime::Crun => "crun",
        }
    }
}

/// Fails the test unless the programs a runtime fixture runs are installed
/// (the namespace tier never skips quietly).
pub fn require_runtime_programs(programs: &[&str]) {
    for program in programs {
        let package = match *program {
            "busybox" => "busybox-static",
            "ctr" | "containerd" => "containerd",
            "umoci" => "umoci",
            "jq" => "jq",
            "tar" => "tar",
            other => other,
        };
        require_program(program, package);
    }
    assert!(
        std::path::Path::new("/usr/lib/cni/bridge").is_file(),
        "the standard CNI plugins are missing: install containernetworking-plugins"
    );
}

/// A name no other fixture of this test process has: `PREFIX-PID-N`. The pid
/// keeps two test processes apart where names are machine-wide (cgroups).
pub fn unique_name(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{}-{n}", std::process::id())
}

/// Polls `check` every 20 ms until it returns `Some`, or panics after
/// `limit` saying what was awaited.
pub fn wait_for<T>(what: &str, limit: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?}: {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Like [`wait_for`], but gives up quietly: for cleanups, which must go on.
pub fn wait_quietly(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while !done() {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// The trimmed stdout of a command that must succeed.
pub fn checked(output: Output, what: &str) -> String {
    output.assert_ok(what);
    output.stdout_text().trim().to_owned()
}

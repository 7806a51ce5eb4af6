//! Namespace work on one dedicated thread (DESIGN.md, seam 5).
//!
//! `setns(2)` moves only the calling thread, so every job that must run
//! inside a sandbox's namespace (bringing up `lo`, binding the resolver's
//! sockets, opening a netlink socket there) is sent to one long-lived
//! worker thread. The worker enters the namespace, runs the job, and goes
//! home; a guard takes it home even when the job returns early or panics,
//! and the process aborts if it cannot go home, since a worker left in a
//! sandbox would do every later job in the wrong place. Never a tokio
//! worker: a task moved to another thread would run in a namespace it
//! does not know about. No descriptor of a namespace is kept after a job:
//! it would pin the namespace after `ip netns del`.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};
use resolver::forward::sockets::SocketFactory;
use tokio::sync::oneshot;

type Job = Box<dyn FnOnce(&OwnedFd) + Send>;

/// Where a namespace is: a file (a pinned name under the netns directory,
/// or `/proc/PID/ns/net` for one adopted by pid).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NsRef {
    /// A namespace file.
    Path(PathBuf),
}

impl NsRef {
    /// Opens the namespace (the caller closes it soon: an open descriptor
    /// keeps a namespace alive).
    pub fn open(&self) -> io::Result<File> {
        match self {
            NsRef::Path(path) => File::open(path),
        }
    }

    /// The namespace's identity (its nsfs inode), to tell two apart.
    pub fn inode(&self) -> io::Result<u64> {
        use std::os::unix::fs::MetadataExt;
        Ok(self.open()?.metadata()?.ino())
    }

    /// Whether the file is a network namespace (nsfs answers
    /// `NS_GET_NSTYPE`, ioctl_ns(2); any other file refuses it), so that a
    /// caller's wrong path is told apart from the agent's own failure.
    pub fn is_network_namespace(&self) -> io::Result<bool> {
        use std::os::fd::AsRawFd;
        /// `_IO(0xb7, 0x3)`, linux/nsfs.h.
        const NS_GET_NSTYPE: libc::c_ulong = 0xb703;
        let file = self.open()?;
        // SAFETY: an ioctl without an argument on a descriptor we own.
        let kind = unsafe { libc::ioctl(file.as_raw_fd(), NS_GET_NSTYPE as _) };
        Ok(kind == libc::CLONE_NEWNET)
    }
}

/// The handle to the worker thread. Cloning it is cheap; the thread ends
/// when the last handle is dropped.
#[derive(Clone)]
pub struct NetnsWorker {
    jobs: mpsc::Sender<Job>,
}

impl NetnsWorker {
    /// Starts the worker in the calling thread's namespace, which becomes
    /// its home.
    pub fn start() -> io::Result<NetnsWorker> {
        let home = File::open("/proc/thread-self/ns/net")?;
        let (jobs, queue) = mpsc::channel::<Job>();
        // Sockets made by jobs (netlink handles) register with the caller's
        // tokio runtime, so the worker runs inside its context.
        let runtime = tokio::runtime::Handle::try_current().ok();
        std::thread::Builder::new()
            .name("netns-worker".into())
            .spawn(move || {
                let _runtime = runtime.as_ref().map(tokio::runtime::Handle::enter);
                let home = OwnedFd::from(home);
                for job in queue {
                    // A panicking job is contained: the guard inside has
                    // already taken the thread home while unwinding.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&home)));
                }
            })?;
        Ok(NetnsWorker { jobs })
    }

    /// Runs `job` inside the namespace `ns` and returns its result.
    pub async fn run_in<R, F>(&self, ns: &NsRef, job: F) -> io::Result<R>
    where
        R: Send + 'static,
        F: FnOnce() -> io::Result<R> + Send + 'static,
    {
        let ns = ns.clone();
        self.submit(move |home| {
            let target = ns.open()?;
            let _home = Entered::enter(target.as_fd(), home)?;
            drop(target);
            job()
        })
        .await
    }

    /// Creates a new network namespace pinned at `path`, as `ip netns add`
    /// does: an empty file with the namespace bind-mounted onto it.
    pub async fn create_named(&self, path: &Path) -> io::Result<()> {
        let path = path.to_owned();
        self.submit(move |home| {
            File::options().write(true).create_new(true).open(&path)?;
            let pinned = (|| {
                let _home = Entered::unshared(home)?;
                mount(
                    Some("/proc/thread-self/ns/net"),
                    &path,
                    None::<&str>,
                    MsFlags::MS_BIND,
                    None::<&str>,
                )
                .map_err(io::Error::from)
            })();
            if pinned.is_err() {
                let _ = std::fs::remove_file(&path);
            }
            pinned
        })
        .await
    }

    /// Like [`NetnsWorker::run_in`], but waits by blocking the calling
    /// thread: for synchronous callers such as a socket factory.
    pub fn run_in_blocking<R, F>(&self, ns: &NsRef, job: F) -> io::Result<R>
    where
        R: Send + 'static,
        F: FnOnce() -> io::Result<R> + Send + 'static,
    {
        let ns = ns.clone();
        let (reply, answer) = mpsc::channel();
        let job: Job = Box::new(move |home| {
            let result = (|| {
                let target = ns.open()?;
                let _home = Entered::enter(target.as_fd(), home)?;
                drop(target);
                job()
            })();
            let _ = reply.send(result);
        });
        self.jobs
            .send(job)
            .map_err(|_| io::Error::other("the namespace worker has stopped"))?;
        answer
            .recv()
            .map_err(|_| io::Error::other("a namespace job panicked"))?
    }

    async fn submit<R, F>(&self, job: F) -> io::Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&OwnedFd) -> io::Result<R> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |home| {
            let _ = reply.send(job(home));
        });
        self.jobs
            .send(job)
            .map_err(|_| io::Error::other("the namespace worker has stopped"))?;
        answer
            .await
            .map_err(|_| io::Error::other("a namespace job panicked"))?
    }
}

/// Makes the namespace directory a shared mount of itself, as `ip netns
/// add` does before it pins anything (iproute2, ip/ipnetns.c
/// `netns_add`). Done before the agent pins a namespace there, it means a
/// later `ip netns add` or podman finds a mount point already and only
/// makes it shared, instead of bind-mounting the directory over itself
/// with copies of every pin under it, which then can no longer be
/// unlinked (EBUSY).
pub fn make_shared_mount(dir: &Path) -> io::Result<()> {
    let shared = || {
        mount(
            None::<&str>,
            dir,
            None::<&str>,
            MsFlags::MS_SHARED | MsFlags::MS_REC,
            None::<&str>,
        )
    };
    match shared() {
        Ok(()) => Ok(()),
        // Not a mount point yet: make it one, then share it.
        Err(nix::errno::Errno::EINVAL) => {
            mount(
                Some(dir),
                dir,
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )?;
            shared().map_err(io::Error::from)
        }
        Err(err) => Err(err.into()),
    }
}

/// Unpins and removes a namespace made by [`NetnsWorker::create_named`];
/// the namespace itself goes once nothing else holds it. Every mount
/// stacked on the file goes (a directory bind-mounted over itself after
/// the pin leaves a copy), or the unlink fails with EBUSY.
pub fn delete_named(path: &Path) -> io::Result<()> {
    // Bounded: each round takes one mount off the file.
    for _ in 0..8 {
        match umount2(path, MntFlags::MNT_DETACH) {
            Ok(()) => continue,
            Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => break,
            Err(err) => return Err(err.into()),
        }
    }
    match std::fs::remove_file(path) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => Err(err),
        _ => Ok(()),
    }
}

/// While alive, the worker thread is in another namespace; dropping it
/// goes home, or aborts the process if that fails.
struct Entered<'a> {
    home: &'a OwnedFd,
}

impl<'a> Entered<'a> {
    fn enter(target: std::os::fd::BorrowedFd<'_>, home: &'a OwnedFd) -> io::Result<Self> {
        setns(target, CloneFlags::CLONE_NEWNET)?;
        Ok(Entered { home })
    }

    fn unshared(home: &'a OwnedFd) -> io::Result<Self> {
        unshare(CloneFlags::CLONE_NEWNET)?;
        Ok(Entered { home })
    }
}

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        if let Err(err) = setns(self.home.as_fd(), CloneFlags::CLONE_NEWNET) {
            eprintln!("netagent: the namespace worker cannot return home ({err}); aborting");
            std::process::abort();
        }
    }
}

/// Makes the forwarder's sockets inside a sandbox's namespace, for its own
/// `--dns` servers (resolver::forward::sockets).
pub struct SandboxSockets {
    /// The worker that enters the namespace.
    pub worker: NetnsWorker,
    /// The sandbox's namespace.
    pub ns: NsRef,
}

impl SocketFactory for SandboxSockets {
    fn udp(&self, family: resolver::forward::sockets::Family) -> io::Result<std::net::UdpSocket> {
        self.worker.run_in_blocking(&self.ns, move || {
            resolver::forward::sockets::HostSockets.udp(family)
        })
    }

    fn tcp(&self, family: resolver::forward::sockets::Family) -> io::Result<socket2::Socket> {
        self.worker.run_in_blocking(&self.ns, move || {
            resolver::forward::sockets::HostSockets.tcp(family)
        })
    }
}

//! The host's upstream servers, read from its resolv.conf and read again
//! whenever the file changes (inotify on its directory and on the file
//! itself, so a bind-mounted file written through its other path counts
//! too), so running sandboxes follow the host's DNS without a restart
//! (Docker never notices: moby#25452).

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use config::NameServer;
use futures_util::StreamExt;
use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask, Watches};
use tokio::task::JoinHandle;

use crate::resolv_conf::ResolvConf;

/// The current list of host servers.
#[derive(Debug)]
pub struct HostServers {
    path: Option<PathBuf>,
    current: RwLock<Arc<[SocketAddr]>>,
    /// Moves on after every reload, so that the forwarding cache never
    /// serves one set's answers for another (read before `current`,
    /// written after it).
    generation: AtomicU64,
}

impl HostServers {
    /// A fixed list, not read from any file (`dns serve --upstream`).
    pub fn fixed(servers: &[NameServer]) -> Arc<HostServers> {
        Arc::new(HostServers {
            path: None,
            current: RwLock::new(usable(servers.iter().copied())),
            generation: AtomicU64::new(0),
        })
    }

    /// The servers of the resolv.conf at `path`, read now; a missing or
    /// unreadable file gives no servers, with a warning.
    pub fn from_file(path: &Path) -> Arc<HostServers> {
        let servers = Arc::new(HostServers {
            path: Some(path.to_owned()),
            current: RwLock::new(Arc::from([])),
            generation: AtomicU64::new(0),
        });
        servers.reload();
        servers
    }

    /// The servers now.
    pub fn servers(&self) -> Arc<[SocketAddr]> {
        Arc::clone(&self.current.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// The generation of the servers: read it before [`Self::servers`],
    /// and an answer kept under it is never one of a later set.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Reads the file again.
    pub fn reload(&self) {
        let Some(path) = &self.path else { return };
        let conf = match std::fs::read_to_string(path) {
            Ok(text) => ResolvConf::parse(&text),
            Err(err) => {
                tracing::warn!(path = %path.display(), %err, "cannot read the host's resolv.conf: no host upstreams");
                ResolvConf::default()
            }
        };
        for warning in &conf.warnings {
            tracing::warn!(path = %path.display(), "skipped: {warning}");
        }
        let servers = usable(conf.nameservers.into_iter());
        tracing::info!(path = %path.display(), servers = ?servers, "host upstream servers");
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = servers;
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Watches the file's directory (and, for a symlink, its target's) and
    /// the file itself, and reloads on every change to it. Editors and
    /// resolvconf replace the file by rename, which only the directory
    /// watch sees; a file written in place through another path (the
    /// host's resolv.conf bind-mounted into the agent's container, on a
    /// Kubernetes node, in a test rig) is seen only by a watch on the
    /// file: inotify tells a directory about its children only through
    /// that directory's own paths. The file watch is re-armed whenever the
    /// name is given a new file.
    pub fn watch(self: &Arc<Self>) -> std::io::Result<Option<JoinHandle<()>>> {
        let Some(path) = &self.path else {
            return Ok(None);
        };
        let inotify = Inotify::init()?;
        let mut names: Vec<OsString> = Vec::new();
        let canonical = std::fs::canonicalize(path).ok();
        let files: Vec<PathBuf> = [Some(path.clone()), canonical]
            .into_iter()
            .flatten()
            .collect();
        for file in &files {
            let (Some(dir), Some(name)) = (file.parent(), file.file_name()) else {
                continue;
            };
            let mask = WatchMask::CLOSE_WRITE
                | WatchMask::MOVED_TO
                | WatchMask::CREATE
                | WatchMask::DELETE
                | WatchMask::MOVED_FROM;
            inotify.watches().add(dir, mask)?;
            names.push(name.to_owned());
        }
        let mut on_files = FileWatches::new(inotify.watches(), files);
        on_files.arm();
        let mut events = inotify.into_event_stream(vec![0u8; 4096])?;
        let servers = Arc::clone(self);
        Ok(Some(tokio::spawn(async move {
            while let Some(Ok(event)) = events.next().await {
                let named = event.name.is_some_and(|name| names.contains(&name));
                if named || on_files.owns(&event.wd) {
                    // A new file under the name, or the watched one gone:
                    // watch whatever the name holds now.
                    if named || event.mask.contains(EventMask::IGNORED) {
                        on_files.arm();
                    }
                    servers.reload();
                }
            }
        })))
    }
}

/// The watches on the resolv.conf file itself (the path and a symlink's
/// target), by inode.
struct FileWatches {
    watches: Watches,
    files: Vec<PathBuf>,
    armed: Vec<WatchDescriptor>,
}

impl FileWatches {
    fn new(watches: Watches, files: Vec<PathBuf>) -> FileWatches {
        FileWatches {
            watches,
            files,
            armed: Vec::new(),
        }
    }

    /// Watches the files the paths name now. Adding a watch on an inode
    /// already watched gives back its descriptor; one whose inode the
    /// name no longer holds is dropped. A missing file is watched once it
    /// appears (the directory watch arms it).
    fn arm(&mut self) {
        let mask = WatchMask::CLOSE_WRITE | WatchMask::DELETE_SELF | WatchMask::MOVE_SELF;
        let fresh: Vec<WatchDescriptor> = self
            .files
            .iter()
            .filter_map(|file| self.watches.add(file, mask).ok())
            .collect();
        for old in self.armed.drain(..) {
            if !fresh.contains(&old) {
                let _ = self.watches.remove(old);
            }
        }
        self.armed = fresh;
    }

    fn owns(&self, wd: &WatchDescriptor) -> bool {
        self.armed.contains(wd)
    }
}

/// Drops 127.0.0.11: the embedded resolver as its own upstream would loop.
fn usable(servers: impl Iterator<Item = NameServer>) -> Arc<[SocketAddr]> {
    servers
        .filter(|s| {
            if s.is_embedded_resolver() {
                tracing::warn!("skipping upstream 127.0.0.11: it is the embedded resolver itself");
            }
            !s.is_embedded_resolver()
        })
        .map(|s| s.0)
        .collect()
}

//! The host's upstream servers, read from its resolv.conf and read again
//! whenever the file changes (inotify), so running sandboxes follow the
//! host's DNS without a restart (Docker never notices: moby#25452).

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use config::NameServer;
use futures_util::StreamExt;
use inotify::{Inotify, WatchMask};
use tokio::task::JoinHandle;

use crate::resolv_conf::ResolvConf;

/// The current list of host servers.
#[derive(Debug)]
pub struct HostServers {
    path: Option<PathBuf>,
    current: RwLock<Arc<[SocketAddr]>>,
}

impl HostServers {
    /// A fixed list, not read from any file (`dns serve --upstream`).
    pub fn fixed(servers: &[NameServer]) -> Arc<HostServers> {
        Arc::new(HostServers {
            path: None,
            current: RwLock::new(usable(servers.iter().copied())),
        })
    }

    /// The servers of the resolv.conf at `path`, read now; a missing or
    /// unreadable file gives no servers, with a warning.
    pub fn from_file(path: &Path) -> Arc<HostServers> {
        let servers = Arc::new(HostServers {
            path: Some(path.to_owned()),
            current: RwLock::new(Arc::from([])),
        });
        servers.reload();
        servers
    }

    /// The servers now.
    pub fn servers(&self) -> Arc<[SocketAddr]> {
        Arc::clone(&self.current.read().unwrap_or_else(|p| p.into_inner()))
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
    }

    /// Watches the file's directory (and, for a symlink, its target's) and
    /// reloads on every change to it. Editors and resolvconf replace the
    /// file by rename, which a watch on the file itself would miss.
    pub fn watch(self: &Arc<Self>) -> std::io::Result<Option<JoinHandle<()>>> {
        let Some(path) = &self.path else {
            return Ok(None);
        };
        let inotify = Inotify::init()?;
        let mut names: Vec<OsString> = Vec::new();
        let canonical = std::fs::canonicalize(path).ok();
        for file in [Some(path.clone()), canonical].into_iter().flatten() {
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
        let mut events = inotify.into_event_stream(vec![0u8; 4096])?;
        let servers = Arc::clone(self);
        Ok(Some(tokio::spawn(async move {
            while let Some(Ok(event)) = events.next().await {
                if event.name.is_some_and(|name| names.contains(&name)) {
                    servers.reload();
                }
            }
        })))
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

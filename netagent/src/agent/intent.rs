//! Intents: what the agent is about to make in the kernel, written down
//! before the first step that makes it, so a crash part-way (`kill -9`
//! while a `run` or a `network create` is in progress) leaves a note of
//! every namespace and link it may have made that no record owns yet.
//! On the next start, [`Agent::sweep_intents`] removes what the notes
//! name and no restored record owns, and only that: the agent never
//! guesses from names, so a namespace `ip netns add` made beside its own
//! in `/run/netns`, or another engine's veth, is never touched.
//!
//! One small file per sandbox or network being made, under
//! `STATE_DIR/intents/`. It is written but not fsynced: a `kill -9` keeps
//! the page cache, and what an intent guards (namespaces pinned on a
//! tmpfs, links) does not survive the power loss that would lose it.
//! Writing it costs a few microseconds on the attach path.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::Agent;
use crate::kernel::netns::delete_named;

/// What one creation in progress may have made.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    /// A namespace pinned by the agent for a sandbox being made.
    #[serde(default)]
    pub netns: Option<PathBuf>,
    /// Links in the agent's namespace: host-side veth ends, a bridge.
    #[serde(default)]
    pub links: Vec<String>,
    /// The sandbox whose resolv.conf may have been written.
    #[serde(default)]
    pub sandbox: Option<String>,
}

/// The intents of the creations in progress, mirrored in
/// `STATE_DIR/intents/KEY.json`.
#[derive(Debug)]
pub struct Intents {
    dir: PathBuf,
    open: Mutex<BTreeMap<String, Intent>>,
}

/// The intent key of sandbox `name`.
pub fn sandbox_key(name: &str) -> String {
    format!("sandbox-{name}")
}

/// The intent key of network `name`.
pub fn network_key(name: &str) -> String {
    format!("network-{name}")
}

impl Intents {
    /// The intents directory under `state_dir`, created if missing.
    pub fn open(state_dir: &Path) -> std::io::Result<Intents> {
        let dir = state_dir.join("intents");
        std::fs::create_dir_all(&dir)?;
        Ok(Intents {
            dir,
            open: Mutex::default(),
        })
    }

    /// Notes that `key` is about to pin the namespace `path` for sandbox
    /// `sandbox`.
    pub fn note_netns(&self, key: &str, sandbox: &str, path: &Path) -> std::io::Result<()> {
        self.edit(key, |intent| {
            intent.netns = Some(path.to_owned());
            intent.sandbox = Some(sandbox.to_owned());
        })
    }

    /// Notes that `key` is about to make the link `name`.
    pub fn note_link(&self, key: &str, name: &str) -> std::io::Result<()> {
        self.edit(key, |intent| {
            if !intent.links.iter().any(|l| l == name) {
                intent.links.push(name.to_owned());
            }
        })
    }

    fn edit(&self, key: &str, change: impl FnOnce(&mut Intent)) -> std::io::Result<()> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let intent = open.entry(key.to_owned()).or_default();
        change(intent);
        let bytes = serde_json::to_vec(intent).map_err(std::io::Error::other)?;
        std::fs::write(self.path(key), bytes)
    }

    /// The creation `key` ended: its records own what it made, or its
    /// undo removed it. A note that cannot be removed is harmless (the
    /// sweep spares what records own), so it is only logged.
    pub fn done(&self, key: &str) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if open.remove(key).is_none() {
            return;
        }
        if let Err(err) = std::fs::remove_file(self.path(key)) {
            if err.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(%err, key, "cannot remove an intent");
            }
        }
    }

    /// Every intent left on disk by an earlier run, with its file.
    fn left_over(&self) -> std::io::Result<Vec<(PathBuf, Intent)>> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let path = entry?.path();
            let intent = std::fs::read(&path)
                .ok()
                .and_then(|bytes| serde_json::from_slice(&bytes).ok());
            match intent {
                Some(intent) => found.push((path, intent)),
                // Cut short by the crash before anything was made (the
                // note precedes the step): nothing to sweep.
                None => {
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
        Ok(found)
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.json"))
    }
}

impl Agent {
    /// Removes what creations cut short by a crash made and no restored
    /// record owns: their namespaces, links and resolv.conf files. Runs
    /// after the records are restored; best effort, each failure logged.
    pub(super) async fn sweep_intents(&self, inner: &super::Inner) -> std::io::Result<()> {
        for (file, intent) in self.intents.left_over()? {
            self.sweep_one(inner, &intent).await;
            let _ = std::fs::remove_file(&file);
        }
        Ok(())
    }

    async fn sweep_one(&self, inner: &super::Inner, intent: &Intent) {
        let state = &inner.state;
        for link in &intent.links {
            let owned = state.networks.values().any(|n| &n.bridge == link)
                || state
                    .sandboxes
                    .values()
                    .any(|s| s.endpoints.iter().any(|e| &e.host_veth == link));
            if owned {
                continue;
            }
            match self.links.delete(link).await {
                Ok(()) => tracing::warn!(link, "removed a link a crash left behind"),
                Err(err) => tracing::error!(%err, link, "cannot remove a link a crash left"),
            }
        }
        if let Some(path) = &intent.netns {
            let owned = state
                .sandboxes
                .values()
                .any(|s| s.owns_netns && &s.netns == path);
            if !owned {
                match delete_named(path) {
                    Ok(()) => {
                        tracing::warn!(netns = %path.display(), "removed a namespace a crash left behind")
                    }
                    Err(err) => {
                        tracing::error!(%err, netns = %path.display(), "cannot remove a namespace a crash left")
                    }
                }
            }
        }
        if let Some(name) = &intent.sandbox {
            if !state.sandboxes.contains_key(name) {
                self.remove_resolv_conf(name);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_survive_a_crash_and_go_when_done() {
        let dir = tempfile::tempdir().unwrap();
        let intents = Intents::open(dir.path()).unwrap();
        let key = sandbox_key("web");
        intents
            .note_netns(&key, "web", Path::new("/run/netns/web"))
            .unwrap();
        intents.note_link(&key, "veth01234567").unwrap();
        intents.note_link(&key, "veth01234567").unwrap();
        intents.note_link(&network_key("app"), "na-0123").unwrap();
        intents.done(&network_key("app"));
        // What a restarted agent finds: the note of the creation cut
        // short, whole, and not the finished one.
        let reopened = Intents::open(dir.path()).unwrap();
        let left = reopened.left_over().unwrap();
        assert_eq!(left.len(), 1, "{left:?}");
        let intent = &left[0].1;
        assert_eq!(intent.netns.as_deref(), Some(Path::new("/run/netns/web")));
        assert_eq!(intent.links, ["veth01234567"]);
        assert_eq!(intent.sandbox.as_deref(), Some("web"));
    }

    #[test]
    fn a_note_cut_short_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let intents = Intents::open(dir.path()).unwrap();
        std::fs::write(dir.path().join("intents/sandbox-x.json"), b"{\"net").unwrap();
        assert!(intents.left_over().unwrap().is_empty());
        assert!(!dir.path().join("intents/sandbox-x.json").exists());
    }
}

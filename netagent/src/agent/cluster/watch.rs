//! Following the cluster: a full read at start, then a watch of the whole
//! prefix. When etcd goes away (or this host is cut off) the watch breaks
//! and the local copy stays as it was (stale but answering); once etcd is
//! back the watch is resumed from the last revision applied, so what
//! changed meanwhile, deletes included, comes as events. Only when etcd
//! says that revision was compacted (or its store is behind what this host
//! saw) does the agent read everything again, once, and watch from there.
//!
//! A resumed watch starts AT the last revision applied, not after it, and
//! that revision's events are skipped. etcd 3.4 tells a watcher its start
//! was compacted only when it is below the compaction revision, yet a
//! compaction at revision R drops a delete made at R (etcd-io/etcd#18089,
//! fixed in etcd-io/etcd#18274, not in Debian's 3.4.23): a watch from
//! exactly R would get neither the delete nor an error. Starting one
//! revision earlier turns that case into the compaction error.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use etcd_client::{EventType, GetOptions, WatchOptions};

use super::keys::Key;
use super::Mirror;
use crate::agent::{Agent, AgentError};

/// How often the cluster was followed which way (`GET /metrics`).
#[derive(Debug, Default)]
pub struct Stats {
    /// Full reads of the prefix: one at start, one per compaction (or
    /// store behind this host) after that.
    pub full_reads: AtomicU64,
    /// Watches etcd accepted from the last revision applied, with no full
    /// read before them. One whose revision turns out to be compacted is
    /// followed by a full read, counted in `full_reads` too.
    pub resumes: AtomicU64,
}

/// How a watch ended.
enum Ended {
    /// The revision asked for was compacted: a full read is needed.
    Compacted(i64),
    /// etcd's store is at a revision below the one this host applied
    /// (restored from a backup, or its data lost): a full read is needed.
    Behind(i64),
    /// etcd went away or closed the stream: the watch is resumed.
    Broken(String),
}

/// Runs for the agent's life: a full read, then a watch from its
/// revision, resumed after each break, read again only when needed.
pub async fn run(agent: Arc<Agent>) {
    let Some(cluster) = agent.cluster() else {
        return;
    };
    // `Some(first)`: a full read is due (`first` at start).
    let mut read = Some(true);
    let mut quiet = false;
    loop {
        let resumed = read.is_none();
        if let Some(first) = read {
            if let Err(err) = read_all(&agent, first).await {
                if !quiet {
                    tracing::warn!(%err, "cannot read the cluster; names known stay as they are, retrying");
                    quiet = true;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            if !first {
                tracing::info!("read the whole cluster again; following it");
            }
            (read, quiet) = (None, false);
        }
        let from = cluster.mirror.lock().await.revision;
        match follow(&agent, from, resumed, &mut quiet).await {
            Ended::Compacted(at) => {
                tracing::warn!(from, compacted = at, "the cluster's history was compacted past this host's last revision; reading it all again");
                read = Some(false);
            }
            Ended::Behind(at) => {
                tracing::warn!(from, store = at, "the cluster store is behind this host's last revision (restored or lost?); reading it all again");
                read = Some(false);
            }
            Ended::Broken(err) => {
                if !quiet {
                    let seen = cluster.mirror.lock().await.revision;
                    tracing::warn!(%err, seen, "lost the cluster watch; names known stay as they are, resuming from the last revision seen");
                    quiet = true;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Reads everything under the prefix and applies the difference.
async fn read_all(agent: &Agent, first: bool) -> Result<(), AgentError> {
    let cluster = agent.cluster().expect("running with a cluster");
    let response = cluster
        .call(
            cluster
                .client()
                .get(cluster.keys.all(), Some(GetOptions::new().with_prefix())),
        )
        .await?;
    let mut wanted = Mirror {
        revision: response.header().map(|h| h.revision()).unwrap_or(0),
        ..Mirror::default()
    };
    for kv in response.kvs() {
        match cluster.keys.parse(kv.key()) {
            Key::Network(name) => {
                if let Ok(doc) = serde_json::from_slice(kv.value()) {
                    wanted.networks.insert(name, doc);
                }
            }
            Key::Endpoint {
                network,
                sandbox_id,
                ..
            } => {
                if let Ok(doc) = serde_json::from_slice(kv.value()) {
                    wanted.endpoints.insert((network, sandbox_id), doc);
                }
            }
            Key::Address { network, address } => {
                let holder = String::from_utf8_lossy(kv.value()).into_owned();
                wanted.claims.insert((network, address), holder);
            }
            Key::Other => {}
        }
    }
    // Counted before it is applied: whoever sees its effect sees it counted.
    cluster.stats.full_reads.fetch_add(1, Ordering::Relaxed);
    agent.apply_all(wanted, first).await;
    Ok(())
}

/// Watches from `applied`, the last revision applied here, until the
/// watch ends, applying each event after it. `resumed`: no full read
/// came before (counted once the watch is up). `quiet` is cleared once
/// the watch is up, so the next loss is logged.
async fn follow(agent: &Agent, applied: i64, resumed: bool, quiet: &mut bool) -> Ended {
    let cluster = agent.cluster().expect("running with a cluster");
    let options = WatchOptions::new()
        .with_prefix()
        .with_start_revision(applied)
        .with_prev_key();
    let started = tokio::time::timeout(
        super::REQUEST_TIMEOUT,
        cluster.client().watch(cluster.keys.all(), Some(options)),
    )
    .await;
    let mut stream = match started {
        Ok(Ok(stream)) => stream,
        Ok(Err(err)) => return Ended::Broken(err.to_string()),
        Err(_) => return Ended::Broken("no answer".into()),
    };
    loop {
        let response = match stream.message().await {
            Ok(Some(response)) => response,
            Ok(None) => return Ended::Broken("etcd closed the watch".into()),
            Err(err) => return Ended::Broken(err.to_string()),
        };
        // A compacted start is accepted (`created`), then cancelled with
        // `compact_revision` set in a response of its own once etcd's
        // sync of slow watchers (every 100 ms) reaches it; a live watch
        // that falls behind a compaction ends the same way.
        if response.compact_revision() > 0 {
            return Ended::Compacted(response.compact_revision());
        }
        if response.canceled() {
            return Ended::Broken(format!("watch cancelled: {}", response.cancel_reason()));
        }
        if response.created() {
            // A created response's header holds the store's revision.
            let store = response.header().map(|h| h.revision()).unwrap_or(applied);
            if store < applied {
                return Ended::Behind(store);
            }
            if resumed {
                cluster.stats.resumes.fetch_add(1, Ordering::Relaxed);
            }
            if *quiet {
                tracing::info!(from = applied, resumed, "following the cluster again");
                *quiet = false;
            }
        }
        let mut mirror = cluster.mirror.lock().await;
        for event in response.events() {
            let Some(kv) = event.kv() else { continue };
            // etcd gives a delete event the delete's revision as its
            // mod_revision. Events at `applied` are applied already.
            if kv.mod_revision() <= applied {
                continue;
            }
            let key = cluster.keys.parse(kv.key());
            let put = event.event_type() == EventType::Put;
            agent
                .apply_event(&mut mirror, key, put.then(|| kv.value()))
                .await;
            mirror.revision = mirror.revision.max(kv.mod_revision());
        }
        // Only the events' own revisions move the mirror on, never a
        // response's header: catching up, etcd sends at most 1,000
        // revisions per response with the store's current revision in the
        // header, so a header can be past events not delivered yet.
    }
}

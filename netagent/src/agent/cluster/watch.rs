//! Following the cluster: a full read at start, whenever the watch broke
//! and whenever the revision last seen was compacted away, then a watch of
//! the whole prefix from the revision after the read. When etcd goes away
//! the watch breaks and the local copy stays as it was (stale but
//! answering); once etcd is back a full read applies what changed
//! meanwhile, deletes included, and the watch goes on from there.

use std::sync::Arc;
use std::time::Duration;

use etcd_client::{EventType, GetOptions, WatchOptions};

use super::keys::Key;
use super::Mirror;
use crate::agent::{Agent, AgentError};

/// How a watch ended.
enum Ended {
    /// The revision asked for was compacted: a full read is needed.
    Compacted(i64),
    /// etcd went away or closed the stream.
    Broken(String),
}

/// Runs for the agent's life: a full read, then a watch from the
/// revision after it, again and again. A broken watch is not resumed from
/// the last revision seen: with the history compacted while this host was
/// cut off, resuming missed a delete on the 2-core CI machine (the cut-off
/// test), and one full read per reconnect costs a single request.
pub async fn run(agent: Arc<Agent>) {
    let Some(cluster) = agent.cluster() else {
        return;
    };
    let mut first = true;
    let mut quiet = false;
    loop {
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
        (first, quiet) = (false, false);
        let from = cluster.mirror.lock().await.revision + 1;
        match follow(&agent, from, &mut quiet).await {
            Ended::Compacted(at) => {
                tracing::warn!(from, compacted = at, "the cluster's history was compacted past this host's last revision; reading it all again");
            }
            Ended::Broken(err) => {
                tracing::warn!(%err, from, "lost the cluster watch; names known stay as they are, retrying");
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
    agent.apply_all(wanted, first).await;
    Ok(())
}

/// Watches from `from` until the watch ends, applying each event.
/// `quiet` is cleared once the watch is up, so the next loss is logged.
async fn follow(agent: &Agent, from: i64, quiet: &mut bool) -> Ended {
    let cluster = agent.cluster().expect("running with a cluster");
    let options = WatchOptions::new()
        .with_prefix()
        .with_start_revision(from)
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
        if response.created() && *quiet {
            tracing::info!(from, "following the cluster again");
            *quiet = false;
        }
        if response.compact_revision() > 0 {
            return Ended::Compacted(response.compact_revision());
        }
        if response.canceled() {
            return Ended::Broken(format!("watch cancelled: {}", response.cancel_reason()));
        }
        let mut mirror = cluster.mirror.lock().await;
        for event in response.events() {
            let Some(kv) = event.kv() else { continue };
            let key = cluster.keys.parse(kv.key());
            let put = event.event_type() == EventType::Put;
            agent
                .apply_event(&mut mirror, key, put.then(|| kv.value()))
                .await;
            mirror.revision = mirror.revision.max(kv.mod_revision());
        }
        // Only the events' own revisions move the mirror on: a response's
        // header carries the store's revision when it was sent, which may
        // be past an event this host has not been given yet; resuming from
        // there after a broken watch would skip it.
    }
}

//! This host's lease: granted at start, kept alive every third of its TTL,
//! and granted again when lost (etcd away longer than the TTL, or a
//! restart). Every time a lease is granted, this host's endpoints are
//! written again under it (a restart before the old lease expired thus
//! re-owns them with no gap), and keys of endpoints and claimed addresses
//! this host no longer has are deleted (a delete that failed while etcd
//! was away).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use etcd_client::GetOptions;

use super::keys::{EndpointDoc, Key};
use crate::agent::{Agent, AgentError};

/// Runs for the agent's life: grants, keeps alive, grants again.
pub async fn run(agent: Arc<Agent>) {
    let Some(cluster) = agent.cluster() else {
        return;
    };
    let ttl = cluster.config.lease_ttl_s;
    loop {
        match cluster
            .call(cluster.client().lease_grant(ttl as i64, None))
            .await
        {
            Ok(granted) => {
                cluster.set_lease(granted.id());
                tracing::info!(lease = granted.id(), ttl, "cluster lease granted");
                if let Err(err) = agent.republish().await {
                    tracing::warn!(%err, "cannot write this host's endpoints again; retrying");
                    cluster.dirty.store(true, Ordering::Release);
                }
                keep_alive(&agent, granted.id(), ttl).await;
                cluster.set_lease(0);
            }
            Err(err) => tracing::warn!(%err, "cannot get a cluster lease; retrying"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Keeps `lease` alive until etcd says it is gone or stops answering for
/// longer than the TTL.
async fn keep_alive(agent: &Agent, lease: i64, ttl: u64) {
    let cluster = agent.cluster().expect("started with a cluster");
    let tick = Duration::from_millis(ttl * 1000 / 3);
    let Ok(Ok((mut keeper, mut stream))) = tokio::time::timeout(
        super::REQUEST_TIMEOUT,
        cluster.client().lease_keep_alive(lease),
    )
    .await
    else {
        return;
    };
    let mut last_ok = std::time::Instant::now();
    loop {
        tokio::time::sleep(tick).await;
        let answered = async {
            keeper.keep_alive().await.ok()?;
            stream.message().await.ok()?
        };
        match tokio::time::timeout(super::REQUEST_TIMEOUT, answered).await {
            Ok(Some(response)) if response.ttl() > 0 => last_ok = std::time::Instant::now(),
            Ok(Some(_)) => {
                tracing::warn!(lease, "the cluster lease expired; this host's endpoints were dropped, writing them again");
                return;
            }
            _ if last_ok.elapsed() > Duration::from_secs(ttl) => {
                tracing::warn!(
                    lease,
                    "etcd has not answered for the lease's TTL; asking for a new lease"
                );
                return;
            }
            _ => {
                // The stream may be dead with etcd back: a fresh one.
                match tokio::time::timeout(
                    super::REQUEST_TIMEOUT,
                    cluster.client().lease_keep_alive(lease),
                )
                .await
                {
                    Ok(Ok((k, s))) => (keeper, stream) = (k, s),
                    _ => continue,
                }
            }
        }
        if cluster.dirty.swap(false, Ordering::AcqRel) {
            cluster.host_dirty.store(false, Ordering::Release);
            if let Err(err) = agent.republish().await {
                tracing::warn!(%err, "cannot reconcile this host's endpoints; retrying");
                cluster.dirty.store(true, Ordering::Release);
            }
        } else if cluster.host_dirty.swap(false, Ordering::AcqRel) {
            // Only the local subnets changed: rewriting every endpoint too
            // cost one etcd write per endpoint of this host (seen in the
            // overlay bench as 1.8 writes per attach after a local network
            // was made mid-run).
            if let Err(err) = agent.publish_host().await {
                tracing::warn!(%err, "cannot write this host's local subnets; retrying");
                cluster.host_dirty.store(true, Ordering::Release);
            }
        }
    }
}

impl Agent {
    /// Writes this host's entry (its local subnets) under the current
    /// lease.
    pub(crate) async fn publish_host(&self) -> Result<(), AgentError> {
        let cluster = self.cluster().expect("called with a cluster");
        let subnets = {
            let inner = self.inner.lock().await;
            inner
                .state
                .networks
                .values()
                .filter(|n| n.overlay.is_none())
                .flat_map(|n| n.subnets.iter().map(|s| s.subnet))
                .collect()
        };
        let host = super::keys::HostDoc {
            advertise: cluster.config.advertise,
            subnets,
        };
        cluster.put_host(&host).await
    }

    /// Writes this host's entry and its overlay endpoints under the
    /// current lease, and deletes the keys of those it no longer has.
    pub(crate) async fn republish(&self) -> Result<(), AgentError> {
        let cluster = self.cluster().expect("called with a cluster");
        self.publish_host().await?;
        let mine = self.own_overlay_endpoints().await;
        for (doc, claimed) in &mine {
            match cluster.put_endpoint(doc, *claimed).await {
                // Another host claimed its address while this host's lease
                // was gone: the others still go out; this one is said.
                Err(AgentError::Conflict(why)) => {
                    tracing::error!(sandbox = %doc.sandbox, network = %doc.network, %why, "this sandbox's address is another host's now; reconnect it to get a free one");
                }
                other => other?,
            }
        }
        let response = cluster
            .call(cluster.client().get(
                cluster.keys.endpoints(),
                Some(GetOptions::new().with_prefix().with_keys_only()),
            ))
            .await?;
        // Read again after the keys: an attach that published meanwhile
        // (it holds the agent's lock until done) is in it.
        let mine = self.own_overlay_endpoints().await;
        for kv in response.kvs() {
            if let Key::Endpoint {
                network,
                host,
                sandbox_id,
            } = cluster.keys.parse(kv.key())
            {
                let ours = host == cluster.config.host;
                if ours && !mine.iter().any(|(d, _)| same(d, &network, &sandbox_id)) {
                    cluster.delete_endpoint(&network, &sandbox_id, None).await?;
                }
            }
        }
        self.release_stale_claims().await
    }

    /// Gives back the addresses this host claims that none of its
    /// endpoints has (a detach whose delete failed while etcd was away).
    async fn release_stale_claims(&self) -> Result<(), AgentError> {
        let cluster = self.cluster().expect("called with a cluster");
        let response = cluster
            .call(cluster.client().get(
                cluster.keys.addresses(),
                Some(GetOptions::new().with_prefix()),
            ))
            .await?;
        // After the read: a claim of an attach still under way is in it
        // once that attach is done (or given back, if it failed).
        let mine = self.own_overlay_endpoints().await;
        for kv in response.kvs() {
            let Key::Address { network, address } = cluster.keys.parse(kv.key()) else {
                continue;
            };
            let used = mine
                .iter()
                .any(|(d, _)| d.network == network && d.ipv4 == address);
            if kv.value() == cluster.config.host.as_bytes() && !used {
                cluster.release_address(&network, address).await?;
            }
        }
        Ok(())
    }
}

fn same(doc: &EndpointDoc, network: &str, sandbox_id: &str) -> bool {
    doc.network == network && doc.sandbox_id == sandbox_id
}

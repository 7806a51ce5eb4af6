//! The cluster store (DESIGN.md, seam 11): overlay networks whose state
//! lives in etcd, for hosts that share them (issue #15). Only a daemon
//! whose config has `[cluster]` makes a [`Cluster`]; without it no etcd
//! code runs.
//!
//! etcd is the source of truth for overlay networks only. Each agent keeps
//! a local copy, its endpoint table and its VXLAN forwarding entries, fed
//! by a watch, so an answer never waits on etcd and names already known
//! keep answering while etcd is away.
//!
//! - [`keys`]: the keys and their JSON values.
//! - [`ops`]: the writes, each one transaction: a network with its VXLAN
//!   id and subnet, an endpoint, a removal.
//! - [`claims`]: the addresses: blocks claimed and released by a host,
//!   an address outside the host's blocks (a static `--ip`, or one
//!   borrowed when no block is free) claimed by transaction, an endpoint
//!   published only while nobody claims its address.
//! - `room`: the attach path's side of it: room made for an endpoint
//!   before its steps, taken back after a failure or a detach.
//! - [`lease`]: this host's lease, kept alive, and its endpoints written
//!   again under a new one when the old one was lost.
//! - [`watch`]: a full read at start, then the watch, resumed from the
//!   last revision seen after a break; a full read again only when that
//!   revision was compacted. Counted in [`watch::Stats`].
//! - `local`: the control path's side: create, remove, attach and
//!   detach written.
//! - [`apply`]: what the agent does with what the watch sees: overlay
//!   networks made and removed here, remote endpoints in the table and in
//!   the kernel.
//! - [`tls`]: the client's TLS settings, and a probe that says why TLS to
//!   an endpoint fails (at start, and when a request fails).

pub mod apply;
pub mod claims;
pub mod keys;
pub mod lease;
mod local;
pub mod ops;
mod room;
pub mod tls;
pub mod watch;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use config::ClusterConfig;
use etcd_client::{Client, ConnectOptions};

use super::{Agent, AgentError};
use keys::{EndpointDoc, Keys, NetworkDoc};
use std::sync::Arc;

/// How long one request to etcd may take before the caller is told it
/// does not answer: a create or attach fails fast rather than hang.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How often the connection to etcd is pinged (HTTP/2) to find it dead.
/// Not below etcd's `--grpc-keepalive-min-time` (5 s by default): gRPC's
/// server closes a connection pinged more often, after three such pings,
/// with a GOAWAY "too_many_pings", taking every watch on it; pinged every
/// 2 s, a host's watch broke every 8 to 14 s with nothing cut.
const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(6);

/// Joins the cluster of the agent's config, if it names one: before the
/// state is restored, so that restoring an overlay network can use it.
pub(super) async fn join(agent: &Agent) -> Result<(), AgentError> {
    if let Some(config) = agent.config.cluster.clone() {
        let joined = Cluster::connect(config).await?;
        joined.check_tls().await?;
        let _ = agent.cluster.set(Arc::new(joined));
    }
    Ok(())
}

/// Starts the lease and the watch, once the agent is up.
pub(super) fn follow(agent: &Arc<Agent>) {
    if agent.cluster().is_some() {
        tokio::spawn(lease::run(Arc::clone(agent)));
        tokio::spawn(watch::run(Arc::clone(agent)));
    }
}

impl Agent {
    /// The cluster this host is in, if any.
    pub fn cluster(&self) -> Option<&Arc<Cluster>> {
        self.cluster.get()
    }
}

/// This host's membership of the cluster.
pub struct Cluster {
    /// The validated `[cluster]` section.
    pub config: ClusterConfig,
    /// The key layout under the prefix.
    pub keys: Keys,
    client: Client,
    /// The lease this host's endpoints are written under; 0 while none.
    lease: AtomicI64,
    /// An own endpoint's key could not be deleted: the lease task
    /// reconciles at its next tick.
    pub(crate) dirty: AtomicBool,
    /// This host's local subnets changed: the lease task writes its entry
    /// (and only that: the endpoints did not change) at its next tick.
    pub(crate) host_dirty: AtomicBool,
    /// What the watch has applied here, behind one lock so that a full
    /// read and an event never interleave.
    pub(crate) mirror: tokio::sync::Mutex<Mirror>,
    /// Full reads and resumed watches, for `GET /metrics`.
    pub stats: watch::Stats,
}

/// The cluster as this host last saw it.
#[derive(Debug, Default)]
pub struct Mirror {
    /// The last revision applied.
    pub revision: i64,
    /// Overlay networks by name.
    pub networks: BTreeMap<String, NetworkDoc>,
    /// Every host's endpoints by (network, sandbox id), this host's too
    /// (for `network inspect`).
    pub endpoints: BTreeMap<(String, String), EndpointDoc>,
    /// Claimed addresses (static or borrowed) by (network, address): the
    /// host that holds each.
    pub claims: BTreeMap<(String, std::net::Ipv4Addr), String>,
}

impl Cluster {
    /// A client for the configured endpoints. Connecting is lazy: a daemon
    /// starts while etcd is away, and catches up when it comes.
    pub async fn connect(config: ClusterConfig) -> Result<Cluster, AgentError> {
        let mut options = ConnectOptions::new()
            .with_connect_timeout(CONNECT_TIMEOUT)
            .with_timeout(REQUEST_TIMEOUT)
            .with_keep_alive(KEEP_ALIVE_INTERVAL, Duration::from_secs(2));
        if let Some(tls) = tls::client_options(&config)? {
            options = options.with_tls(tls);
        }
        let client = Client::connect(&config.endpoints, Some(options))
            .await
            .map_err(|err| {
                AgentError::Unavailable(format!(
                    "cannot set up the etcd client for {}: {err}",
                    config.endpoints.join(", ")
                ))
            })?;
        Ok(Cluster {
            keys: Keys::new(&config.prefix),
            config,
            client,
            lease: AtomicI64::new(0),
            dirty: AtomicBool::new(false),
            host_dirty: AtomicBool::new(false),
            mirror: Default::default(),
            stats: Default::default(),
        })
    }

    /// A handle for one request (the client is a cheap clone).
    pub(crate) fn client(&self) -> Client {
        self.client.clone()
    }

    /// This host's lease, 0 while it has none.
    pub(crate) fn lease_id(&self) -> i64 {
        self.lease.load(Ordering::Acquire)
    }

    pub(crate) fn set_lease(&self, id: i64) {
        self.lease.store(id, Ordering::Release);
    }

    /// The error for a request etcd did not answer.
    pub(crate) fn unreachable(&self, err: impl std::fmt::Display) -> AgentError {
        AgentError::Unavailable(format!(
            "the cluster store (etcd at {}) does not answer: {err}; overlay networks cannot be created, attached or removed until it is back (names already known keep answering, local networks work as before)",
            self.config.endpoints.join(", ")
        ))
    }

    /// Runs one request with [`REQUEST_TIMEOUT`], its failure in words.
    pub(crate) async fn call<T, F>(&self, request: F) -> Result<T, AgentError>
    where
        F: std::future::Future<Output = Result<T, etcd_client::Error>>,
    {
        match tokio::time::timeout(REQUEST_TIMEOUT, request).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => Err(self.failed(err).await),
            Err(_) => Err(self
                .failed(format!("no answer in {} ms", REQUEST_TIMEOUT.as_millis()))
                .await),
        }
    }

    /// The error for a failed request: what is wrong with TLS when that is
    /// the reason (the client's own error does not say), else
    /// [`Cluster::unreachable`].
    async fn failed(&self, err: impl std::fmt::Display) -> AgentError {
        if self.config.ca_file.is_some() {
            if let Some(refused) = tls::refusals(&tls::probe(&self.config).await) {
                return AgentError::Unavailable(format!(
                    "{refused}; overlay networks cannot be created, attached or removed until it works (names already known keep answering, local networks work as before)"
                ));
            }
        }
        self.unreachable(err)
    }

    /// At start, with TLS: refuses to go on when etcd refuses TLS at every
    /// endpoint that answered (a wrong CA or client certificate is this
    /// host's configuration, which waiting does not mend); an etcd that
    /// does not answer yet is waited for, as without TLS.
    async fn check_tls(&self) -> Result<(), AgentError> {
        if self.config.ca_file.is_none() {
            return Ok(());
        }
        let found = tls::probe(&self.config).await;
        let refused = tls::refusals(&found);
        if found.iter().any(|(_, p)| *p == tls::Probe::Ok) {
            if let Some(refused) = refused {
                tracing::warn!(%refused, "some etcd endpoints refuse TLS; using the others");
            }
            return Ok(());
        }
        match refused {
            Some(refused) => Err(AgentError::Unavailable(format!(
                "cannot join the cluster: {refused}"
            ))),
            None => {
                tracing::warn!(endpoints = %self.config.endpoints.join(", "), "etcd does not answer yet; TLS will be tried when it does");
                Ok(())
            }
        }
    }
}

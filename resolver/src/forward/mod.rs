//! The real [`Upstream`]: relays every question the table does not answer
//! to upstream servers, fast and without leaking (REFERENCE.md,
//! "Forwarding everything else").
//!
//! Which servers, for a sandbox:
//! 1. its own `--dns` servers, asked through sockets made inside its
//!    namespace ([`Forwarder::set_sandbox_servers`]);
//! 2. else the `dns` servers of its networks, in network order;
//! 3. else, unless every network it is on is internal, the host's
//!    resolv.conf servers, asked from the agent's namespace so that a host
//!    resolver on 127.0.0.53 works. A sandbox on internal networks only
//!    never sends a packet to them (CVE-2024-29018) and gets SERVFAIL.
//!
//! How: [`health`] orders the servers, [`race`] asks them with parallel
//! fallback, [`pool`] (UDP) and [`tcp`] carry each try. The client's
//! message is relayed byte for byte but for its id, so EDNS options and the
//! DO and CD bits reach the upstream as the client set them.
//!
//! Answers are kept in [`cache`] (keyed by the upstream set, [`cached`])
//! and questions it holds never reach [`Forwarder::forward`].
//!
//! - [`host`]: the host's servers, reloaded when resolv.conf changes.
//! - [`sockets`]: which namespace a socket is made in.
//! - [`stats`] counts what was forwarded, refused or dropped.
//! - [`ticker`]: one timer pending while questions are forwarded, so
//!   theirs cost no wake-up of the runtime.
//! - [`wire`]: ids, rcodes and questions read from bytes.

pub mod cache;
mod cached;
pub mod health;
pub mod host;
pub mod pool;
pub mod race;
pub mod sockets;
pub mod stats;
pub mod tcp;
pub mod ticker;
pub mod wire;

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use config::{ForwardingConfig, NameServer};
use dashmap::DashMap;
use foldhash::fast::RandomState;
use thiserror::Error;

use crate::response::Transport;
use crate::upstream::{
    CacheProbe, ForwardRequest, ProbeAnswer, Upstream, UpstreamError, UpstreamFuture,
};
use cache::Cache;
use cached::NetworkCounters;
use health::Health;
use host::HostServers;
use pool::UdpPool;
use race::{race, Timing};
use sockets::{HostSockets, SocketFactory};
use stats::{ForwardStats, StatsSnapshot};
use ticker::Ticker;

/// Why one try at one server gave nothing.
#[derive(Debug, Error)]
pub enum AttemptError {
    /// The socket failed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// No socket of the server's family in that namespace.
    #[error("no socket of this address family")]
    NoSocket,
    /// The kernel would not send the question.
    #[error("the question could not be sent")]
    SendFailed,
    /// The client's question could not be relayed.
    #[error("malformed question")]
    Malformed,
    /// A TCP answer did not match the question.
    #[error("answer does not match the question")]
    Mismatch,
}

/// Sockets of one namespace: a UDP pool and a factory for TCP.
struct Route {
    pool: UdpPool,
    factory: Arc<dyn SocketFactory>,
}

impl Route {
    fn new(factory: Arc<dyn SocketFactory>, stats: &Arc<ForwardStats>) -> io::Result<Route> {
        let pool = UdpPool::new(factory.as_ref(), stats)?;
        Ok(Route { pool, factory })
    }

    async fn exchange(
        &self,
        server: SocketAddr,
        request: &ForwardRequest,
    ) -> Result<Vec<u8>, AttemptError> {
        let query = &request.wire;
        match request.transport {
            Transport::Udp => {
                let sending = pool::Sending {
                    socket_hint: request.socket_hint,
                    at_once: request.alone,
                };
                self.pool.exchange(server, query, sending).await
            }
            Transport::Tcp => tcp::exchange(self.factory.as_ref(), server, query).await,
        }
    }
}

struct SandboxRoute {
    /// Given anew each time servers are set: the cache's scope.
    number: u64,
    servers: Vec<SocketAddr>,
    route: Arc<Route>,
}

/// The forwarder shared by every sandbox's server.
pub struct Forwarder {
    host: Arc<HostServers>,
    agent: Arc<Route>,
    sandboxes: DashMap<Box<str>, SandboxRoute, RandomState>,
    /// At least the number of entries in `sandboxes` (raised before an
    /// insert, lowered after a removal): while it is 0, as it is on a host
    /// where no sandbox has `--dns`, questions skip the lookup by their
    /// sandbox's 64-byte id (issue #16).
    sandbox_routes: AtomicUsize,
    health: Health,
    timing: Timing,
    stats: Arc<ForwardStats>,
    cache: Option<Cache>,
    network_counters: DashMap<Box<str>, NetworkCounters, RandomState>,
    next_route: AtomicU64,
    ticker: Arc<Ticker>,
    ticker_task: tokio::task::JoinHandle<()>,
    /// The runtime the sockets' reader tasks run on, so that sandboxes can
    /// be given servers from any thread (the agent's control path).
    runtime: tokio::runtime::Handle,
}

impl Forwarder {
    /// A forwarder to `host` servers (and any others set later), with the
    /// timings of `config`. Makes the agent namespace's sockets now, so it
    /// must run inside a tokio runtime in the agent's namespace.
    pub fn new(host: Arc<HostServers>, config: &ForwardingConfig) -> io::Result<Forwarder> {
        let stats = Arc::new(ForwardStats::default());
        let (ticker, ticker_task) = Ticker::start();
        Ok(Forwarder {
            agent: Arc::new(Route::new(Arc::new(HostSockets), &stats)?),
            host,
            sandboxes: DashMap::default(),
            sandbox_routes: AtomicUsize::new(0),
            health: Health::default(),
            timing: Timing {
                fallback_delay: Duration::from_millis(config.fallback_delay_ms),
                total: Duration::from_millis(config.total_timeout_ms),
            },
            stats,
            cache: Cache::new(config.cache_size),
            network_counters: DashMap::default(),
            next_route: AtomicU64::new(0),
            ticker,
            ticker_task,
            runtime: tokio::runtime::Handle::current(),
        })
    }

    /// Gives a sandbox servers of its own (`--dns`), asked through sockets
    /// `factory` makes in the sandbox's namespace. The UDP sockets are made
    /// now, at attach time, not per query. Callable from any thread.
    pub fn set_sandbox_servers(
        &self,
        sandbox_id: &str,
        servers: &[NameServer],
        factory: Arc<dyn SocketFactory>,
    ) -> io::Result<()> {
        let servers: Vec<SocketAddr> = servers
            .iter()
            .filter(|s| !s.is_embedded_resolver())
            .map(|s| s.0)
            .collect();
        let _runtime = self.runtime.enter();
        let route = Arc::new(Route::new(factory, &self.stats)?);
        let number = self.next_route.fetch_add(1, Ordering::Relaxed);
        let own = SandboxRoute {
            number,
            servers,
            route,
        };
        self.sandbox_routes.fetch_add(1, Ordering::SeqCst);
        if self.sandboxes.insert(sandbox_id.into(), own).is_some() {
            self.sandbox_routes.fetch_sub(1, Ordering::SeqCst);
        }
        Ok(())
    }

    /// Forgets a sandbox's own servers and closes their sockets.
    pub fn remove_sandbox(&self, sandbox_id: &str) {
        if self.sandboxes.remove(sandbox_id).is_some() {
            self.sandbox_routes.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// The route of a sandbox with servers of its own, if it has one.
    fn own_route(
        &self,
        sandbox_id: &str,
    ) -> Option<dashmap::mapref::one::Ref<'_, Box<str>, SandboxRoute>> {
        if self.sandbox_routes.load(Ordering::SeqCst) == 0 {
            return None;
        }
        self.sandboxes.get(sandbox_id)
    }

    /// The counters.
    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    /// Counts a question refused over the in-flight bound.
    pub fn count_refused(&self, sandbox_id: &str) {
        self.stats.refused(sandbox_id);
    }

    /// The servers for this question and the namespace to ask them from,
    /// or `None` when none may be asked.
    fn choose(&self, request: &ForwardRequest) -> Option<(Vec<SocketAddr>, Arc<Route>)> {
        if let Some(own) = self.own_route(&request.sandbox_id) {
            if !own.servers.is_empty() {
                return Some((own.servers.clone(), Arc::clone(&own.route)));
            }
        }
        let zones = &request.view.zones;
        let mut servers: Vec<SocketAddr> = Vec::new();
        for server in zones.iter().flat_map(|z| &z.network.dns) {
            if !server.is_embedded_resolver() && !servers.contains(&server.0) {
                servers.push(server.0);
            }
        }
        if servers.is_empty() && !zones.iter().all(|z| z.network.internal) {
            servers.extend(self.host.servers().iter());
        }
        (!servers.is_empty()).then(|| (servers, Arc::clone(&self.agent)))
    }

    async fn relay(&self, request: &ForwardRequest) -> Result<Vec<u8>, UpstreamError> {
        // The key before the servers: a host set read after it is never
        // older than the key says (see `HostServers::generation`).
        let key = self.cache_key(request);
        let Some((servers, route)) = self.choose(request) else {
            ForwardStats::bump(&self.stats.no_servers);
            return Err(UpstreamError::NoServers);
        };
        ForwardStats::bump(&self.stats.forwarded);
        self.ticker.question();
        let started = std::time::Instant::now();
        let plan = self.health.plan(&servers, started);
        let attempt = |server| route.exchange(server, request);
        match race(plan, self.timing, started, &self.health, attempt).await {
            Some(answer) => {
                let answered = std::time::Instant::now();
                self.keep(key.as_ref(), &answer, answered);
                ForwardStats::bump(&self.stats.answered);
                let micros = answered.duration_since(started).as_micros() as u64;
                self.stats
                    .answer_micros
                    .fetch_add(micros, Ordering::Relaxed);
                Ok(answer)
            }
            None => {
                ForwardStats::bump(&self.stats.failed);
                Err(UpstreamError::Failed(format!("no answer from {servers:?}")))
            }
        }
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.ticker_task.abort();
    }
}

impl Upstream for Forwarder {
    fn forward<'a>(&'a self, request: &'a ForwardRequest) -> UpstreamFuture<'a> {
        Box::pin(self.relay(request))
    }

    fn cached(&self, request: &ForwardRequest) -> Option<Vec<u8>> {
        self.lookup(request)
    }

    fn cached_plain(&self, probe: &CacheProbe<'_>) -> ProbeAnswer {
        self.lookup_plain(probe)
    }

    fn refused(&self, request: &ForwardRequest) {
        self.count_refused(&request.sandbox_id);
    }
}

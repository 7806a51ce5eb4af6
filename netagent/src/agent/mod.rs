//! The agent: what `docker network` and `docker run --network` do to the
//! kernel, plus a resolver in every sandbox on a user-defined network
//! (DESIGN.md, life of an attach).
//!
//! One [`Agent`] owns the networks, the sandboxes and their endpoints; its
//! writes are serialised by one async lock (the control path), while the
//! resolver reads the endpoint table without any lock of the agent's.
//!
//! - [`network`]: bridge networks, the default `bridge`, removal, prune.
//! - [`sandbox`]: making, adopting and removing sandboxes, network modes.
//! - [`endpoint`]: attach and detach with their undo (connect and
//!   disconnect are the same steps).
//! - [`addressing`]: an endpoint's addresses and interface name.
//! - [`inject`]: binding the resolver inside a sandbox, the redirect, and
//!   the sandbox's resolv.conf.
//! - [`command`]: the state of the command `run` started in a sandbox.
//! - [`etc_hosts`]: the sandbox's /etc/hostname and /etc/hosts.
//! - [`restore`]: picking the state up again after a restart.
//! - [`intent`]: notes written before a creation's first kernel step, so
//!   a restart after a crash removes what it left.
//! - [`way_out`]: which network gives a sandbox its default route.
//! - [`watch`]: noticing namespaces deleted behind the agent's back.
//! - [`lookup_names`]: names, ids and id prefixes, as Docker takes them.
//! - [`lookup`]: resolving a name through a sandbox's real resolver.
//! - [`container`]: containers real runtimes attach through the CNI
//!   plugin or the OCI hook, released, checked and swept by container id.
//! - [`dataplane`]: each sandbox's way out, its published ports, and the
//!   host firewall made again from the state after every change.
//! - [`dns_only`]: the networks of chained CNI plugins, names only.
//! - [`dns_thread`]: the thread and runtime that serve DNS, apart from the
//!   agent's own, so its blocking work never delays an answer.
//! - [`dotted`]: the rule for dots in names (no name ends in `.NETWORK`).
//! - [`exits`]: releasing a container when its process exits.
//! - `addresses`: an endpoint's addresses, static or allocated.
//! - [`ipam`]: the addresses of a network's subnets, and the pools new
//!   networks' subnets come from.
//! - [`cluster`]: overlay networks across hosts, their state in etcd
//!   (only with `[cluster]` in the config).
//! - [`faults`]: failures on purpose, for the namespace tests (debug
//!   builds only).
//! - [`store`]: what survives a restart: one JSON file per record, written
//!   atomically.
//!
//! The agent uses [`crate::kernel`] for every change to the kernel and
//! nothing above it: the daemon's API drives it.

mod addresses;
pub mod cluster;
mod command;
mod container;
mod dataplane;
mod dns_only;
mod dns_thread;
mod dotted;
pub(crate) mod endpoint;
pub mod etc_hosts;
mod exits;
mod faults;
mod inject;
mod intent;
pub(crate) mod ipam;
pub(crate) mod lookup;
mod lookup_names;
mod network;
mod restore;
mod sandbox;
pub(crate) mod store;
mod watch;
mod way_out;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use config::{ConfigErrors, DaemonConfig};
use resolver::forward::host::HostServers;
use resolver::forward::Forwarder;
use resolver::{EndpointTable, ResolverCore, SandboxServer};
use thiserror::Error;
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

pub use command::running_command;
pub use container::ContainerAttachment;

use crate::agent::ipam::{IpamError, SubnetAddresses};
use crate::agent::store::{State, Store};
use crate::kernel::firewall::Firewall;
use crate::kernel::link::{LinkError, Links};
use crate::kernel::netns::NetnsWorker;

/// Why a request to the agent failed. Each names the offending value.
#[derive(Debug, Error)]
pub enum AgentError {
    /// No such network or sandbox.
    #[error("no {kind} named {name:?}")]
    NotFound {
        /// `network` or `sandbox`.
        kind: &'static str,
        /// The name asked for.
        name: String,
    },
    /// Something the request names does not exist (a namespace file or
    /// process to adopt), said in words.
    #[error("{0}")]
    Absent(String),
    /// The request clashes with what exists.
    #[error("{0}")]
    Conflict(String),
    /// A value in the request cannot be what it claims to be (a DNS name
    /// or record type that does not parse, ...).
    #[error("{0}")]
    BadInput(String),
    /// The request is malformed: every problem, on one line.
    #[error("{}", .0.errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(#[from] ConfigErrors),
    /// No address or subnet to be had.
    #[error(transparent)]
    Ipam(#[from] IpamError),
    /// The endpoint table refused a write.
    #[error(transparent)]
    Table(#[from] resolver::table::TableError),
    /// The kernel refused a link step.
    #[error(transparent)]
    Link(#[from] LinkError),
    /// Several steps failed (a removal, or a failure and its undo): every
    /// one is reported, the first is the cause.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Several(Vec<AgentError>),
    /// A service the request needs does not answer (the cluster store),
    /// said in words with what still works.
    #[error("{0}")]
    Unavailable(String),
    /// A system call failed.
    #[error("{step}: {source}")]
    Io {
        /// What was being done.
        step: String,
        /// Why it failed.
        source: std::io::Error,
    },
}

impl AgentError {
    /// An I/O failure during `step`.
    pub fn io(step: impl Into<String>) -> impl FnOnce(std::io::Error) -> AgentError {
        let step = step.into();
        move |source| AgentError::Io { step, source }
    }

    /// `Ok` when nothing failed, the one error when one did, else
    /// [`AgentError::Several`] with each.
    fn from_steps(mut errors: Vec<AgentError>) -> Result<(), AgentError> {
        match errors.len() {
            0 => Ok(()),
            1 => Err(errors.remove(0)),
            _ => Err(AgentError::Several(errors)),
        }
    }

    fn not_found(kind: &'static str, name: &str) -> AgentError {
        AgentError::NotFound {
            kind,
            name: name.to_owned(),
        }
    }
}

/// A sandbox's running resolver.
struct LiveResolver {
    /// Held, not read: dropping it stops the sandbox's server.
    _server: SandboxServer,
    guard: Option<JoinHandle<()>>,
    port: u16,
}

impl Drop for LiveResolver {
    fn drop(&mut self) {
        if let Some(guard) = &self.guard {
            guard.abort();
        }
    }
}

/// What the control path changes, behind the agent's lock.
#[derive(Default)]
struct Inner {
    state: State,
    /// Network name -> its subnets' addresses.
    ipam: BTreeMap<String, Vec<SubnetAddresses>>,
    /// Sandbox name -> its running resolver.
    resolvers: BTreeMap<String, LiveResolver>,
    /// Sandbox name -> the host ports it holds for its published ports.
    ports: BTreeMap<String, Vec<crate::kernel::ports::Reservation>>,
}

/// Counters for the metrics endpoint.
#[derive(Debug, Default)]
pub struct AgentMetrics {
    /// Endpoints attached.
    pub attaches: AtomicU64,
    /// Total time spent attaching, in microseconds.
    pub attach_micros: AtomicU64,
    /// Endpoints detached.
    pub detaches: AtomicU64,
    /// Sandboxes whose namespace vanished behind the agent's back.
    pub vanished: AtomicU64,
    /// Redirects restored after something removed them.
    pub redirects_restored: Arc<AtomicU64>,
}

impl Agent {
    /// Times the host firewall was restored after something removed it.
    pub fn firewall_restored(&self) -> u64 {
        self.firewall.restored.load(Ordering::Relaxed)
    }
}

impl AgentMetrics {
    fn add(counter: &AtomicU64, value: u64) {
        counter.fetch_add(value, Ordering::Relaxed);
    }
}

/// The agent.
pub struct Agent {
    config: DaemonConfig,
    worker: NetnsWorker,
    /// A second namespace worker, only for the forwarder's sockets made
    /// inside sandboxes while it serves (a TCP question to a sandbox's own
    /// `--dns` server): on the agent's worker it would wait behind the
    /// agent's jobs, some of them milliseconds long, with the DNS thread
    /// blocked.
    socket_worker: NetnsWorker,
    links: Links,
    table: Arc<EndpointTable>,
    core: Arc<ResolverCore>,
    forwarder: Arc<Forwarder>,
    store: Store,
    /// The host firewall (masquerade, published ports, ICC, isolation).
    firewall: Arc<Firewall>,
    /// Creations in progress, for the sweep after a crash.
    intents: intent::Intents,
    /// Every sandbox's nftables events, for the redirects' guards
    /// (redirect mode only).
    nft_events: Option<crate::kernel::redirect::events::NftEvents>,
    /// Where the resolvers run, apart from the agent's runtime.
    dns: dns_thread::DnsRuntime,
    inner: Mutex<Inner>,
    /// Processes of adopted containers, to watch for their exit.
    exits: exits::ExitQueue,
    /// Counters for the metrics endpoint.
    pub metrics: AgentMetrics,
    /// The cluster this host is in, with `[cluster]` in the config.
    cluster: std::sync::OnceLock<Arc<cluster::Cluster>>,
}

impl Agent {
    /// Starts an agent in the calling thread's namespace (its home) on the
    /// current tokio runtime: reloads the state, re-injects resolvers, and
    /// makes the default `bridge` network if it is missing.
    pub async fn start(config: DaemonConfig) -> Result<Arc<Agent>, AgentError> {
        for dir in [
            &config.paths.netns_dir,
            &config.paths.resolv_dir,
            &config.paths.state_dir,
        ] {
            std::fs::create_dir_all(dir)
                .map_err(AgentError::io(format!("create {}", dir.display())))?;
        }
        crate::kernel::netns::make_shared_mount(&config.paths.netns_dir).map_err(
            AgentError::io(format!(
                "make {} a shared mount",
                config.paths.netns_dir.display()
            )),
        )?;
        let worker = NetnsWorker::start().map_err(AgentError::io("start the namespace worker"))?;
        let socket_worker =
            NetnsWorker::start().map_err(AgentError::io("start the socket worker"))?;
        let links = Links::here()?;
        let table = Arc::new(EndpointTable::new());
        let dns =
            dns_thread::DnsRuntime::start().map_err(AgentError::io("start the DNS thread"))?;
        let forwarder = {
            // The forwarder's sockets and tasks, and the watch, are the
            // DNS thread's.
            let _dns = dns.handle().enter();
            let host_servers = HostServers::from_file(&config.paths.host_resolv_conf);
            if let Err(err) = host_servers.watch() {
                tracing::warn!(%err, "cannot watch the host's resolv.conf; changes need a restart");
            }
            Arc::new(
                Forwarder::new(host_servers, &config.forwarding)
                    .map_err(AgentError::io("open upstream sockets"))?,
            )
        };
        let core = Arc::new(ResolverCore::new(
            Arc::clone(&table),
            &config,
            forwarder.clone(),
        ));
        let store = Store::open(&config.paths.state_dir)
            .map_err(AgentError::io("open the state directory"))?;
        let intents = intent::Intents::open(&config.paths.state_dir)
            .map_err(AgentError::io("open the intents directory"))?;
        let nft_events = match config.agent.dns_mode {
            config::DnsMode::Redirect => {
                Some(crate::kernel::redirect::events::NftEvents::start().map_err(
                    AgentError::io("subscribe to the sandboxes' nftables events"),
                )?)
            }
            config::DnsMode::Direct => None,
        };
        let (exits, exit_queue) = tokio::sync::mpsc::unbounded_channel();
        let agent = Arc::new(Agent {
            config,
            worker,
            socket_worker,
            links,
            table,
            core,
            forwarder,
            store,
            firewall: Arc::new(Firewall::default()),
            intents,
            nft_events,
            dns,
            inner: Mutex::new(Inner::default()),
            exits,
            metrics: AgentMetrics::default(),
            cluster: std::sync::OnceLock::new(),
        });
        cluster::join(&agent).await?;
        exits::spawn(Arc::clone(&agent), exit_queue);
        agent.restore().await?;
        agent.ensure_default_bridge().await?;
        agent.sync_dataplane(&*agent.inner.lock().await).await?;
        let firewall = Arc::clone(&agent.firewall);
        tokio::spawn(async move {
            if let Err(err) = crate::kernel::firewall::guard(firewall).await {
                tracing::error!(%err, "cannot watch the host's nftables ruleset; a flushed firewall stays flushed");
            }
        });
        watch::spawn(Arc::clone(&agent))
            .map_err(AgentError::io("watch the namespace directory"))?;
        cluster::follow(&agent);
        Ok(agent)
    }

    /// The live endpoint table.
    pub fn table(&self) -> &Arc<EndpointTable> {
        &self.table
    }

    /// Questions by type and result.
    pub fn query_stats(&self) -> Vec<(&'static str, &'static str, u64)> {
        self.core.stats.snapshot()
    }

    /// Client-caused events by kind (malformed EDNS, TCP clients over a
    /// bound), each counted though its log lines are rate-limited.
    pub fn event_counts(&self) -> Vec<(&'static str, u64)> {
        self.core.events.snapshot()
    }

    /// The forwarder's counters.
    pub fn forward_stats(&self) -> resolver::forward::stats::StatsSnapshot {
        self.forwarder.stats()
    }

    /// A copy of the persistent state.
    pub async fn state(&self) -> State {
        self.inner.lock().await.state.clone()
    }

    /// Writes every record that changed.
    fn persist(&self, inner: &Inner) -> Result<(), AgentError> {
        self.store
            .save(&inner.state)
            .map_err(AgentError::io("save the state"))
    }

    /// Writes the records of the sandboxes `names` only: what changes on
    /// the attach path, where comparing every record would cost time in
    /// proportion to the number of sandboxes.
    fn persist_sandboxes(&self, inner: &Inner, names: &[&str]) -> Result<(), AgentError> {
        self.store
            .save_sandboxes(&inner.state, names)
            .map_err(AgentError::io("save the state"))
    }

    /// Removes every sandbox and user-defined network, then the default
    /// bridge: what `netagent demo` and the tests do at the end.
    pub async fn teardown(&self) -> Vec<AgentError> {
        let mut errors = Vec::new();
        let names: Vec<String> = self
            .inner
            .lock()
            .await
            .state
            .sandboxes
            .keys()
            .cloned()
            .collect();
        for name in names {
            if let Err(err) = self.remove_sandbox(&name, true).await {
                errors.push(err);
            }
        }
        let networks: Vec<String> = self
            .inner
            .lock()
            .await
            .state
            .networks
            .keys()
            .cloned()
            .collect();
        for name in networks {
            if let Err(err) = self.remove_network_any(&name).await {
                errors.push(err);
            }
        }
        errors
    }
}

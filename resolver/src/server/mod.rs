//! Serving a sandbox's resolver: one [`SandboxServer`] per sandbox, on a UDP
//! socket and a TCP listener handed in already bound (DESIGN.md, seam 3).
//!
//! A query to 127.0.0.11 arrives from 127.0.0.x over `lo`, so the packet
//! cannot say which sandbox sent it; the socket does. Each server therefore
//! knows its sandbox's id and asks the [`EndpointTable`] for that sandbox's
//! view on every query.
//!
//! - [`udp`]: one task per socket; forwarded questions get a task each,
//!   bounded per sandbox and overall, REFUSED at once past the bound;
//!   queries are received and replies sent by the batch
//!   ([`crate::udp_io`]), equal-sized replies to one client in one GSO
//!   message.
//! - [`tcp`]: an accept task owning one task per connection (so dropping
//!   the server ends them all), several queries per connection, an idle
//!   timeout, a malformed frame closing only its own connection (aardvark
//!   CVE-2024-8418, CVE-2026-35406), and bounds on all a client can make
//!   the agent hold (issue #14): connections per sandbox and overall,
//!   unanswered queries per connection, small socket buffers and a write
//!   timeout.
//!
//! The server never binds or enters a namespace: whoever calls
//! [`SandboxServer::start`] binds the sockets where they belong.

mod tcp;
mod udp;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::events::{Event, EventCounts, EventLog};
use crate::handler::{forwarded_reply, refused_reply, AnswerSettings, HandlerContext};
use crate::qname::LocalDomain;
use crate::stats::QueryStats;
use crate::table::{EndpointTable, SandboxView};
use crate::udp_io::socket::ReadOnlyUdp;
use crate::upstream::{ForwardRequest, Upstream};

/// What every sandbox's server shares: the table, the settings, the
/// upstream and the overall bound on forwarded queries.
pub struct ResolverCore {
    /// The live endpoint table.
    pub table: Arc<EndpointTable>,
    /// TTL and EDNS size.
    pub settings: AnswerSettings,
    /// The sandboxes' own domain (`[resolver] domain`).
    pub domain: LocalDomain,
    /// How long an idle TCP connection is kept.
    pub tcp_idle_timeout: Duration,
    /// Open TCP connections allowed per sandbox.
    pub max_tcp_connections: usize,
    /// How long writing one TCP answer may take before the connection is
    /// closed.
    pub tcp_write_timeout: Duration,
    /// Queries read from one TCP connection and not yet answered.
    pub max_tcp_unanswered: usize,
    /// Forwarded queries allowed in flight per sandbox.
    pub max_in_flight_per_sandbox: usize,
    /// Where unknown names go.
    pub upstream: Arc<dyn Upstream>,
    /// Questions by type and result.
    pub stats: QueryStats,
    /// Client-caused events, over all sandboxes.
    pub events: Arc<EventCounts>,
    /// Forwarded queries allowed in flight over all sandboxes.
    forward_slots: Arc<Semaphore>,
    /// TCP connections allowed open over all sandboxes.
    tcp_slots: Arc<Semaphore>,
}

impl ResolverCore {
    /// A core serving `table` with the daemon's settings.
    pub fn new(
        table: Arc<EndpointTable>,
        config: &config::DaemonConfig,
        upstream: Arc<dyn Upstream>,
    ) -> Self {
        ResolverCore {
            table,
            settings: AnswerSettings::from(&config.resolver),
            domain: LocalDomain::of(&config.resolver),
            tcp_idle_timeout: Duration::from_millis(config.resolver.tcp_idle_timeout_ms),
            max_tcp_connections: config.resolver.max_tcp_connections,
            tcp_write_timeout: Duration::from_millis(config.resolver.tcp_write_timeout_ms),
            max_tcp_unanswered: config.resolver.max_tcp_unanswered,
            max_in_flight_per_sandbox: config.forwarding.max_in_flight_per_sandbox,
            upstream,
            stats: QueryStats::default(),
            events: Arc::default(),
            forward_slots: Arc::new(Semaphore::new(config.forwarding.max_in_flight)),
            tcp_slots: Arc::new(Semaphore::new(config.resolver.max_tcp_connections_total)),
        }
    }
}

/// The sockets a sandbox's resolver serves on, bound by the caller.
#[derive(Debug)]
pub struct SandboxSockets {
    /// UDP socket.
    pub udp: std::net::UdpSocket,
    /// TCP listener, normally on the same address and port.
    pub tcp: std::net::TcpListener,
}

/// What one sandbox's tasks share.
struct SandboxContext {
    core: Arc<ResolverCore>,
    sandbox_id: Box<str>,
    forward_slots: Arc<Semaphore>,
    events: EventLog,
}

/// Both permits a forwarded query holds while in flight.
struct ForwardPermits {
    _sandbox: OwnedSemaphorePermit,
    _overall: OwnedSemaphorePermit,
}

impl SandboxContext {
    /// What the message handler needs, borrowed from here, with the
    /// sandbox's view read from the table for each message.
    fn handler(&self) -> HandlerContext<'_> {
        self.handler_with(None)
    }

    /// [`Self::handler`] with the view the serving loop keeps.
    fn handler_with<'a>(&'a self, known_view: Option<&'a Arc<SandboxView>>) -> HandlerContext<'a> {
        HandlerContext {
            table: &self.core.table,
            sandbox_id: &self.sandbox_id,
            settings: self.core.settings,
            domain: &self.core.domain,
            stats: &self.core.stats,
            events: &self.events,
            upstream: Some(self.core.upstream.as_ref()),
            known_view,
        }
    }

    /// Counts and (rate-limited) logs a client-caused event.
    fn note(&self, event: Event) {
        self.events.note(event);
    }

    /// Takes a slot for a forwarded query, or `None` when this sandbox or
    /// the whole agent is at its bound.
    fn try_forward_slot(&self) -> Option<ForwardPermits> {
        let sandbox = Arc::clone(&self.forward_slots).try_acquire_owned().ok()?;
        let overall = Arc::clone(&self.core.forward_slots)
            .try_acquire_owned()
            .ok()?;
        Some(ForwardPermits {
            _sandbox: sandbox,
            _overall: overall,
        })
    }

    /// Questions of this sandbox being forwarded now, over UDP and TCP.
    fn forwards_in_flight(&self) -> usize {
        self.core
            .max_in_flight_per_sandbox
            .saturating_sub(self.forward_slots.available_permits())
    }

    /// Relays a question and returns the client's reply bytes.
    async fn forward(&self, request: &ForwardRequest) -> Vec<u8> {
        let upstream = self.core.upstream.forward(request).await;
        let bytes = match upstream {
            Ok(bytes) => Some(bytes),
            Err(err) => {
                tracing::debug!(%err, "forwarding failed");
                None
            }
        };
        forwarded_reply(request, bytes, self.core.settings)
    }

    /// The client's reply from the forwarding cache, if it holds one:
    /// answered here, on the serving task, with no task, no permit and no
    /// packet upstream.
    fn cached(&self, request: &ForwardRequest) -> Option<Vec<u8>> {
        if request.cache_checked {
            return None;
        }
        let bytes = self.core.upstream.cached(request)?;
        Some(forwarded_reply(request, Some(bytes), self.core.settings))
    }

    fn refuse(&self, request: &ForwardRequest) -> Vec<u8> {
        self.core.upstream.refused(request);
        refused_reply(request, self.core.settings)
    }
}

/// A running resolver for one sandbox. Dropping it stops every task it
/// started and closes its sockets.
pub struct SandboxServer {
    udp_addr: SocketAddr,
    tcp_addr: SocketAddr,
    tasks: [JoinHandle<()>; 2],
}

impl SandboxServer {
    /// Starts serving `sandbox_id` on `sockets`. Must be called inside a
    /// tokio runtime; the tasks run on it.
    pub fn start(
        core: Arc<ResolverCore>,
        sandbox_id: &str,
        sockets: SandboxSockets,
    ) -> io::Result<SandboxServer> {
        sockets.tcp.set_nonblocking(true)?;
        tcp::limit_buffers(&sockets.tcp)?;
        let udp = ReadOnlyUdp::new(sockets.udp)?;
        let tcp = tokio::net::TcpListener::from_std(sockets.tcp)?;
        let (udp_addr, tcp_addr) = (udp.local_addr()?, tcp.local_addr()?);
        let context = Arc::new(SandboxContext {
            forward_slots: Arc::new(Semaphore::new(core.max_in_flight_per_sandbox)),
            events: EventLog::new(Arc::clone(&core.events), sandbox_id),
            core,
            sandbox_id: sandbox_id.into(),
        });
        let span = tracing::info_span!("sandbox", id = %&sandbox_id[..sandbox_id.len().min(12)]);
        let tasks = [
            tokio::spawn(udp::serve(Arc::clone(&context), Arc::new(udp))),
            tokio::spawn(tcp::serve(context, tcp).instrument(span)),
        ];
        Ok(SandboxServer {
            udp_addr,
            tcp_addr,
            tasks,
        })
    }

    /// Where the UDP socket is bound.
    pub fn udp_addr(&self) -> SocketAddr {
        self.udp_addr
    }

    /// Where the TCP listener is bound.
    pub fn tcp_addr(&self) -> SocketAddr {
        self.tcp_addr
    }
}

impl Drop for SandboxServer {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests;

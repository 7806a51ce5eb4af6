//! The seam to upstream servers (DESIGN.md, seam 4): every question the
//! table does not answer is handed to an [`Upstream`].
//!
//! Implementations: [`crate::forward::Forwarder`], the real one;
//! [`ServFailUpstream`], for `dns serve` without upstreams; and
//! [`FixedUpstream`], an in-process fake that answers every question with
//! one address and counts what it was asked, for tests.

use std::future::Future;
use std::net::Ipv4Addr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, Record};
use thiserror::Error;

use crate::response::Transport;
use crate::table::SandboxView;

/// A future an upstream returns; boxed so that `Upstream` can be a trait
/// object shared by every sandbox's server.
pub type UpstreamFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Vec<u8>, UpstreamError>> + Send + 'a>>;

/// One question to relay.
#[derive(Debug)]
pub struct ForwardRequest {
    /// The sandbox that asked (its 64-hex id): an upstream may pick
    /// per-sandbox servers and bounds by it.
    pub sandbox_id: Arc<str>,
    /// The client's query as it was decoded.
    pub query: Message,
    /// The client's query as it came, relayed byte for byte but for the id
    /// (EDNS options, DO and CD kept).
    pub wire: Vec<u8>,
    /// What the sandbox sees: its networks decide its upstream servers.
    pub view: Arc<SandboxView>,
    /// How the client asked; a TCP client's question goes upstream over TCP.
    pub transport: Transport,
    /// The largest reply the client takes.
    pub reply_limit: usize,
    /// Which of the pool's sockets to ask from (modulo their number):
    /// random, and the same for every question of one received batch, so
    /// that their answers come back together on one socket and are read
    /// in one `recvmmsg` after one wake-up. A spoofer's odds per forged
    /// datagram do not change: the socket was and stays unknown to him.
    /// Drawn by the UDP serving loop, once per batch; 0 until then (a TCP
    /// question is relayed over TCP and never uses it).
    pub socket_hint: u32,
    /// The cache was asked already (by [`Upstream::cached_plain`]) and had
    /// nothing: the serving task does not ask again.
    pub cache_checked: bool,
    /// The only question its received batch forwarded (set by the UDP
    /// serving loop): sent at once by the task that forwards it, rather
    /// than queued for the pool's sender task, which exists to send a
    /// batch's questions together in one `sendmmsg`. At a few thousand
    /// questions a second every batch is one question, and the hand-off
    /// was a task wake-up and poll of its own (issue #16).
    pub alone: bool,
}

/// A plain question as a cache is asked it before any [`ForwardRequest`]
/// is built (`crate::handler`'s plain path): a cached answer then costs no
/// decode of the whole message and no allocation but the reply's.
#[derive(Debug, Clone, Copy)]
pub struct CacheProbe<'a> {
    /// What the sandbox sees (its id and networks pick the upstream set).
    pub view: &'a SandboxView,
    /// The question section's bytes: name, type, class.
    pub question: &'a [u8],
    /// The client's id, put into the reply.
    pub id: u16,
    /// RD, from the header.
    pub recursion_desired: bool,
    /// CD, from the header.
    pub checking_disabled: bool,
    /// DO, from the OPT record.
    pub dnssec_ok: bool,
    /// Whether the query had an OPT record.
    pub edns: bool,
    /// The largest reply the client takes.
    pub limit: usize,
}

/// What a cache said to a [`CacheProbe`].
#[derive(Debug, PartialEq, Eq)]
pub enum ProbeAnswer {
    /// The cached reply, with the client's id and question.
    Hit(Vec<u8>),
    /// Nothing cached (counted as a miss).
    Miss,
    /// Not asked: no cache, no upstream set, or an entry larger than the
    /// client takes (the general path cuts it to fit); nothing counted.
    Unasked,
}

/// Why an upstream gave no answer; the client gets SERVFAIL.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UpstreamError {
    /// No server is configured for this sandbox (or forwarding is off).
    #[error("no upstream server for this sandbox")]
    NoServers,
    /// Every server failed or timed out.
    #[error("every upstream server failed: {0}")]
    Failed(String),
}

/// Relays questions upstream.
pub trait Upstream: Send + Sync + 'static {
    /// Sends `request` upstream and returns the reply's wire bytes. The
    /// caller puts the client's id into them.
    fn forward<'a>(&'a self, request: &'a ForwardRequest) -> UpstreamFuture<'a>;

    /// The upstream's answer to `request` from a cache, without waiting,
    /// if it has one (the caller puts the client's id in; see
    /// [`crate::forward::cache`]). Called on the serving task before any
    /// forwarding slot is taken.
    fn cached(&self, _request: &ForwardRequest) -> Option<Vec<u8>> {
        None
    }

    /// [`Self::cached`] for a plain question, before a request is built.
    fn cached_plain(&self, _probe: &CacheProbe<'_>) -> ProbeAnswer {
        ProbeAnswer::Unasked
    }

    /// Told when `request` was refused because too many questions were in
    /// flight, so the upstream can count it.
    fn refused(&self, _request: &ForwardRequest) {}
}

/// Answers nothing: every forwarded question gets SERVFAIL.
#[derive(Debug, Default, Clone, Copy)]
pub struct ServFailUpstream;

impl Upstream for ServFailUpstream {
    fn forward<'a>(&'a self, _request: &'a ForwardRequest) -> UpstreamFuture<'a> {
        Box::pin(async { Err(UpstreamError::NoServers) })
    }
}

/// A fake upstream for tests: answers every question with one A record,
/// NOERROR, and counts the questions it was given.
#[derive(Debug)]
pub struct FixedUpstream {
    address: Ipv4Addr,
    asked: AtomicUsize,
}

impl FixedUpstream {
    /// A fake that answers `address` to everything.
    pub fn new(address: Ipv4Addr) -> Self {
        FixedUpstream {
            address,
            asked: AtomicUsize::new(0),
        }
    }

    /// How many questions reached it.
    pub fn asked(&self) -> usize {
        self.asked.load(Ordering::SeqCst)
    }
}

impl Upstream for FixedUpstream {
    fn forward<'a>(&'a self, request: &'a ForwardRequest) -> UpstreamFuture<'a> {
        self.asked.fetch_add(1, Ordering::SeqCst);
        let mut reply = Message::new(
            request.query.metadata.id,
            MessageType::Response,
            request.query.metadata.op_code,
        );
        reply.metadata.response_code = ResponseCode::NoError;
        reply.metadata.recursion_available = true;
        reply.queries.clone_from(&request.query.queries);
        if let Some(query) = request.query.queries.first() {
            reply.answers.push(Record::from_rdata(
                query.name().clone(),
                60,
                RData::A(A(self.address)),
            ));
        }
        let bytes = reply
            .to_vec()
            .map_err(|e| UpstreamError::Failed(e.to_string()));
        Box::pin(async move { bytes })
    }
}

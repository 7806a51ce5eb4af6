//! Reused UDP sockets to upstream servers, with answers matched to the
//! questions in flight.
//!
//! Docker and aardvark-dns open a new socket for every forwarded query; a
//! pool of sockets on kernel-chosen random ports is cheaper, and each query
//! still gets a random id. A datagram is accepted only if it is a response
//! whose id, source address and port, and question all match a query in
//! flight on that socket (RFC 5452 section 9.1); anything else is dropped
//! and counted.
//!
//! Each socket has a reader task (answers by the batch, one `recvmmsg`)
//! and a sender task: questions are queued and the sender sends what has
//! queued up in one `sendmmsg` (equal-sized ones to one server as a UDP
//! GSO message, [`crate::udp_io::send`]), so the questions of one received
//! batch leave together; a batch's only question is sent at once by the
//! task that asks it ([`Sending::at_once`]). Sockets are registered for reading only
//! ([`ReadOnlyUdp`]): a question sent must not wake the runtime again.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use foldhash::fast::RandomState;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::sockets::{Family, SocketFactory};
use super::stats::ForwardStats;
use super::wire;
use super::AttemptError;
use crate::udp_io::outbox::Outbox;
use crate::udp_io::recv::with_answers_received;
use crate::udp_io::send::send_all;
use crate::udp_io::socket::ReadOnlyUdp;

/// Sockets per address family. Sixteen random ports and a random 16-bit id
/// leave a spoofer about one chance in a million per forged datagram even
/// if it knew the ports, and one in 1.8 billion if not
/// ([`crate::secure_random`]).
pub const SOCKETS_PER_FAMILY: usize = 16;

/// How a question leaves.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sending {
    /// Which socket asks (modulo their number):
    /// [`crate::upstream::ForwardRequest::socket_hint`].
    pub socket_hint: u32,
    /// Sent at once rather than queued for the socket's sender task:
    /// [`crate::upstream::ForwardRequest::alone`].
    pub at_once: bool,
}

type PendingKey = (u16, SocketAddr);

struct Pending {
    question: Box<[u8]>,
    reply: oneshot::Sender<Vec<u8>>,
}

type PendingMap = Mutex<HashMap<PendingKey, Pending, RandomState>>;

struct PooledSocket {
    socket: Arc<ReadOnlyUdp>,
    pending: Arc<PendingMap>,
    outgoing: Arc<Outbox>,
    /// The reader and the sender.
    tasks: [JoinHandle<()>; 2],
}

impl Drop for PooledSocket {
    fn drop(&mut self) {
        self.tasks.iter().for_each(JoinHandle::abort);
    }
}

/// UDP sockets of one namespace, both families.
pub struct UdpPool {
    v4: Vec<PooledSocket>,
    v6: Vec<PooledSocket>,
}

impl UdpPool {
    /// Makes the sockets now, with `factory`, and starts their readers; must
    /// run inside a tokio runtime. A family the namespace lacks (IPv6
    /// disabled) leaves that family empty, and servers of it fail over.
    pub fn new(factory: &dyn SocketFactory, stats: &Arc<ForwardStats>) -> io::Result<UdpPool> {
        let v4 = make_sockets(factory, Family::V4, stats)?;
        let v6 = make_sockets(factory, Family::V6, stats).unwrap_or_default();
        Ok(UdpPool { v4, v6 })
    }

    /// Sends `query` to `server` from the socket `sending.socket_hint`
    /// picks, with a fresh random id, and waits for the matching answer
    /// (the caller bounds the wait). The answer carries the id we chose.
    pub async fn exchange(
        &self,
        server: SocketAddr,
        query: &[u8],
        sending: Sending,
    ) -> Result<Vec<u8>, AttemptError> {
        let sockets = match Family::of(&server) {
            Family::V4 => &self.v4,
            Family::V6 => &self.v6,
        };
        if sockets.is_empty() {
            return Err(AttemptError::NoSocket);
        }
        let pooled = &sockets[sending.socket_hint as usize % sockets.len()];
        let question = wire::question(query).ok_or(AttemptError::Malformed)?;
        let (sender, receiver) = oneshot::channel();
        let key = register(&pooled.pending, server, question, sender);
        let _unregister = Unregister {
            map: &pooled.pending,
            key,
        };
        let mut message = query.to_vec();
        wire::set_id(&mut message, key.0);
        if sending.at_once {
            // Refused by the kernel (no route, say): fail over now, as the
            // sender task's refusal does.
            pooled
                .outgoing
                .send_or_queue(pooled.socket.raw_fd(), message, server)
                .map_err(|_| AttemptError::SendFailed)?;
        } else {
            pooled.outgoing.push(message, server);
        }
        // Closed without an answer: the sender could not send it.
        receiver.await.map_err(|_| AttemptError::SendFailed)
    }
}

fn make_sockets(
    factory: &dyn SocketFactory,
    family: Family,
    stats: &Arc<ForwardStats>,
) -> io::Result<Vec<PooledSocket>> {
    (0..SOCKETS_PER_FAMILY)
        .map(|_| {
            let socket = Arc::new(ReadOnlyUdp::new(factory.udp(family)?)?);
            let pending: Arc<PendingMap> = Arc::default();
            let outgoing: Arc<Outbox> = Arc::default();
            let reader = tokio::spawn(read_replies(
                Arc::clone(&socket),
                Arc::clone(&pending),
                Arc::clone(stats),
            ));
            let sender = tokio::spawn(send_queries(
                Arc::clone(&socket),
                Arc::clone(&pending),
                Arc::clone(&outgoing),
            ));
            Ok(PooledSocket {
                socket,
                pending,
                outgoing,
                tasks: [reader, sender],
            })
        })
        .collect()
}

/// Registers a query under a random id not already in flight to `server`.
fn register(
    map: &PendingMap,
    server: SocketAddr,
    question: &[u8],
    reply: oneshot::Sender<Vec<u8>>,
) -> PendingKey {
    let mut pending = map.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        let key = (crate::secure_random::u16(), server);
        if let std::collections::hash_map::Entry::Vacant(slot) = pending.entry(key) {
            slot.insert(Pending {
                question: question.into(),
                reply,
            });
            return key;
        }
    }
}

/// Takes a query out of the map when its exchange ends for any reason
/// (answered, timed out, or cancelled because another server won).
struct Unregister<'a> {
    map: &'a PendingMap,
    key: PendingKey,
}

impl Drop for Unregister<'_> {
    fn drop(&mut self) {
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.key);
    }
}

/// Sends what has queued up, all in one `sendmmsg` when the socket takes
/// it. A question the socket's buffer could not take is sent again when
/// there is room; one the kernel refuses (no route, say) is taken out of
/// the pending map, which fails its exchange over at once.
async fn send_queries(socket: Arc<ReadOnlyUdp>, pending: Arc<PendingMap>, queue: Arc<Outbox>) {
    let mut batch: Vec<(Vec<u8>, SocketAddr)> = Vec::new();
    loop {
        queue.ready().await;
        queue.drain_into(&mut batch);
        send_all(socket.raw_fd(), &mut batch);
        if batch.is_empty() {
            continue;
        }
        let rest = std::mem::take(&mut batch);
        socket
            .send_when_writable(rest, |query, server, err| {
                tracing::debug!(%err, %server, "upstream send failed");
                let key = (wire::id(query), server);
                pending
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&key);
            })
            .await;
    }
}

/// Reads answers by the batch (one `recvmmsg` for all that wait) and
/// hands each to its question.
async fn read_replies(
    socket: Arc<ReadOnlyUdp>,
    pending: Arc<PendingMap>,
    stats: Arc<ForwardStats>,
) {
    loop {
        if let Err(err) = socket.readable().await {
            tracing::debug!(%err, "upstream socket failed");
            return;
        }
        let _ = socket.try_read(|fd| {
            with_answers_received(|received| {
                received.drain(fd, |datagram, from| {
                    if !from.is_some_and(|from| deliver(&pending, datagram, from)) {
                        ForwardStats::bump(&stats.mismatched);
                    }
                })
            })
        });
    }
}

/// Hands a datagram to the query it answers; false if it answers none.
fn deliver(pending: &PendingMap, datagram: &[u8], from: SocketAddr) -> bool {
    let is_response = datagram.len() >= 12 && datagram[2] & 0x80 != 0;
    let Some(question) = wire::question(datagram).filter(|_| is_response) else {
        return false;
    };
    let key = (wire::id(datagram), from);
    let mut map = pending.lock().unwrap_or_else(|p| p.into_inner());
    match map.get(&key) {
        Some(query) if wire::same_question(&query.question, question) => {
            let query = map.remove(&key).expect("just found");
            query.reply.send(datagram.to_vec()).is_ok()
        }
        _ => false,
    }
}

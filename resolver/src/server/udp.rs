//! The UDP side of a sandbox's resolver: a batch of queries per wake-up
//! ([`crate::udp_io::recv`]), their local replies sent together, forwarded ones
//! handed to a task each within the forwarding bounds. A forwarded
//! question's reply goes back through the serving task too (an
//! [`Outbox`]): replies that come back together leave in one `sendmmsg`
//! ([`crate::udp_io::send`]) rather than a system call each; a reply
//! that no other can join (its question the sandbox's only one in
//! flight) is sent by its own task. The sandbox's view is kept between
//! wake-ups ([`CachedView`]). The socket
//! is registered for reading only ([`ReadOnlyUdp`]): a reply sent must not
//! wake the loop again.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::Poll;

use super::{ForwardPermits, SandboxContext};
use crate::handler::{handle_message, Outcome};
use crate::response::Transport;
use crate::table::CachedView;
use crate::udp_io::outbox::Outbox;
use crate::udp_io::recv::with_received;
use crate::udp_io::send::send_all;
use crate::udp_io::socket::ReadOnlyUdp;
use crate::upstream::ForwardRequest;

type Replies = Vec<(Vec<u8>, SocketAddr)>;
type Forwards = Vec<(Box<ForwardRequest>, SocketAddr, ForwardPermits)>;

/// Serves queries on `socket` until the task is aborted.
pub(super) async fn serve(context: Arc<SandboxContext>, socket: Arc<ReadOnlyUdp>) {
    let mut rng = fastrand::Rng::new();
    let mut replies: Replies = Vec::new();
    let mut forwards: Forwards = Vec::new();
    let mut view = CachedView::default();
    let outbox = Arc::new(Outbox::default());
    loop {
        // Woken by a query or by a forwarded question's reply; either way
        // both are looked at below.
        let ready = std::future::poll_fn(|cx| match outbox.poll_ready(cx) {
            Poll::Ready(()) => Poll::Ready(Ok(())),
            Poll::Pending => socket.poll_readable(cx),
        });
        if let Err(err) = ready.await {
            tracing::debug!(%err, sandbox = %short(&context), "udp socket failed");
            return;
        }
        outbox.drain_into(&mut replies);
        // Once per batch, not per question: the table may change between
        // wake-ups, and a batch is read in a few microseconds.
        let known_view = view.current(&context.core.table, &context.sandbox_id);
        let handler = context.handler_with(known_view);
        let handled = socket.try_read(|fd| {
            with_received(|received| {
                received.drain(fd, |bytes, peer| {
                    let Some(peer) = peer else { return };
                    match handle_message(&handler, bytes, Transport::Udp, &mut rng) {
                        Outcome::Reply(reply) => replies.push((reply, peer)),
                        Outcome::Forward(request)
                            if queue_cached(&context, &request, peer, &mut replies) => {}
                        Outcome::Forward(request) => match context.try_forward_slot() {
                            Some(permits) => forwards.push((request, peer, permits)),
                            None => replies.push((context.refuse(&request), peer)),
                        },
                        Outcome::Drop => {}
                    }
                })
            })
        });
        flush(&socket, &mut replies);
        spawn_forwards(&context, &socket, &outbox, &mut forwards);
        match handled {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
            // Nothing a client sends can break an unconnected socket; log
            // and carry on rather than lose the sandbox's DNS.
            Err(err) => tracing::debug!(%err, sandbox = %short(&context), "udp receive failed"),
        }
    }
}

/// The sandbox's id as logs show it (the serving task runs without a span:
/// entering one on every wake-up cost more than the rare message needs).
fn short(context: &SandboxContext) -> &str {
    &context.sandbox_id[..context.sandbox_id.len().min(12)]
}

/// Queues the cached reply to a forwarded question, if the cache has one;
/// returns whether it did.
fn queue_cached(
    context: &SandboxContext,
    request: &ForwardRequest,
    peer: SocketAddr,
    replies: &mut Replies,
) -> bool {
    let Some(reply) = context.cached(request) else {
        return false;
    };
    replies.push((reply, peer));
    true
}

/// Starts a task for each of a batch's forwarded questions. They share
/// one upstream socket, so that they leave together and their answers
/// come back together (drawn per batch); a batch's only question is sent
/// by its own task at once ([`ForwardRequest::alone`]).
///
/// A reply goes back through the serving task's outbox, so that replies
/// whose answers came back together leave in one `sendmmsg`; but when its
/// question is the sandbox's only one in flight, no other reply can join
/// it, and its task sends it at once: one task wake-up and poll fewer per
/// forwarded question at low rates (issue #16).
fn spawn_forwards(
    context: &Arc<SandboxContext>,
    socket: &Arc<ReadOnlyUdp>,
    outbox: &Arc<Outbox>,
    forwards: &mut Forwards,
) {
    if forwards.is_empty() {
        return;
    }
    let socket_hint = crate::secure_random::u32();
    let alone = forwards.len() == 1;
    for (mut request, peer, permits) in forwards.drain(..) {
        request.socket_hint = socket_hint;
        request.alone = alone;
        let (context, outbox) = (Arc::clone(context), Arc::clone(outbox));
        let socket = Arc::clone(socket);
        tokio::spawn(async move {
            let reply = context.forward(&request).await;
            if context.forwards_in_flight() > 1 {
                outbox.push(reply, peer);
            } else if let Err(err) = outbox.send_or_queue(socket.raw_fd(), reply, peer) {
                tracing::debug!(%err, %peer, "udp send failed");
            }
            drop(permits);
        });
    }
}

/// Sends the batch's replies; any the socket's buffer could not take at
/// once go out from a task that waits for room.
fn flush(socket: &Arc<ReadOnlyUdp>, replies: &mut Replies) {
    if replies.is_empty() {
        return;
    }
    send_all(socket.raw_fd(), replies);
    if !replies.is_empty() {
        let rest = std::mem::take(replies);
        let socket = Arc::clone(socket);
        tokio::spawn(async move {
            socket
                .send_when_writable(rest, |_, peer, err| {
                    tracing::debug!(%err, %peer, "udp send failed");
                })
                .await;
        });
    }
    replies.clear();
}

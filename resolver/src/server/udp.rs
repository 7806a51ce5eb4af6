//! The UDP side of a sandbox's resolver: a batch of queries per wake-up
//! ([`crate::udp_io::recv`]), their local replies sent together, forwarded ones
//! handed to a task each within the forwarding bounds. A forwarded
//! question's reply goes back through the serving task too (an
//! [`Outbox`]): replies that come back together leave in one `sendmmsg`
//! ([`crate::udp_io::send`]) rather than a system call each. The socket
//! is registered for reading only ([`ReadOnlyUdp`]): a reply sent must not
//! wake the loop again.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::Poll;

use super::SandboxContext;
use crate::handler::{handle_message, Outcome};
use crate::response::Transport;
use crate::udp_io::recv::with_received;
use crate::udp_io::send::{send_all, Outbox};
use crate::udp_io::socket::ReadOnlyUdp;

type Replies = Vec<(Vec<u8>, SocketAddr)>;

/// Serves queries on `socket` until the task is aborted.
pub(super) async fn serve(context: Arc<SandboxContext>, socket: Arc<ReadOnlyUdp>) {
    let mut rng = fastrand::Rng::new();
    let mut replies: Replies = Vec::new();
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
        // One upstream socket for all of a batch's forwarded questions, so
        // they leave together; drawn only when one is forwarded.
        let mut socket_hint = None;
        let handled = socket.try_read(|fd| {
            with_received(|received| {
                received.drain(fd, |bytes, peer| {
                    let Some(peer) = peer else { return };
                    match handle_message(&context.handler(), bytes, Transport::Udp, &mut rng) {
                        Outcome::Reply(reply) => replies.push((reply, peer)),
                        Outcome::Forward(request)
                            if queue_cached(&context, &request, peer, &mut replies) => {}
                        Outcome::Forward(mut request) => match context.try_forward_slot() {
                            Some(permits) => {
                                request.socket_hint =
                                    *socket_hint.get_or_insert_with(crate::secure_random::u32);
                                let (context, outbox) = (Arc::clone(&context), Arc::clone(&outbox));
                                tokio::spawn(async move {
                                    let reply = context.forward(&request).await;
                                    outbox.push(reply, peer);
                                    drop(permits);
                                });
                            }
                            None => replies.push((context.refuse(&request), peer)),
                        },
                        Outcome::Drop => {}
                    }
                })
            })
        });
        flush(&socket, &mut replies);
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
    request: &crate::upstream::ForwardRequest,
    peer: SocketAddr,
    replies: &mut Replies,
) -> bool {
    let Some(reply) = context.cached(request) else {
        return false;
    };
    replies.push((reply, peer));
    true
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

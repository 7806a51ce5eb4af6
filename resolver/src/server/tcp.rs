//! The TCP side of a sandbox's resolver (RFC 7766): two-byte length
//! frames, several queries per connection, pipelined queries answered as
//! their answers are ready (section 6.2.1.1: a forwarded one does not hold
//! up the local ones behind it; clients match answers by id).
//!
//! Everything a client can make the agent hold is bounded (issue #14): a
//! client that pipelines queries and never reads its answers once kept its
//! connection, and megabytes of send queue, forever.
//! - connections: `max_tcp_connections` per sandbox and
//!   `max_tcp_connections_total` overall; a connection over either is
//!   closed at once;
//! - kernel memory: small socket buffers ([`SEND_BUFFER`],
//!   [`RECEIVE_BUFFER`]) instead of autotuned ones of up to 4-6 MiB;
//! - unanswered queries: at most `max_tcp_unanswered` per connection read
//!   and not yet handed to the kernel (forwarded, or waiting for room);
//!   one more closes the connection;
//! - time: an idle timeout between queries (RFC 7766 section 6.2.3) and a
//!   write timeout per answer.
//!
//! A client over a bound loses its own connection; nobody else notices.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::timeout;

use super::SandboxContext;
use crate::events::Event;
use crate::handler::{handle_message, Outcome};
use crate::response::Transport;

/// Send buffer of every connection: about a thousand local answers. The
/// kernel doubles it for its bookkeeping (socket(7), SO_SNDBUF).
pub const SEND_BUFFER: usize = 64 << 10;
/// Receive buffer of every connection: queries are small, and a full
/// buffer only slows a pipelining client down.
pub const RECEIVE_BUFFER: usize = 32 << 10;

/// Sets the small buffers on the listener, whose accepted connections
/// inherit them (tcp(7): set before accept so the window is scaled to fit).
pub(super) fn limit_buffers(listener: &std::net::TcpListener) -> io::Result<()> {
    let socket = socket2::SockRef::from(listener);
    socket.set_send_buffer_size(SEND_BUFFER)?;
    socket.set_recv_buffer_size(RECEIVE_BUFFER)
}

/// Accepts connections until the task is aborted; dropping the `JoinSet`
/// then ends every connection too.
pub(super) async fn serve(context: Arc<SandboxContext>, listener: TcpListener) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => match admit(&context, connections.len()) {
                    Some(slot) => {
                        connections.spawn(serve_connection(Arc::clone(&context), stream, slot));
                    }
                    None => context.note(Event::TcpConnectionRefused),
                },
                Err(err) => {
                    // EMFILE and the like: back off instead of spinning.
                    tracing::debug!(%err, "tcp accept failed");
                    context.note(Event::TcpAcceptFailed);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// A slot in the overall bound, if this sandbox (with `open` connections)
/// and the agent may take one more connection.
fn admit(context: &SandboxContext, open: usize) -> Option<OwnedSemaphorePermit> {
    if open >= context.core.max_tcp_connections {
        return None;
    }
    Arc::clone(&context.core.tcp_slots).try_acquire_owned().ok()
}

/// An answer on its way out, holding its query's unanswered slot until it
/// is in the kernel's hands.
struct Answer {
    reply: Vec<u8>,
    _slot: OwnedSemaphorePermit,
}

/// How reading a connection ended.
#[derive(Debug, PartialEq, Eq)]
enum End {
    /// The client closed or idled: the answers still due are sent first.
    Finished,
    /// A malformed frame or a bound crossed: closed at once.
    Abandoned,
}

/// Aborts the writer when the connection's task ends.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Serves one connection until the client closes it, it idles past the
/// timeout, it sends a frame too short to hold a DNS header, or it crosses
/// a bound.
async fn serve_connection(
    context: Arc<SandboxContext>,
    stream: TcpStream,
    _slot: OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    let (reader, writer) = stream.into_split();
    let (answers, queue) = unbounded_channel();
    let writing = tokio::spawn(write_answers(Arc::clone(&context), writer, queue));
    let mut writer = AbortOnDrop(writing);
    let mut forwards = JoinSet::new();
    let end = tokio::select! {
        end = read_queries(&context, reader, &answers, &mut forwards) => end,
        _ = &mut writer.0 => return,
    };
    if end == End::Finished {
        // The forwarded questions still out hold their own senders; the
        // writer ends once they have answered and the queue is empty.
        drop(answers);
        let _ = (&mut writer.0).await;
    }
}

/// Reads queries and hands their answers to the writer, until the
/// connection ends.
async fn read_queries(
    context: &Arc<SandboxContext>,
    reader: OwnedReadHalf,
    answers: &UnboundedSender<Answer>,
    forwards: &mut JoinSet<()>,
) -> End {
    let mut reader = BufReader::new(reader);
    let idle = context.core.tcp_idle_timeout;
    let unanswered = Arc::new(Semaphore::new(context.core.max_tcp_unanswered));
    let mut rng = fastrand::Rng::new();
    let mut message = Vec::new();
    loop {
        while forwards.try_join_next().is_some() {}
        let Ok(Ok(len)) = timeout(idle, reader.read_u16()).await else {
            return End::Finished;
        };
        if usize::from(len) < 12 {
            context.note(Event::TcpMalformedFrame);
            return End::Abandoned;
        }
        message.resize(usize::from(len), 0);
        if !matches!(
            timeout(idle, reader.read_exact(&mut message)).await,
            Ok(Ok(_))
        ) {
            return End::Finished;
        }
        let Ok(slot) = Arc::clone(&unanswered).try_acquire_owned() else {
            context.note(Event::TcpUnansweredBound);
            return End::Abandoned;
        };
        let reply = match handle_message(&context.handler(), &message, Transport::Tcp, &mut rng) {
            Outcome::Reply(reply) => reply,
            Outcome::Forward(request) => match context.cached(&request) {
                Some(reply) => reply,
                None => match context.try_forward_slot() {
                    Some(permits) => {
                        let (context, answers) = (Arc::clone(context), answers.clone());
                        forwards.spawn(async move {
                            let reply = context.forward(&request).await;
                            drop(permits);
                            let _ = answers.send(Answer { reply, _slot: slot });
                        });
                        continue;
                    }
                    None => context.refuse(&request),
                },
            },
            Outcome::Drop => continue,
        };
        if answers.send(Answer { reply, _slot: slot }).is_err() {
            return End::Abandoned;
        }
    }
}

/// Writes answers as they come, each within the write timeout; returns
/// when the queue ends or the client stops taking them.
async fn write_answers(
    context: Arc<SandboxContext>,
    mut writer: OwnedWriteHalf,
    mut queue: UnboundedReceiver<Answer>,
) {
    let limit = context.core.tcp_write_timeout;
    let mut frame = Vec::new();
    while let Some(answer) = queue.recv().await {
        frame.clear();
        frame.extend_from_slice(&(answer.reply.len() as u16).to_be_bytes());
        frame.extend_from_slice(&answer.reply);
        match timeout(limit, writer.write_all(&frame)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return,
            Err(_) => {
                context.note(Event::TcpWriteTimeout);
                return;
            }
        }
    }
}

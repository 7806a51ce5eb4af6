//! The TCP side of a sandbox's resolver (RFC 7766): two-byte length
//! frames, several queries per connection answered in order.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio::time::timeout;

use super::SandboxContext;
use crate::handler::{handle_message, Outcome};
use crate::response::Transport;

/// Accepts connections until the task is aborted; dropping the `JoinSet`
/// then ends every connection too.
pub(super) async fn serve(context: Arc<SandboxContext>, listener: TcpListener) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) if connections.len() < context.core.max_tcp_connections => {
                    connections.spawn(serve_connection(Arc::clone(&context), stream));
                }
                Ok((stream, peer)) => {
                    tracing::debug!(%peer, "too many tcp connections: closing the new one");
                    drop(stream);
                }
                Err(err) => {
                    // EMFILE and the like: back off instead of spinning.
                    tracing::warn!(%err, "tcp accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Serves one connection until the client closes it, it idles past the
/// timeout, or it sends a frame too short to hold a DNS header.
async fn serve_connection(context: Arc<SandboxContext>, stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    let idle = context.core.tcp_idle_timeout;
    let mut rng = fastrand::Rng::new();
    let mut message = Vec::new();
    let mut frame = Vec::new();
    loop {
        let Ok(Ok(len)) = timeout(idle, reader.read_u16()).await else {
            return;
        };
        if usize::from(len) < 12 {
            tracing::debug!(len, "malformed tcp frame: closing the connection");
            return;
        }
        message.resize(usize::from(len), 0);
        if !matches!(
            timeout(idle, reader.read_exact(&mut message)).await,
            Ok(Ok(_))
        ) {
            return;
        }
        let reply = match handle_message(&context.handler(), &message, Transport::Tcp, &mut rng) {
            Outcome::Reply(reply) => reply,
            Outcome::Forward(request) => match context.try_forward_slot() {
                Some(_permits) => context.forward(&request).await,
                None => context.refuse(&request),
            },
            Outcome::Drop => continue,
        };
        frame.clear();
        frame.extend_from_slice(&(reply.len() as u16).to_be_bytes());
        frame.extend_from_slice(&reply);
        if writer.write_all(&frame).await.is_err() {
            return;
        }
    }
}

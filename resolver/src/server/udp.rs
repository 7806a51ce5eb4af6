//! The UDP side of a sandbox's resolver.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::UdpSocket;

use super::SandboxContext;
use crate::handler::{handle_message, Outcome};
use crate::response::Transport;

/// Largest query read. Queries are small; a larger datagram is cut and then
/// fails to decode (FORMERR). Kept small because every sandbox holds one:
/// 1,000 sandboxes cost 4 MB here.
const RECV_BUFFER: usize = 4096;

/// Serves queries on `socket` until the task is aborted.
pub(super) async fn serve(context: Arc<SandboxContext>, socket: Arc<UdpSocket>) {
    let mut buffer = vec![0u8; RECV_BUFFER];
    let mut rng = fastrand::Rng::new();
    loop {
        let (len, peer) = match socket.recv_from(&mut buffer).await {
            Ok(received) => received,
            Err(err) => {
                // Nothing a client sends can break an unconnected socket;
                // log and carry on rather than lose the sandbox's DNS.
                tracing::debug!(%err, "udp receive failed");
                continue;
            }
        };
        match handle_message(&context.handler(), &buffer[..len], Transport::Udp, &mut rng) {
            Outcome::Reply(reply) => send(&socket, &reply, peer).await,
            Outcome::Forward(request) => match context.try_forward_slot() {
                Some(permits) => {
                    let (context, socket) = (Arc::clone(&context), Arc::clone(&socket));
                    tokio::spawn(async move {
                        let reply = context.forward(&request).await;
                        send(&socket, &reply, peer).await;
                        drop(permits);
                    });
                }
                None => send(&socket, &context.refuse(&request), peer).await,
            },
            Outcome::Drop => {}
        }
    }
}

/// Sends a reply, trying the non-blocking path first: a UDP send almost
/// never has to wait, and skipping the readiness poll saves a syscall.
async fn send(socket: &UdpSocket, reply: &[u8], peer: SocketAddr) {
    let result = match socket.try_send_to(reply, peer) {
        Err(err) if err.kind() == io::ErrorKind::WouldBlock => socket.send_to(reply, peer).await,
        other => other,
    };
    if let Err(err) = result {
        tracing::debug!(%err, %peer, "udp send failed");
    }
}

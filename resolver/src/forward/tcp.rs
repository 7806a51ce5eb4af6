//! A forwarded question over TCP (RFC 7766): used when the client asked
//! over TCP, typically after a truncated UDP answer. One connection per
//! question; the caller bounds how long it may take.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;

use super::sockets::{Family, SocketFactory};
use super::wire;
use super::AttemptError;

/// Asks `server` over a new TCP connection made by `factory`; returns the
/// answer if its id and question match.
pub async fn exchange(
    factory: &dyn SocketFactory,
    server: SocketAddr,
    query: &[u8],
) -> Result<Vec<u8>, AttemptError> {
    let question = wire::question(query).ok_or(AttemptError::Malformed)?;
    let socket = factory.tcp(Family::of(&server)).map_err(AttemptError::Io)?;
    socket.set_nonblocking(true).map_err(AttemptError::Io)?;
    let socket = TcpSocket::from_std_stream(socket.into());
    let mut stream = socket.connect(server).await.map_err(AttemptError::Io)?;
    let id = crate::secure_random::u16();
    let len = u16::try_from(query.len()).map_err(|_| AttemptError::Malformed)?;
    let mut frame = Vec::with_capacity(query.len() + 2);
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(query);
    wire::set_id(&mut frame[2..], id);
    stream.write_all(&frame).await.map_err(AttemptError::Io)?;
    let reply_len = stream.read_u16().await.map_err(AttemptError::Io)?;
    let mut reply = vec![0u8; usize::from(reply_len)];
    stream
        .read_exact(&mut reply)
        .await
        .map_err(AttemptError::Io)?;
    // A response (QR set) to our id and question, as over UDP (pool.rs):
    // a server that echoes the query is not relayed as an answer.
    let matches = reply.len() >= 12
        && reply[2] & 0x80 != 0
        && wire::id(&reply) == id
        && wire::question(&reply).is_some_and(|q| wire::same_question(q, question));
    if matches {
        Ok(reply)
    } else {
        Err(AttemptError::Mismatch)
    }
}

//! A UDP socket registered with the runtime for readability only.
//!
//! Why: tokio's `UdpSocket` registers every socket for reading and
//! writing, edge-triggered. A UDP send frees buffer space as soon as the
//! datagram is delivered, and on loopback or a veth that is within the
//! `sendmmsg` call itself, so every reply raised an `EPOLLOUT` edge that
//! nobody waits for: the next `epoll_wait` returned at once with it, and
//! the runtime went round its loop once more for nothing. At a few
//! thousand questions a second, where every question is its own wake-up,
//! that was one system call in four of a local answer (strace of
//! `netagent dns serve` at 50 q/s: `recvmmsg`, `sendmmsg`, `epoll_wait`
//! returning `EPOLLOUT` only, then the `epoll_wait` that sleeps), and two
//! of a forwarded one's (the upstream send, then the reply).
//!
//! Sends never wait here: replies go out with a non-blocking `sendmmsg`
//! ([`super::send`]). Only when the socket's buffer is full does a reply
//! wait for room, through [`ReadOnlyUdp::send_when_writable`], which
//! registers a duplicate of the descriptor for as long as it waits.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// A non-blocking UDP socket whose readiness the runtime tracks for
/// reading only.
#[derive(Debug)]
pub(crate) struct ReadOnlyUdp {
    socket: AsyncFd<std::net::UdpSocket>,
}

impl ReadOnlyUdp {
    /// Registers `socket` (made non-blocking here) with the current
    /// runtime for readability. Must be called inside a tokio runtime.
    pub(crate) fn new(socket: std::net::UdpSocket) -> io::Result<ReadOnlyUdp> {
        socket.set_nonblocking(true)?;
        // SAFETY: a std `UdpSocket` owns its descriptor, keeps it open
        // until it is dropped and always returns the same one; the
        // `AsyncFd` owns the socket and nothing here hands it out mutably.
        let socket = unsafe { AsyncFd::register_with_interest(socket, Interest::READABLE) }
            .map_err(|err| err.into_parts().1)?;
        Ok(ReadOnlyUdp { socket })
    }

    /// Waits until the socket is (or may be) readable. The readiness stays
    /// set until a [`Self::try_read`] closure reports `WouldBlock`.
    pub(crate) async fn readable(&self) -> io::Result<()> {
        self.socket.readable().await.map(drop)
    }

    /// [`Self::readable`] as a poll, for a loop that waits on more than
    /// the socket.
    pub(crate) fn poll_readable(
        &self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        self.socket.poll_read_ready(cx).map(|ready| ready.map(drop))
    }

    /// Runs `read` if the socket is marked readable; a `WouldBlock` from it
    /// clears the mark, so the next [`Self::readable`] waits for a new edge.
    pub(crate) fn try_read<R>(&self, read: impl FnOnce(RawFd) -> io::Result<R>) -> io::Result<R> {
        self.socket
            .try_io(Interest::READABLE, |socket| read(socket.as_raw_fd()))
    }

    /// The descriptor, for `sendmmsg` and `recvmmsg`.
    pub(crate) fn raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }

    /// The local address the socket is bound to.
    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.get_ref().local_addr()
    }

    /// Sends each datagram, waiting for room in the socket's buffer when
    /// it is full: the slow path after a `sendmmsg` that could not take a
    /// whole batch. A duplicate of the descriptor is registered for
    /// writing while this waits, and deregistered when it returns. Calls
    /// `failed` with each datagram the kernel refused.
    pub(crate) async fn send_when_writable(
        &self,
        datagrams: Vec<(Vec<u8>, SocketAddr)>,
        mut failed: impl FnMut(&[u8], SocketAddr, io::Error),
    ) {
        let writer = match self
            .socket
            .get_ref()
            .try_clone()
            .and_then(tokio::net::UdpSocket::from_std)
        {
            Ok(writer) => writer,
            Err(err) => {
                tracing::debug!(%err, "no descriptor to wait for room on");
                for (bytes, peer) in datagrams {
                    failed(&bytes, peer, io::Error::from(err.kind()));
                }
                return;
            }
        };
        for (bytes, peer) in datagrams {
            if let Err(err) = writer.send_to(&bytes, peer).await {
                failed(&bytes, peer, err);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_what_arrives_and_waits_again_after_would_block() {
        let server = ReadOnlyUdp::new(std::net::UdpSocket::bind("127.0.0.1:0").unwrap()).unwrap();
        let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        client
            .send_to(b"one", server.local_addr().unwrap())
            .unwrap();
        server.readable().await.unwrap();
        let mut buf = [0u8; 16];
        let read = |fd: RawFd| {
            let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(n as usize)
            }
        };
        assert_eq!(server.try_read(read).unwrap(), 3);
        let again = server.try_read(|fd| {
            let n = unsafe { libc::recv(fd, std::ptr::null_mut(), 0, libc::MSG_DONTWAIT) };
            if n < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(n as usize)
            }
        });
        assert_eq!(again.unwrap_err().kind(), io::ErrorKind::WouldBlock);
        // Cleared: not readable until something new arrives.
        let waited =
            tokio::time::timeout(std::time::Duration::from_millis(50), server.readable()).await;
        assert!(waited.is_err(), "readable with nothing to read");
        client
            .send_to(b"two", server.local_addr().unwrap())
            .unwrap();
        server.readable().await.unwrap();
    }

    #[tokio::test]
    async fn the_slow_path_sends_every_datagram_and_reports_refusals() {
        let server = ReadOnlyUdp::new(std::net::UdpSocket::bind("127.0.0.1:0").unwrap()).unwrap();
        let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = client.local_addr().unwrap();
        let unroutable: SocketAddr = "[2001:db8::1]:53".parse().unwrap();
        let mut refused = Vec::new();
        server
            .send_when_writable(
                vec![
                    (b"a".to_vec(), to),
                    (b"b".to_vec(), unroutable),
                    (b"c".to_vec(), to),
                ],
                |bytes, peer, _| refused.push((bytes.to_vec(), peer)),
            )
            .await;
        assert_eq!(refused, vec![(b"b".to_vec(), unroutable)]);
        let mut buf = [0u8; 4];
        for expected in [b"a", b"c"] {
            let (n, _) = client.recv_from(&mut buf).unwrap();
            assert_eq!(&buf[..n], expected);
        }
    }
}

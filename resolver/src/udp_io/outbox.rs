//! The queue between the tasks that make datagrams and the one that sends
//! them: what was queued together leaves in one [`super::send::send_all`].

use std::io;
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

use super::send::send_one;

/// Datagrams waiting for the task that sends them: pushed by any task,
/// taken all at once, so what came together leaves in one [`send_all`].
///
/// A mutex around the queue and the sending task's waker rather than a
/// `tokio::sync::Notify`: the serving loop asks whether anything is queued
/// on every wake-up, and a `Notify` registered and removed a waiter under
/// its own lock each time (callgrind, issue #16).
#[derive(Default)]
pub(crate) struct Outbox {
    state: Mutex<OutboxState>,
}

#[derive(Default)]
struct OutboxState {
    datagrams: Vec<(Vec<u8>, SocketAddr)>,
    /// The task waiting for the queue to fill, if one is.
    waiting: Option<Waker>,
}

impl Outbox {
    fn state(&self) -> std::sync::MutexGuard<'_, OutboxState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a datagram; the first after the queue was emptied wakes the
    /// sending task.
    pub(crate) fn push(&self, datagram: Vec<u8>, peer: SocketAddr) {
        let mut state = self.state();
        state.datagrams.push((datagram, peer));
        let waiting = (state.datagrams.len() == 1)
            .then(|| state.waiting.take())
            .flatten();
        drop(state);
        if let Some(waker) = waiting {
            waker.wake();
        }
    }

    /// Sends a datagram on `fd` at once when nothing is queued before it,
    /// else (or when the socket's buffer is full) queues it for the
    /// sending task. An error is the kernel's refusal, nothing queued.
    pub(crate) fn send_or_queue(
        &self,
        fd: RawFd,
        datagram: Vec<u8>,
        peer: SocketAddr,
    ) -> io::Result<()> {
        if self.state().datagrams.is_empty() {
            match send_one(fd, &datagram, peer) {
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                sent => return sent,
            }
        }
        self.push(datagram, peer);
        Ok(())
    }

    /// Moves every queued datagram to the end of `into`.
    pub(crate) fn drain_into(&self, into: &mut Vec<(Vec<u8>, SocketAddr)>) {
        into.append(&mut self.state().datagrams);
    }

    /// Ready when something is queued; otherwise the task of `cx` is woken
    /// by the next [`Self::push`].
    pub(crate) fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.state();
        if !state.datagrams.is_empty() {
            return Poll::Ready(());
        }
        match &mut state.waiting {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            waiting => *waiting = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// Waits until something is queued.
    pub(crate) async fn ready(&self) {
        std::future::poll_fn(|cx| self.poll_ready(cx)).await;
    }
}

#[cfg(test)]
mod tests {
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;
    use std::task::Context;

    use super::*;

    fn loopback() -> UdpSocket {
        UdpSocket::bind("127.0.0.1:0").unwrap()
    }

    fn nothing_queued(outbox: &Outbox) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        outbox.poll_ready(&mut cx).is_pending()
    }

    #[test]
    fn sends_at_once_when_nothing_is_queued() {
        let (sender, receiver) = (loopback(), loopback());
        receiver.set_nonblocking(true).unwrap();
        let outbox = Outbox::default();
        let to = receiver.local_addr().unwrap();
        outbox
            .send_or_queue(sender.as_raw_fd(), b"now".to_vec(), to)
            .unwrap();
        let mut buffer = [0u8; 16];
        let (len, from) = receiver.recv_from(&mut buffer).unwrap();
        assert_eq!(&buffer[..len], b"now");
        assert_eq!(from, sender.local_addr().unwrap());
        assert!(nothing_queued(&outbox));
    }

    #[test]
    fn queues_behind_what_waits_already() {
        let (sender, receiver) = (loopback(), loopback());
        receiver.set_nonblocking(true).unwrap();
        let outbox = Outbox::default();
        let to = receiver.local_addr().unwrap();
        outbox.push(b"first".to_vec(), to);
        outbox
            .send_or_queue(sender.as_raw_fd(), b"second".to_vec(), to)
            .unwrap();
        let mut buffer = [0u8; 16];
        assert!(
            receiver.recv_from(&mut buffer).is_err(),
            "nothing went out yet"
        );
        let mut queued = Vec::new();
        outbox.drain_into(&mut queued);
        let order: Vec<&[u8]> = queued.iter().map(|(bytes, _)| bytes.as_slice()).collect();
        assert_eq!(order, [b"first".as_slice(), b"second".as_slice()]);
    }

    #[test]
    fn a_refused_send_is_an_error_and_queues_nothing() {
        let sender = loopback();
        let outbox = Outbox::default();
        // An IPv6 peer for an IPv4 socket: the kernel refuses at once.
        let to: SocketAddr = "[::1]:53".parse().unwrap();
        let refused = outbox.send_or_queue(sender.as_raw_fd(), b"x".to_vec(), to);
        assert!(refused.is_err());
        assert!(nothing_queued(&outbox));
    }
}

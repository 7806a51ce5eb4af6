//! Receiving datagrams in batches: one `recvmmsg(2)` takes up to [`BATCH`]
//! datagrams instead of a system call for each. The serving loop reads
//! queries this way (and sends the replies with one `sendmmsg(2)`,
//! [`super::send`]); the forwarder's upstream sockets read answers this
//! way too ([`with_answers_received`]). Under load the kernel's per-call
//! cost is most of a local answer's CPU, so this is where the answer path
//! gets cheaper.
//!
//! The buffers are per thread, not per socket: the runtime's thread
//! handles one socket's batch at a time and never awaits in the middle of
//! one, so 1,000 sandboxes share one set of buffers.

use std::cell::RefCell;
use std::io;
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::os::fd::RawFd;

/// Most datagrams per system call.
const BATCH: usize = 32;
/// Largest query read; a longer datagram is cut and then fails to decode
/// (FORMERR). Queries are small.
const DATAGRAM: usize = 4096;
/// Largest upstream answer read: any UDP datagram.
const ANSWER: usize = 65_535;
/// Answers per system call: fewer than queries, as each takes 64 KiB of
/// room (address space; only the pages written become memory).
const ANSWER_BATCH: usize = 16;

/// Received datagrams and the room for them.
///
/// The `recvmmsg` headers are built once, pointing at the buffers, and
/// kept: at a few thousand questions a second every wake-up reads one
/// datagram, and building and zeroing 32 headers for it each time was a
/// tenth of a local answer's instructions (callgrind, issue #16). Only
/// the address lengths the kernel overwrote are reset before a call.
pub struct Received {
    /// `slots` buffers of `size` bytes, end to end.
    buffers: Vec<u8>,
    size: usize,
    slots: usize,
    names: Vec<libc::sockaddr_storage>,
    /// One per slot, each pointing at its part of `buffers`; read only by
    /// the kernel, through `headers`.
    _iovecs: Box<[libc::iovec]>,
    /// One per slot, pointing at its iovec and its entry of `names`.
    headers: Box<[libc::mmsghdr]>,
    lens: [usize; BATCH],
    name_lens: [libc::socklen_t; BATCH],
    count: usize,
}

/// The room for a sender's address, as `recvmmsg` is told it.
const NAME_ROOM: libc::socklen_t = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;

impl Received {
    /// Room for `slots` (at most [`BATCH`]) datagrams of `size` bytes.
    fn new(slots: usize, size: usize) -> Received {
        let slots = slots.min(BATCH);
        let mut buffers = vec![0; slots * size];
        // SAFETY: sockaddr_storage is plain data; all zeroes is valid.
        let mut names: Vec<libc::sockaddr_storage> =
            vec![unsafe { MaybeUninit::zeroed().assume_init() }; slots];
        let mut iovecs: Box<[libc::iovec]> = buffers
            .chunks_exact_mut(size)
            .map(|chunk| libc::iovec {
                iov_base: chunk.as_mut_ptr().cast(),
                iov_len: size,
            })
            .collect();
        let headers = iovecs
            .iter_mut()
            .zip(names.iter_mut())
            .map(|(iovec, name)| {
                // SAFETY: mmsghdr is plain data; all zeroes is valid.
                let mut header: libc::mmsghdr = unsafe { MaybeUninit::zeroed().assume_init() };
                header.msg_hdr.msg_name = std::ptr::from_mut(name).cast();
                header.msg_hdr.msg_namelen = NAME_ROOM;
                header.msg_hdr.msg_iov = iovec;
                header.msg_hdr.msg_iovlen = 1;
                header
            })
            .collect();
        // The pointers stay valid: the buffers, names and iovecs are heap
        // allocations this struct owns and never resizes.
        Received {
            buffers,
            size,
            slots,
            names,
            _iovecs: iovecs,
            headers,
            lens: [0; BATCH],
            name_lens: [0; BATCH],
            count: 0,
        }
    }

    /// Reads what waits on `fd` (one `recvmmsg`) and hands each datagram
    /// and its sender (`None` for an address family other than IPv4 and
    /// IPv6) to `each`. Returns `WouldBlock` when there was nothing, and
    /// also after handling a batch that was not full: the queue is empty,
    /// and saying so (inside tokio's `try_io`) makes the runtime wait for
    /// the next datagram instead of asking the socket again only to hear
    /// EAGAIN, one system call less per wake-up. A datagram that came in
    /// the meantime is not lost: it raised a readiness event of its own.
    pub fn drain(
        &mut self,
        fd: RawFd,
        mut each: impl FnMut(&[u8], Option<SocketAddr>),
    ) -> io::Result<()> {
        let count = self.receive(fd)?;
        for i in 0..count {
            let (datagram, from) = self.datagram(i);
            each(datagram, from);
        }
        if count < self.slots {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(())
    }

    /// Reads as many waiting datagrams as fit, without blocking
    /// (`WouldBlock` when there are none).
    fn receive(&mut self, fd: RawFd) -> io::Result<usize> {
        // The kernel wrote the actual lengths of the last call's senders.
        for header in &mut self.headers[..self.count] {
            header.msg_hdr.msg_namelen = NAME_ROOM;
        }
        self.count = 0;
        // SAFETY: every header points at live buffers of the sizes given
        // (see `new`); the call writes only within them.
        let count = unsafe {
            libc::recvmmsg(
                fd,
                self.headers.as_mut_ptr(),
                self.slots as u32,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if count < 0 {
            return Err(io::Error::last_os_error());
        }
        self.count = count as usize;
        for (i, header) in self.headers.iter().take(self.count).enumerate() {
            self.lens[i] = header.msg_len as usize;
            self.name_lens[i] = header.msg_hdr.msg_namelen;
        }
        Ok(self.count)
    }

    /// Datagram `i` of the last batch and who sent it.
    fn datagram(&self, i: usize) -> (&[u8], Option<SocketAddr>) {
        let start = i * self.size;
        (
            &self.buffers[start..start + self.lens[i].min(self.size)],
            socket_addr(&self.names[i], self.name_lens[i]),
        )
    }
}

/// The address the kernel wrote into `storage`.
fn socket_addr(storage: &libc::sockaddr_storage, len: libc::socklen_t) -> Option<SocketAddr> {
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
    match i32::from(storage.ss_family) {
        libc::AF_INET if len as usize >= std::mem::size_of::<libc::sockaddr_in>() => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let v4 = unsafe { &*(std::ptr::from_ref(storage).cast::<libc::sockaddr_in>()) };
            let ip = Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr));
            Some(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(v4.sin_port),
            )))
        }
        libc::AF_INET6 if len as usize >= std::mem::size_of::<libc::sockaddr_in6>() => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let v6 = unsafe { &*(std::ptr::from_ref(storage).cast::<libc::sockaddr_in6>()) };
            let ip = Ipv6Addr::from(v6.sin6_addr.s6_addr);
            Some(SocketAddr::V6(SocketAddrV6::new(
                ip,
                u16::from_be(v6.sin6_port),
                v6.sin6_flowinfo,
                v6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

thread_local! {
    static QUERIES: RefCell<Received> = RefCell::new(Received::new(BATCH, DATAGRAM));
    static ANSWERS: RefCell<Received> = RefCell::new(Received::new(ANSWER_BATCH, ANSWER));
}

/// Runs `work` with this thread's buffers for queries.
pub fn with_received<T>(work: impl FnOnce(&mut Received) -> T) -> T {
    QUERIES.with(|received| work(&mut received.borrow_mut()))
}

/// Runs `work` with this thread's buffers for upstream answers.
pub fn with_answers_received<T>(work: impl FnOnce(&mut Received) -> T) -> T {
    ANSWERS.with(|received| work(&mut received.borrow_mut()))
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsRawFd;

    use super::*;

    /// Batches over several calls, from senders of both families, each
    /// datagram with its own sender: the kept headers are reset between
    /// calls.
    #[test]
    fn every_datagram_comes_with_its_sender_over_several_batches() {
        let server = std::net::UdpSocket::bind("[::]:0").unwrap();
        let port = server.local_addr().unwrap().port();
        server.set_nonblocking(true).unwrap();
        let v4 = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let v6 = std::net::UdpSocket::bind("[::1]:0").unwrap();
        let mut sent = Vec::new();
        for i in 0..(BATCH as u8 + 8) {
            let (from, to) = match i % 3 {
                0 => (&v6, SocketAddr::from(([0, 0, 0, 0, 0, 0, 0, 1], port))),
                _ => (&v4, SocketAddr::from(([127, 0, 0, 1], port))),
            };
            from.send_to(&[i; 5], to).unwrap();
            sent.push((vec![i; 5], from.local_addr().unwrap()));
        }
        let mut received = Received::new(BATCH, 64);
        let mut got = Vec::new();
        for _ in 0..10 {
            let _ = received.drain(server.as_raw_fd(), |bytes, from| {
                got.push((bytes.to_vec(), from.unwrap()));
            });
        }
        // A dual-stack socket sees IPv4 senders as mapped IPv6 addresses.
        let unmapped = |(bytes, from): (Vec<u8>, SocketAddr)| match from {
            SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
                Some(ip) => (bytes, SocketAddr::from((ip, v6.port()))),
                None => (bytes, from),
            },
            SocketAddr::V4(_) => (bytes, from),
        };
        let got: Vec<_> = got.into_iter().map(unmapped).collect();
        assert_eq!(got, sent);
    }
}

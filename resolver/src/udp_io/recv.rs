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
pub struct Received {
    /// `slots` buffers of `size` bytes, end to end.
    buffers: Vec<u8>,
    size: usize,
    slots: usize,
    names: Vec<libc::sockaddr_storage>,
    lens: [usize; BATCH],
    name_lens: [libc::socklen_t; BATCH],
    count: usize,
}

impl Received {
    /// Room for `slots` (at most [`BATCH`]) datagrams of `size` bytes.
    fn new(slots: usize, size: usize) -> Received {
        let slots = slots.min(BATCH);
        Received {
            buffers: vec![0; slots * size],
            size,
            slots,
            // SAFETY: sockaddr_storage is plain data; all zeroes is valid.
            names: vec![unsafe { MaybeUninit::zeroed().assume_init() }; BATCH],
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
        let size = self.size;
        let mut chunks = self.buffers.chunks_exact_mut(size);
        let mut iovecs: [libc::iovec; BATCH] = std::array::from_fn(|_| libc::iovec {
            iov_base: chunks
                .next()
                .map_or(std::ptr::null_mut(), |c| c.as_mut_ptr().cast()),
            iov_len: size,
        });
        // SAFETY: mmsghdr is plain data; the pointers set below stay valid
        // for the call, which writes only within the given lengths.
        let mut headers: [libc::mmsghdr; BATCH] = unsafe { MaybeUninit::zeroed().assume_init() };
        for (i, header) in headers.iter_mut().enumerate() {
            header.msg_hdr.msg_name = std::ptr::from_mut(&mut self.names[i]).cast();
            header.msg_hdr.msg_namelen =
                std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            header.msg_hdr.msg_iov = &mut iovecs[i];
            header.msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: every header points at live buffers of the sizes given.
        let count = unsafe {
            libc::recvmmsg(
                fd,
                headers.as_mut_ptr(),
                self.slots as u32,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if count < 0 {
            return Err(io::Error::last_os_error());
        }
        self.count = count as usize;
        for (i, header) in headers.iter().take(self.count).enumerate() {
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

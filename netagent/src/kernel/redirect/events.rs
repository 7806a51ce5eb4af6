//! The nftables change events of every sandbox, heard on one socket in the
//! agent's own namespace and handed to each sandbox's guard.
//!
//! Why one socket and not one per sandbox: the kernel delivers a netlink
//! event by walking every socket bound to a group of that protocol, in
//! every namespace (`netlink_broadcast`, net/netlink/af_netlink.c), and
//! recomputes its listener masks by walking them all again on every bind
//! and close (`netlink_update_listeners`). With a subscription per
//! sandbox, each attach paid twice for every sandbox already there (its
//! own subscription, and its redirect's commit): profiled at 650
//! sandboxes, 17% of the agent's CPU per attach, and it grew linearly. A
//! socket with `NETLINK_LISTEN_ALL_NSID` (netlink(7)) hears the group in
//! every namespace that has an id in its own (an nsid,
//! [`crate::kernel::link::Links::nsid_of`]), each datagram tagged with
//! that id in a control message; events of the agent's own namespace
//! come untagged and are not a sandbox's.
//!
//! A lost event costs a guard nothing but a check: when the socket
//! overflows (ENOBUFS) every guard is woken, since the lost ones may have
//! been anyone's; an event from a namespace whose id is now someone
//! else's (ids are reused after a namespace dies) wakes a guard that then
//! finds its rules whole.

use std::collections::HashMap;
use std::io::{self, IoSliceMut};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use nix::errno::Errno;
use nix::sys::socket::{recvmsg, setsockopt, sockopt, ControlMessageOwned, MsgFlags, NetlinkAddr};
use tokio::io::unix::AsyncFd;
use tokio::sync::Notify;

use crate::kernel::nft::{open_socket, Purpose};

/// `NETLINK_LISTEN_ALL_NSID` (linux/netlink.h): as a socket option, hear
/// every namespace with an id here; as a control message's type, the id.
const NETLINK_LISTEN_ALL_NSID: libc::c_int = 8;
/// The socket's receive buffer: a burst of commits from many sandboxes
/// at once (a restart re-injecting them all) fits without an overflow.
const RECEIVE_BUFFER: usize = 4 << 20;

/// The guards of one namespace id: each watch's token and its wake-up.
type Guards = Vec<(u64, Arc<Notify>)>;

/// The guards waiting for events, by namespace id.
#[derive(Default)]
struct Waiting {
    by_nsid: Mutex<HashMap<i32, Guards>>,
    next: AtomicU64,
}

impl Waiting {
    fn wake(&self, nsid: i32) {
        let by_nsid = self.by_nsid.lock().unwrap_or_else(|p| p.into_inner());
        for (_, notify) in by_nsid.get(&nsid).into_iter().flatten() {
            notify.notify_one();
        }
    }

    fn wake_all(&self) {
        let by_nsid = self.by_nsid.lock().unwrap_or_else(|p| p.into_inner());
        for (_, notify) in by_nsid.values().flatten() {
            notify.notify_one();
        }
    }
}

/// The one subscription; its reader runs on the runtime it was started
/// on until the process ends.
pub struct NftEvents {
    waiting: Arc<Waiting>,
}

/// One guard's share of the events: those of the namespace with id
/// `nsid`. Dropping it stops them.
pub struct Watch {
    nsid: i32,
    token: u64,
    notify: Arc<Notify>,
    waiting: Arc<Waiting>,
}

impl Watch {
    /// Waits until the namespace's ruleset changed since the last call
    /// (or since the watch began): several changes wake it once.
    pub async fn changed(&self) {
        self.notify.notified().await;
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let mut by_nsid = self
            .waiting
            .by_nsid
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(list) = by_nsid.get_mut(&self.nsid) {
            list.retain(|(token, _)| *token != self.token);
            if list.is_empty() {
                by_nsid.remove(&self.nsid);
            }
        }
    }
}

impl NftEvents {
    /// Subscribes in the calling thread's namespace (the agent's) and
    /// starts the reader on the current tokio runtime.
    pub fn start() -> io::Result<NftEvents> {
        let socket = open_socket(Purpose::Events)?;
        let on: libc::c_int = 1;
        // SAFETY: a valid descriptor, and an int option of the right size.
        let set = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_NETLINK,
                NETLINK_LISTEN_ALL_NSID,
                (&on as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if set != 0 {
            return Err(io::Error::last_os_error());
        }
        // Root may go past rmem_max; elsewhere the ordinary cap applies.
        if setsockopt(&socket, sockopt::RcvBufForce, &RECEIVE_BUFFER).is_err() {
            setsockopt(&socket, sockopt::RcvBuf, &RECEIVE_BUFFER)?;
        }
        // SAFETY: the AsyncFd owns the descriptor, which stays open exactly
        // as long as it is registered.
        let socket = unsafe { AsyncFd::register(socket) }?;
        let waiting = Arc::new(Waiting::default());
        tokio::spawn(read(socket, Arc::clone(&waiting)));
        Ok(NftEvents { waiting })
    }

    /// The events of the namespace with id `nsid`, from now on.
    pub fn watch(&self, nsid: i32) -> Watch {
        let token = self.waiting.next.fetch_add(1, Ordering::Relaxed);
        let notify = Arc::new(Notify::new());
        self.waiting
            .by_nsid
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(nsid)
            .or_default()
            .push((token, Arc::clone(&notify)));
        Watch {
            nsid,
            token,
            notify,
            waiting: Arc::clone(&self.waiting),
        }
    }
}

/// What one receive found.
enum Heard {
    /// A datagram from the namespace with this id.
    From(i32),
    /// A datagram from the agent's own namespace.
    Home,
    /// Datagrams were lost (ENOBUFS).
    Overflow,
}

async fn read(socket: AsyncFd<OwnedFd>, waiting: Arc<Waiting>) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let Ok(mut ready) = socket.readable().await else {
            tracing::error!(
                "the nftables event socket failed; a flushed DNS redirect stays flushed"
            );
            return;
        };
        loop {
            match receive(socket.get_ref(), &mut buffer) {
                Ok(Heard::From(nsid)) => waiting.wake(nsid),
                Ok(Heard::Home) => {}
                Ok(Heard::Overflow) => waiting.wake_all(),
                Err(Errno::EAGAIN) => break,
                Err(Errno::EINTR) => {}
                Err(err) => {
                    tracing::warn!(%err, "reading the nftables events");
                    break;
                }
            }
        }
        ready.clear_ready();
    }
}

/// Reads one datagram and its namespace id.
fn receive(socket: &OwnedFd, buffer: &mut [u8]) -> Result<Heard, Errno> {
    let mut control = nix::cmsg_space!(libc::c_int);
    let mut iov = [IoSliceMut::new(buffer)];
    let message = match recvmsg::<NetlinkAddr>(
        socket.as_raw_fd(),
        &mut iov,
        Some(&mut control),
        MsgFlags::MSG_DONTWAIT,
    ) {
        Ok(message) => message,
        Err(Errno::ENOBUFS) => return Ok(Heard::Overflow),
        Err(err) => return Err(err),
    };
    let Ok(cmsgs) = message.cmsgs() else {
        // The control message was cut short: whose it was is unknown.
        return Ok(Heard::Overflow);
    };
    for cmsg in cmsgs {
        if let ControlMessageOwned::Unknown(unknown) = cmsg {
            let header = &unknown.cmsg_header;
            if header.cmsg_level == libc::SOL_NETLINK
                && header.cmsg_type == NETLINK_LISTEN_ALL_NSID
                && unknown.data_bytes.len() >= 4
            {
                let mut id = [0u8; 4];
                id.copy_from_slice(&unknown.data_bytes[..4]);
                return Ok(Heard::From(i32::from_ne_bytes(id)));
            }
        }
    }
    Ok(Heard::Home)
}

//! Sending a batch of UDP datagrams in one `sendmmsg(2)`, with datagrams
//! of the same size to the same peer sent as one UDP GSO message
//! (`UDP_SEGMENT`, Linux 4.18). The serving loop sends its replies this
//! way, and the forwarder's pool its questions to upstream servers.
//!
//! Why: profiled under load, three quarters of a local answer's CPU is the
//! kernel sending the reply, and most of that is per packet, not per byte:
//! the route lookup, the sandbox's redirect rule, the loopback device and
//! the receive path up to the client's socket, all run in the sender's
//! context. A GSO message makes that trip once for up to 64 replies and is
//! cut into ordinary datagrams only when it reaches the client's socket, so
//! the client sees exactly what it would have seen. A busy client sends
//! many questions whose answers have the same size (`cNNN A`, say), so
//! under load most replies share a trip.
//!
//! A kernel that refuses GSO (`EINVAL`, `EIO`, `ENOPROTOOPT`) is
//! remembered, and replies then go one datagram each.

use std::io;
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};

use socket2::SockAddr;

/// Most datagrams in one GSO message (the kernel's `UDP_MAX_SEGMENTS`).
const MAX_SEGMENTS: usize = 64;
/// Most payload bytes in one GSO message: an IPv4 datagram's limit less
/// the IP and UDP headers.
const MAX_GSO_BYTES: usize = 65_507;
/// Messages per system call.
const MESSAGES: usize = 64;

/// Cleared for good the first time the kernel refuses a GSO message.
static GSO_WORKS: AtomicBool = AtomicBool::new(true);

/// One message of the batch: replies (indices into the batch), all to the
/// same peer and, when more than one, all of the same size.
struct Message {
    replies: Vec<usize>,
}

/// Groups the replies into messages: equal-sized replies to one peer go
/// together when GSO works; every other reply goes alone. Replies to one
/// peer keep their order.
fn plan(replies: &[(Vec<u8>, SocketAddr)], gso: bool) -> Vec<Message> {
    let mut messages: Vec<Message> = Vec::with_capacity(replies.len());
    for (index, (bytes, peer)) in replies.iter().enumerate() {
        let joins = gso
            .then(|| {
                messages.iter_mut().rev().find(|m| {
                    let (first, to) = &replies[m.replies[0]];
                    to == peer
                        && first.len() == bytes.len()
                        && m.replies.len() < MAX_SEGMENTS
                        && (m.replies.len() + 1) * bytes.len() <= MAX_GSO_BYTES
                })
            })
            .flatten();
        match joins {
            Some(message) => message.replies.push(index),
            None => messages.push(Message {
                replies: vec![index],
            }),
        }
    }
    messages
}

/// Sends `replies`, removing those that went out; what stays is what the
/// socket's buffer could not take at once (`WouldBlock`) or the kernel
/// refused.
pub fn send_all(fd: RawFd, replies: &mut Vec<(Vec<u8>, SocketAddr)>) {
    send_with(fd, replies, &GSO_WORKS);
}

/// [`send_all`], remembering in `gso_works` whether the kernel takes GSO.
fn send_with(fd: RawFd, replies: &mut Vec<(Vec<u8>, SocketAddr)>, gso_works: &AtomicBool) {
    // At a few thousand questions a second each wake-up has one reply:
    // one `sendto`, without the batch's plan and headers (issue #16).
    if let [(bytes, peer)] = replies.as_slice() {
        if send_one(fd, bytes, *peer).is_ok() {
            replies.clear();
        }
        return;
    }
    let gso = gso_works.load(Ordering::Relaxed);
    let messages = plan(replies, gso);
    let mut sent = vec![false; replies.len()];
    let mut retry_without_gso = false;
    for chunk in messages.chunks(MESSAGES) {
        match send_messages(fd, replies, chunk) {
            Ok(count) => {
                for message in &chunk[..count] {
                    message.replies.iter().for_each(|&i| sent[i] = true);
                }
                if count < chunk.len() {
                    break;
                }
            }
            // sendmmsg fails only when its first message does.
            Err(err) if chunk[0].replies.len() > 1 && refuses_gso(&err) => {
                gso_works.store(false, Ordering::Relaxed);
                tracing::info!(%err, "the kernel refuses UDP GSO; datagrams go one by one");
                retry_without_gso = true;
                break;
            }
            Err(_) => break,
        }
    }
    let mut index = 0;
    replies.retain(|_| {
        index += 1;
        !sent[index - 1]
    });
    if retry_without_gso {
        send_with(fd, replies, gso_works);
    }
}

/// Sends one datagram without waiting.
pub(super) fn send_one(fd: RawFd, bytes: &[u8], peer: SocketAddr) -> io::Result<()> {
    let name = SockAddr::from(peer);
    // SAFETY: the buffer and the address live until the call returns; the
    // kernel only reads them.
    let sent = unsafe {
        libc::sendto(
            fd,
            bytes.as_ptr().cast(),
            bytes.len(),
            libc::MSG_DONTWAIT,
            name.as_ptr().cast(),
            name.len(),
        )
    };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn refuses_gso(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(libc::EINVAL | libc::EIO | libc::ENOPROTOOPT)
    )
}

/// Control data of one message: a `UDP_SEGMENT` cmsg with room to spare,
/// aligned as `cmsghdr` wants.
#[repr(C, align(8))]
struct SegmentControl([u8; 32]);

/// One `sendmmsg` of up to [`MESSAGES`] messages; returns how many the
/// kernel took.
fn send_messages(
    fd: RawFd,
    replies: &[(Vec<u8>, SocketAddr)],
    messages: &[Message],
) -> io::Result<usize> {
    let names: Vec<SockAddr> = messages
        .iter()
        .map(|m| SockAddr::from(replies[m.replies[0]].1))
        .collect();
    let mut iovecs: Vec<libc::iovec> = messages
        .iter()
        .flat_map(|m| &m.replies)
        .map(|&i| libc::iovec {
            iov_base: replies[i].0.as_ptr() as *mut _,
            iov_len: replies[i].0.len(),
        })
        .collect();
    let mut controls: Vec<SegmentControl> =
        messages.iter().map(|_| SegmentControl([0; 32])).collect();
    // SAFETY: mmsghdr is plain data; all zeroes is a valid empty header.
    let mut headers: Vec<libc::mmsghdr> = (0..messages.len())
        .map(|_| unsafe { MaybeUninit::zeroed().assume_init() })
        .collect();
    let mut first_iovec = 0;
    for (i, message) in messages.iter().enumerate() {
        let header = &mut headers[i].msg_hdr;
        header.msg_name = names[i].as_ptr() as *mut _;
        header.msg_namelen = names[i].len();
        header.msg_iov = &mut iovecs[first_iovec];
        header.msg_iovlen = message.replies.len();
        first_iovec += message.replies.len();
        if message.replies.len() > 1 {
            let size = replies[message.replies[0]].0.len() as u16;
            set_segment_size(header, &mut controls[i], size);
        }
    }
    // SAFETY: every header points at names, iovecs, buffers and control
    // data that live until the call returns; the kernel only reads them.
    let count = unsafe {
        libc::sendmmsg(
            fd,
            headers.as_mut_ptr(),
            headers.len() as u32,
            libc::MSG_DONTWAIT,
        )
    };
    if count < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(count as usize)
}

/// Puts a `UDP_SEGMENT` cmsg of `size` into `control` and points the
/// header at it.
fn set_segment_size(header: &mut libc::msghdr, control: &mut SegmentControl, size: u16) {
    header.msg_control = control.0.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE of two bytes is 24 on every Linux ABI, within the
    // 32 bytes of `control`.
    header.msg_controllen = unsafe { libc::CMSG_SPACE(2) } as _;
    // SAFETY: the header's control buffer is set and large enough for one
    // cmsg, so CMSG_FIRSTHDR returns a pointer into it.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(header);
        (*cmsg).cmsg_level = libc::SOL_UDP;
        (*cmsg).cmsg_type = libc::UDP_SEGMENT;
        (*cmsg).cmsg_len = libc::CMSG_LEN(2) as _;
        std::ptr::copy_nonoverlapping(size.to_ne_bytes().as_ptr(), libc::CMSG_DATA(cmsg), 2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(len: usize, port: u16) -> (Vec<u8>, SocketAddr) {
        (vec![0; len], SocketAddr::from(([127, 0, 0, 1], port)))
    }

    #[test]
    fn equal_sized_replies_to_one_peer_share_a_message() {
        let replies = vec![
            reply(40, 1000),
            reply(40, 2000),
            reply(40, 1000),
            reply(52, 1000),
            reply(40, 1000),
        ];
        let groups: Vec<Vec<usize>> = plan(&replies, true)
            .into_iter()
            .map(|m| m.replies)
            .collect();
        assert_eq!(groups, [vec![0, 2, 4], vec![1], vec![3]]);
        let alone: Vec<Vec<usize>> = plan(&replies, false)
            .into_iter()
            .map(|m| m.replies)
            .collect();
        assert_eq!(alone.len(), 5);
    }

    #[test]
    fn a_message_holds_at_most_64_segments_and_64_kib() {
        let many: Vec<_> = (0..70).map(|_| reply(40, 1000)).collect();
        let sizes: Vec<usize> = plan(&many, true).iter().map(|m| m.replies.len()).collect();
        assert_eq!(sizes, [64, 6]);
        let big: Vec<_> = (0..3).map(|_| reply(30_000, 1000)).collect();
        let sizes: Vec<usize> = plan(&big, true).iter().map(|m| m.replies.len()).collect();
        assert_eq!(sizes, [2, 1]);
    }

    #[test]
    fn a_refused_gso_message_is_sent_again_one_datagram_at_a_time() {
        // A socket without UDP checksums (SO_NO_CHECK) is one the kernel
        // refuses GSO for (EINVAL).
        let server = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        use std::os::fd::AsRawFd;
        let on: libc::c_int = 1;
        // SAFETY: setsockopt with a pointer to a live c_int and its size.
        let set = unsafe {
            libc::setsockopt(
                server.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_NO_CHECK,
                std::ptr::from_ref(&on).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        assert_eq!(set, 0);
        let to = client.local_addr().unwrap();
        let mut replies: Vec<(Vec<u8>, SocketAddr)> = (0..4u8).map(|i| (vec![i; 20], to)).collect();
        let gso_works = AtomicBool::new(true);
        send_with(server.as_raw_fd(), &mut replies, &gso_works);
        assert!(replies.is_empty(), "all sent");
        assert!(
            !gso_works.load(Ordering::Relaxed),
            "the refusal is remembered"
        );
        client
            .set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        let mut buffer = [0u8; 64];
        for i in 0..4u8 {
            let len = client.recv(&mut buffer).unwrap();
            assert_eq!(&buffer[..len], &[i; 20][..], "each once, in order");
        }
        client
            .set_read_timeout(Some(std::time::Duration::from_millis(100)))
            .unwrap();
        assert!(client.recv(&mut buffer).is_err(), "nothing sent twice");
    }

    #[test]
    fn a_client_receives_each_reply_as_its_own_datagram() {
        let server = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let other = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = |s: &std::net::UdpSocket| s.local_addr().unwrap();
        let mut replies: Vec<(Vec<u8>, SocketAddr)> = (0..10u8)
            .map(|i| (vec![i; 33], to(&client)))
            .chain([(vec![99; 12], to(&client)), (vec![7; 33], to(&other))])
            .collect();
        use std::os::fd::AsRawFd;
        send_all(server.as_raw_fd(), &mut replies);
        assert!(replies.is_empty(), "all sent");
        assert!(
            GSO_WORKS.load(Ordering::Relaxed),
            "this kernel takes UDP GSO messages on loopback"
        );
        client
            .set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        let mut got = Vec::new();
        let mut buffer = [0u8; 2048];
        for _ in 0..11 {
            let (len, from) = client.recv_from(&mut buffer).unwrap();
            assert_eq!(from, to(&server));
            got.push(buffer[..len].to_vec());
        }
        let mut expected: Vec<Vec<u8>> = (0..10u8).map(|i| vec![i; 33]).collect();
        expected.push(vec![99; 12]);
        assert_eq!(got, expected, "in order, one datagram per reply");
        other
            .set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        assert_eq!(other.recv(&mut buffer).unwrap(), 33);
    }

    #[test]
    fn a_lone_reply_goes_out_and_a_refused_one_stays() {
        use std::os::fd::AsRawFd;
        let server = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut replies = vec![(b"one".to_vec(), client.local_addr().unwrap())];
        send_all(server.as_raw_fd(), &mut replies);
        assert!(replies.is_empty(), "sent");
        let mut buffer = [0u8; 16];
        client
            .set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        let (len, from) = client.recv_from(&mut buffer).unwrap();
        assert_eq!(
            (&buffer[..len], from),
            (&b"one"[..], server.local_addr().unwrap())
        );
        // An IPv4 socket cannot send to an IPv6 address: the reply stays
        // for the caller to report.
        let unroutable: SocketAddr = "[2001:db8::1]:53".parse().unwrap();
        let mut replies = vec![(b"two".to_vec(), unroutable)];
        send_all(server.as_raw_fd(), &mut replies);
        assert_eq!(replies, vec![(b"two".to_vec(), unroutable)]);
    }
}

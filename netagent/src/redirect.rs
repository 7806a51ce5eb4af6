//! How 127.0.0.11:53 reaches the agent inside a sandbox.
//!
//! Default ([`DnsMode::Redirect`]): the agent's sockets sit on 127.0.0.11
//! at a random port, and a stateless nftables rule in the sandbox's
//! namespace rewrites port 53 to that port on the way in and back on the
//! way out (DESIGN.md, measured facts). A process in the sandbox can still
//! bind 0.0.0.0:53, as Docker promises, and no conntrack entry is made per
//! query, unlike Docker's DNAT. [`DnsMode::Direct`] binds 127.0.0.11:53
//! itself: no rules, but port 53 is taken in the sandbox.
//!
//! The rules are loaded by `nft` run inside the namespace: rustables, the
//! netlink crate for nftables, has no `notrack` and no checksum-updating
//! payload write, both needed here, and builds with bindgen. A netlink
//! subscription to the namespace's nftables events wakes the agent when
//! anything changes the rules; it then checks them and reloads them if
//! something flushed them (moby#35095).

use std::io::{self, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

pub use config::DnsMode;

use crate::netns::NsRef;

/// The nftables table netagent owns in each sandbox.
pub const TABLE: &str = "netagent";
/// Its chain.
pub const CHAIN: &str = "dns-redirect";

/// The rules for the agent's `port`, replacing any earlier version of the
/// table in one transaction.
pub fn ruleset(port: u16) -> String {
    format!(
        "table ip {TABLE}\n\
         delete table ip {TABLE}\n\
         table ip {TABLE} {{\n\
         \tchain {CHAIN} {{\n\
         \t\ttype filter hook output priority raw; policy accept;\n\
         \t\tip daddr 127.0.0.11 udp dport 53 notrack udp dport set {port}\n\
         \t\tip saddr 127.0.0.11 udp sport {port} notrack udp sport set 53\n\
         \t\tip daddr 127.0.0.11 tcp dport 53 notrack tcp dport set {port}\n\
         \t\tip saddr 127.0.0.11 tcp sport {port} notrack tcp sport set 53\n\
         \t}}\n\
         }}\n"
    )
}

/// Loads [`ruleset`] into the namespace `ns` with `nft -f -`, run inside it.
pub fn program(ns: &NsRef, port: u16) -> io::Result<()> {
    run_nft_in(ns, &ruleset(port))
}

/// Removes the table from the namespace (when the sandbox leaves its last
/// user-defined network).
pub fn remove(ns: &NsRef) -> io::Result<()> {
    run_nft_in(ns, &format!("table ip {TABLE}\ndelete table ip {TABLE}\n"))
}

fn run_nft_in(ns: &NsRef, script: &str) -> io::Result<()> {
    let namespace = ns.open()?;
    let fd = namespace.as_raw_fd();
    let mut command = Command::new("nft");
    command
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // SAFETY: setns is async-signal-safe, and the closure touches nothing
    // but the descriptor, which stays open until the child has started.
    unsafe {
        command.pre_exec(move || {
            if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command.spawn().map_err(|err| match err.kind() {
        io::ErrorKind::NotFound => {
            io::Error::new(err.kind(), "nft is not installed (Debian package nftables)")
        }
        _ => err,
    })?;
    drop(namespace);
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(script.as_bytes())?;
    let output = child.wait_with_output()?;
    if output.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "nft: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}

/// Whether the namespace has the redirect chain with its four rules, as
/// `nft list` inside it shows.
pub fn is_programmed(ns: &NsRef) -> io::Result<bool> {
    let listing = run_nft_output_in(ns, &["list", "chain", "ip", TABLE, CHAIN])?;
    Ok(listing
        .map(|text| text.matches("notrack").count() == 4)
        .unwrap_or(false))
}

fn run_nft_output_in(ns: &NsRef, args: &[&str]) -> io::Result<Option<String>> {
    let namespace = ns.open()?;
    let fd = namespace.as_raw_fd();
    let mut command = Command::new("nft");
    command
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: as in run_nft_in.
    unsafe {
        command.pre_exec(move || {
            if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let output = command.output()?;
    Ok(output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned()))
}

/// A netlink socket, made in the calling thread's namespace (the worker's,
/// inside a sandbox), that becomes readable whenever the nftables ruleset
/// of that namespace changes (multicast group NFNLGRP_NFTABLES). Watching
/// it costs nothing while nobody touches the rules, unlike polling every
/// sandbox with `nft list`.
pub fn subscribe_here() -> io::Result<OwnedFd> {
    use nix::sys::socket::{
        bind, socket, AddressFamily, NetlinkAddr, SockFlag, SockProtocol, SockType,
    };
    const NFNLGRP_NFTABLES: u32 = 7;
    let fd = socket(
        AddressFamily::Netlink,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        SockProtocol::NetlinkNetFilter,
    )?;
    bind(
        fd.as_raw_fd(),
        &NetlinkAddr::new(0, 1 << (NFNLGRP_NFTABLES - 1)),
    )?;
    Ok(fd)
}

/// Keeps the redirect in place: after every change to the namespace's
/// rules, checks them and loads them again if they are gone. Runs until
/// aborted (when the sandbox goes).
pub async fn guard(events: OwnedFd, ns: NsRef, port: u16) {
    // SAFETY: the AsyncFd owns the descriptor, which stays open exactly as
    // long as it is registered.
    let Ok(events) = (unsafe { tokio::io::unix::AsyncFd::register(events) }) else {
        return;
    };
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let Ok(mut ready) = events.readable().await else {
            return;
        };
        // Drain every queued event; one check covers them all.
        while nix::sys::socket::recv(
            events.get_ref().as_raw_fd(),
            &mut buffer,
            nix::sys::socket::MsgFlags::empty(),
        )
        .is_ok()
        {}
        ready.clear_ready();
        let ns = ns.clone();
        let restored = tokio::task::spawn_blocking(move || match is_programmed(&ns) {
            Ok(true) => Ok(false),
            _ => program(&ns, port).map(|()| true),
        })
        .await;
        match restored {
            Ok(Ok(true)) => tracing::warn!(
                port,
                "the DNS redirect was removed from the sandbox: restored"
            ),
            Ok(Err(err)) => tracing::error!(%err, "cannot restore the DNS redirect"),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ruleset_rewrites_both_directions_for_udp_and_tcp() {
        let rules = ruleset(40123);
        assert!(rules.contains("type filter hook output priority raw"));
        assert!(rules.contains("ip daddr 127.0.0.11 udp dport 53 notrack udp dport set 40123"));
        assert!(rules.contains("ip saddr 127.0.0.11 tcp sport 40123 notrack tcp sport set 53"));
        assert_eq!(rules.matches("notrack").count(), 4);
        assert!(
            rules.starts_with("table ip netagent\ndelete table ip netagent\n"),
            "replaces in one transaction"
        );
    }
}

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
//! The rules go to the kernel over netlink from the agent itself
//! ([`crate::kernel::redirect::rules`]), no process per sandbox. The
//! namespace's nftables events ([`events`]: one subscription for all
//! sandboxes) wake the agent when anything changes the rules; it then
//! checks them and reloads them if something flushed them (moby#35095).

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub mod events;
mod rules;

use crate::kernel::netns::{NetnsWorker, NsRef};

#[cfg(test)]
/// The rules for the agent's `port` in `nft` syntax: what
/// [`rules::program_here`] loads, as `nft list ruleset` shows it
/// (documentation, and `nft -f` input for anyone reproducing it by hand).
pub fn ruleset(port: u16) -> String {
    use rules::{CHAIN, TABLE};
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

/// Loads the redirect to `port` into the namespace `ns` (replacing any
/// earlier one), over netlink from the namespace worker.
pub async fn program(worker: &NetnsWorker, ns: &NsRef, port: u16) -> io::Result<()> {
    worker.run_in(ns, move || rules::program_here(port)).await
}

/// Removes the table from the namespace (when the sandbox leaves its last
/// user-defined network, or changes to direct mode).
pub async fn remove(worker: &NetnsWorker, ns: &NsRef) -> io::Result<()> {
    worker.run_in(ns, rules::remove_here).await
}

/// Whether the namespace has the redirect chain with its four rules.
pub async fn is_programmed(worker: &NetnsWorker, ns: &NsRef) -> io::Result<bool> {
    Ok(worker.run_in(ns, rules::rule_count_here).await? == 4)
}

/// Keeps the redirect in place: after every change to the namespace's
/// rules (`events`, watched before the rules were first loaded), checks them and loads them again if they are gone. Runs until
/// aborted (when the sandbox goes). Its own reload wakes it once more and
/// finds the rules whole, so it never loops. Each restore adds one to
/// `restored`.
pub async fn guard(
    events: events::Watch,
    worker: NetnsWorker,
    ns: NsRef,
    port: u16,
    restored: Arc<AtomicU64>,
) {
    loop {
        events.changed().await;
        match is_programmed(&worker, &ns).await {
            Ok(true) => {}
            Ok(false) => match program(&worker, &ns, port).await {
                Ok(()) => {
                    restored.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        port,
                        "the DNS redirect was removed from the sandbox: restored"
                    );
                }
                Err(err) => tracing::error!(%err, "cannot restore the DNS redirect"),
            },
            // The namespace is going away: the sandbox's removal stops us.
            Err(err) => tracing::debug!(%err, "cannot check the DNS redirect"),
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

//! The bridges' data plane in the host namespace: outbound masquerade,
//! published ports, ICC and isolation between networks, as one nf_tables
//! table of the agent's (`inet netagent`), never touching anyone else's
//! tables. ICC is a property of the bridge ports ([`plan`] says why).
//!
//! - [`plan`]: the rules as a pure function of the bridges and ports.
//! - [`encode`]: a plan as one netlink transaction.
//! - [`coexist`]: other tables' forward chains that would drop the
//!   bridges' traffic, found and explained.
//!
//! [`Firewall`] keeps the inputs last applied, so that when something
//! removes the table (`nft flush ruleset`, a firewalld reload) the
//! [`guard`] puts it back at once, as the sandbox redirect's guard does.
//! Every call here does blocking netlink I/O in the calling thread's
//! namespace: the agent calls it from a blocking thread at home.

use std::collections::HashSet;
use std::io;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use netlink_packet_core::{NLM_F_DUMP, NLM_F_REQUEST};
use netlink_packet_netfilter::nftables::NfTablesMessageType;

pub mod coexist;
pub mod encode;
pub mod plan;

pub use plan::{BridgeNet, Forward, Inputs};

use crate::kernel::nft::{dump, exchange, generation, open_socket, request, Purpose, Reply};

/// The firewall as last applied, and how often it had to be restored.
#[derive(Debug, Default)]
pub struct Firewall {
    applied: Mutex<Option<Inputs>>,
    /// The ruleset generation ([`generation`]) at which the table was
    /// last known to hold `applied` whole. The guard wakes after the
    /// agent's own commits too; when nothing else was committed since, a
    /// reading of the generation says so, where a check of the rules
    /// dumped every published port (profiled: 2.6 ms of each `run -p`
    /// with 900 ports published).
    whole_at: Mutex<Option<u32>>,
    /// Other tables' dropping forward chains already warned about.
    warned: Mutex<Vec<String>>,
    /// Times the table was found missing or changed and loaded again.
    pub restored: AtomicU64,
}

impl Firewall {
    /// Makes the kernel hold the rules for `inputs` (one transaction), or
    /// removes the tables when there is no network at all. Turns on IPv4
    /// forwarding (and IPv6 when a network masquerades IPv6) and
    /// `route_localnet` on each bridge that publishes to localhost, as
    /// Docker does.
    pub fn apply(&self, inputs: Inputs) -> io::Result<()> {
        let mut applied = self.applied.lock().unwrap_or_else(|p| p.into_inner());
        if applied.as_ref() == Some(&inputs) {
            return Ok(());
        }
        // A change of published ports alone touches only their rules; a
        // failure there (the table changed behind the agent's back) falls
        // back to loading everything.
        let same_networks = applied
            .as_ref()
            .is_some_and(|old| old.networks == inputs.networks && !old.networks.is_empty());
        // Unknown until this change is through (an error leaves it so).
        let was_whole_at = self.whole_at().take();
        let before = generation().ok();
        let mut commits = 0;
        let updated = match applied.as_ref() {
            Some(old) if same_networks => {
                update_published(&old.forwards, &inputs.forwards, &mut commits)
            }
            _ => Err(io::Error::other("the networks changed")),
        };
        // Whether the table is whole after this change's commits, if they
        // were the only ones since `before`.
        let whole_after = if updated.is_ok() {
            // Only the published ports changed, and only they were touched.
            before.is_some() && was_whole_at == before
        } else if inputs.networks.is_empty() {
            encode::remove().commit()?;
            false
        } else {
            prepare_sysctls(&inputs)?;
            encode::program(&plan::plan(&inputs)).commit()?;
            commits += 1;
            self.warn_about_other_tables(&inputs);
            true
        };
        let after = generation().ok();
        *self.whole_at() = match (before, after) {
            (Some(before), Some(after)) if whole_after && after == before.wrapping_add(commits) => {
                Some(after)
            }
            _ => None,
        };
        *applied = Some(inputs);
        Ok(())
    }

    /// Logs once per chain each other table's forward chain that would
    /// drop the bridges' traffic, with the fix.
    fn warn_about_other_tables(&self, inputs: &Inputs) {
        let Ok(chains) = coexist::forward_drops_elsewhere() else {
            return;
        };
        let mut warned = self.warned.lock().unwrap_or_else(|p| p.into_inner());
        let bridges: Vec<String> = inputs.networks.iter().map(|n| n.bridge.clone()).collect();
        for chain in chains {
            if !warned.contains(&chain) {
                tracing::warn!(chain, "{}", coexist::advice(&chain, &bridges));
                warned.push(chain);
            }
        }
    }

    fn whole_at(&self) -> std::sync::MutexGuard<'_, Option<u32>> {
        self.whole_at.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Checks the tables against what was applied and loads them again
    /// if anything is missing; true if it had to. Nothing committed since
    /// the table was last known whole: nothing to check.
    pub fn heal(&self) -> io::Result<bool> {
        let applied = self.applied.lock().unwrap_or_else(|p| p.into_inner());
        let Some(inputs) = applied.as_ref().filter(|i| !i.networks.is_empty()) else {
            return Ok(false);
        };
        let now = generation().ok();
        if now.is_some() && *self.whole_at() == now {
            return Ok(false);
        }
        let plan = plan::plan(inputs);
        if is_whole(&plan)? {
            // Whole as of `now`, if nothing was committed while it looked.
            if now.is_some() && generation().ok() == now {
                *self.whole_at() = now;
            }
            return Ok(false);
        }
        *self.whole_at() = None;
        encode::program(&plan).commit()?;
        self.restored.fetch_add(1, Ordering::Relaxed);
        Ok(true)
    }
}

/// Makes the `published` chain hold `new` instead of `old`: only the
/// rules that changed, found by their comments, so a `run -p` or an `rm`
/// leaves every other rule alone. Counts its transactions in `commits`.
fn update_published(old: &[Forward], new: &[Forward], commits: &mut u32) -> io::Result<()> {
    // Sets, not `contains` on the lists: a scan per port made every
    // `run -p` cost the square of the ports already published.
    let (old_set, new_set): (HashSet<&Forward>, HashSet<&Forward>) =
        (old.iter().collect(), new.iter().collect());
    let gone: HashSet<String> = old
        .iter()
        .filter(|f| !new_set.contains(f))
        .map(Forward::comment)
        .collect();
    if !gone.is_empty() {
        let query = request(
            netlink_packet_netfilter::NetfilterProtoFamily::Inet,
            encode::rules_of(plan::PUBLISHED),
            NLM_F_REQUEST | NLM_F_DUMP,
        );
        let handles: Vec<u64> = dump(&query)?
            .iter()
            .filter_map(|(_, message)| encode::handle_and_comment(message))
            .filter(|(_, comment)| gone.contains(comment))
            .map(|(handle, _)| handle)
            .collect();
        if !handles.is_empty() {
            encode::delete_published(&handles).commit()?;
            *commits += 1;
        }
    }
    let added: Vec<plan::Rule> = new
        .iter()
        .filter(|f| !old_set.contains(f))
        .map(plan::published_rule)
        .collect();
    if !added.is_empty() {
        encode::add_published(&added).commit()?;
        *commits += 1;
    }
    Ok(())
}

/// Whether every chain of the plan is there with as many rules as it
/// should have.
fn is_whole(plan: &plan::Plan) -> io::Result<bool> {
    for (chain, expected) in encode::rule_counts(plan) {
        let mut rules = 0;
        let query = request(
            netlink_packet_netfilter::NetfilterProtoFamily::Inet,
            encode::rules_of(chain),
            NLM_F_REQUEST | NLM_F_DUMP,
        );
        let dump = exchange(&query, |reply| {
            if let Reply::Nft(NfTablesMessageType::NewRule) = reply {
                rules += 1;
            }
            ControlFlow::Continue(())
        });
        match dump {
            Ok(()) if rules == expected => {}
            Ok(()) => return Ok(false),
            Err(err) if err.raw_os_error() == Some(libc::ENOENT) => return Ok(false),
            Err(err) => return Err(err),
        }
    }
    Ok(true)
}

/// The sysctls the rules need: forwarding, and `route_localnet` on each
/// bridge with a way out, so that the host's own `localhost:PORT` can be
/// translated to a sandbox (Docker's `userland-proxy=false`; the
/// `localnet` chain drops 127/8 that arrives on a bridge).
fn prepare_sysctls(inputs: &Inputs) -> io::Result<()> {
    enable("/proc/sys/net/ipv4/ip_forward", "IPv4 forwarding")?;
    let v6_out = inputs
        .networks
        .iter()
        .any(|n| !n.internal && n.subnets.iter().any(|s| s.addr().is_ipv6()));
    if v6_out {
        enable("/proc/sys/net/ipv6/conf/all/forwarding", "IPv6 forwarding")?;
    }
    for net in inputs.networks.iter().filter(|n| !n.internal) {
        let path = format!("/proc/sys/net/ipv4/conf/{}/route_localnet", net.bridge);
        std::fs::write(&path, "1").map_err(|err| with_path(err, &path))?;
    }
    Ok(())
}

/// Writes 1 to a sysctl unless it is 1 already, and says so in the log:
/// an operator should know the agent turned forwarding on.
fn enable(path: &str, what: &str) -> io::Result<()> {
    let now = std::fs::read_to_string(path).map_err(|err| with_path(err, path))?;
    if now.trim() != "1" {
        std::fs::write(path, "1").map_err(|err| with_path(err, path))?;
        tracing::info!(
            sysctl = path,
            "turned on {what} (as Docker does) for the bridges' way out"
        );
    }
    Ok(())
}

fn with_path(err: io::Error, path: &str) -> io::Error {
    io::Error::new(err.kind(), format!("{path}: {err}"))
}

/// Keeps the firewall in place: after every change to the host's
/// nftables ruleset, checks the agent's tables and loads them again if
/// something removed them. Runs until aborted; the socket is made here,
/// in the agent's own namespace.
pub async fn guard(firewall: Arc<Firewall>) -> io::Result<()> {
    let events = open_socket(Purpose::Events)?;
    // SAFETY: the AsyncFd owns the descriptor, which stays open exactly as
    // long as it is registered.
    let events = unsafe { tokio::io::unix::AsyncFd::register(events) }?;
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let mut ready = events.readable().await?;
        crate::kernel::nft::drain_events(events.get_ref(), &mut buffer);
        ready.clear_ready();
        let firewall = Arc::clone(&firewall);
        match tokio::task::spawn_blocking(move || firewall.heal()).await {
            Ok(Ok(true)) => tracing::warn!(
                "the agent's nftables table was removed or changed (a firewall reload?): restored"
            ),
            Ok(Ok(false)) => {}
            Ok(Err(err)) => tracing::error!(%err, "cannot restore the agent's nftables table"),
            Err(err) => tracing::error!(%err, "the firewall check panicked"),
        }
    }
}

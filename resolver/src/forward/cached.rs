//! The forwarder's side of its cache ([`super::cache`]): which upstream
//! set a question would go to, as a key, without allocating; answers
//! kept after a round trip; counters per network.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use hickory_proto::rr::rdata::opt::EdnsCode;

use super::cache::key::MAX_SCOPE_SERVERS;
use super::cache::{CacheStats, Key, QueryFlags, Scope};
use super::{wire, Forwarder};
use crate::table::SandboxView;
use crate::upstream::{CacheProbe, ForwardRequest, ProbeAnswer};

/// Hits and misses of the questions of one network's sandboxes.
#[derive(Debug, Default)]
pub struct NetworkCounters {
    hits: AtomicU64,
    misses: AtomicU64,
}

impl Forwarder {
    /// The cache key of `request`: `None` when the cache is off, when no
    /// server may be asked (internal networks only: nothing is cached or
    /// served for them) or when the question is not one to cache (a
    /// client subnet option, RFC 7871 section 7.3: the answer is for that
    /// subnet).
    pub(super) fn cache_key(&self, request: &ForwardRequest) -> Option<Key> {
        self.cache.as_ref()?;
        let query = &request.query;
        let edns = query.edns.as_ref();
        if edns.is_some_and(|e| e.option(EdnsCode::Subnet).is_some()) {
            return None;
        }
        let flags = QueryFlags {
            rd: query.metadata.recursion_desired,
            cd: query.metadata.checking_disabled,
            dnssec_ok: edns.is_some_and(|e| e.flags().dnssec_ok),
            edns: edns.is_some(),
        };
        let question = wire::question(&request.wire)?;
        self.key_for(&request.sandbox_id, &request.view, flags, question)
    }

    /// The key of `question` asked with `flags` by the sandbox `sandbox_id`
    /// that sees `view`.
    fn key_for(
        &self,
        sandbox_id: &str,
        view: &SandboxView,
        flags: QueryFlags,
        question: &[u8],
    ) -> Option<Key> {
        if let Some(own) = self.own_route(sandbox_id) {
            if !own.servers.is_empty() {
                return Key::new(Scope::Sandbox(own.number), flags, question);
            }
        }
        // The same servers in the same order as `choose`, on the stack.
        let mut servers = [SocketAddr::from(([0, 0, 0, 0], 0)); MAX_SCOPE_SERVERS];
        let mut count = 0;
        let zones = &view.zones;
        for server in zones.iter().flat_map(|z| &z.network.dns) {
            if server.is_embedded_resolver() || servers[..count].contains(&server.0) {
                continue;
            }
            *servers.get_mut(count)? = server.0;
            count += 1;
        }
        if count > 0 {
            return Key::new(Scope::Servers(&servers[..count]), flags, question);
        }
        if zones.iter().all(|z| z.network.internal) {
            return None;
        }
        Key::new(Scope::Host(self.host.generation()), flags, question)
    }

    /// The cached answer to a plain question (see [`CacheProbe`]): the
    /// same key, counters and reply as [`Self::lookup`] gives the request
    /// built from it (a plain question has no EDNS options, so no client
    /// subnet).
    pub(super) fn lookup_plain(&self, probe: &CacheProbe<'_>) -> ProbeAnswer {
        let Some(cache) = self.cache.as_ref() else {
            return ProbeAnswer::Unasked;
        };
        let flags = QueryFlags {
            rd: probe.recursion_desired,
            cd: probe.checking_disabled,
            dnssec_ok: probe.dnssec_ok,
            edns: probe.edns,
        };
        let view = probe.view;
        let Some(key) = self.key_for(&view.sandbox_id, view, flags, probe.question) else {
            return ProbeAnswer::Unasked;
        };
        let answer = cache.get_within(&key, probe.id, probe.question, Instant::now(), probe.limit);
        if answer != ProbeAnswer::Unasked {
            self.count_network(view, matches!(answer, ProbeAnswer::Hit(_)));
        }
        answer
    }

    /// The cached upstream answer to `request`, if any.
    pub(super) fn lookup(&self, request: &ForwardRequest) -> Option<Vec<u8>> {
        let cache = self.cache.as_ref()?;
        let key = self.cache_key(request)?;
        let question = wire::question(&request.wire)?;
        let reply = cache.get(&key, request.query.metadata.id, question, Instant::now());
        self.count_network(&request.view, reply.is_some());
        reply
    }

    /// Keeps an upstream's `answer`, come `now`, under `key`, if it may be
    /// cached.
    pub(super) fn keep(&self, key: Option<&Key>, answer: &[u8], now: Instant) {
        if let (Some(cache), Some(key)) = (&self.cache, key) {
            cache.insert(key, answer, now);
        }
    }

    fn count_network(&self, view: &SandboxView, hit: bool) {
        for zone in &view.zones {
            let name = zone.network.name.as_str();
            let bump = |counters: &NetworkCounters| {
                let counter = if hit {
                    &counters.hits
                } else {
                    &counters.misses
                };
                counter.fetch_add(1, Ordering::Relaxed);
            };
            match self.network_counters.get(name) {
                Some(counters) => bump(&counters),
                None => bump(&self.network_counters.entry(name.into()).or_default()),
            }
        }
    }

    /// The cache's size and counters, `None` when it is off. With a
    /// network, hits and misses are those of its sandboxes' questions.
    pub fn cache_stats(&self, network: Option<&str>) -> Option<CacheStats> {
        let mut stats = self.cache.as_ref()?.stats();
        if let Some(network) = network {
            let counters = self.network_counters.get(network);
            let load = |f: fn(&NetworkCounters) -> &AtomicU64| {
                counters
                    .as_ref()
                    .map_or(0, |c| f(c).load(Ordering::Relaxed))
            };
            stats.hits = load(|c| &c.hits);
            stats.misses = load(|c| &c.misses);
        }
        Some(stats)
    }

    /// Empties the cache; returns how many entries it held.
    pub fn flush_cache(&self) -> usize {
        self.cache.as_ref().map_or(0, |cache| cache.flush())
    }
}

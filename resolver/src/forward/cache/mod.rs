//! The forwarding cache: upstreams' answers kept for their TTL, so a name
//! asked again is answered without a packet upstream (REFERENCE.md,
//! "cache"; issue #16).
//!
//! - [`key`]: what an answer is kept under (upstream set, flags, question).
//! - [`entry`]: what is kept, for how long, and the reply served from it.
//!
//! Structure: [`SHARDS`] shards, each a hash map behind its own `RwLock`,
//! a key's shard chosen by its hash. A hit takes one shard's read lock
//! for a lookup and a copy of the answer, so hits on the `dns` thread and
//! the forwarder's tasks never wait on each other but when a miss's
//! insert lands in the same shard at that moment; there is no global
//! lock. Counters are relaxed atomics. Eviction happens only on insert,
//! after an upstream round trip, which costs far more than the scan of
//! one shard it makes: expired entries go first, then the eighth of the
//! shard closest to expiry, so a full shard is scanned once per eighth of
//! its size of inserts (unique names at 5,000 q/s stay cheap). Bounds:
//! `capacity` entries and `capacity` KiB of answers, each split evenly
//! over the shards.

pub mod entry;
pub mod key;

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;
use std::time::Instant;

use foldhash::fast::RandomState;

use crate::upstream::ProbeAnswer;

pub use entry::Entry;
pub use key::{Key, QueryFlags, Scope};

/// Number of shards.
pub const SHARDS: usize = 16;
/// Answer bytes allowed per entry of capacity.
pub const BYTES_PER_SLOT: usize = 1024;

type Shard = HashMap<Box<[u8]>, Entry, RandomState>;

/// The cache shared by every sandbox's forwarded questions.
pub struct Cache {
    shards: Box<[RwLock<ShardState>]>,
    hasher: RandomState,
    per_shard_entries: usize,
    per_shard_bytes: usize,
    counters: Counters,
}

#[derive(Default)]
struct ShardState {
    map: Shard,
    bytes: usize,
}

#[derive(Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    inserts: AtomicU64,
    evictions: AtomicU64,
    expired: AtomicU64,
}

/// The cache's counters and size now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CacheStats {
    /// Entries the cache may hold (0: off).
    pub capacity: u64,
    /// Entries held.
    pub entries: u64,
    /// Answer bytes held.
    pub bytes: u64,
    /// Questions answered from the cache.
    pub hits: u64,
    /// Questions looked up and not found (then forwarded).
    pub misses: u64,
    /// Answers stored.
    pub inserts: u64,
    /// Live entries removed to make room.
    pub evictions: u64,
    /// Expired entries removed.
    pub expired: u64,
}

impl Cache {
    /// A cache of at most `capacity` entries; `None` for 0 (off).
    pub fn new(capacity: usize) -> Option<Cache> {
        if capacity == 0 {
            return None;
        }
        let per_shard_entries = capacity.div_ceil(SHARDS);
        Some(Cache {
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
            hasher: RandomState::default(),
            per_shard_entries,
            per_shard_bytes: per_shard_entries * BYTES_PER_SLOT,
            counters: Counters::default(),
        })
    }

    fn shard(&self, key: &[u8]) -> &RwLock<ShardState> {
        &self.shards[self.hasher.hash_one(key) as usize % SHARDS]
    }

    /// The reply for `key` at `now`, with the client's `id` and
    /// `question` (see [`Entry::serve`]), counted as a hit or a miss.
    pub fn get(&self, key: &Key, id: u16, question: &[u8], now: Instant) -> Option<Vec<u8>> {
        match self.get_within(key, id, question, now, usize::MAX) {
            ProbeAnswer::Hit(reply) => Some(reply),
            ProbeAnswer::Miss | ProbeAnswer::Unasked => None,
        }
    }

    /// [`Self::get`] for a client that takes at most `limit` bytes: an
    /// entry larger than that is left alone and nothing is counted (the
    /// caller's general path cuts it to fit).
    pub fn get_within(
        &self,
        key: &Key,
        id: u16,
        question: &[u8],
        now: Instant,
        limit: usize,
    ) -> ProbeAnswer {
        let shard = self
            .shard(key.as_bytes())
            .read()
            .unwrap_or_else(|p| p.into_inner());
        let entry = shard.map.get(key.as_bytes());
        if entry.is_some_and(|entry| entry.size() > limit) {
            return ProbeAnswer::Unasked;
        }
        let reply = entry.and_then(|entry| entry.serve(id, question, now));
        drop(shard);
        let (counter, answer) = match reply {
            Some(reply) => (&self.counters.hits, ProbeAnswer::Hit(reply)),
            None => (&self.counters.misses, ProbeAnswer::Miss),
        };
        counter.fetch_add(1, Ordering::Relaxed);
        answer
    }

    /// Keeps `reply` under `key` if it may be cached (see [`entry`]);
    /// returns whether it was kept.
    pub fn insert(&self, key: &Key, reply: &[u8], now: Instant) -> bool {
        let Some(entry) = Entry::new(reply, now) else {
            return false;
        };
        let size = entry.footprint() + key.as_bytes().len();
        if size > self.per_shard_bytes {
            return false;
        }
        let mut shard = self
            .shard(key.as_bytes())
            .write()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(old) = shard.map.remove(key.as_bytes()) {
            shard.bytes -= old.footprint() + key.as_bytes().len();
        }
        self.make_room(&mut shard, size, now);
        shard.bytes += size;
        shard.map.insert(key.as_bytes().into(), entry);
        self.counters.inserts.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// Removes entries until one of `size` bytes fits: expired ones
    /// first, then those nearest to expiry.
    fn make_room(&self, shard: &mut ShardState, size: usize, now: Instant) {
        let full = |s: &ShardState| {
            s.map.len() >= self.per_shard_entries || s.bytes + size > self.per_shard_bytes
        };
        if !full(shard) {
            return;
        }
        let before = shard.map.len();
        let mut freed = 0;
        shard.map.retain(|key, entry| {
            let keep = !entry.expired(now);
            if !keep {
                freed += entry.footprint() + key.len();
            }
            keep
        });
        shard.bytes -= freed;
        let expired = before - shard.map.len();
        self.counters
            .expired
            .fetch_add(expired as u64, Ordering::Relaxed);
        while full(shard) {
            self.evict_batch(shard);
        }
    }

    /// Removes the eighth of the shard nearest to expiry (at least one
    /// entry), so that a full shard is scanned once per that many
    /// inserts, not once per insert.
    fn evict_batch(&self, shard: &mut ShardState) {
        let mut expiries: Vec<Instant> = shard.map.values().map(Entry::expires_at).collect();
        if expiries.is_empty() {
            return;
        }
        let batch = (expiries.len() / 8).max(1);
        let threshold = *expiries.select_nth_unstable(batch - 1).1;
        let (mut removed, mut freed) = (0, 0);
        shard.map.retain(|key, entry| {
            let evict = removed < batch && entry.expires_at() <= threshold;
            if evict {
                removed += 1;
                freed += entry.footprint() + key.len();
            }
            !evict
        });
        shard.bytes -= freed;
        self.counters
            .evictions
            .fetch_add(removed as u64, Ordering::Relaxed);
    }

    /// Empties the cache; returns how many entries it held.
    pub fn flush(&self) -> usize {
        let mut removed = 0;
        for shard in self.shards.iter() {
            let mut shard = shard.write().unwrap_or_else(|p| p.into_inner());
            removed += shard.map.len();
            shard.map.clear();
            shard.bytes = 0;
        }
        removed
    }

    /// Counters and size now.
    pub fn stats(&self) -> CacheStats {
        let (mut entries, mut bytes) = (0, 0);
        for shard in self.shards.iter() {
            let shard = shard.read().unwrap_or_else(|p| p.into_inner());
            entries += shard.map.len() as u64;
            bytes += shard.bytes as u64;
        }
        let c = &self.counters;
        CacheStats {
            capacity: (self.per_shard_entries * SHARDS) as u64,
            entries,
            bytes,
            hits: c.hits.load(Ordering::Relaxed),
            misses: c.misses.load(Ordering::Relaxed),
            inserts: c.inserts.load(Ordering::Relaxed),
            evictions: c.evictions.load(Ordering::Relaxed),
            expired: c.expired.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests;

//! An overlay network's addresses in the cluster, Calico's way: a host
//! claims a block of the network's dynamic addresses (its `--ip-range`,
//! else its subnet) by transaction, and allocates inside its own blocks
//! with no cluster-wide round trip; when they are full it claims another
//! block, and it gives back a block it no longer uses (see `room`).
//!
//! An address outside the host's own blocks (a static `--ip` anywhere in
//! the subnet, or one borrowed from another host's block when no block is
//! free) is claimed on its own key, `addresses/NET/IP`, under the host's
//! lease. Two rules keep every address with one endpoint, with no lock:
//!
//! - a claim succeeds only if the key is absent and, at the revision the
//!   claimer read, no endpoint had the address and neither the block's
//!   holder nor that holder's endpoints have changed since (compared in
//!   the same transaction);
//! - an endpoint is published only if nobody else claims its address
//!   (compared in the same transaction), so an address a host allocated
//!   in its own block at the moment another host claimed it is refused to
//!   one of the two, never given to both.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use etcd_client::{
    Compare, CompareOp, GetOptions, PutOptions, Txn, TxnOp, TxnOpResponse, TxnResponse,
};
use ipnet::Ipv4Net;

use super::keys::{self, EndpointDoc};
use super::Cluster;
use crate::agent::AgentError;

/// A transaction lost to another host is tried again this many times.
const TRIES: usize = 5;

/// What a host asked for a block got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blocks {
    /// Every block this host holds now, lowest first.
    Held(Vec<Ipv4Net>),
    /// No block is free; these hosts hold them.
    NoneFree(Vec<String>),
}

/// The address a claim asks for.
#[derive(Debug, Clone, Copy)]
pub enum Want {
    /// This one (a static `--ip`).
    Exact(Ipv4Addr),
    /// Any free one in the pool outside this host's blocks (a borrow).
    Any,
}

/// One network's addresses in the cluster at one revision.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// The revision read.
    pub revision: i64,
    /// The blocks' holders by index.
    pub blocks: BTreeMap<u32, String>,
    /// The claimed addresses' holders.
    pub claims: BTreeMap<Ipv4Addr, String>,
    /// Every endpoint.
    pub endpoints: Vec<EndpointDoc>,
}

impl Snapshot {
    /// Who has `address`, in words, if anyone.
    pub fn holder_of(&self, address: Ipv4Addr) -> Option<String> {
        let sandbox = self.endpoints.iter().find(|e| e.ipv4 == address);
        match (self.claims.get(&address), sandbox) {
            (_, Some(e)) => Some(format!("sandbox {:?} on host {}", e.sandbox, e.host)),
            (Some(host), None) => Some(format!("host {host}")),
            (None, None) => None,
        }
    }

    /// The lowest address of `pool` nobody has, outside the blocks `me`
    /// holds, for which `usable` holds (a borrow).
    pub fn free_elsewhere(
        &self,
        pool: Ipv4Net,
        me: &str,
        usable: impl Fn(Ipv4Addr) -> bool,
    ) -> Option<Ipv4Addr> {
        let mine = |a: Ipv4Addr| {
            keys::block_index(pool, a).is_some_and(|i| self.blocks.get(&i).is_some_and(|h| h == me))
        };
        pool.hosts()
            .find(|a| !mine(*a) && usable(*a) && self.holder_of(*a).is_none())
    }
}

/// The first block index of `count` nobody holds.
pub fn first_free_block(count: u32, held: &BTreeMap<u32, String>) -> Option<u32> {
    (0..count).find(|i| !held.contains_key(i))
}

impl Cluster {
    /// The blocks, claims and endpoints of `network`, read at one revision
    /// (one transaction of three reads).
    pub async fn snapshot(&self, network: &str) -> Result<Snapshot, AgentError> {
        let k = &self.keys;
        let prefix = || Some(GetOptions::new().with_prefix());
        let txn = Txn::new().and_then([
            TxnOp::get(k.blocks(network), prefix()),
            TxnOp::get(k.addresses_of(network), prefix()),
            TxnOp::get(k.endpoints_of(network), prefix()),
        ]);
        let response = self.call(self.client().txn(txn)).await?;
        let mut snapshot = Snapshot {
            revision: response.header().map(|h| h.revision()).unwrap_or(0),
            ..Snapshot::default()
        };
        let gets: Vec<_> = response
            .op_responses()
            .into_iter()
            .filter_map(|r| match r {
                TxnOpResponse::Get(get) => Some(get),
                _ => None,
            })
            .collect();
        let last = |key: &[u8]| {
            let key = String::from_utf8_lossy(key);
            key.rsplit('/').next().unwrap_or_default().to_owned()
        };
        let text = |v: &[u8]| String::from_utf8_lossy(v).into_owned();
        for (i, get) in gets.iter().enumerate() {
            for kv in get.kvs() {
                match i {
                    0 => drop(
                        last(kv.key())
                            .parse()
                            .map(|n| snapshot.blocks.insert(n, text(kv.value()))),
                    ),
                    1 => drop(
                        last(kv.key())
                            .parse()
                            .map(|a| snapshot.claims.insert(a, text(kv.value()))),
                    ),
                    _ => snapshot
                        .endpoints
                        .extend(serde_json::from_slice(kv.value()).ok()),
                }
            }
        }
        Ok(snapshot)
    }

    /// Every block of `network` this host holds, with a new one claimed
    /// when `known` (the blocks it knows it holds) has them all.
    pub async fn claim_block(
        &self,
        network: &str,
        pool: Ipv4Net,
        known: &[Ipv4Net],
    ) -> Result<Blocks, AgentError> {
        let me = self.config.host.as_str();
        for _ in 0..TRIES {
            let held = self.snapshot(network).await?.blocks;
            let mut mine: Vec<Ipv4Net> = held
                .iter()
                .filter(|(_, h)| *h == me)
                .filter_map(|(i, _)| keys::block(pool, *i))
                .collect();
            // Held in the cluster but not known here (a record from
            // before a restart): those first.
            if mine.iter().any(|b| !known.contains(b)) {
                return Ok(Blocks::Held(mine));
            }
            let Some(index) = first_free_block(keys::block_count(pool), &held) else {
                let mut holders: Vec<String> = held.into_values().collect();
                holders.dedup();
                return Ok(Blocks::NoneFree(holders));
            };
            let key = self.keys.block(network, index);
            let txn = Txn::new()
                .when([Compare::create_revision(key.clone(), CompareOp::Equal, 0)])
                .and_then([TxnOp::put(key, me, None)]);
            if self.call(self.client().txn(txn)).await?.succeeded() {
                mine.extend(keys::block(pool, index));
                mine.sort();
                return Ok(Blocks::Held(mine));
            }
        }
        Err(AgentError::Conflict(format!(
            "network {network:?}: other hosts kept taking the free blocks; try again"
        )))
    }

    /// Gives back block `index` of `network` if this host holds it.
    pub async fn release_block(&self, network: &str, index: u32) -> Result<bool, AgentError> {
        let key = self.keys.block(network, index);
        let txn = Txn::new()
            .when([Compare::value(
                key.clone(),
                CompareOp::Equal,
                self.config.host.as_str(),
            )])
            .and_then([TxnOp::delete(key, None)]);
        Ok(self.call(self.client().txn(txn)).await?.succeeded())
    }

    /// Claims an address of `network` outside this host's blocks, under
    /// its lease: `want`, or (a borrow) the lowest free one of `pool` for
    /// which `usable` holds. Refused naming the address and who has it.
    pub async fn claim_address(
        &self,
        network: &str,
        pool: Ipv4Net,
        want: Want,
        usable: impl Fn(Ipv4Addr) -> bool,
    ) -> Result<Ipv4Addr, AgentError> {
        let lease = self.need_lease()?;
        let me = self.config.host.as_str();
        for _ in 0..TRIES {
            let snapshot = self.snapshot(network).await?;
            let address = match want {
                Want::Exact(address) => {
                    if let Some(holder) = snapshot.holder_of(address) {
                        return Err(AgentError::Conflict(format!(
                            "address {address} on network {network:?} is held by {holder}"
                        )));
                    }
                    address
                }
                Want::Any => match snapshot.free_elsewhere(pool, me, &usable) {
                    Some(address) => address,
                    None => return Err(no_room(network, pool, &snapshot)),
                },
            };
            let key = self.keys.address(network, address);
            let after = snapshot.revision + 1;
            let mut compares = vec![Compare::create_revision(key.clone(), CompareOp::Equal, 0)];
            if let Some(index) = keys::block_index(pool, address) {
                let block = self.keys.block(network, index);
                compares.push(Compare::mod_revision(block, CompareOp::Less, after));
                if let Some(holder) = snapshot.blocks.get(&index) {
                    let theirs = self.keys.endpoints_on(network, holder);
                    compares
                        .push(Compare::mod_revision(theirs, CompareOp::Less, after).with_prefix());
                }
            }
            let put = TxnOp::put(key, me, Some(PutOptions::new().with_lease(lease)));
            let txn = Txn::new().when(compares).and_then([put]);
            if self.call(self.client().txn(txn)).await?.succeeded() {
                return Ok(address);
            }
        }
        Err(AgentError::Conflict(format!(
            "network {network:?}: its addresses kept changing while one was claimed; try again"
        )))
    }

    /// Gives back a claimed address if this host holds it.
    pub async fn release_address(
        &self,
        network: &str,
        address: Ipv4Addr,
    ) -> Result<(), AgentError> {
        let txn = self.release_address_txn(network, address);
        self.call(self.client().txn(txn)).await.map(drop)
    }

    fn release_address_txn(&self, network: &str, address: Ipv4Addr) -> Txn {
        let key = self.keys.address(network, address);
        Txn::new()
            .when([Compare::value(
                key.clone(),
                CompareOp::Equal,
                self.config.host.as_str(),
            )])
            .and_then([TxnOp::delete(key, None)])
    }

    /// Writes this host's endpoint under its lease, only while nobody
    /// else claims its address; `claimed`: its address is outside this
    /// host's blocks, so its claim is written (again) with it.
    pub async fn put_endpoint(&self, doc: &EndpointDoc, claimed: bool) -> Result<(), AgentError> {
        let lease = self.need_lease()?;
        let options = || Some(PutOptions::new().with_lease(lease));
        let key = self.keys.endpoint(&doc.network, &doc.host, &doc.sandbox_id);
        let address = self.keys.address(&doc.network, doc.ipv4);
        let me = self.config.host.as_str();
        let mut puts = vec![TxnOp::put(key, super::ops::json(doc), options())];
        if claimed {
            puts.push(TxnOp::put(address.clone(), me, options()));
        }
        let txn = Txn::new()
            .when([Compare::create_revision(
                address.clone(),
                CompareOp::Equal,
                0,
            )])
            .and_then(puts.clone())
            .or_else([TxnOp::get(address, None)]);
        let response = self.call(self.client().txn(txn)).await?;
        match holder_in(&response) {
            None => Ok(()),
            // Its own claim, already there (a lease granted again).
            Some(holder) if holder == me => {
                let txn = Txn::new().and_then(puts);
                self.call(self.client().txn(txn)).await.map(drop)
            }
            Some(holder) => Err(AgentError::Conflict(format!(
                "address {} on network {:?} was claimed by host {holder} meanwhile; try again",
                doc.ipv4, doc.network
            ))),
        }
    }

    /// Deletes this host's endpoint of `sandbox_id` on `network`, with
    /// its claim on `address` if it holds one.
    pub async fn delete_endpoint(
        &self,
        network: &str,
        sandbox_id: &str,
        address: Option<Ipv4Addr>,
    ) -> Result<(), AgentError> {
        let key = self.keys.endpoint(network, &self.config.host, sandbox_id);
        let mut ops = vec![TxnOp::delete(key, None)];
        if let Some(address) = address {
            ops.push(TxnOp::txn(self.release_address_txn(network, address)));
        }
        self.call(self.client().txn(Txn::new().and_then(ops)))
            .await
            .map(drop)
    }

    /// The lease, or the error that there is none yet.
    fn need_lease(&self) -> Result<i64, AgentError> {
        match self.lease_id() {
            0 => Err(self.unreachable("this host holds no lease yet")),
            lease => Ok(lease),
        }
    }
}

/// The holder a failed publish read, if it failed.
fn holder_in(response: &TxnResponse) -> Option<String> {
    if response.succeeded() {
        return None;
    }
    response.op_responses().into_iter().find_map(|r| match r {
        TxnOpResponse::Get(get) => get
            .kvs()
            .first()
            .map(|kv| String::from_utf8_lossy(kv.value()).into_owned()),
        _ => None,
    })
}

/// The error for a network whose every address is taken.
fn no_room(network: &str, pool: Ipv4Net, snapshot: &Snapshot) -> AgentError {
    let mut hosts: Vec<&str> = snapshot.blocks.values().map(String::as_str).collect();
    hosts.sort_unstable();
    hosts.dedup();
    AgentError::Conflict(format!(
        "network {network:?}: no free address left in {pool}: every block is held (by {}) and every address in them is in use",
        hosts.join(", ")
    ))
}

#[cfg(test)]
mod tests;

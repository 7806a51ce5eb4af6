//! The attach path's side of an overlay network's addresses (the cluster's
//! side is [`super::claims`]): room made for an endpoint before its steps,
//! taken back when the attach fails or the endpoint goes, and the other
//! hosts' claims noted in this host's IPAM as the watch sees them.
//!
//! - A static `--ip` in one of this host's blocks is this host's to give
//!   (its IPAM decides, under the agent's lock); anywhere else in the
//!   subnet it is claimed in the cluster first.
//! - A dynamic address comes from this host's blocks; when they are full
//!   the host claims another block; when no block is free it borrows a
//!   free address in another host's block, claimed like a static one.
//! - A block this host holds besides others is given back when its last
//!   endpoint here goes; the last block is kept while the network is
//!   here, so a sandbox run and removed again and again costs no block
//!   claim each time.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use ipnet::{IpNet, Ipv4Net};

use super::claims::{Blocks, Want};
use super::keys::{self, NetworkDoc};
use crate::agent::ipam::IpamError;
use crate::agent::store::NetworkRecord;
use crate::agent::{Agent, AgentError, Inner};

/// What making room for an endpoint gave.
#[derive(Debug)]
pub(in crate::agent) struct Room {
    /// The network as it is now (with a block more, maybe).
    pub net: NetworkRecord,
    /// The address to take: the static one, or the one borrowed.
    pub ip: Option<IpAddr>,
    /// An address claimed in the cluster for this attach, given back if
    /// it fails.
    claimed: Option<Ipv4Addr>,
}

/// The overlay's pool of dynamic addresses, which its blocks are carved
/// from: its `--ip-range`, else its subnet.
fn pool(net: &NetworkRecord) -> Option<Ipv4Net> {
    let first = net.subnets.first()?;
    match first.ip_range.unwrap_or(first.subnet) {
        IpNet::V4(v4) => Some(v4),
        IpNet::V6(_) => None,
    }
}

impl Agent {
    /// Makes room on `net` for an endpoint asking for `ip` (if any).
    pub(in crate::agent) async fn make_room(
        &self,
        inner: &mut Inner,
        net: &NetworkRecord,
        ip: Option<IpAddr>,
    ) -> Result<Room, AgentError> {
        let mut room = Room {
            net: net.clone(),
            ip,
            claimed: None,
        };
        let (Some(_), Some(pool)) = (&net.overlay, pool(net)) else {
            return Ok(room);
        };
        let cluster = self.need_cluster()?;
        let subnets = inner
            .ipam
            .get(&net.name)
            .ok_or_else(|| AgentError::not_found("network", &net.name))?;
        match ip {
            Some(IpAddr::V4(address)) => {
                if !subnets[0].contains(&address.into()) {
                    return Err(IpamError::OutsideSubnet {
                        address: address.into(),
                        subnets: net.subnets.iter().map(|s| s.subnet).collect(),
                        network: net.name.clone(),
                    }
                    .into());
                }
                subnets[0].check(address.into(), &net.name)?;
                if !super::local::in_own_blocks(net, address) {
                    let exact = Want::Exact(address);
                    cluster
                        .claim_address(&net.name, pool, exact, |_| true)
                        .await?;
                    room.claimed = Some(address);
                }
            }
            // Refused by the allocation, naming it.
            Some(IpAddr::V6(_)) => {}
            None if subnets[0].has_free() => {}
            None => self.find_room(inner, &mut room, pool).await?,
        }
        Ok(room)
    }

    /// Room for a dynamic address when this host's blocks are full: a
    /// block more, else an address borrowed from another host's block.
    async fn find_room(
        &self,
        inner: &mut Inner,
        room: &mut Room,
        pool: Ipv4Net,
    ) -> Result<(), AgentError> {
        let cluster = self.need_cluster()?;
        let name = room.net.name.clone();
        // Twice at most: blocks held but not known here, then a new one.
        for _ in 0..2 {
            let known = room.net.overlay.as_ref().map(|o| o.blocks.clone());
            match cluster
                .claim_block(&name, pool, &known.unwrap_or_default())
                .await?
            {
                Blocks::Held(blocks) => {
                    tracing::info!(network = %name, ?blocks, "this host's blocks of the overlay's addresses");
                    room.net = self.set_blocks(inner, &room.net, blocks)?;
                    if inner.ipam[&name][0].has_free() {
                        return Ok(());
                    }
                }
                Blocks::NoneFree(_) => break,
            }
        }
        let subnets = &inner.ipam[&name];
        let usable = |a: Ipv4Addr| subnets[0].check(a.into(), &name).is_ok();
        let address = cluster
            .claim_address(&name, pool, Want::Any, usable)
            .await?;
        tracing::info!(network = %name, %address, "every block is held: borrowed an address of another host's block");
        room.ip = Some(address.into());
        room.claimed = Some(address);
        Ok(())
    }

    /// Keeps `blocks` as this host's blocks of `net`, in its record and
    /// its IPAM, persisted.
    fn set_blocks(
        &self,
        inner: &mut Inner,
        net: &NetworkRecord,
        blocks: Vec<Ipv4Net>,
    ) -> Result<NetworkRecord, AgentError> {
        let mut record = net.clone();
        if let Some(overlay) = record.overlay.as_mut() {
            overlay.blocks = blocks.clone();
        }
        if let Some(subnets) = inner.ipam.get_mut(&record.name) {
            subnets[0].set_blocks(blocks.into_iter().map(Into::into).collect());
        }
        inner
            .state
            .networks
            .insert(record.name.clone(), record.clone());
        self.persist(inner)?;
        Ok(record)
    }

    /// Gives back what [`Agent::make_room`] claimed, after a failed attach.
    pub(in crate::agent) async fn give_back(&self, room: &Room) -> Option<AgentError> {
        let (Some(address), Some(cluster)) = (room.claimed, self.cluster()) else {
            return None;
        };
        cluster.release_address(&room.net.name, address).await.err()
    }

    /// After `address` left `network` here: gives back its block if no
    /// endpoint here uses it any more and this host holds another one.
    pub(in crate::agent) async fn release_block_if_unused(
        &self,
        inner: &mut Inner,
        network: &str,
        address: Option<Ipv4Addr>,
    ) {
        let Some(net) = inner.state.networks.get(network).cloned() else {
            return;
        };
        let (Some(overlay), Some(pool), Some(address)) = (&net.overlay, pool(&net), address) else {
            return;
        };
        let Some(block) = overlay
            .blocks
            .iter()
            .find(|b| b.contains(&address))
            .copied()
        else {
            return;
        };
        let used = inner.ipam[network][0].uses_any_in(&block.into());
        let (Some(cluster), Some(index)) = (self.cluster(), keys::block_index(pool, address))
        else {
            return;
        };
        if used || overlay.blocks.len() < 2 {
            return;
        }
        match cluster.release_block(network, index).await {
            Ok(_) => {
                let blocks = overlay
                    .blocks
                    .iter()
                    .filter(|b| **b != block)
                    .copied()
                    .collect();
                if let Err(err) = self.set_blocks(inner, &net, blocks) {
                    tracing::warn!(%err, network, "cannot persist the blocks given back");
                }
                tracing::info!(network, %block, "gave back an unused block of the overlay's addresses");
            }
            Err(err) => {
                tracing::warn!(%err, network, %block, "cannot give back an unused block; keeping it")
            }
        }
    }

    /// Notes in this host's IPAM that another host claims `address` on
    /// `network` (`holder`), or no longer does.
    pub(crate) async fn note_claim(
        &self,
        network: &str,
        address: Ipv4Addr,
        holder: Option<String>,
    ) {
        let me = self.cluster().map(|c| c.config.host.clone());
        let holder = holder.filter(|h| Some(h) != me.as_ref());
        let mut inner = self.inner.lock().await;
        if let Some(subnets) = inner.ipam.get_mut(network) {
            subnets[0].set_elsewhere(address.into(), holder);
        }
    }

    /// Notes every claim of the cluster as just read, forgetting the rest.
    pub(crate) async fn note_all_claims(&self, claims: &BTreeMap<(String, Ipv4Addr), String>) {
        let me = self.cluster().map(|c| c.config.host.clone());
        let mut inner = self.inner.lock().await;
        let overlays: Vec<String> = inner
            .state
            .networks
            .values()
            .filter(|n| n.overlay.is_some())
            .map(|n| n.name.clone())
            .collect();
        for name in overlays {
            let Some(subnets) = inner.ipam.get_mut(&name) else {
                continue;
            };
            subnets[0].clear_elsewhere();
            for ((network, address), holder) in claims {
                if *network == name && Some(holder) != me.as_ref() {
                    subnets[0].set_elsewhere((*address).into(), Some(holder.clone()));
                }
            }
        }
    }
}

/// Whether the local record of an overlay network has the cluster's range
/// and aux addresses (a record from before they were taken keeps its old
/// ones otherwise).
pub(super) fn same_limits(local: &NetworkRecord, doc: &NetworkDoc) -> bool {
    let Some(first) = local.subnets.first() else {
        return true;
    };
    let aux: Vec<IpAddr> = doc.aux.iter().map(|a| (*a).into()).collect();
    first.ip_range == doc.ip_range.map(Into::into) && first.aux == aux
}

//! Fault points for the namespace tests: a debug build of the agent fails
//! on purpose at the points named in `NETAGENT_FAULTS` (comma-separated),
//! so the tests can prove that a failure part-way through an attach, an
//! injection, a detach or a removal undoes what it did and reports every
//! step that failed. The failures that matter there (a veth the kernel
//! will not delete, a resolver that cannot start after its redirect is in
//! place) cannot be provoked from outside on demand.
//!
//! A release build has no fault points: [`check`] is empty and reads no
//! environment, and [`stall`] returns at once.

use super::AgentError;

/// Where an attach's veth is made.
pub const ATTACH_VETH: &str = "attach.veth";
/// After an injection's redirect and guard are in place.
pub const INJECT_SERVE: &str = "inject.serve";
/// Where a detach deletes the veth.
pub const DETACH_VETH: &str = "detach.veth";
/// Where a removal deletes the sandbox's namespace.
pub const DELETE_NETNS: &str = "sandbox.delete_netns";
/// After a new network's bridge is made, before its addresses.
pub const NETWORK_BRIDGE: &str = "network.bridge";
/// Stalls for good once a sandbox's namespace is pinned: a crash test
/// kills the agent there.
pub const STALL_NETNS: &str = "stall.netns";
/// Stalls for good once an attach's veth pair is made.
pub const STALL_VETH: &str = "stall.veth";
/// Stalls for good once a new network's bridge is made.
pub const STALL_BRIDGE: &str = "stall.bridge";

#[cfg(debug_assertions)]
fn wanted(point: &str) -> bool {
    static FAULTS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    let faults = FAULTS.get_or_init(|| {
        std::env::var("NETAGENT_FAULTS")
            .unwrap_or_default()
            .split(',')
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect()
    });
    faults.iter().any(|f| f == point)
}

/// Never returns when a debug build was told to stall at `point`: the
/// agent sits mid-step, holding its lock, until a test kills it.
#[cfg(debug_assertions)]
pub async fn stall(point: &'static str) {
    if wanted(point) {
        tracing::warn!(point, "stalling on purpose (NETAGENT_FAULTS)");
        std::future::pending::<()>().await;
    }
}

/// Release builds never stall.
#[cfg(not(debug_assertions))]
#[inline(always)]
pub async fn stall(_point: &'static str) {}

/// Fails with an I/O error naming `point` when a debug build was told to.
#[cfg(debug_assertions)]
pub fn check(point: &'static str) -> Result<(), AgentError> {
    if wanted(point) {
        return Err(AgentError::io(point)(std::io::Error::other(
            "fault injected (NETAGENT_FAULTS)",
        )));
    }
    Ok(())
}

/// Release builds have no fault points.
#[cfg(not(debug_assertions))]
#[inline(always)]
pub fn check(_point: &'static str) -> Result<(), AgentError> {
    Ok(())
}

//! The kernel plumbing, the bottom layer: it imports nothing else of this
//! crate, and nothing in it knows about networks or sandboxes as the agent
//! keeps them.
//!
//! - [`netns`]: the namespace worker thread (every `setns` happens there,
//!   never on a tokio worker), namespace references, pinning and deleting.
//! - [`link`]: rtnetlink: bridges, veth pairs, addresses, routes.
//! - [`process`]: a pidfd that says when an adopted container's process
//!   has exited.
//! - [`redirect`]: 127.0.0.11:53 to the agent's port inside a sandbox, as
//!   stateless nf_tables rules over netlink, and the watch that restores
//!   them.
//! - [`firewall`]: the host's data plane for the bridges: outbound
//!   masquerade, published ports, ICC, isolation between networks, in one
//!   nf_tables table of the agent's, restored when something removes it.
//! - [`ports`]: host ports held for published ports.
//! - [`vxlan`]: an overlay network's VXLAN device on its bridge, and its
//!   static forwarding and neighbour entries for remote endpoints.
//! - `nft`: nf_tables netlink framing shared by the two.

pub mod firewall;
pub mod link;
pub mod netns;
pub(crate) mod nft;
pub mod ports;
pub mod process;
pub mod redirect;
pub mod vxlan;

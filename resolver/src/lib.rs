//! netagent's DNS side: everything between a query arriving on a sandbox's
//! socket and the reply leaving it. It knows nothing of namespaces or
//! netlink (DESIGN.md): the agent binds the sockets and writes the table.
//!
//! Module map, in the order a query meets them:
//! - [`server`]: per-sandbox UDP and TCP serving on sockets handed in
//!   already bound; [`server::ResolverCore`] is what all sandboxes share.
//! - [`handler`]: one message in, one outcome out (the message rules).
//! - [`shape`]: a walk over a message's bytes for what the decoder lets
//!   through (trailing bytes, malformed EDNS options).
//! - [`answer`]: the pure decision for one question over one sandbox's view.
//! - [`qname`]: query names as table keys and reverse-lookup addresses,
//!   without allocating.
//! - [`table`]: the endpoint table, its per-network zones, per-sandbox
//!   views, and its JSON snapshot form.
//! - [`response`]: flags, EDNS, SOA and truncation of replies.
//! - [`upstream`]: the seam to upstream servers, with a SERVFAIL
//!   implementation and a test fake.
//! - [`forward`]: the real upstream: server choice, health memory,
//!   parallel fallback, reused sockets, resolv.conf watching.
//! - [`udp_io`]: batched UDP receive and send (recvmmsg, sendmmsg, GSO),
//!   shared by the server and the forwarder.
//! - [`resolv_conf`]: reading resolv.conf(5) and writing a sandbox's.
//! - [`stats`]: questions counted by type and result.
//! - [`events`]: client-caused events (malformed EDNS, TCP clients over a
//!   bound), counted and logged rate-limited.
//! - [`secure_random`]: forwarded questions' ids and pool sockets, from
//!   the kernel's secure generator.

pub mod answer;
pub mod events;
pub mod forward;
pub mod handler;
pub mod qname;
pub mod resolv_conf;
pub mod response;
mod secure_random;
pub mod server;
pub mod shape;
pub mod stats;
pub mod table;
mod udp_io;
pub mod upstream;

pub use server::{ResolverCore, SandboxServer, SandboxSockets};
pub use table::{Endpoint, EndpointTable, Network, TableSnapshot};

//! The host side of netagent and its command line, in four layers whose
//! imports run one way, `cli` -> `daemon` -> `agent` -> `kernel`
//! (docs/ARCHITECTURE.md):
//!
//! - [`cli`]: what runs in the user's process: the verbs and flags, the
//!   control API's client, output, `exec`, the demo. The entry point.
//! - [`daemon`]: the long-running process: runtimes, signals, logging, the
//!   control API, and `dns serve`. The API's bodies,
//!   [`daemon::api::model`], are the types `cli` reads and writes too.
//! - `agent`: the per-host logic: networks, sandboxes, endpoints, resolver
//!   injection, IPAM, the state on disk, restore and watch.
//! - `kernel`: namespaces, links, the sandbox's DNS redirect over
//!   netlink, and process exits (pidfd); it imports nothing else of this
//!   crate.

mod agent;
pub mod cli;
pub mod daemon;
mod kernel;

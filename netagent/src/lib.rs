//! The host side of netagent and its command line.
//!
//! Module map:
//! - [`cli`]: the verbs and flags (clap).
//! - [`serve`]: `netagent dns serve`, one sandbox's resolver over a table
//!   file on a loopback address.
//! - [`logging`]: tracing setup from the daemon's `[log]` settings.

pub mod agent;
pub mod api;
pub mod cli;
pub mod client;
pub mod commands;
pub mod daemon;
pub mod demo;
pub mod exec;
pub mod ipam;
pub mod link;
pub mod logging;
pub mod netns;
pub mod nftables;
pub mod redirect;
pub mod serve;
pub mod store;

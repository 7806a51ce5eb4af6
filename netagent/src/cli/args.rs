//! The command line, as clap derives it. Each verb's `--help` comes from
//! the doc comments here; the flags follow Docker's where Docker has them.

mod network;
mod sandbox;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub use network::{NetworkCommand, NetworkCreateArgs};
pub use sandbox::{
    environment, AttachArgs, ExecArgs, InspectArgs, PsArgs, RmArgs, RunArgs, SandboxFlags,
    SuperviseArgs,
};

use crate::daemon::serve::ServeArgs;

/// The socket `netagent daemon` listens on unless configured otherwise.
pub const DEFAULT_SOCKET: &str = "/run/netagent/netagent.sock";

/// Container networking and DNS service discovery for Linux: bridge
/// networks, sandboxes, and a resolver at 127.0.0.11 in every sandbox.
#[derive(Debug, Parser)]
#[command(name = "netagent", version, about, long_about = None)]
pub struct Cli {
    /// The agent's control socket.
    #[arg(long, global = true, env = "NETAGENT_HOST", value_name = "SOCKET", default_value = DEFAULT_SOCKET)]
    pub host: PathBuf,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The verbs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the agent in the foreground.
    Daemon(DaemonArgs),
    /// Manage networks.
    #[command(subcommand)]
    Network(NetworkCommand),
    /// Create a sandbox and, with a command after `--`, run it inside.
    Run(RunArgs),
    /// Adopt a namespace a container runtime made, and attach it.
    Attach(AttachArgs),
    /// List sandboxes, newest first.
    Ps(PsArgs),
    /// Show sandboxes as JSON, in `docker inspect`'s shape.
    Inspect(InspectArgs),
    /// Run a command inside a sandbox (its namespaces, resolv.conf, hosts).
    Exec(ExecArgs),
    /// Remove sandboxes.
    Rm(RmArgs),
    /// `run -d`'s command, in a session of its own (started by `run -d`).
    #[command(hide = true)]
    Supervise(SuperviseArgs),
    /// Inspect and serve the DNS side.
    #[command(subcommand)]
    Dns(DnsCommand),
    /// Replay Docker's networking walkthrough on this kernel, in a private
    /// namespace, and check every step (needs root).
    Demo,
    /// The OCI runtime hook: give a container started by runc, crun or
    /// podman its network and name (the hook's `path` is this binary; the
    /// OCI state comes on stdin).
    Hook {
        /// The hook's stage.
        #[arg(value_enum)]
        stage: HookStage,
    },
}

/// The OCI hook stages netagent serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HookStage {
    /// Attach the container's namespace and point its resolv.conf at
    /// 127.0.0.11.
    #[value(name = "createRuntime")]
    CreateRuntime,
    /// Release what createRuntime attached.
    #[value(name = "poststop")]
    Poststop,
}

/// `netagent daemon`
#[derive(Debug, Args)]
pub struct DaemonArgs {
    /// Configuration file (TOML).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Log JSON lines instead of text.
    #[arg(long)]
    pub log_json: bool,
}

/// `netagent dns ...`
#[derive(Debug, Subcommand)]
pub enum DnsCommand {
    /// Serve a table read from a JSON file, answering as one sandbox would,
    /// on a UDP and TCP address of your choice (no root needed on a high port).
    Serve(ServeArgs),
    /// Print the live lookup table.
    Table {
        /// Only this network.
        #[arg(long)]
        network: Option<String>,
        /// `table` or `json` (the format `dns serve --table` reads).
        #[arg(long, default_value = "table", value_parser = ["table", "json"])]
        format: String,
    },
    /// Resolve a name through a sandbox's real resolver.
    Lookup {
        /// The sandbox to ask from.
        #[arg(long)]
        from: String,
        /// The record type.
        #[arg(long = "type", default_value = "A")]
        qtype: String,
        /// Ask over TCP.
        #[arg(long)]
        tcp: bool,
        /// The name.
        name: String,
    },
    /// Show the forwarding cache's size and hit ratio, or `flush` it.
    Cache {
        /// `flush` empties the cache.
        #[arg(value_parser = ["flush"])]
        action: Option<String>,
        /// Hits and misses of this network's sandboxes only.
        #[arg(long)]
        network: Option<String>,
    },
}

/// The flags `ps` and `network ls` share, as Docker's lists have them.
#[derive(Debug, Args)]
pub struct ListFlags {
    /// Only the ids.
    #[arg(long, short)]
    pub quiet: bool,
    /// Whole ids and commands, not cut short.
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only rows that match, KEY=VALUE (repeat: several values of one key
    /// match any, different keys must all match).
    #[arg(long = "filter", short = 'f')]
    pub filters: Vec<String>,
    /// A Go template per row, or `table TEMPLATE` for columns with a header.
    #[arg(long)]
    pub format: Option<String>,
}

/// `KEY=VALUE`; a bare `KEY` has an empty value (Docker's `--label`).
pub fn parse_key_value(text: &str) -> Result<(String, String), String> {
    let (key, value) = text.split_once('=').unwrap_or((text, ""));
    if key.is_empty() {
        return Err(format!("{text:?} is not KEY=VALUE"));
    }
    Ok((key.to_owned(), value.to_owned()))
}

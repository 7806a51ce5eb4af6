//! The command line, as clap derives it. Each verb's `--help` comes from
//! the doc comments here; the flags follow Docker's where Docker has them.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use config::{NameServer, PortMapping, ServicePort};
use ipnet::IpNet;

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
    /// List sandboxes.
    Ps,
    /// Show a sandbox as JSON.
    Inspect {
        /// The sandbox.
        name: String,
    },
    /// Run a command inside a sandbox (its namespace and resolv.conf).
    Exec {
        /// The sandbox.
        sandbox: String,
        /// The command and its arguments.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Remove sandboxes.
    Rm {
        /// Also remove sandboxes that share their namespace.
        #[arg(long, short)]
        force: bool,
        /// The sandboxes.
        #[arg(required = true)]
        names: Vec<String>,
    },
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

/// `netagent network ...`
#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// Create a user-defined bridge network.
    Create(NetworkCreateArgs),
    /// List networks.
    #[command(alias = "list")]
    Ls,
    /// Show networks as JSON, in `docker network inspect`'s shape.
    Inspect {
        /// The networks.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove networks (refused while sandboxes are attached).
    Rm {
        /// The networks.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Connect a sandbox to a network.
    Connect {
        /// The network.
        network: String,
        /// The sandbox.
        sandbox: String,
        /// An alias on this network.
        #[arg(long = "alias")]
        aliases: Vec<String>,
        /// A static address.
        #[arg(long)]
        ip: Option<IpAddr>,
    },
    /// Disconnect a sandbox from a network.
    Disconnect {
        /// The network.
        network: String,
        /// The sandbox.
        sandbox: String,
    },
    /// Remove every user-defined network no sandbox is on.
    Prune,
}

/// `netagent network create`
#[derive(Debug, Args)]
pub struct NetworkCreateArgs {
    /// The network's name.
    pub name: String,
    /// A subnet (repeat for IPv4 and IPv6).
    #[arg(long = "subnet")]
    pub subnets: Vec<IpNet>,
    /// A gateway, one per subnet.
    #[arg(long = "gateway")]
    pub gateways: Vec<IpAddr>,
    /// Give it an IPv6 subnet too.
    #[arg(long)]
    pub ipv6: bool,
    /// No route out, no forwarding to the host's DNS servers.
    #[arg(long)]
    pub internal: bool,
    /// An upstream DNS server for its sandboxes.
    #[arg(long = "dns")]
    pub dns: Vec<NameServer>,
    /// A label, KEY=VALUE.
    #[arg(long = "label", value_parser = parse_label)]
    pub labels: Vec<(String, String)>,
    /// A driver option, KEY=VALUE, with Docker's keys
    /// (com.docker.network.bridge.enable_icc, ...).
    #[arg(short = 'o', long = "opt", value_parser = parse_label)]
    pub options: Vec<(String, String)>,
}

fn parse_label(text: &str) -> Result<(String, String), String> {
    let (key, value) = text.split_once('=').unwrap_or((text, ""));
    if key.is_empty() {
        return Err(format!("{text:?} is not KEY=VALUE"));
    }
    Ok((key.to_owned(), value.to_owned()))
}

/// The sandbox flags `run` and `attach` share.
#[derive(Debug, Args, Clone)]
pub struct SandboxFlags {
    /// The sandbox's name.
    #[arg(long)]
    pub name: String,
    /// `bridge` (default), `host`, `none`, `container:NAME`, or a network.
    #[arg(long, default_value = "bridge")]
    pub network: String,
    /// An alias on the network.
    #[arg(long = "alias")]
    pub aliases: Vec<String>,
    /// The hostname.
    #[arg(long)]
    pub hostname: Option<String>,
    /// A static address.
    #[arg(long)]
    pub ip: Option<IpAddr>,
    /// An upstream DNS server of its own.
    #[arg(long = "dns")]
    pub dns: Vec<NameServer>,
    /// A search domain for its resolv.conf.
    #[arg(long = "dns-search")]
    pub dns_search: Vec<String>,
    /// An option for its resolv.conf.
    #[arg(long = "dns-option")]
    pub dns_options: Vec<String>,
    /// An exposed service, SERVICE=PORT/PROTO (answered as SRV).
    #[arg(long = "expose")]
    pub expose: Vec<ServicePort>,
    /// Publish a port, [IP:][HOSTPORT:]CONTAINERPORT[/PROTO] (repeatable).
    #[arg(short = 'p', long = "publish")]
    pub publish: Vec<PortMapping>,
    /// Publish every exposed port on a port from the ephemeral range.
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
}

/// `netagent run`
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The sandbox.
    #[command(flatten)]
    pub sandbox: SandboxFlags,
    /// Remove the sandbox when the command ends.
    #[arg(long)]
    pub rm: bool,
    /// A command to run inside it.
    #[arg(last = true)]
    pub command: Vec<String>,
}

/// `netagent attach`
#[derive(Debug, Args)]
pub struct AttachArgs {
    /// The sandbox.
    #[command(flatten)]
    pub sandbox: SandboxFlags,
    /// The namespace file to adopt.
    #[arg(long, conflicts_with = "pid", required_unless_present = "pid")]
    pub netns: Option<PathBuf>,
    /// The process whose namespace to adopt.
    #[arg(long)]
    pub pid: Option<u32>,
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
}

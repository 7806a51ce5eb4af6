//! `netagent network ...`: the flags of `docker network`'s verbs, with
//! Docker's spellings (issue #13).

use std::net::IpAddr;

use clap::{Args, Subcommand};
use config::NameServer;
use ipnet::IpNet;

use super::{parse_key_value, ListFlags};

/// `netagent network ...`
#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// Create a user-defined bridge network.
    Create(NetworkCreateArgs),
    /// List networks.
    #[command(alias = "list")]
    Ls(ListFlags),
    /// Show networks as JSON, in `docker network inspect`'s shape.
    Inspect {
        /// Format the output with a Go template (`{{.Name}}`, `{{json .}}`).
        #[arg(long, short)]
        format: Option<String>,
        /// The networks.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove networks (refused while sandboxes are attached).
    #[command(alias = "remove")]
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
        /// A static IPv6 address.
        #[arg(long)]
        ip6: Option<std::net::Ipv6Addr>,
    },
    /// Disconnect a sandbox from a network.
    Disconnect {
        /// The network.
        network: String,
        /// The sandbox.
        sandbox: String,
        /// Accepted as Docker's is: netagent always disconnects at once.
        #[arg(long, short)]
        force: bool,
    },
    /// Remove every user-defined network no sandbox is on.
    Prune {
        /// Do not ask for confirmation.
        #[arg(long, short)]
        force: bool,
        /// `label=K[=V]`, `label!=K[=V]` (Docker's `until=` is refused:
        /// netagent keeps no history to filter on).
        #[arg(long = "filter")]
        filters: Vec<String>,
    },
}

/// `netagent network create`
#[derive(Debug, Args)]
pub struct NetworkCreateArgs {
    /// The network's name.
    pub name: String,
    /// The driver: `bridge` (the only one on one host; others are refused).
    #[arg(long, short = 'd', default_value = "bridge")]
    pub driver: String,
    /// A subnet (repeat for IPv4 and IPv6).
    #[arg(long = "subnet")]
    pub subnets: Vec<IpNet>,
    /// A gateway, one per subnet.
    #[arg(long = "gateway")]
    pub gateways: Vec<IpAddr>,
    /// Allocate sandbox addresses from this sub-range of a subnet.
    #[arg(long = "ip-range")]
    pub ip_ranges: Vec<IpNet>,
    /// An address the allocator must not hand out, NAME=IP.
    #[arg(long = "aux-address", value_parser = parse_aux_address)]
    pub aux_addresses: Vec<(String, IpAddr)>,
    /// Give it an IPv6 subnet too.
    #[arg(long)]
    pub ipv6: bool,
    /// No route out, no forwarding to the host's DNS servers.
    #[arg(long)]
    pub internal: bool,
    /// Accepted as Docker's is: every netagent network is attachable.
    #[arg(long)]
    pub attachable: bool,
    /// An upstream DNS server for its sandboxes.
    #[arg(long = "dns")]
    pub dns: Vec<NameServer>,
    /// A label, KEY=VALUE.
    #[arg(long = "label", value_parser = parse_key_value)]
    pub labels: Vec<(String, String)>,
    /// A driver option, KEY=VALUE, with Docker's keys
    /// (com.docker.network.bridge.enable_icc, ...).
    #[arg(short = 'o', long = "opt", value_parser = parse_key_value)]
    pub options: Vec<(String, String)>,
}

/// `--aux-address NAME=IP`, as Docker's (`my-router=192.168.1.5`).
fn parse_aux_address(text: &str) -> Result<(String, IpAddr), String> {
    let (name, address) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not NAME=IP"))?;
    let address = address
        .parse()
        .map_err(|_| format!("{address:?} in {text:?} is not an IP address"))?;
    Ok((name.to_owned(), address))
}

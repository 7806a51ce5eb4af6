//! The command line, as clap derives it. Each verb's `--help` comes from
//! the doc comments here.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use config::NameServer;

/// Container networking and DNS service discovery for Linux: bridge
/// networks, sandboxes, and a resolver at 127.0.0.11 in every sandbox.
#[derive(Debug, Parser)]
#[command(name = "netagent", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The verbs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Inspect and serve the DNS side.
    #[command(subcommand)]
    Dns(DnsCommand),
}

/// `netagent dns ...`
#[derive(Debug, Subcommand)]
pub enum DnsCommand {
    /// Serve a table read from a JSON file, answering as one sandbox would,
    /// on a UDP and TCP address of your choice (no root needed on a high port).
    Serve(ServeArgs),
}

/// `netagent dns serve`
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The table, in the JSON form `netagent dns table --format json` prints.
    #[arg(long, value_name = "FILE")]
    pub table: PathBuf,
    /// The sandbox to answer as: its name, its id or its short id.
    #[arg(long = "as", value_name = "SANDBOX")]
    pub sandbox: String,
    /// Address to listen on, UDP and TCP; port 0 picks a free port.
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:5353")]
    pub listen: SocketAddr,
    /// Daemon configuration file (TOML) for the resolver settings.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Upstream server for names the table does not answer (IP, IP:PORT or
    /// [IPv6]:PORT); repeat for several. Without one they get SERVFAIL.
    #[arg(long, value_name = "SERVER")]
    pub upstream: Vec<NameServer>,
}

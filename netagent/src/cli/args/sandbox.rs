//! `netagent run`, `attach`, `exec`, `ps`, `inspect`, `rm`: Docker's
//! spellings (`--net`, `--network-alias`, `-h`, `-d`, `-e`, `-it`...) with
//! netagent's own kept as aliases (issue #13).

use std::net::{IpAddr, Ipv6Addr};
use std::path::PathBuf;

use clap::{ArgAction, Args};
use config::{NameServer, PortMapping, ServicePort};

use super::ListFlags;

/// The sandbox flags `run` and `attach` share. `-h` is the hostname, as in
/// `docker run`, so these commands take only the long `--help`.
#[derive(Debug, Args, Clone)]
pub struct SandboxFlags {
    /// The sandbox's name (`run` makes one up when not given, as Docker
    /// does; `attach` needs it).
    #[arg(long)]
    pub name: Option<String>,
    /// `bridge` (default), `host`, `none`, `container:NAME`, or a network.
    #[arg(long, visible_alias = "net", default_value = "bridge")]
    pub network: String,
    /// An alias on the network.
    #[arg(long = "network-alias", visible_alias = "alias")]
    pub aliases: Vec<String>,
    /// The hostname, inside the sandbox and as a DNS name.
    #[arg(long, short = 'h')]
    pub hostname: Option<String>,
    /// A static IPv4 (or IPv6) address on the network.
    #[arg(long)]
    pub ip: Option<IpAddr>,
    /// A static IPv6 address on the network.
    #[arg(long)]
    pub ip6: Option<Ipv6Addr>,
    /// The MAC address of its interface, `02:42:ac:11:00:02`.
    #[arg(long = "mac-address")]
    pub mac_address: Option<String>,
    /// An upstream DNS server of its own.
    #[arg(long = "dns")]
    pub dns: Vec<NameServer>,
    /// A search domain for its resolv.conf.
    #[arg(long = "dns-search")]
    pub dns_search: Vec<String>,
    /// An option for its resolv.conf.
    #[arg(long = "dns-option", visible_alias = "dns-opt")]
    pub dns_options: Vec<String>,
    /// A line for its /etc/hosts, HOST:IP.
    #[arg(long = "add-host")]
    pub add_hosts: Vec<String>,
    /// An exposed port, PORT[/PROTO] as in Docker, or SERVICE=PORT/PROTO
    /// (also answered as SRV `_SERVICE._PROTO.NAME`); `-P` publishes them.
    #[arg(long = "expose")]
    pub expose: Vec<ServicePort>,
    /// Publish a port, [IP:][HOSTPORT:]CONTAINERPORT[/PROTO] (repeatable).
    #[arg(short = 'p', long = "publish")]
    pub publish: Vec<PortMapping>,
    /// Publish every exposed port on a port from the ephemeral range.
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// Print help.
    #[arg(long, action = ArgAction::Help)]
    pub help: Option<bool>,
}

/// `netagent run [OPTIONS] [-- COMMAND ARGS...]`
#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    /// The sandbox.
    #[command(flatten)]
    pub sandbox: SandboxFlags,
    /// Run the command in the background and print the sandbox's id.
    #[arg(long, short = 'd')]
    pub detach: bool,
    /// An environment variable for the command, KEY=VALUE (or KEY, taken
    /// from this environment).
    #[arg(long = "env", short = 'e')]
    pub env: Vec<String>,
    /// Remove the sandbox when the command ends.
    #[arg(long)]
    pub rm: bool,
    /// Accepted as Docker's `-i`: the command's stdin is this terminal's.
    #[arg(long, short = 'i')]
    pub interactive: bool,
    /// Accepted as Docker's `-t`: the command uses this terminal as it is.
    #[arg(long, short = 't')]
    pub tty: bool,
    /// Docker's IMAGE [COMMAND] words: refused, netagent runs no images.
    #[arg(value_name = "IMAGE")]
    pub image: Vec<String>,
    /// A command to run inside it, after `--`.
    #[arg(last = true)]
    pub command: Vec<String>,
}

/// `netagent attach`
#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
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

/// `netagent exec [OPTIONS] NAME COMMAND [ARGS...]`
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// An environment variable, KEY=VALUE (or KEY, from this environment).
    #[arg(long = "env", short = 'e')]
    pub env: Vec<String>,
    /// The working directory of the command.
    #[arg(long, short = 'w')]
    pub workdir: Option<PathBuf>,
    /// Accepted as Docker's `-i`: stdin is this terminal's.
    #[arg(long, short = 'i')]
    pub interactive: bool,
    /// Accepted as Docker's `-t`: the command uses this terminal as it is.
    #[arg(long, short = 't')]
    pub tty: bool,
    /// Run the command in the background.
    #[arg(long, short = 'd')]
    pub detach: bool,
    /// The sandbox.
    pub sandbox: String,
    /// The command and its arguments (`--` before them is optional).
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// `netagent ps`
#[derive(Debug, Args)]
pub struct PsArgs {
    /// Also sandboxes whose command has exited.
    #[arg(long, short)]
    pub all: bool,
    /// The columns, filters and formats every list shares.
    #[command(flatten)]
    pub list: ListFlags,
}

/// `netagent inspect`
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format the output with a Go template (`{{.NetworkSettings.IPAddress}}`).
    #[arg(long, short)]
    pub format: Option<String>,
    /// The sandboxes.
    #[arg(required = true)]
    pub names: Vec<String>,
}

/// `netagent rm`
#[derive(Debug, Args)]
pub struct RmArgs {
    /// Remove it even if its command is running (killed first), and its
    /// sharers; a missing name is not an error.
    #[arg(long, short)]
    pub force: bool,
    /// The sandboxes.
    #[arg(required = true)]
    pub names: Vec<String>,
}

/// `--env KEY=VALUE`, or `KEY` alone for this process's value (Docker's
/// rule: a KEY not set here is left out).
pub fn environment(flags: &[String]) -> Vec<(String, String)> {
    flags
        .iter()
        .filter_map(|flag| match flag.split_once('=') {
            Some((key, value)) => Some((key.to_owned(), value.to_owned())),
            None => std::env::var(flag).ok().map(|value| (flag.clone(), value)),
        })
        .collect()
}

/// `netagent supervise` (hidden): what `run -d` starts.
#[derive(Debug, Args)]
pub struct SuperviseArgs {
    /// The sandbox.
    #[arg(long)]
    pub name: String,
    /// Remove the sandbox when the command ends.
    #[arg(long)]
    pub rm: bool,
    /// KEY=VALUE for the command.
    #[arg(long = "env")]
    pub env: Vec<String>,
    /// The command.
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

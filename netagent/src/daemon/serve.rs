//! `netagent dns serve`: one sandbox's resolver over a table read from a
//! file, on a loopback address. What DNS test harnesses and the loopback
//! tests use; it needs no root and no namespace.

use std::io::Write;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::Args;
use config::{DaemonConfig, NameServer};
use resolver::forward::host::HostServers;
use resolver::forward::Forwarder;
use resolver::upstream::{ServFailUpstream, Upstream};
use resolver::{EndpointTable, ResolverCore, SandboxServer, SandboxSockets, TableSnapshot};

/// `netagent dns serve`
#[derive(Debug, Args)]
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

/// Loads the table, binds, prints `listening ADDR` on stdout and serves
/// until SIGINT or SIGTERM.
pub fn run(args: &ServeArgs) -> Result<()> {
    let config = match &args.config {
        Some(path) => DaemonConfig::load(path)?,
        None => DaemonConfig::default(),
    };
    crate::daemon::logging::init(&config.log)?;
    let table = TableSnapshot::load(&args.table)?;
    let sandbox_id = find_sandbox(&table, &args.sandbox)
        .with_context(|| format!("in table {}", args.table.display()))?;
    let sockets = bind_pair(args.listen)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let upstream: Arc<dyn Upstream> = if args.upstream.is_empty() {
            Arc::new(ServFailUpstream)
        } else {
            let servers = HostServers::fixed(&args.upstream);
            Arc::new(Forwarder::new(servers, &config.forwarding)?)
        };
        let core = Arc::new(ResolverCore::new(Arc::new(table), &config, upstream));
        let server = SandboxServer::start(core, &sandbox_id, sockets)?;
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "listening {}", server.udp_addr())?;
        stdout.flush()?;
        drop(stdout);
        super::shutdown_signal().await?;
        drop(server);
        Ok(())
    })
}

/// The id of the sandbox named, or whose id or short id is, `wanted`.
fn find_sandbox(table: &EndpointTable, wanted: &str) -> Result<String> {
    let endpoints = table.endpoints();
    let found = endpoints
        .iter()
        .find(|e| e.sandbox == wanted || e.id == wanted || e.short_id() == wanted);
    if let Some(endpoint) = found {
        return Ok(endpoint.id.clone());
    }
    let mut names: Vec<&str> = endpoints.iter().map(|e| e.sandbox.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    const SHOWN: usize = 8;
    let more = match names.len().saturating_sub(SHOWN) {
        0 => String::new(),
        n => format!(" and {n} more"),
    };
    names.truncate(SHOWN);
    bail!(
        "no sandbox {wanted:?}; the table has {}{more}",
        names.join(", ")
    )
}

/// Binds UDP and TCP on the same address. With port 0 the UDP socket picks
/// the port and TCP follows it, retrying if another program holds that
/// port for TCP.
fn bind_pair(listen: SocketAddr) -> Result<SandboxSockets> {
    const ATTEMPTS: usize = 20;
    for _ in 0..ATTEMPTS {
        let udp = UdpSocket::bind(listen).with_context(|| format!("cannot bind udp {listen}"))?;
        let bound = udp.local_addr()?;
        match TcpListener::bind(bound) {
            Ok(tcp) => return Ok(SandboxSockets { udp, tcp }),
            Err(err) if listen.port() != 0 => {
                return Err(err).context(format!("cannot bind tcp {bound}"))
            }
            Err(_) => continue,
        }
    }
    bail!(
        "no port free for both udp and tcp on {} after {ATTEMPTS} tries",
        listen.ip()
    )
}

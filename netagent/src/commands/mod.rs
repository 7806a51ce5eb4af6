//! The CLI verbs. Every verb but `daemon`, `demo` and `dns serve` is a
//! client of the control API and nothing else.
//!
//! - [`network`]: `network create|ls|inspect|rm|connect|disconnect|prune`.
//! - [`sandbox`]: `run`, `attach`, `ps`, `inspect`, `exec`, `rm`.
//! - [`dns`]: `dns table`, `dns lookup`.
//! - [`output`]: aligned tables.

pub mod dns;
pub mod network;
pub mod output;
pub mod sandbox;

use anyhow::Result;

use crate::cli::{Cli, Command, DnsCommand};
use crate::client::Client;

/// Runs a client verb and returns the process's exit code.
pub async fn run(cli: Cli) -> Result<i32> {
    let client = Client::new(&cli.host);
    match cli.command {
        Command::Network(command) => network::run(&client, command).await.map(|()| 0),
        Command::Run(args) => sandbox::run(&client, args).await,
        Command::Attach(args) => sandbox::attach(&client, args).await.map(|()| 0),
        Command::Ps => sandbox::ps(&client).await.map(|()| 0),
        Command::Inspect { name } => sandbox::inspect(&client, &name).await.map(|()| 0),
        Command::Exec { sandbox, command } => sandbox::exec(&client, &sandbox, &command).await,
        Command::Rm { force, names } => sandbox::rm(&client, &names, force).await.map(|()| 0),
        Command::Dns(DnsCommand::Table { network, format }) => {
            dns::table_verb(&client, network.as_deref(), &format)
                .await
                .map(|()| 0)
        }
        Command::Dns(DnsCommand::Lookup {
            from,
            qtype,
            tcp,
            name,
        }) => dns::lookup(&client, &from, &qtype, tcp, &name).await,
        Command::Daemon(_) | Command::Demo | Command::Dns(DnsCommand::Serve(_)) => {
            unreachable!("handled in main")
        }
    }
}

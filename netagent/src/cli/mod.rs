//! The user's side: what runs in the user's process. The verbs talk to
//! the agent over the control API only; `daemon`, `demo` and `dns serve`
//! hand over to [`crate::daemon`]. Three things also act on the machine
//! themselves, with what the agent answered: `exec` (and `run -- CMD`)
//! enter the sandbox's namespace to start the command, the hook writes the
//! container's resolv.conf, and the demo enters its sandboxes to check
//! them ([`crate::kernel::netns`]). None of them changes networks,
//! sandboxes or rules: that is the agent's alone.
//!
//! - `args`: the verbs and flags, as clap derives them.
//! - `client`: HTTP/1.1 over the agent's Unix socket; every body it
//!   sends or reads is one of [`crate::daemon::api::model`]'s types.
//! - `network`: `network create|rm|connect|disconnect|prune`;
//!   `network_list`: `network ls|inspect`.
//! - `sandbox`: `run`, `attach`, `exec`, `rm`; `ps`: `ps`; `inspect`:
//!   `inspect` in Docker's shape; `command`: a sandbox's command started,
//!   supervised (`run -d`) and reported to the agent.
//! - `errors`: Docker's error words and exit codes.
//! - `format`: `--format` Go templates (gtmpl); `filters`: `--filter`.
//! - `ports`: the PORTS cell and inspect's port fields, from the view's
//!   published ports.
//! - `when`: Docker's `2 minutes ago`.
//! - `dns`: `dns table`, `dns lookup`.
//! - `exec`: running a command inside a sandbox, as `ip netns exec` does.
//! - `output`: aligned tables and indented JSON.
//! - `demo`: Docker's walkthrough, replayed against a private agent.
//! - `demo_ports`: the demo's published port, fetched from the host and
//!   from a "world" namespace.
//! - [`cni`]: the CNI plugin (the binary run with `CNI_COMMAND` set).
//! - [`hook`]: the OCI runtime hook, `netagent hook createRuntime|poststop`.

mod args;
mod client;
pub mod cni;
mod command;
mod demo;
mod demo_ports;
mod dns;
mod errors;
mod exec;
mod filters;
mod format;
pub mod hook;
mod inspect;
mod network;
mod network_list;
mod output;
mod ports;
mod ps;
mod sandbox;
mod when;

pub use args::Cli;

use anyhow::Result;
use clap::Parser;

use args::{Command, DnsCommand};
use client::Client;

/// The command line, parsed. A usage error exits 125, as every `docker`
/// verb's does (help and version exit 0).
pub fn parse() -> Cli {
    match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let code = if err.use_stderr() {
                errors::RUN_FAILED
            } else {
                0
            };
            let _ = err.print();
            std::process::exit(code);
        }
    }
}

/// The line to print for a failure and the exit code (errors.rs).
pub fn report(err: &anyhow::Error) -> (String, i32) {
    errors::report(err)
}

/// Runs the verb the command line names and returns the process's exit
/// code.
pub fn main(cli: Cli) -> Result<i32> {
    match &cli.command {
        Command::Daemon(args) => {
            crate::daemon::run(args.config.as_deref(), args.log_json).map(|()| 0)
        }
        Command::Demo => demo::run(),
        Command::Hook { stage } => hook::run(&cli.host, *stage),
        Command::Dns(DnsCommand::Serve(args)) => crate::daemon::serve::run(args).map(|()| 0),
        _ => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(run(cli))
        }
    }
}

/// Runs a client verb and returns the process's exit code.
async fn run(cli: Cli) -> Result<i32> {
    let client = Client::new(&cli.host);
    match cli.command {
        Command::Network(command) => network::run(&client, command).await.map(|()| 0),
        Command::Run(args) => sandbox::run(&client, &cli.host, args).await,
        Command::Supervise(args) => sandbox::supervise(&client, args).await,
        Command::Attach(args) => sandbox::attach(&client, args).await.map(|()| 0),
        Command::Ps(args) => ps::ps(&client, args).await.map(|()| 0),
        Command::Inspect(args) => inspect::inspect(&client, args).await.map(|()| 0),
        Command::Exec(args) => sandbox::exec(&client, args).await,
        Command::Rm(args) => sandbox::rm(&client, args).await.map(|()| 0),
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
        Command::Dns(DnsCommand::Cache { action, network }) => {
            dns::cache(&client, action.as_deref(), network.as_deref())
                .await
                .map(|()| 0)
        }
        Command::Daemon(_)
        | Command::Demo
        | Command::Hook { .. }
        | Command::Dns(DnsCommand::Serve(_)) => {
            unreachable!("handled in cli::main")
        }
    }
}

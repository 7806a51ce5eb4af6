//! The `netagent` binary: parses the command line and runs the verb.

use clap::Parser;
use netagent::cli::{Cli, Command, DnsCommand};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Dns(DnsCommand::Serve(args)) => netagent::serve::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            // One line, as every verb promises: the chain of causes joined.
            eprintln!("netagent: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

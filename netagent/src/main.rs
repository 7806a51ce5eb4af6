//! The `netagent` binary: parses the command line and runs the verb. Each
//! failure is one line on stderr and a non-zero exit.

use std::process::ExitCode;

use clap::Parser;
use netagent::cli::{Cli, Command, DnsCommand};

// Every forwarded question allocates a handful of small buffers and a task
// on the agent's one thread; mimalloc's thread-local free lists make that
// measurably cheaper than glibc's malloc (bench/, forwarded names).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // mimalloc commits its arena up front and asks for transparent huge
    // pages for it, so every touched part of it costs 2 MiB: about 18 MiB
    // more RSS at 1,000 sandboxes (bench/, attach: 55 MiB against glibc's
    // 37). Without huge pages the agent needs 28.
    // SAFETY: prctl with integer arguments; it only sets a process flag.
    unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Daemon(args) => {
            netagent::daemon::run(args.config.as_deref(), args.log_json).map(|()| 0)
        }
        Command::Demo => netagent::demo::run(),
        Command::Dns(DnsCommand::Serve(args)) => netagent::serve::run(args).map(|()| 0),
        _ => client_verb(cli),
    };
    match result {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(err) => {
            // One line: the chain of causes joined.
            eprintln!("netagent: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn client_verb(cli: Cli) -> anyhow::Result<i32> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(netagent::commands::run(cli))
}

//! The `netagent` binary: parses the command line and runs the verb. Each
//! failure is one line on stderr and a non-zero exit.

use std::process::ExitCode;

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
    if let Err(err) = nix::sys::prctl::set_thp_disable(true) {
        eprintln!("netagent: cannot turn transparent huge pages off: {err}");
    }
    // A runtime runs the binary as its CNI plugin with CNI_COMMAND set and
    // the configuration on stdin (cli/cni).
    if std::env::var_os("CNI_COMMAND").is_some() {
        return netagent::cli::cni::main();
    }
    match netagent::cli::main(netagent::cli::parse()) {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(err) => {
            // One line, in Docker's words where Docker has them, with
            // Docker's exit code (cli/errors.rs).
            let (line, code) = netagent::cli::report(&err);
            if !line.is_empty() {
                eprintln!("{line}");
            }
            ExitCode::from(u8::try_from(code).unwrap_or(1))
        }
    }
}

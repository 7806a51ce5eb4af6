//! `netagent run`, `attach`, `exec`, `rm`, and the `run -d` supervisor.
//! `ps` is in ps.rs, `inspect` in inspect.rs.

use anyhow::{bail, Result};
use config::{Adopt, NetworkMode};

use super::args::{
    environment, AttachArgs, ExecArgs, RmArgs, RunArgs, SandboxFlags, SuperviseArgs,
};
use super::client::{encode, Client};
use super::command::{code_of, detach, prepare, run_to_end, start, tell_parent};
use super::errors::{or_no_such, run_failed, Exit, RUN_FAILED};
use crate::daemon::api::model::{SandboxSpec, SandboxView};

fn spec_of(flags: SandboxFlags, name: String, adopt: Option<Adopt>) -> SandboxSpec {
    SandboxSpec {
        name,
        network: NetworkMode::parse(&flags.network),
        aliases: flags.aliases,
        hostname: flags.hostname,
        ip: flags.ip,
        ip6: flags.ip6,
        mac_address: flags.mac_address,
        extra_hosts: flags.add_hosts,
        dns: flags.dns,
        dns_search: flags.dns_search,
        dns_options: flags.dns_options,
        expose: flags.expose,
        publish: flags.publish,
        publish_all: flags.publish_all,
        adopt,
    }
}

/// Docker's IMAGE word, refused with what netagent does instead: never
/// a silent no-op (issue #13).
fn refuse_image(args: &RunArgs) -> Result<()> {
    let Some(image) = args.image.first() else {
        return Ok(());
    };
    Err(Exit {
        code: RUN_FAILED,
        message: format!(
            "netagent: {image:?} looks like an image: netagent runs no images. `netagent run` makes a sandbox (a network namespace on the network, with its name in DNS); put a program to run in it after `--` (`netagent run --name {name} -- {image} ...`), or give real containers netagent's network with its CNI plugin or OCI hook (README.md, \"Use it with your runtime\")",
            name = args.sandbox.name.as_deref().unwrap_or("NAME"),
        ),
    }
    .into())
}

/// `netagent run`: creates the sandbox; runs the command inside, if any,
/// in the foreground (exiting with its code) or detached (`-d`).
pub async fn run(client: &Client, host: &std::path::Path, args: RunArgs) -> Result<i32> {
    refuse_image(&args)?;
    let env = environment(&args.env);
    if args.command.is_empty() && !args.env.is_empty() {
        eprintln!("WARNING: --env has no effect without a command after `--`");
    }
    warn_if_ports_are_discarded(&args.sandbox);
    let view = create(client, args.sandbox).await.map_err(run_failed)?;
    if args.command.is_empty() {
        println!("{}", view.id);
        return Ok(0);
    }
    if args.detach {
        let started = detach(host, &view.name, &args.command, &env, args.rm);
        if started.is_err() {
            remove_quietly(client, &view.name).await;
        }
        started?;
        println!("{}", view.id);
        return Ok(0);
    }
    let command = match prepare(&view, &args.command, &env, None) {
        Ok(command) => command,
        Err(err) => {
            remove_quietly(client, &view.name).await;
            return Err(err);
        }
    };
    let code = run_to_end(client, &view, command, &args.command, args.rm, || ()).await;
    if code.is_err() {
        // Nothing runs in it (the command could not start): the name is
        // free again for the corrected command line.
        remove_quietly(client, &view.name).await;
    }
    code
}

/// Docker's warning when `-p` meets a mode that publishes nothing
/// (moby daemon/container_operations.go).
fn warn_if_ports_are_discarded(flags: &SandboxFlags) {
    let publishes = !flags.publish.is_empty() || flags.publish_all;
    match NetworkMode::parse(&flags.network) {
        NetworkMode::Host if publishes => {
            eprintln!("WARNING: Published ports are discarded when using host network mode")
        }
        NetworkMode::None if publishes => {
            eprintln!("WARNING: Published ports are discarded when using none network mode")
        }
        _ => {}
    }
}

/// Creates the sandbox; without `--name`, under a name made up as
/// Docker makes them (`adjective_noun`), another one if it is taken.
async fn create(client: &Client, flags: SandboxFlags) -> Result<SandboxView> {
    if let Some(name) = flags.name.clone() {
        return client
            .post("/v1/sandboxes", &spec_of(flags, name, None))
            .await;
    }
    let mut tries = 0;
    loop {
        let spec = spec_of(flags.clone(), made_up_name(), None);
        match client.post("/v1/sandboxes", &spec).await {
            Err(err) if tries < 8 && super::errors::status_of(&err) == Some(409) => tries += 1,
            other => return other,
        }
    }
}

/// `focused_turing`: Docker's kind of name, from shorter lists.
fn made_up_name() -> String {
    const ADJECTIVES: [&str; 16] = [
        "admiring", "brave", "clever", "eager", "focused", "gallant", "happy", "jolly", "keen",
        "lucid", "modest", "nifty", "quirky", "serene", "upbeat", "vibrant",
    ];
    const NAMES: [&str; 16] = [
        "babbage", "curie", "dijkstra", "euclid", "hopper", "kepler", "knuth", "lamport", "liskov",
        "lovelace", "noether", "pascal", "ritchie", "shannon", "turing", "wozniak",
    ];
    let adjective = ADJECTIVES[fastrand::usize(..ADJECTIVES.len())];
    let name = NAMES[fastrand::usize(..NAMES.len())];
    format!("{adjective}_{name}")
}

async fn remove_quietly(client: &Client, name: &str) {
    let _ = client
        .delete(&format!("/v1/sandboxes/{}?force=true", encode(name)))
        .await;
}

/// `netagent supervise`: `run -d`'s command, in a session of its own.
pub async fn supervise(client: &Client, args: SuperviseArgs) -> Result<i32> {
    let view = sandbox(client, &args.name).await?;
    let env = environment(&args.env);
    let mut command = match prepare(&view, &args.command, &env, None) {
        Ok(command) => command,
        Err(err) => return Ok(failed(err)),
    };
    // Detached: no terminal, and never this process's stdout, which is
    // the pipe `run -d` reads its one line from. (Docker keeps the
    // output as logs; netagent has no `logs` verb, so it is dropped.)
    command
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let result = run_to_end(client, &view, command, &args.command, args.rm, || {
        tell_parent("started -")
    })
    .await;
    match result {
        Ok(code) => Ok(code),
        Err(err) => Ok(failed(err)),
    }
}

/// Tells the waiting `run -d` why the command did not start.
fn failed(err: anyhow::Error) -> i32 {
    let (line, code) = super::errors::report(&err);
    tell_parent(&format!("{code} {line}"));
    code
}

/// `netagent attach`: adopts a runtime's namespace.
pub async fn attach(client: &Client, args: AttachArgs) -> Result<()> {
    let adopt = match (args.netns, args.pid) {
        (Some(path), _) => Adopt::Path(path),
        (None, Some(pid)) => Adopt::Pid(pid),
        (None, None) => bail!("--netns PATH or --pid PID is required"),
    };
    let Some(name) = args.sandbox.name.clone() else {
        bail!("--name is required: the adopted namespace's sandbox needs a name");
    };
    let view: SandboxView = client
        .post("/v1/sandboxes", &spec_of(args.sandbox, name, Some(adopt)))
        .await?;
    println!("{}", view.id);
    Ok(())
}

/// One sandbox's view, or Docker's `No such container`.
pub async fn sandbox(client: &Client, name: &str) -> Result<SandboxView> {
    client
        .get(&format!("/v1/sandboxes/{}", encode(name)))
        .await
        .map_err(|err| or_no_such(err, "container", name))
}

/// `netagent exec NAME CMD ARGS...`: the command's own exit code.
pub async fn exec(client: &Client, args: ExecArgs) -> Result<i32> {
    let view = sandbox(client, &args.sandbox).await?;
    let env = environment(&args.env);
    let mut command = prepare(&view, &args.command, &env, args.workdir.as_deref())?;
    let mut child = start(&mut command, &args.command[0])?;
    if args.detach {
        return Ok(0);
    }
    Ok(code_of(child.wait()?))
}

/// `netagent rm`: Docker's rules. A running command is refused unless
/// `-f` (the agent's words); a missing name is `No such container`, which
/// `-f` prints but does not fail on.
pub async fn rm(client: &Client, args: RmArgs) -> Result<()> {
    let mut failed = false;
    for name in &args.names {
        let suffix = if args.force { "?force=true" } else { "" };
        let removed = client
            .delete(&format!("/v1/sandboxes/{}{suffix}", encode(name)))
            .await;
        match removed {
            Ok(()) => println!("{name}"),
            Err(err) => {
                let missing = super::errors::is_not_found(&err);
                let err = or_no_such(err, "container", name);
                eprintln!("{}", super::errors::line(&err));
                failed |= !(args.force && missing);
            }
        }
    }
    if failed {
        // Every error is printed already; exit 1 as Docker does.
        return Err(Exit::new(String::new()).into());
    }
    Ok(())
}

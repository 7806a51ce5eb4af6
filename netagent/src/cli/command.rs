//! Starting a command in a sandbox and telling the agent about it: `run
//! -- CMD` in the foreground, `run -d -- CMD` through a detached
//! supervisor (`netagent supervise`, this binary again, in a session of
//! its own), and `exec`. Failures use `docker run`'s exit codes: 127 when
//! the command is not found, 126 when it cannot be run, 128+N when a
//! signal N ended it (errors.rs).

use std::io::Write;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};

use anyhow::{Context, Result};

use super::client::{encode, Client};
use super::errors::{Exit, CANNOT_RUN, NOT_FOUND};
use super::exec::{command_with, Setup};
use super::when::now_rfc3339;
use crate::daemon::api::model::{CommandState, SandboxView};

/// What a command gets in its sandbox: namespaces, /etc files, hostname.
pub fn setup_of(view: &SandboxView) -> Setup {
    let files = [
        (&view.resolv_conf, c"/etc/resolv.conf"),
        (&view.hosts_file, c"/etc/hosts"),
        (&view.hostname_file, c"/etc/hostname"),
    ];
    Setup {
        files: files
            .into_iter()
            .filter(|(path, _)| !path.is_empty())
            .map(|(path, target)| (path.into(), target))
            .collect(),
        hostname: (!view.host_mode).then(|| {
            view.spec
                .hostname
                .clone()
                .unwrap_or_else(|| view.name.clone())
        }),
    }
}

/// The command, ready to start in the sandbox, with `env` and `workdir`.
pub fn prepare(
    view: &SandboxView,
    argv: &[String],
    env: &[(String, String)],
    workdir: Option<&Path>,
) -> Result<Command> {
    let mut command = command_with(&view.netns, &setup_of(view), argv)
        .map_err(|err| start_failure(&argv[0], &err))?;
    command.envs(env.iter().map(|(k, v)| (k, v)));
    if let Some(dir) = workdir {
        command.current_dir(dir);
    }
    Ok(command)
}

/// Starts it, with Docker's exit code when it cannot start.
pub fn start(command: &mut Command, program: &str) -> Result<Child> {
    command
        .spawn()
        .map_err(|err| start_failure(program, &err).into())
}

fn start_failure(program: &str, err: &std::io::Error) -> Exit {
    // Docker's words: `exec: "nope": executable file not found in $PATH`.
    match err.kind() {
        std::io::ErrorKind::NotFound => Exit {
            code: NOT_FOUND,
            message: format!("exec: {program:?}: executable file not found in $PATH"),
        },
        _ => Exit {
            code: CANNOT_RUN,
            message: format!("exec: {program:?}: {err}"),
        },
    }
}

/// The exit code a shell would give: the command's own, or 128+N when
/// signal N ended it.
pub fn code_of(status: ExitStatus) -> i32 {
    status
        .code()
        .or_else(|| status.signal().map(|signal| 128 + signal))
        .unwrap_or(1)
}

/// Tells the agent about the command; a sandbox removed meanwhile (`rm
/// -f`) is no error.
pub async fn report(client: &Client, name: &str, state: &CommandState) -> Result<()> {
    let path = format!("/v1/sandboxes/{}/command", encode(name));
    match client.request(hyper::Method::PUT, &path, Some(state)).await {
        Err(err) if super::errors::is_not_found(&err) => Ok(()),
        other => other.map(|_| ()),
    }
}

/// Runs the command to its end, reporting its start and exit, and
/// removes the sandbox afterwards with `rm`. Returns its exit code.
pub async fn run_to_end(
    client: &Client,
    view: &SandboxView,
    mut command: Command,
    argv: &[String],
    rm: bool,
    started: impl FnOnce(),
) -> Result<i32> {
    let mut child = start(&mut command, &argv[0])?;
    let mut state = CommandState {
        argv: argv.to_vec(),
        pid: Some(child.id()),
        started: now_rfc3339(),
        exit_code: None,
        finished: None,
    };
    report(client, &view.name, &state).await?;
    started();
    // The terminal's Ctrl-C reaches the command (same process group);
    // this process must live on to report how it ended.
    // A blocking wait: this current-thread runtime has nothing else to
    // run meanwhile.
    let status = child.wait().context("cannot wait for the command")?;
    let code = code_of(status);
    state.exit_code = Some(code);
    state.finished = Some(now_rfc3339());
    report(client, &view.name, &state).await?;
    if rm {
        client
            .delete(&format!("/v1/sandboxes/{}?force=true", encode(&view.name)))
            .await?;
    }
    Ok(code)
}

/// Starts `netagent supervise` detached (a session of its own, no
/// terminal) and waits for the one line it writes once the command has
/// started (or failed to): `run -d` then exits as `docker run -d` does.
pub fn detach(
    host: &Path,
    name: &str,
    argv: &[String],
    env: &[(String, String)],
    rm: bool,
) -> Result<()> {
    let mut supervisor = Command::new(std::env::current_exe()?);
    supervisor
        .arg("--host")
        .arg(host)
        .arg("supervise")
        .arg("--name")
        .arg(name);
    if rm {
        supervisor.arg("--rm");
    }
    for (key, value) in env {
        supervisor.arg("--env").arg(format!("{key}={value}"));
    }
    supervisor.arg("--").args(argv);
    supervisor
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    // SAFETY: setsid is async-signal-safe.
    unsafe {
        supervisor.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let mut child = supervisor.spawn().context("cannot start the supervisor")?;
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().expect("piped")),
        &mut line,
    )?;
    match line.trim_end().split_once(' ') {
        Some(("started", _)) => Ok(()),
        Some((code, message)) => Err(Exit {
            code: code.parse().unwrap_or(1),
            message: message.to_owned(),
        }
        .into()),
        None => Err(Exit::new(format!(
            "the supervisor of {name:?} ended before the command started"
        ))
        .into()),
    }
}

/// The supervisor's side of [`detach`]: one line on stdout, then stdout
/// goes to /dev/null so the parent's read ends.
pub fn tell_parent(line: &str) {
    let mut out = std::io::stdout();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        // SAFETY: dup2 onto fd 1 replaces stdout; nothing holds a raw
        // copy of it.
        unsafe {
            libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&null), 1);
        }
    }
}

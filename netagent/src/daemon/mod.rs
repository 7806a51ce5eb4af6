//! The long-running side: `netagent daemon` runs the agent in the
//! foreground, its resolvers on one current-thread runtime (faster than two
//! workers on two cores, DESIGN.md) and the control API on a second runtime
//! of its own.
//!
//! - this file: the daemon's runtime, signals, the open files limit, and
//!   [`PrivateAgent`], an agent with its API inside the calling process
//!   (what `netagent demo` drives).
//! - [`api`]: the control API: its routes, views and metrics, and
//!   [`api::model`], the bodies it shares with the CLI.
//! - `logging`: tracing setup from the daemon's `[log]` settings.
//! - [`serve`]: `netagent dns serve`, one sandbox's resolver over a table
//!   file on a loopback address.

pub mod api;
mod logging;
pub mod serve;

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use config::DaemonConfig;

use crate::agent::Agent;

/// Runs the daemon until SIGINT or SIGTERM. Sandboxes and networks stay as
/// they are when it stops; the next start picks them up again.
pub fn run(config_path: Option<&Path>, json_logs: bool) -> Result<()> {
    let mut config = match config_path {
        Some(path) => DaemonConfig::load(path)?,
        None => DaemonConfig::default(),
    };
    if json_logs {
        config.log.format = config::LogFormat::Json;
    }
    logging::init(&config.log)?;
    raise_open_files_limit();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let socket = config.paths.socket.clone();
    runtime.block_on(async move {
        let agent = Agent::start(config)
            .await
            .context("cannot start the agent")?;
        let api = spawn_api(&socket, Arc::clone(&agent))?;
        shutdown_signal().await?;
        tracing::info!("stopping; networks and sandboxes stay for the next start");
        drop(api);
        let _ = std::fs::remove_file(&socket);
        Ok(())
    })
}

/// Every sandbox holds a few descriptors in the agent (the resolver's UDP
/// socket and TCP listener, upstream sockets for its own `--dns`), so a thousand
/// sandboxes outgrow the usual soft limit of 1,024: raise it to the hard
/// limit, as container engines do (LimitNOFILE in their units).
fn raise_open_files_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => {
            if let Err(err) = setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
                tracing::warn!(%err, soft, hard, "cannot raise the open files limit");
            }
        }
        Ok(_) => {}
        Err(err) => tracing::warn!(%err, "cannot read the open files limit"),
    }
}

/// Starts the control API on its own thread and runtime.
fn spawn_api(socket: &Path, agent: Arc<Agent>) -> Result<std::thread::JoinHandle<()>> {
    let agent_runtime = tokio::runtime::Handle::current();
    let socket = socket.to_owned();
    let (ready, started) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new()
        .name("control-api".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(err) => return drop(ready.send(Err(anyhow::Error::from(err)))),
            };
            runtime.block_on(async move {
                let serving = api::serve(&socket, agent, agent_runtime, || {
                    let _ = ready.send(Ok(()));
                });
                if let Err(err) = serving.await {
                    tracing::error!(%err, "the control API stopped");
                }
            });
        })?;
    started.recv().context("the control API thread died")??;
    Ok(thread)
}

/// Waits for SIGINT or SIGTERM.
pub(crate) async fn shutdown_signal() -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result?,
        _ = terminate.recv() => {}
    }
    Ok(())
}

/// An agent and its control API running inside this process, on the
/// calling runtime: what `netagent demo` talks to over the API, with no
/// daemon of its own.
pub struct PrivateAgent {
    agent: Arc<Agent>,
    _api: std::thread::JoinHandle<()>,
}

impl PrivateAgent {
    /// Starts an agent with `config` and its API on `config.paths.socket`.
    pub async fn start(config: DaemonConfig) -> Result<PrivateAgent> {
        raise_open_files_limit();
        let socket = config.paths.socket.clone();
        let agent = Agent::start(config)
            .await
            .context("cannot start the agent")?;
        let api = spawn_api(&socket, Arc::clone(&agent))?;
        Ok(PrivateAgent { agent, _api: api })
    }

    /// Removes every sandbox and network it made; the number of steps that
    /// failed.
    pub async fn teardown(&self) -> usize {
        self.agent.teardown().await.len()
    }
}

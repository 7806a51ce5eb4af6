//! The command `netagent run` starts in a sandbox (issue #13). The CLI
//! runs it, in the foreground or in a detached supervisor for `run -d`,
//! and reports its start and its exit here, so that `ps` can show `Up` or
//! `Exited (CODE)` as `docker ps` does and `rm` can refuse to remove a
//! sandbox whose command still runs, unless forced (then the command is
//! killed first, as `docker rm -f` kills the container).

use config::CommandState;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::store::SandboxRecord;
use super::{Agent, AgentError};

impl Agent {
    /// Records the state of the sandbox's command, as the CLI reports it.
    pub async fn set_command(&self, name: &str, state: CommandState) -> Result<(), AgentError> {
        let mut inner = self.inner.lock().await;
        let record = inner
            .state
            .sandboxes
            .get_mut(name)
            .ok_or_else(|| AgentError::not_found("sandbox", name))?;
        record.command = Some(state);
        self.persist_sandboxes(&inner, &[name])
    }
}

/// The process of the sandbox's command, if it is still running.
pub fn running_command(record: &SandboxRecord) -> Option<u32> {
    let command = record.command.as_ref()?;
    if command.exit_code.is_some() {
        return None;
    }
    let pid = command.pid?;
    // Signal 0 only asks whether the process exists; a supervisor killed
    // before it could report leaves a dead pid behind.
    kill(Pid::from_raw(pid as i32), None).ok().map(|()| pid)
}

/// Refuses to remove a sandbox whose command runs, in Docker's words;
/// with `force`, kills the command first.
pub(super) fn stop_for_removal(record: &SandboxRecord, force: bool) -> Result<(), AgentError> {
    let Some(pid) = running_command(record) else {
        return Ok(());
    };
    if !force {
        return Err(AgentError::Conflict(format!(
            "You cannot remove a running container {}. Stop the container before attempting removal or force remove",
            record.name
        )));
    }
    tracing::info!(sandbox = %record.name, pid, "killing the sandbox's command for rm --force");
    let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
    Ok(())
}

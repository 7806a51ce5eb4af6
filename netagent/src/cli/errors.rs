//! Docker's words and exit codes for what goes wrong (issue #13), so a
//! script written against `docker` greps the same lines: `Error: No such
//! network: X`, `Error: No such container: X`, `Error response from
//! daemon: ...` for the agent's refusals (its message, naming the value,
//! kept whole), and never an HTTP status in a line meant for a person.
//!
//! Exit codes, as `docker run` documents them: 125 when `run` fails before
//! its command starts, 126 when the command cannot be run, 127 when it
//! cannot be found, the command's own otherwise, 1 for other failures.

use super::client::{Refused, Unreachable};

/// A failure with the exact line to print and the exit code.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Exit {
    /// The process's exit code.
    pub code: i32,
    /// The line printed on stderr.
    pub message: String,
}

/// `run` failed before its command started (`docker run`'s 125).
pub const RUN_FAILED: i32 = 125;
/// The command was found but could not be run.
pub const CANNOT_RUN: i32 = 126;
/// The command was not found.
pub const NOT_FOUND: i32 = 127;

impl Exit {
    /// A failure with code 1.
    pub fn new(message: impl Into<String>) -> Exit {
        Exit {
            code: 1,
            message: message.into(),
        }
    }

    /// Docker's `Error: No such KIND: NAME`.
    pub fn no_such(kind: &str, name: &str) -> Exit {
        Exit::new(format!("Error: No such {kind}: {name}"))
    }
}

/// Whether the agent answered "not found" (404) to the request behind
/// `err`.
pub fn is_not_found(err: &anyhow::Error) -> bool {
    status_of(err) == Some(404)
}

/// The HTTP status the agent answered the request behind `err` with.
pub fn status_of(err: &anyhow::Error) -> Option<u16> {
    err.chain()
        .find_map(|cause| cause.downcast_ref::<Refused>().map(|r| r.status))
}

/// `err`, with a 404 from the agent turned into Docker's `No such`.
pub fn or_no_such(err: anyhow::Error, kind: &str, name: &str) -> anyhow::Error {
    if is_not_found(&err) {
        Exit::no_such(kind, name).into()
    } else {
        err
    }
}

/// The line to print for `err` and the exit code: an [`Exit`] as it is,
/// the agent's refusal in Docker's words, anything else as netagent's one
/// line of causes.
pub fn report(err: &anyhow::Error) -> (String, i32) {
    if let Some(exit) = err.downcast_ref::<Exit>() {
        return (exit.message.clone(), exit.code);
    }
    (line(err), 1)
}

/// `err` as one line, Docker's words where Docker has them.
pub fn line(err: &anyhow::Error) -> String {
    // A context (Unreachable is one) is found by the error's own
    // downcast, not in its chain of sources.
    if let Some(unreachable) = err.downcast_ref::<Unreachable>() {
        return unreachable.to_string();
    }
    for cause in err.chain() {
        if let Some(refused) = cause.downcast_ref::<Refused>() {
            return format!("Error response from daemon: {}", refused.message);
        }
        if let Some(unreachable) = cause.downcast_ref::<Unreachable>() {
            return unreachable.to_string();
        }
        if let Some(exit) = cause.downcast_ref::<Exit>() {
            return exit.message.clone();
        }
    }
    format!("netagent: {err:#}")
}

/// `err` as `run`'s failure before its command starts: exit 125.
pub fn run_failed(err: anyhow::Error) -> anyhow::Error {
    let (message, _) = report(&err);
    Exit {
        code: RUN_FAILED,
        message,
    }
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(status: u16, message: &str) -> anyhow::Error {
        Refused {
            status,
            message: message.into(),
        }
        .into()
    }

    #[test]
    fn the_agents_refusal_reads_as_dockers_and_shows_no_status() {
        let err = refused(409, "network \"app\" has sandboxes attached: web");
        let (text, code) = report(&err);
        assert_eq!(
            text,
            "Error response from daemon: network \"app\" has sandboxes attached: web"
        );
        assert_eq!(code, 1);
        assert!(!text.contains("409"));
    }

    #[test]
    fn not_found_becomes_no_such_and_run_failures_exit_125() {
        let err = or_no_such(refused(404, "no network named \"x\""), "network", "x");
        assert_eq!(report(&err), ("Error: No such network: x".into(), 1));
        let err = run_failed(refused(400, "bad"));
        assert_eq!(
            report(&err),
            ("Error response from daemon: bad".into(), 125)
        );
        let other = or_no_such(refused(500, "boom"), "container", "x");
        assert_eq!(report(&other).0, "Error response from daemon: boom");
    }
}

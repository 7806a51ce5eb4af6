//! The control API (DESIGN.md, seam 7): HTTP with JSON over a Unix socket
//! with root-only permissions, the way Docker's engine API works, so
//! `curl --unix-socket SOCKET http://localhost/v1/networks` works too.
//!
//! It runs on its own small runtime so an operator can reach it while the
//! data path is busy; every request that changes or reads the agent is
//! handed to the agent's runtime, where the agent's tasks must live.
//!
//! - [`model`]: every request and answer body, one definition each,
//!   shared with the CLI; it depends on nothing else of this crate.
//! - `routes`: the resources and their handlers.
//! - `views`: the agent's records turned into [`model`]'s answers.
//! - `metrics`: the Prometheus text exposition.
//! - `containers`: the runtime doors' resource, by container id.
//! - `builtin`: the `host` and `none` networks, listed and inspected.
//!
//! Every error is a [`model::ErrorBody`] with a status that says whose
//! fault it is: 400 for bad input, 404 for a network, sandbox or route that
//! does not exist, 409 for a request that clashes with what exists, 500 for
//! the agent's own failures.

mod builtin;
mod containers;
mod metrics;
pub mod model;
mod routes;
mod views;

use std::future::Future;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::agent::ipam::IpamError;
use crate::agent::{Agent, AgentError};
use model::ErrorBody;

/// What every handler gets: the agent and the runtime it lives on.
#[derive(Clone)]
pub(crate) struct ApiState {
    agent: Arc<Agent>,
    runtime: tokio::runtime::Handle,
}

impl ApiState {
    /// Runs `work` on the agent's runtime and waits for it.
    async fn run<F, Fut, T>(&self, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(Arc<Agent>) -> Fut,
        Fut: Future<Output = Result<T, AgentError>> + Send + 'static,
        T: Send + 'static,
    {
        let task = self.runtime.spawn(work(Arc::clone(&self.agent)));
        task.await
            .map_err(|err| ApiError::internal(format!("the request's task failed: {err}")))?
            .map_err(ApiError::from)
    }
}

/// An error as the API sends it: a status and `{"message": "..."}`.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }

    fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
}

impl From<AgentError> for ApiError {
    fn from(err: AgentError) -> Self {
        ApiError::new(status_of(&err), err.to_string())
    }
}

/// Whose fault an error is: bad input 400, a missing network or sandbox
/// 404, a clash with what exists 409, the agent's own failure 500.
fn status_of(err: &AgentError) -> StatusCode {
    use resolver::table::TableError;
    match err {
        AgentError::Invalid(_) | AgentError::BadInput(_) => StatusCode::BAD_REQUEST,
        // An address the network has no subnet for can never be had there.
        AgentError::Ipam(IpamError::OutsideSubnet { .. }) => StatusCode::BAD_REQUEST,
        AgentError::NotFound { .. } | AgentError::Absent(_) => StatusCode::NOT_FOUND,
        AgentError::Conflict(_) | AgentError::Ipam(_) => StatusCode::CONFLICT,
        // The agent found the network and sandbox in its state before it
        // wrote to the table, so a table without them is its own failure.
        AgentError::Table(TableError::UnknownNetwork(_) | TableError::UnknownSandbox(_)) => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
        AgentError::Table(_) => StatusCode::CONFLICT,
        // Several failed steps answer with the status of the first, their
        // cause.
        AgentError::Several(errors) => errors
            .first()
            .map_or(StatusCode::INTERNAL_SERVER_ERROR, status_of),
        AgentError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        AgentError::Link(_) | AgentError::Io { .. } => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(ErrorBody {
                message: self.message,
            }),
        )
            .into_response()
    }
}

/// Serves the API on the Unix socket `path` (mode 0600) until the future
/// is dropped. A stale socket file from an earlier run is replaced.
pub(crate) async fn serve(
    path: &Path,
    agent: Arc<Agent>,
    agent_runtime: tokio::runtime::Handle,
    on_listening: impl FnOnce(),
) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                format!("another agent serves {}", path.display()),
            ));
        }
        std::fs::remove_file(path)?;
    }
    let listener = tokio::net::UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    let state = ApiState {
        agent,
        runtime: agent_runtime,
    };
    tracing::info!(socket = %path.display(), "control API listening");
    on_listening();
    axum::serve(listener, routes::router(state)).await
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;
    use config::{ConfigError, ConfigErrors};
    use resolver::table::TableError;

    use super::status_of;
    use crate::agent::ipam::IpamError;
    use crate::agent::AgentError;
    use crate::kernel::link::LinkError;

    #[test]
    fn each_error_says_whose_fault_it_is() {
        let network = || "app".to_owned();
        let address = "192.0.2.5".parse().unwrap();
        let cases = [
            (
                AgentError::Invalid(ConfigErrors::from(vec![ConfigError::new("name", "bad")])),
                StatusCode::BAD_REQUEST,
            ),
            (
                AgentError::BadInput("\"BOGUS\" is not a DNS record type".into()),
                StatusCode::BAD_REQUEST,
            ),
            (
                AgentError::Ipam(IpamError::OutsideSubnet {
                    address,
                    subnets: vec![],
                    network: network(),
                }),
                StatusCode::BAD_REQUEST,
            ),
            (
                AgentError::NotFound {
                    kind: "sandbox",
                    name: "ghost".into(),
                },
                StatusCode::NOT_FOUND,
            ),
            (
                AgentError::Absent("cannot adopt /x: no such file".into()),
                StatusCode::NOT_FOUND,
            ),
            (
                AgentError::Conflict("exists already".into()),
                StatusCode::CONFLICT,
            ),
            (
                AgentError::Ipam(IpamError::Taken {
                    address,
                    network: network(),
                    why: "the gateway",
                }),
                StatusCode::CONFLICT,
            ),
            (
                AgentError::Table(TableError::DuplicateNetwork(network())),
                StatusCode::CONFLICT,
            ),
            (
                AgentError::Table(TableError::UnknownNetwork(network())),
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
            (
                AgentError::Link(LinkError::Socket(std::io::Error::other("no netlink"))),
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
            (
                AgentError::io("save the state")(std::io::Error::other("disk full")),
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
        ];
        for (err, status) in cases {
            assert_eq!(status_of(&err), status, "{err}");
        }
    }
}

//! The control API (DESIGN.md, seam 7): HTTP with JSON over a Unix socket
//! with root-only permissions, the way Docker's engine API works, so
//! `curl --unix-socket SOCKET http://localhost/v1/networks` works too.
//!
//! It runs on its own small runtime so an operator can reach it while the
//! data path is busy; every request that changes or reads the agent is
//! handed to the agent's runtime, where the agent's tasks must live.
//!
//! - [`routes`]: the resources and their handlers.
//! - [`views`]: response bodies, `network inspect` in Docker's shape.
//! - [`metrics`]: the Prometheus text exposition.
//! - [`containers`]: the runtime doors' resource, by container id.

pub(crate) mod containers;
pub mod metrics;
pub mod routes;
pub mod views;

use std::future::Future;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::agent::{Agent, AgentError};

/// What every handler gets: the agent and the runtime it lives on.
#[derive(Clone)]
pub struct ApiState {
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
pub struct ApiError {
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

/// The status an agent error answers with; several failed steps answer
/// with the status of the first, their cause.
fn status_of(err: &AgentError) -> StatusCode {
    match err {
        AgentError::NotFound { .. } => StatusCode::NOT_FOUND,
        AgentError::Conflict(_) | AgentError::Ipam(_) | AgentError::Table(_) => {
            StatusCode::CONFLICT
        }
        AgentError::Invalid(_) => StatusCode::BAD_REQUEST,
        AgentError::Several(errors) => errors
            .first()
            .map_or(StatusCode::INTERNAL_SERVER_ERROR, status_of),
        AgentError::Link(_) | AgentError::Io { .. } => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "message": self.message }))).into_response()
    }
}

/// Serves the API on the Unix socket `path` (mode 0600) until the future
/// is dropped. A stale socket file from an earlier run is replaced.
pub async fn serve(
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

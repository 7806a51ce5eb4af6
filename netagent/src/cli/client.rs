//! The CLI's side of the control API: HTTP/1.1 over the agent's Unix
//! socket. The CLI talks to the agent through this and nothing else, and
//! reads and writes the bodies as [`crate::daemon::api::model`]'s types,
//! the ones the API itself uses.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::net::UnixStream;

/// The agent could not be reached at all.
#[derive(Debug, thiserror::Error)]
#[error("Cannot connect to the netagent daemon at unix://{socket}. Is `netagent daemon` running? (--host or NETAGENT_HOST choose another socket)")]
pub struct Unreachable {
    /// The socket tried.
    pub socket: String,
}

/// The agent answered with an error status. The status is for the CLI to
/// tell "not found" from a refusal; what a person reads is the message
/// (errors.rs words it as Docker does).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Refused {
    /// The HTTP status.
    pub status: u16,
    /// The agent's message.
    pub message: String,
}

use crate::daemon::api::model::ErrorBody;

/// A client of one agent.
#[derive(Debug, Clone)]
pub struct Client {
    socket: PathBuf,
}

impl Client {
    /// A client of the agent listening on `socket`.
    pub fn new(socket: &Path) -> Client {
        Client {
            socket: socket.to_owned(),
        }
    }

    /// Sends one request; a non-2xx answer becomes an error carrying the
    /// agent's message.
    pub async fn request<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<Bytes> {
        let stream = UnixStream::connect(&self.socket).await.map_err(|err| {
            anyhow::Error::new(err).context(Unreachable {
                socket: self.socket.display().to_string(),
            })
        })?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        let payload = body
            .map(serde_json::to_vec)
            .transpose()
            .with_context(|| format!("cannot encode the body of {method} {path}"))?
            .unwrap_or_default();
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "localhost")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(payload)))?;
        let response = sender.send_request(request).await?;
        let status = response.status();
        let bytes = response.into_body().collect().await?.to_bytes();
        if status.is_success() {
            return Ok(bytes);
        }
        let message = serde_json::from_slice::<ErrorBody>(&bytes)
            .map(|error| error.message)
            .unwrap_or_else(|_| String::from_utf8_lossy(&bytes).into_owned());
        Err(anyhow::Error::new(Refused {
            status: status.as_u16(),
            message,
        }))
    }

    /// GET, decoded.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let bytes = self.request(Method::GET, path, None::<&()>).await?;
        serde_json::from_slice(&bytes).with_context(|| format!("undecodable answer to GET {path}"))
    }

    /// POST a JSON body, decoded answer (`null` for an empty one, so `()`
    /// takes a 204).
    pub async fn post<T: DeserializeOwned>(&self, path: &str, body: &impl Serialize) -> Result<T> {
        let bytes = self.request(Method::POST, path, Some(body)).await?;
        let bytes = if bytes.is_empty() {
            Bytes::from_static(b"null")
        } else {
            bytes
        };
        serde_json::from_slice(&bytes).with_context(|| format!("undecodable answer to POST {path}"))
    }

    /// DELETE.
    pub async fn delete(&self, path: &str) -> Result<()> {
        self.request(Method::DELETE, path, None::<&()>)
            .await
            .map(|_| ())
    }
}

/// What a path segment or query value keeps as it is: RFC 3986's
/// unreserved characters.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encodes a path segment or query value.
pub fn encode(text: &str) -> String {
    utf8_percent_encode(text, UNRESERVED).to_string()
}

//! The runtime doors' resource, `/v1/containers`: what the CNI plugin and
//! the OCI hook ask of the agent, by the runtime's container id
//! (DESIGN.md, seam 9).
//!
//! - `POST /v1/containers` with a [`config::ContainerSpec`]: attach (CNI
//!   ADD, hook createRuntime); answers a [`ContainerView`].
//! - `DELETE /v1/containers/{id}?network=NET`: release (CNI DEL, hook
//!   poststop); succeeds when there is nothing to release.
//! - `GET /v1/containers/{id}/check?network=NET`: CNI CHECK; 409 naming
//!   every problem.
//! - `POST /v1/containers/gc` with a [`GcRequest`]: CNI GC.
//!
//! The types here are the wire format both sides use: the daemon writes
//! them, the doors read them.

use std::net::IpAddr;
use std::path::PathBuf;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use config::ContainerSpec;
use serde::{Deserialize, Serialize};

use super::{ApiError, ApiState};
use crate::agent::ContainerAttachment;

/// An attached container, as the doors get it back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerView {
    /// The sandbox's name (what the container's name resolves as).
    pub sandbox: String,
    /// The sandbox's id (the container id when it has Docker's form).
    pub id: String,
    /// The container's namespace.
    pub netns: PathBuf,
    /// The network it is on.
    pub network: String,
    /// Its interface inside the namespace.
    pub ifname: String,
    /// That interface's MAC.
    pub mac: Option<String>,
    /// The host's end of the veth (none on a DNS-only network).
    pub host_ifname: Option<String>,
    /// Its MAC.
    pub host_mac: Option<String>,
    /// Each address with its prefix length, `10.89.0.5/24`.
    pub addresses: Vec<String>,
    /// Default routes go through these (none when internal or DNS-only).
    pub gateways: Vec<IpAddr>,
    /// The resolv.conf the agent wrote for it.
    pub resolv_conf: String,
    /// The same, parsed: `nameserver` lines.
    pub nameservers: Vec<String>,
    /// The `search` list.
    pub search: Vec<String>,
    /// The `options`.
    pub options: Vec<String>,
}

/// A GC request: every container on `network` whose id is not in `valid`
/// is released.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GcRequest {
    /// The network swept.
    pub network: String,
    /// The container ids still in use.
    pub valid: Vec<String>,
}

/// What GC released.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GcReport {
    /// The container ids released.
    pub released: Vec<String>,
}

/// `?network=NET`
#[derive(Debug, Deserialize)]
struct NetworkQuery {
    network: Option<String>,
}

/// The routes, merged into the API's router.
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/containers", post(attach))
        .route("/v1/containers/gc", post(gc))
        .route("/v1/containers/{id}", delete(release))
        .route("/v1/containers/{id}/check", get(check))
}

fn body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    body.map(|Json(value)| value).map_err(|err| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("bad request body: {}", err.body_text()),
        )
    })
}

async fn attach(
    State(state): State<ApiState>,
    spec: Result<Json<ContainerSpec>, JsonRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let spec = body(spec)?;
    let attachment = state
        .run(|agent| async move { agent.attach_container(spec).await })
        .await?;
    Ok((StatusCode::CREATED, Json(view_of(attachment))))
}

async fn release(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    Query(query): Query<NetworkQuery>,
) -> Result<StatusCode, ApiError> {
    state
        .run(|agent| async move { agent.release_container(&id, query.network.as_deref()).await })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn check(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    Query(query): Query<NetworkQuery>,
) -> Result<StatusCode, ApiError> {
    let network = query
        .network
        .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "check needs ?network=NET"))?;
    state
        .run(|agent| async move { agent.check_container(&id, &network).await })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn gc(
    State(state): State<ApiState>,
    request: Result<Json<GcRequest>, JsonRejection>,
) -> Result<Json<GcReport>, ApiError> {
    let request = body(request)?;
    let released = state
        .run(|agent| async move { agent.gc_containers(&request.network, &request.valid).await })
        .await?;
    Ok(Json(GcReport { released }))
}

fn view_of(attachment: ContainerAttachment) -> ContainerView {
    let ContainerAttachment {
        sandbox,
        endpoint,
        gateways,
        prefixes,
        host_mac,
        resolv_conf,
    } = attachment;
    let parsed = resolver::resolv_conf::ResolvConf::parse(&resolv_conf);
    let nameservers = resolv_conf
        .lines()
        .filter_map(|line| line.strip_prefix("nameserver"))
        .map(|rest| rest.trim().to_owned())
        .collect();
    ContainerView {
        sandbox: sandbox.name,
        id: sandbox.id,
        netns: sandbox.netns,
        network: endpoint.network,
        ifname: endpoint.ifname,
        mac: endpoint.mac,
        host_ifname: (!endpoint.host_veth.is_empty()).then_some(endpoint.host_veth),
        host_mac,
        addresses: prefixes
            .iter()
            .map(|(address, prefix)| format!("{address}/{prefix}"))
            .collect(),
        gateways,
        resolv_conf,
        nameservers,
        search: parsed.search,
        options: parsed.options,
    }
}

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
//! Its bodies are [`super::model`]'s, shared with the doors.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use config::ContainerSpec;
use serde::Deserialize;

use super::model::{ContainerView, GcReport, GcRequest};
use super::routes::body;
use super::{ApiError, ApiState};
use crate::agent::ContainerAttachment;

/// `?network=NET`
#[derive(Debug, Deserialize)]
struct NetworkQuery {
    network: Option<String>,
}

/// The routes, merged into the API's router.
pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/containers", post(attach))
        .route("/v1/containers/gc", post(gc))
        .route("/v1/containers/{id}", delete(release))
        .route("/v1/containers/{id}/check", get(check))
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
    let parsed = resolver::resolv_conf::ResolvConf::parse(&attachment.resolv_conf);
    let nameservers = attachment
        .resolv_conf
        .lines()
        .filter_map(|line| line.strip_prefix("nameserver"))
        .map(|rest| rest.trim().to_owned())
        .collect();
    let endpoint = attachment.endpoint;
    ContainerView {
        sandbox: attachment.sandbox.name,
        id: attachment.sandbox.id,
        netns: attachment.sandbox.netns,
        network: endpoint.network,
        ifname: endpoint.ifname,
        mac: endpoint.mac,
        host_ifname: (!endpoint.host_veth.is_empty()).then_some(endpoint.host_veth),
        host_mac: attachment.host_mac,
        addresses: attachment
            .prefixes
            .iter()
            .map(|(address, prefix)| format!("{address}/{prefix}"))
            .collect(),
        gateways: attachment.gateways,
        nameservers,
        search: parsed.search,
        options: parsed.options,
        resolv_conf: attachment.resolv_conf,
    }
}

//! The resources. Every error is JSON `{"message": ...}` naming the
//! offending value; an unknown route or a bad body gets a 4xx at once.

use std::collections::BTreeMap;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post, put};
use axum::{Json, Router};

use super::model::{
    CacheFlushed, CacheStats, CommandState, ConnectBody, DisconnectBody, EndpointView, Health,
    LookupAnswer, NetworkInspect, NetworkSpec, NetworkSummary, Pruned, SandboxSpec, SandboxView,
    TableSnapshot,
};
use super::views::{
    endpoint_view, lookup_answer, network_inspect, network_list, sandbox_view,
    with_cluster_endpoints,
};
use super::{metrics, ApiError, ApiState};
use crate::agent::endpoint::AttachOptions;
use crate::agent::store::SandboxRecord;
use crate::agent::{Agent, AgentError};

type ApiResult<T> = Result<T, ApiError>;

/// The API's routes.
pub(super) fn router(state: ApiState) -> Router {
    Router::new()
        .route(
            "/v1/health",
            get(|| async {
                Json(Health {
                    status: "ok".into(),
                })
            }),
        )
        .route("/v1/networks", get(list_networks).post(create_network))
        .route("/v1/networks/prune", post(prune_networks))
        .route(
            "/v1/networks/{name}",
            get(inspect_network).delete(remove_network),
        )
        .route("/v1/networks/{name}/connect", post(connect))
        .route("/v1/networks/{name}/disconnect", post(disconnect))
        .route("/v1/sandboxes", get(list_sandboxes).post(create_sandbox))
        .route(
            "/v1/sandboxes/{name}",
            get(inspect_sandbox).delete(remove_sandbox),
        )
        .route("/v1/dns/table", get(dns_table))
        .route("/v1/dns/lookup", get(dns_lookup))
        .route("/v1/dns/cache", get(dns_cache))
        .route("/v1/dns/cache/flush", post(dns_cache_flush))
        .route("/metrics", get(metrics_text))
        .route("/v1/sandboxes/{name}/command", put(set_command))
        .merge(super::containers::routes())
        .fallback(|| async {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "no such route; see README.md, control API",
            )
        })
        .with_state(state)
}

/// A JSON body, or a 4xx that says what is wrong with it: 413 for a body
/// over the limit (axum's default, 2 MB), else 400.
pub(super) fn body<T>(body: Result<Json<T>, JsonRejection>) -> ApiResult<T> {
    body.map(|Json(value)| value).map_err(|err| {
        let status = match err.status() {
            StatusCode::PAYLOAD_TOO_LARGE => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError::new(status, format!("bad request body: {}", err.body_text()))
    })
}

async fn list_networks(State(state): State<ApiState>) -> ApiResult<Json<Vec<NetworkSummary>>> {
    let networks = state
        .run(|agent| async move { Ok(network_list(&agent.state().await)) })
        .await?;
    Ok(Json(networks))
}

async fn create_network(
    State(state): State<ApiState>,
    spec: Result<Json<NetworkSpec>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<NetworkInspect>)> {
    let spec = body(spec)?;
    let view = state
        .run(|agent| async move {
            let record = agent.create_network(spec).await?;
            let view = network_inspect(&agent.state().await, &record);
            Ok(with_cluster_endpoints(
                view,
                agent.overlay_endpoints(&record.name).await,
            ))
        })
        .await?;
    Ok((StatusCode::CREATED, Json(view)))
}

async fn inspect_network(
    State(state): State<ApiState>,
    Path(name): Path<String>,
) -> ApiResult<Json<NetworkInspect>> {
    let view = state
        .run(|agent| async move {
            let snapshot = agent.state().await;
            if let Some(view) = super::builtin::mode_inspect(&snapshot, &name) {
                return Ok(view);
            }
            let name = agent.network_name_of(&name).await?;
            let record = snapshot.networks.get(&name).ok_or(AgentError::NotFound {
                kind: "network",
                name: name.clone(),
            })?;
            let view = network_inspect(&snapshot, record);
            Ok(with_cluster_endpoints(
                view,
                agent.overlay_endpoints(&name).await,
            ))
        })
        .await?;
    Ok(Json(view))
}

async fn remove_network(
    State(state): State<ApiState>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    if super::builtin::MODE_NETWORKS
        .iter()
        .any(|(n, _)| *n == name)
    {
        // Docker's words (403 there too).
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("{name} is a pre-defined network and cannot be removed"),
        ));
    }
    state
        .run(|agent| async move {
            let name = agent.network_name_of(&name).await?;
            agent.remove_network(&name).await
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn prune_networks(State(state): State<ApiState>) -> ApiResult<Json<Pruned>> {
    let removed = state
        .run(|agent| async move { agent.prune_networks().await })
        .await?;
    Ok(Json(Pruned { removed }))
}

async fn connect(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    request: Result<Json<ConnectBody>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<EndpointView>)> {
    let request = body(request)?;
    for (i, alias) in request.aliases.iter().enumerate() {
        config::check_dns_name(alias, &format!("aliases[{i}]"))
            .map_err(|err| ApiError::new(StatusCode::BAD_REQUEST, err.to_string()))?;
    }
    let options = AttachOptions {
        aliases: request.aliases,
        ip: request.ip,
        ip6: request.ip6,
        ..AttachOptions::default()
    };
    let sandbox = request.sandbox;
    let endpoint = state
        .run(|agent| async move {
            let (network, sandbox) = (
                agent.network_name_of(&name).await?,
                agent.sandbox_name_of(&sandbox).await?,
            );
            agent.connect(&network, &sandbox, options).await
        })
        .await?;
    Ok((StatusCode::CREATED, Json(endpoint_view(endpoint))))
}

async fn disconnect(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    request: Result<Json<DisconnectBody>, JsonRejection>,
) -> ApiResult<StatusCode> {
    let sandbox = body(request)?.sandbox;
    state
        .run(|agent| async move {
            let (network, sandbox) = (
                agent.network_name_of(&name).await?,
                agent.sandbox_name_of(&sandbox).await?,
            );
            agent.disconnect(&network, &sandbox).await
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_sandboxes(State(state): State<ApiState>) -> ApiResult<Json<Vec<SandboxView>>> {
    let views = state
        .run(|agent| async move {
            let snapshot = agent.state().await;
            let mut views = Vec::new();
            for record in snapshot.sandboxes.into_values() {
                views.push(view_of(&agent, record).await);
            }
            Ok(views)
        })
        .await?;
    Ok(Json(views))
}

/// A sandbox's view, with its resolv.conf and its resolver's port.
async fn view_of(agent: &Agent, record: SandboxRecord) -> SandboxView {
    let resolv_conf = agent.resolv_conf_path(&record.name).display().to_string();
    let resolver_port = agent
        .resolver_port_of(record.shares_with.as_deref().unwrap_or(&record.name))
        .await;
    sandbox_view(record, resolv_conf, resolver_port)
}

async fn create_sandbox(
    State(state): State<ApiState>,
    spec: Result<Json<SandboxSpec>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<SandboxView>)> {
    let spec = body(spec)?;
    let view = state
        .run(|agent| async move {
            let record = agent.create_sandbox(spec).await?;
            Ok(view_of(&agent, record).await)
        })
        .await?;
    Ok((StatusCode::CREATED, Json(view)))
}

async fn inspect_sandbox(
    State(state): State<ApiState>,
    Path(name): Path<String>,
) -> ApiResult<Json<SandboxView>> {
    let view = state
        .run(|agent| async move {
            let record = agent.sandbox(&agent.sandbox_name_of(&name).await?).await?;
            Ok(view_of(&agent, record).await)
        })
        .await?;
    Ok(Json(view))
}

/// `PUT /v1/sandboxes/{name}/command`: the CLI reports its command's
/// start and exit.
async fn set_command(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    request: Result<Json<CommandState>, JsonRejection>,
) -> ApiResult<StatusCode> {
    let request = body(request)?;
    state
        .run(|agent| async move {
            let name = agent.sandbox_name_of(&name).await?;
            agent.set_command(&name, request).await
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn remove_sandbox(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
) -> ApiResult<StatusCode> {
    let force = match query.get("force").map(String::as_str) {
        None | Some("false" | "0") => false,
        Some("true" | "1") => true,
        Some(other) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("?force={other:?} is not true, false, 1 or 0"),
            ))
        }
    };
    state
        .run(|agent| async move {
            let name = agent.sandbox_name_of(&name).await?;
            agent.remove_sandbox(&name, force).await
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn dns_table(
    State(state): State<ApiState>,
    Query(query): Query<BTreeMap<String, String>>,
) -> ApiResult<Json<TableSnapshot>> {
    let network = query.get("network").cloned();
    let snapshot = state
        .run(|agent| async move {
            let mut snapshot = TableSnapshot::of(agent.table());
            if let Some(network) = network {
                if !snapshot.networks.iter().any(|n| n.name == network) {
                    return Err(AgentError::NotFound {
                        kind: "network",
                        name: network,
                    });
                }
                snapshot.networks.retain(|n| n.name == network);
                snapshot.endpoints.retain(|e| e.network == network);
            }
            Ok(snapshot)
        })
        .await?;
    Ok(Json(snapshot))
}

async fn dns_lookup(
    State(state): State<ApiState>,
    Query(query): Query<BTreeMap<String, String>>,
) -> ApiResult<Json<LookupAnswer>> {
    let from = query
        .get("from")
        .cloned()
        .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "missing ?from=SANDBOX"))?;
    let name = query
        .get("name")
        .cloned()
        .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "missing ?name=NAME"))?;
    let qtype = query.get("type").cloned().unwrap_or_else(|| "A".into());
    let tcp = query.get("tcp").is_some_and(|v| v == "true" || v == "1");
    let result = state
        .run(|agent| async move { agent.lookup(&from, &name, &qtype, tcp).await })
        .await?;
    Ok(Json(lookup_answer(result)))
}

/// `GET /v1/dns/cache[?network=N]`: the forwarding cache's size and
/// counters, `null` when it is off.
async fn dns_cache(
    State(state): State<ApiState>,
    Query(query): Query<BTreeMap<String, String>>,
) -> ApiResult<Json<Option<CacheStats>>> {
    let network = query.get("network").cloned();
    let stats = state
        .run(|agent| async move { agent.cache_stats(network.as_deref()) })
        .await?;
    Ok(Json(stats))
}

/// `POST /v1/dns/cache/flush`: empties the forwarding cache.
async fn dns_cache_flush(State(state): State<ApiState>) -> ApiResult<Json<CacheFlushed>> {
    let flushed = state
        .run(|agent| async move { Ok(agent.flush_cache()) })
        .await?;
    Ok(Json(CacheFlushed { flushed }))
}

async fn metrics_text(State(state): State<ApiState>) -> ApiResult<impl IntoResponse> {
    let text = state
        .run(|agent| async move { Ok(metrics::render(&agent).await) })
        .await?;
    Ok(([("content-type", "text/plain; version=0.0.4")], text))
}

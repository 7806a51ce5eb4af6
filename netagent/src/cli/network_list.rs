//! `netagent network ls` (Docker's columns, `-q`, `--no-trunc`,
//! `--filter`, `--format`) and `network inspect` (several names, `-f`).

use anyhow::Result;
use serde_json::{json, Value};

use super::args::ListFlags;
use super::client::{encode, Client};
use super::errors::is_not_found;
use super::filters::{label_matches, Filters};
use super::format::Format;
use super::inspect::{finish_missing, print_found};
use super::output::json_table;
use crate::daemon::api::model::{NetworkInspect, NetworkSummary};

const HEADERS: &[(&str, &str)] = &[
    ("ID", "NETWORK ID"),
    ("Name", "NAME"),
    ("Driver", "DRIVER"),
    ("Scope", "SCOPE"),
    ("IPv6", "IPV6"),
    ("Internal", "INTERNAL"),
    ("Labels", "LABELS"),
    ("CreatedAt", "CREATED AT"),
    ("Subnets", "SUBNETS"),
    ("Sandboxes", "SANDBOXES"),
];

const COLUMNS: [&str; 4] = ["ID", "Name", "Driver", "Scope"];

const FILTERS: &[&str] = &["name", "id", "driver", "label", "scope", "type", "dangling"];

/// `network ls`, sorted by name as Docker's.
pub async fn list(client: &Client, flags: ListFlags) -> Result<()> {
    let filters = Filters::parse(&flags.filters, FILTERS)?;
    let mut networks: Vec<NetworkSummary> = client.get("/v1/networks").await?;
    networks.sort_by(|a, b| a.name.cmp(&b.name));
    let rows: Vec<Value> = networks
        .iter()
        .filter(|n| filters.pass(|key, value| matches(n, key, value)))
        .map(|n| row(n, flags.no_trunc))
        .collect();
    let text = if flags.quiet {
        rows.iter()
            .map(|r| format!("{}\n", r["ID"].as_str().unwrap_or("")))
            .collect()
    } else if let Some(format) = &flags.format {
        let default = COLUMNS.map(|c| format!("{{{{.{c}}}}}")).join("\t");
        Format::parse(format, &default).render(&rows, HEADERS)?
    } else {
        let header = ["NETWORK ID", "NAME", "DRIVER", "SCOPE"];
        json_table(&header, &COLUMNS, &rows)
    };
    print!("{text}");
    Ok(())
}

fn is_builtin(network: &NetworkSummary) -> bool {
    config::BUILTIN_NETWORKS.contains(&network.name.as_str())
}

/// Docker's network filters: `name` and `id` match part of it (the id
/// from its start), the others exactly.
fn matches(network: &NetworkSummary, key: &str, value: &str) -> bool {
    match key {
        "name" => network.name.contains(value),
        "id" => network.id.starts_with(value),
        "driver" => network.driver == value,
        "label" => label_matches(&network.labels, value),
        "scope" => network.scope == value,
        "type" => match value {
            "builtin" => is_builtin(network),
            "custom" => !is_builtin(network),
            _ => false,
        },
        "dangling" => {
            let dangling = !is_builtin(network) && network.sandboxes == 0;
            matches!(
                (value, dangling),
                ("true" | "1", true) | ("false" | "0", false)
            )
        }
        _ => false,
    }
}

/// One network as a row: the fields `--format` sees, Docker's names.
fn row(network: &NetworkSummary, no_trunc: bool) -> Value {
    let labels: Vec<String> = network
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let subnets: Vec<String> = network.subnets.iter().map(ToString::to_string).collect();
    json!({
        "ID": if no_trunc { network.id.clone() } else { network.id.chars().take(12).collect() },
        "Name": network.name,
        "Driver": network.driver,
        "Scope": network.scope,
        "IPv6": network.subnets.iter().any(|s| s.addr().is_ipv6()).to_string(),
        "Internal": network.internal.to_string(),
        "Labels": labels.join(","),
        "CreatedAt": network.created,
        "Subnets": subnets.join(","),
        "Sandboxes": network.sandboxes.to_string(),
    })
}

/// `network inspect NAME...`: the found ones, then Docker's `No such
/// network` for each missing one (exit 1).
pub async fn inspect(client: &Client, names: &[String], format: Option<&str>) -> Result<()> {
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for name in names {
        match client
            .get::<NetworkInspect>(&format!("/v1/networks/{}", encode(name)))
            .await
        {
            Ok(network) => found.push(serde_json::to_value(network)?),
            Err(err) if is_not_found(&err) => missing.push(name.clone()),
            Err(err) => return Err(err),
        }
    }
    print_found(&found, format)?;
    finish_missing(&missing, "network")
}

//! `netagent ps`: Docker's columns where they mean something for a
//! sandbox (CONTAINER ID, COMMAND, CREATED, STATUS, PORTS, NAMES), plus
//! NETWORKS and ADDRESSES (IPv4 and IPv6), newest first; a sandbox whose
//! command has exited shows `Exited (CODE)` and is listed only with `-a`.

use anyhow::Result;
use serde_json::{json, Value};

use super::args::PsArgs;
use super::client::Client;
use super::filters::Filters;
use super::format::Format;
use super::output::json_table;
use super::ports::ports_cell;
use super::when::since;
use crate::daemon::api::model::SandboxView;

const HEADERS: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Command", "COMMAND"),
    ("CreatedAt", "CREATED AT"),
    ("RunningFor", "CREATED"),
    ("Status", "STATUS"),
    ("State", "STATE"),
    ("Ports", "PORTS"),
    ("Names", "NAMES"),
    ("Networks", "NETWORKS"),
    ("Addresses", "ADDRESSES"),
];

const COLUMNS: [&str; 8] = [
    "ID",
    "Command",
    "RunningFor",
    "Status",
    "Ports",
    "Names",
    "Networks",
    "Addresses",
];

const FILTERS: &[&str] = &["name", "id", "network", "status", "exited"];

/// `netagent ps`.
pub async fn ps(client: &Client, args: PsArgs) -> Result<()> {
    let filters = Filters::parse(&args.list.filters, FILTERS)?;
    let mut sandboxes: Vec<SandboxView> = client.get("/v1/sandboxes").await?;
    sandboxes.sort_by(|a, b| b.created.cmp(&a.created).then(a.name.cmp(&b.name)));
    let rows: Vec<Value> = sandboxes
        .iter()
        .map(|s| row(s, args.list.no_trunc))
        .filter(|row| args.all || row["State"] == "running" || filters_ask_for_exited(&filters))
        .filter(|row| filters.pass(|key, value| matches(row, key, value)))
        .collect();
    let text = if args.list.quiet {
        rows.iter()
            .map(|r| format!("{}\n", r["ID"].as_str().unwrap_or("")))
            .collect()
    } else if let Some(format) = &args.list.format {
        Format::parse(format, &default_template()).render(&rows, HEADERS)?
    } else {
        let header: Vec<&str> = COLUMNS.iter().map(|c| title(c)).collect();
        json_table(&header, &COLUMNS, &rows)
    };
    print!("{text}");
    Ok(())
}

/// Docker lists exited containers for `status=exited` or `exited=N`
/// even without `-a`.
fn filters_ask_for_exited(filters: &Filters) -> bool {
    !filters.values("exited").is_empty() || filters.values("status").iter().any(|s| s != "running")
}

fn default_template() -> String {
    COLUMNS
        .iter()
        .map(|c| format!("{{{{.{c}}}}}"))
        .collect::<Vec<_>>()
        .join("\t")
}

fn title(field: &str) -> &'static str {
    HEADERS
        .iter()
        .find(|(f, _)| *f == field)
        .map(|(_, t)| *t)
        .unwrap_or("")
}

fn matches(row: &Value, key: &str, value: &str) -> bool {
    let text = |field: &str| row[field].as_str().unwrap_or("").to_owned();
    match key {
        "name" => text("Names").contains(value),
        "id" => row["FullID"].as_str().unwrap_or("").starts_with(value),
        "network" => text("Networks").split(',').any(|n| n == value),
        "status" => text("State") == value,
        "exited" => row["ExitCode"].as_i64().map(|c| c.to_string()) == Some(value.to_owned()),
        _ => false,
    }
}

/// One sandbox as a row: the fields `--format` sees, Docker's names.
pub fn row(view: &SandboxView, no_trunc: bool) -> Value {
    let (state, status) = state_and_status(view);
    let networks: Vec<String> = if view.endpoints.is_empty() {
        vec![mode_text(view)]
    } else {
        view.endpoints.iter().map(|e| e.network.clone()).collect()
    };
    let addresses: Vec<String> = view
        .endpoints
        .iter()
        .flat_map(|e| {
            let v4 = e.ipv4.map(|a| a.to_string());
            v4.into_iter().chain(e.ipv6.map(|a| a.to_string()))
        })
        .collect();
    json!({
        "ID": if no_trunc { view.id.clone() } else { view.id.chars().take(12).collect() },
        "FullID": view.id,
        "Command": command_text(view, no_trunc),
        "CreatedAt": view.created,
        "RunningFor": format!("{} ago", since(&view.created)),
        "Status": status,
        "State": state,
        "ExitCode": view.command.as_ref().and_then(|c| c.exit_code),
        "Ports": ports_cell(view),
        "Names": view.name,
        "Networks": networks.join(","),
        "Addresses": addresses.join(","),
    })
}

/// `running` and `Up 3 minutes`, or `exited` and `Exited (1) 2 seconds
/// ago`. A sandbox without a command is up as long as it exists.
pub fn state_and_status(view: &SandboxView) -> (&'static str, String) {
    match &view.command {
        None => ("running", format!("Up {}", since(&view.created))),
        Some(_) if view.running => {
            let started = view
                .command
                .as_ref()
                .map(|c| c.started.as_str())
                .unwrap_or("");
            ("running", format!("Up {}", since(started)))
        }
        Some(command) => match (command.exit_code, &command.finished) {
            (Some(code), Some(finished)) => {
                ("exited", format!("Exited ({code}) {} ago", since(finished)))
            }
            // Its supervisor died before it could report the exit.
            _ => ("dead", "Dead".into()),
        },
    }
}

fn mode_text(view: &SandboxView) -> String {
    match &view.spec.network {
        config::NetworkMode::Bridge => "bridge".into(),
        config::NetworkMode::Host => "host".into(),
        config::NetworkMode::None => "none".into(),
        config::NetworkMode::Container(name) => format!("container:{name}"),
        config::NetworkMode::Network(name) => name.clone(),
    }
}

/// Docker's COMMAND cell: quoted, cut to 20 characters with `…`.
fn command_text(view: &SandboxView, no_trunc: bool) -> String {
    let argv = view
        .command
        .as_ref()
        .map(|c| c.argv.join(" "))
        .unwrap_or_default();
    // docker/cli's formatter: cut first, then quote.
    let cut: String = if no_trunc || argv.chars().count() <= 20 {
        argv
    } else {
        argv.chars().take(19).chain(['…']).collect()
    };
    format!("{cut:?}")
}

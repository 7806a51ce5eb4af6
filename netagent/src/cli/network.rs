//! `netagent network create|rm|connect|disconnect|prune`; `ls` and
//! `inspect` are in network_list.rs.

use std::io::BufRead;

use anyhow::Result;

use super::args::{NetworkCommand, NetworkCreateArgs};
use super::client::{encode, Client};
use super::errors::{is_not_found, or_no_such, Exit};
use super::filters::{label_matches, Filters};
use super::network_list;
use crate::daemon::api::model::{
    ConnectBody, DisconnectBody, EndpointView, NetworkInspect, NetworkSpec, NetworkSummary, Pruned,
};

/// Runs one `network` verb.
pub async fn run(client: &Client, command: NetworkCommand) -> Result<()> {
    match command {
        NetworkCommand::Create(args) => create(client, args).await,
        NetworkCommand::Ls(flags) => network_list::list(client, flags).await,
        NetworkCommand::Inspect { format, names } => {
            network_list::inspect(client, &names, format.as_deref()).await
        }
        NetworkCommand::Rm { names } => remove(client, &names).await,
        NetworkCommand::Connect {
            network,
            sandbox,
            aliases,
            ip,
            ip6,
        } => {
            let body = ConnectBody {
                sandbox,
                aliases,
                ip,
                ip6,
            };
            let _: EndpointView = client
                .post(&format!("/v1/networks/{}/connect", encode(&network)), &body)
                .await?;
            Ok(())
        }
        NetworkCommand::Disconnect {
            network, sandbox, ..
        } => {
            client
                .post::<()>(
                    &format!("/v1/networks/{}/disconnect", encode(&network)),
                    &DisconnectBody { sandbox },
                )
                .await
        }
        NetworkCommand::Prune { force, filters } => prune(client, force, &filters).await,
    }
}

/// Drivers of Docker's that netagent does not have, and what to say.
fn refuse_driver(driver: &str) -> Result<()> {
    match driver {
        // The daemon says whether it is in a cluster, and why not if not.
        "bridge" | "overlay" => Ok(()),
        other => Err(Exit::new(format!(
            "Error response from daemon: plugin \"{other}\" not found: netagent has the bridge and overlay drivers (host and none are built-in networks)"
        ))
        .into()),
    }
}

async fn create(client: &Client, args: NetworkCreateArgs) -> Result<()> {
    refuse_driver(&args.driver)?;
    // Docker takes a subnet with host bits set and uses its network;
    // netagent does the same and says so.
    for net in args.subnets.iter().chain(&args.ip_ranges) {
        if net.trunc() != *net {
            eprintln!("WARNING: {net} has host bits set: using {}", net.trunc());
        }
    }
    let spec = NetworkSpec {
        name: args.name,
        subnets: args.subnets.iter().map(|n| n.trunc()).collect(),
        gateways: args.gateways,
        ipv6: args.ipv6,
        internal: args.internal,
        dns: args.dns,
        labels: args.labels.into_iter().collect(),
        options: args.options.into_iter().collect(),
        ip_ranges: args.ip_ranges.iter().map(|n| n.trunc()).collect(),
        aux_addresses: args.aux_addresses.into_iter().collect(),
        driver: if args.driver == "bridge" {
            String::new()
        } else {
            args.driver
        },
    };
    let created: NetworkInspect = client.post("/v1/networks", &spec).await?;
    println!("{}", created.id);
    Ok(())
}

/// `network rm`: each name, Docker's `No such network` for a missing one,
/// every failure printed and exit 1 if any.
async fn remove(client: &Client, names: &[String]) -> Result<()> {
    let mut failed = false;
    for name in names {
        match client
            .delete(&format!("/v1/networks/{}", encode(name)))
            .await
        {
            Ok(()) => println!("{name}"),
            Err(err) => {
                eprintln!("{}", super::errors::line(&or_no_such(err, "network", name)));
                failed = true;
            }
        }
    }
    if failed {
        return Err(Exit::new(String::new()).into());
    }
    Ok(())
}

/// `network prune`: asks first unless `-f`, as Docker does; prints
/// `Deleted Networks:` and the names.
async fn prune(client: &Client, force: bool, filters: &[String]) -> Result<()> {
    if filters.iter().any(|f| f.starts_with("until")) {
        return Err(Exit::new(
            "Error response from daemon: the until filter is not supported: netagent keeps no history of unused networks; use label=",
        )
        .into());
    }
    let filters = Filters::parse(filters, &["label", "label!"])?;
    if !force && !confirmed()? {
        return Ok(());
    }
    let removed = if filters.values("label").is_empty() && filters.values("label!").is_empty() {
        // The route reads no body; `{}` is sent, as always.
        let answer: Pruned = client
            .post("/v1/networks/prune", &serde_json::Map::new())
            .await?;
        answer.removed
    } else {
        prune_matching(client, &filters).await?
    };
    if !removed.is_empty() {
        println!("Deleted Networks:");
        for name in removed {
            println!("{name}");
        }
    }
    Ok(())
}

/// Removes the unused user-defined networks whose labels pass.
async fn prune_matching(client: &Client, filters: &Filters) -> Result<Vec<String>> {
    let networks: Vec<NetworkSummary> = client.get("/v1/networks").await?;
    let mut removed = Vec::new();
    for network in networks {
        let user_defined = !config::BUILTIN_NETWORKS.contains(&network.name.as_str());
        let pass = filters.pass(|key, value| match key {
            "label" => label_matches(&network.labels, value),
            _ => !label_matches(&network.labels, value),
        });
        if !(user_defined && network.sandboxes == 0 && pass) {
            continue;
        }
        match client
            .delete(&format!("/v1/networks/{}", encode(&network.name)))
            .await
        {
            Ok(()) => removed.push(network.name),
            // Gone or in use meanwhile: not this prune's to remove.
            Err(err) if is_not_found(&err) => {}
            Err(err) => return Err(err),
        }
    }
    Ok(removed)
}

/// Docker's question, on stdout as Docker asks it; only `y` or `Y` goes
/// on.
fn confirmed() -> Result<bool> {
    print!("WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue? [y/N] ");
    std::io::Write::flush(&mut std::io::stdout())?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y"))
}

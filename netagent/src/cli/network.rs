//! `netagent network ...`

use anyhow::Result;

use super::args::{NetworkCommand, NetworkCreateArgs};
use super::client::{encode, Client};
use super::output::{print_json, table};
use crate::daemon::api::model::{
    ConnectBody, DisconnectBody, EndpointView, NetworkInspect, NetworkSpec, NetworkSummary, Pruned,
};

/// Runs one `network` verb.
pub async fn run(client: &Client, command: NetworkCommand) -> Result<()> {
    match command {
        NetworkCommand::Create(args) => create(client, args).await,
        NetworkCommand::Ls => list(client).await,
        NetworkCommand::Inspect { names } => {
            let mut all = Vec::new();
            for name in names {
                all.push(
                    client
                        .get::<NetworkInspect>(&format!("/v1/networks/{}", encode(&name)))
                        .await?,
                );
            }
            print_json(&all)
        }
        NetworkCommand::Rm { names } => {
            for name in names {
                client
                    .delete(&format!("/v1/networks/{}", encode(&name)))
                    .await?;
                println!("{name}");
            }
            Ok(())
        }
        NetworkCommand::Connect {
            network,
            sandbox,
            aliases,
            ip,
        } => {
            let body = ConnectBody {
                sandbox,
                aliases,
                ip,
            };
            let _: EndpointView = client
                .post(&format!("/v1/networks/{}/connect", encode(&network)), &body)
                .await?;
            Ok(())
        }
        NetworkCommand::Disconnect { network, sandbox } => {
            client
                .post::<()>(
                    &format!("/v1/networks/{}/disconnect", encode(&network)),
                    &DisconnectBody { sandbox },
                )
                .await
        }
        NetworkCommand::Prune => {
            // The route reads no body; `{}` is sent, as always.
            let answer: Pruned = client
                .post("/v1/networks/prune", &serde_json::Map::new())
                .await?;
            for name in answer.removed {
                println!("{name}");
            }
            Ok(())
        }
    }
}

async fn create(client: &Client, args: NetworkCreateArgs) -> Result<()> {
    let spec = NetworkSpec {
        name: args.name,
        subnets: args.subnets,
        gateways: args.gateways,
        ipv6: args.ipv6,
        internal: args.internal,
        dns: args.dns,
        labels: args.labels.into_iter().collect(),
        options: args.options.into_iter().collect(),
    };
    let created: NetworkInspect = client.post("/v1/networks", &spec).await?;
    println!("{}", created.id);
    Ok(())
}

async fn list(client: &Client) -> Result<()> {
    let networks: Vec<NetworkSummary> = client.get("/v1/networks").await?;
    let rows: Vec<Vec<String>> = networks
        .into_iter()
        .map(|n| {
            let subnets: Vec<String> = n.subnets.iter().map(ToString::to_string).collect();
            vec![
                n.id.chars().take(12).collect(),
                n.name,
                n.driver,
                n.scope,
                subnets.join(","),
                if n.internal { "yes" } else { "no" }.into(),
                n.sandboxes.to_string(),
            ]
        })
        .collect();
    print!(
        "{}",
        table(
            &[
                "NETWORK ID",
                "NAME",
                "DRIVER",
                "SCOPE",
                "SUBNETS",
                "INTERNAL",
                "SANDBOXES"
            ],
            &rows
        )
    );
    Ok(())
}

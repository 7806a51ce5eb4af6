//! `netagent network ...`

use anyhow::Result;
use config::NetworkSpec;
use serde_json::{json, Value};

use super::args::{NetworkCommand, NetworkCreateArgs};
use super::client::{encode, Client};
use super::output::table;

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
                        .get::<Value>(&format!("/v1/networks/{}", encode(&name)))
                        .await?,
                );
            }
            println!("{}", serde_json::to_string_pretty(&all)?);
            Ok(())
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
            let body = json!({ "sandbox": sandbox, "aliases": aliases, "ip": ip });
            let _: Value = client
                .post(&format!("/v1/networks/{}/connect", encode(&network)), &body)
                .await?;
            Ok(())
        }
        NetworkCommand::Disconnect { network, sandbox } => {
            let _: Value = client
                .post(
                    &format!("/v1/networks/{}/disconnect", encode(&network)),
                    &json!({ "sandbox": sandbox }),
                )
                .await?;
            Ok(())
        }
        NetworkCommand::Prune => {
            let answer: Value = client.post("/v1/networks/prune", &json!({})).await?;
            for name in answer["removed"].as_array().into_iter().flatten() {
                println!("{}", name.as_str().unwrap_or_default());
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
    };
    let created: Value = client
        .post("/v1/networks", &serde_json::to_value(spec)?)
        .await?;
    println!("{}", created["Id"].as_str().unwrap_or_default());
    Ok(())
}

async fn list(client: &Client) -> Result<()> {
    let networks: Vec<Value> = client.get("/v1/networks").await?;
    let rows: Vec<Vec<String>> = networks
        .iter()
        .map(|n| {
            let subnets: Vec<&str> = n["subnets"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            vec![
                n["id"]
                    .as_str()
                    .unwrap_or_default()
                    .chars()
                    .take(12)
                    .collect(),
                n["name"].as_str().unwrap_or_default().to_owned(),
                n["driver"].as_str().unwrap_or_default().to_owned(),
                n["scope"].as_str().unwrap_or_default().to_owned(),
                subnets.join(","),
                if n["internal"].as_bool() == Some(true) {
                    "yes".into()
                } else {
                    "no".into()
                },
                n["sandboxes"].to_string(),
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

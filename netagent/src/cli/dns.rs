//! `netagent dns table` and `dns lookup`.

use anyhow::Result;

use super::client::{encode, Client};
use super::output::table;
use crate::daemon::api::model::{LookupAnswer, TableSnapshot};

/// Prints the live lookup table: one row per endpoint.
pub async fn table_verb(client: &Client, network: Option<&str>, format: &str) -> Result<()> {
    let path = match network {
        Some(network) => format!("/v1/dns/table?network={}", encode(network)),
        None => "/v1/dns/table".to_owned(),
    };
    let snapshot: TableSnapshot = client.get(&path).await?;
    if format == "json" {
        println!("{}", serde_json::to_string_pretty(&snapshot)?);
        return Ok(());
    }
    let rows: Vec<Vec<String>> = snapshot
        .endpoints
        .iter()
        .map(|e| {
            let addresses: Vec<String> = e.addresses().map(|a| a.to_string()).collect();
            let mut names = vec![e.short_id()];
            names.extend(e.hostname.iter().cloned());
            names.extend(e.aliases.iter().cloned());
            vec![
                e.sandbox.clone(),
                names.join(","),
                addresses.join(","),
                e.network.clone(),
                e.id.chars().take(12).collect(),
            ]
        })
        .collect();
    print!(
        "{}",
        table(
            &["NAME", "ALIASES", "ADDRESSES", "NETWORK", "SANDBOX"],
            &rows
        )
    );
    Ok(())
}

/// Resolves through a sandbox's resolver and prints dig's short form, then
/// the rcode. Exits non-zero unless the rcode is NOERROR.
pub async fn lookup(
    client: &Client,
    from: &str,
    qtype: &str,
    tcp: bool,
    name: &str,
) -> Result<i32> {
    let path = format!(
        "/v1/dns/lookup?from={}&name={}&type={}&tcp={tcp}",
        encode(from),
        encode(name),
        encode(qtype)
    );
    let result: LookupAnswer = client.get(&path).await?;
    for answer in &result.answers {
        println!("{answer}");
    }
    let rcode = result.rcode;
    println!(
        ";; {rcode}{}",
        if result.truncated { " (truncated)" } else { "" }
    );
    Ok(if rcode == "NOERROR" || rcode == "No Error" {
        0
    } else {
        1
    })
}

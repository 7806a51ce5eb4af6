//! `netagent dns table`, `dns lookup` and `dns cache`.

use anyhow::Result;

use super::client::{encode, Client};
use super::output::table;
use crate::daemon::api::model::{CacheFlushed, CacheStats, LookupAnswer, TableSnapshot};

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

/// `dns cache [--network N]`: size and hit ratio; `dns cache flush`.
pub async fn cache(client: &Client, action: Option<&str>, network: Option<&str>) -> Result<()> {
    if action == Some("flush") {
        let flushed: CacheFlushed = client.post("/v1/dns/cache/flush", &()).await?;
        println!("flushed {} entries", flushed.flushed);
        return Ok(());
    }
    let path = match network {
        Some(network) => format!("/v1/dns/cache?network={}", encode(network)),
        None => "/v1/dns/cache".to_owned(),
    };
    let stats: Option<CacheStats> = client.get(&path).await?;
    let Some(s) = stats else {
        println!("the forwarding cache is off ([forwarding] cache_size = 0)");
        return Ok(());
    };
    let asked = s.hits + s.misses;
    let ratio = if asked == 0 {
        0.0
    } else {
        s.hits as f64 / asked as f64
    };
    let row = vec![
        format!("{}/{}", s.entries, s.capacity),
        s.bytes.to_string(),
        s.hits.to_string(),
        s.misses.to_string(),
        format!("{:.1}%", ratio * 100.0),
        s.evictions.to_string(),
    ];
    print!(
        "{}",
        table(
            &[
                "ENTRIES",
                "BYTES",
                "HITS",
                "MISSES",
                "HIT RATIO",
                "EVICTIONS"
            ],
            &[row]
        )
    );
    Ok(())
}

//! Log setup: tracing to stderr, text or JSON, filtered by the configured
//! level (`RUST_LOG` overrides it).

use anyhow::{anyhow, Result};
use config::{LogConfig, LogFormat};
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. hickory-proto is held at ERROR: its
/// INFO lines are per message, and per-request logging cost about 40% of
/// throughput (DESIGN.md, measured facts); its WARN lines are per message
/// too, and a sender chooses to cause them (a malformed EDNS option: one
/// line each, issue #14). The resolver reports such events itself,
/// counted and rate-limited (`resolver::events`).
pub fn init(config: &LogConfig) -> Result<()> {
    let directives = std::env::var("RUST_LOG").unwrap_or_else(|_| config.level.clone());
    let filter = EnvFilter::try_new(format!("{directives},hickory_proto=error"))
        .map_err(|err| anyhow!("log level {directives:?} is not a valid filter: {err}"))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match config.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    result.map_err(|err| anyhow!("cannot install the logger: {err}"))
}

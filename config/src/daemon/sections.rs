//! The `[log]` and `[agent]` sections, validated.

use super::raw::{check_range, RawAgent, RawLog};
use super::{DaemonConfig, LogFormat};
use crate::ConfigError;

impl DaemonConfig {
    pub(super) fn with_log(mut self, raw: RawLog, errors: &mut Vec<ConfigError>) -> Self {
        if let Some(level) = raw.level {
            if level.trim().is_empty() {
                errors.push(ConfigError::new(
                    "log.level",
                    "is empty; use a filter such as \"info\"",
                ));
            }
            self.log.level = level;
        }
        match raw.format.as_deref() {
            None | Some("text") => {}
            Some("json") => self.log.format = LogFormat::Json,
            Some(other) => errors.push(ConfigError::new(
                "log.format",
                format!("{other:?} is not \"text\" or \"json\""),
            )),
        }
        self
    }

    pub(super) fn with_agent(mut self, raw: RawAgent, errors: &mut Vec<ConfigError>) -> Self {
        let a = &mut self.agent;
        a.dns_mode = raw.dns_mode.unwrap_or(a.dns_mode);
        a.subnet_size = raw.subnet_size.unwrap_or(a.subnet_size);
        check_range(errors, "agent.subnet_size", a.subnet_size.into(), 8, 30);
        if let Some(pools) = raw.address_pools {
            a.address_pools = super::pools::resolve(pools, a.subnet_size, errors);
        }
        a.bridge_subnet = raw.bridge_subnet.unwrap_or(a.bridge_subnet);
        self
    }
}

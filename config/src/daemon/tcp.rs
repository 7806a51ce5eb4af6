//! `[resolver]`'s bounds on TCP clients (issue #14): everything a client
//! can make the agent hold is bounded, and a client over a bound loses its
//! own connection only.

use super::raw::{check_range, RawResolver};
use super::ResolverConfig;
use crate::ConfigError;

impl ResolverConfig {
    /// Takes and checks the TCP bounds given in the file.
    pub(super) fn with_tcp_bounds(&mut self, raw: &RawResolver, errors: &mut Vec<ConfigError>) {
        self.max_tcp_connections_total = raw
            .max_tcp_connections_total
            .unwrap_or(self.max_tcp_connections_total);
        check_range(
            errors,
            "resolver.max_tcp_connections_total",
            self.max_tcp_connections_total as u64,
            1,
            1 << 20,
        );
        self.tcp_write_timeout_ms = raw
            .tcp_write_timeout_ms
            .unwrap_or(self.tcp_write_timeout_ms);
        check_range(
            errors,
            "resolver.tcp_write_timeout_ms",
            self.tcp_write_timeout_ms,
            100,
            600_000,
        );
        self.max_tcp_unanswered = raw.max_tcp_unanswered.unwrap_or(self.max_tcp_unanswered);
        check_range(
            errors,
            "resolver.max_tcp_unanswered",
            self.max_tcp_unanswered as u64,
            1,
            65_536,
        );
    }
}

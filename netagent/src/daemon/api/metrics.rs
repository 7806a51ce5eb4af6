//! `GET /metrics`: counters in the Prometheus text format (version 0.0.4).

use std::fmt::Write;
use std::sync::atomic::Ordering;

use crate::agent::Agent;

/// The exposition text.
pub async fn render(agent: &Agent) -> String {
    let forward = agent.forward_stats();
    let queries = agent.query_stats();
    let state = agent.state().await;
    let m = &agent.metrics;
    let firewall_restored = agent.firewall_restored();
    let mut out = String::new();
    let mut counter = |name: &str, help: &str, value: u64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
        );
    };
    counter(
        "netagent_upstream_answers_total",
        "Forwarded questions answered by an upstream.",
        forward.answered,
    );
    counter(
        "netagent_upstream_answer_microseconds_total",
        "Upstream answer time summed over answered questions (mean latency = this / answers).",
        forward.answer_micros,
    );
    counter(
        "netagent_forwarded_total",
        "Questions relayed to upstream servers.",
        forward.forwarded,
    );
    counter(
        "netagent_forward_refused_total",
        "Questions refused at the in-flight bound.",
        forward.refused_over_bound,
    );
    counter(
        "netagent_forward_failed_total",
        "Forwarded questions without a usable answer (SERVFAIL).",
        forward.failed,
    );
    counter(
        "netagent_forward_mismatched_total",
        "Upstream datagrams dropped for a wrong id, source or question.",
        forward.mismatched,
    );
    counter(
        "netagent_forward_no_servers_total",
        "Questions not forwarded because no server may be asked.",
        forward.no_servers,
    );
    let cache = agent.cache_stats(None).ok().flatten().unwrap_or_default();
    counter(
        "netagent_dns_cache_hits_total",
        "Forwarded questions answered from the cache.",
        cache.hits,
    );
    counter(
        "netagent_dns_cache_misses_total",
        "Forwarded questions looked up in the cache and not found.",
        cache.misses,
    );
    counter(
        "netagent_dns_cache_evictions_total",
        "Live cache entries removed to make room.",
        cache.evictions,
    );
    counter(
        "netagent_attach_total",
        "Endpoints attached.",
        m.attaches.load(Ordering::Relaxed),
    );
    counter(
        "netagent_attach_microseconds_total",
        "Time spent attaching endpoints.",
        m.attach_micros.load(Ordering::Relaxed),
    );
    counter(
        "netagent_detach_total",
        "Endpoints detached.",
        m.detaches.load(Ordering::Relaxed),
    );
    counter(
        "netagent_sandbox_vanished_total",
        "Sandboxes whose namespace was deleted behind the agent's back.",
        m.vanished.load(Ordering::Relaxed),
    );
    counter(
        "netagent_redirect_restored_total",
        "DNS redirects put back after something removed them from a sandbox.",
        m.redirects_restored.load(Ordering::Relaxed),
    );
    counter(
        "netagent_firewall_restored_total",
        "The host firewall table put back after something removed or changed it.",
        firewall_restored,
    );
    if let Some(cluster) = agent.cluster() {
        counter(
            "netagent_cluster_full_reads_total",
            "Full reads of the cluster prefix: at start, and after a compaction took the revision last seen.",
            cluster.stats.full_reads.load(Ordering::Relaxed),
        );
        counter(
            "netagent_cluster_watch_resumes_total",
            "Cluster watches resumed from the last revision seen, without a full read.",
            cluster.stats.resumes.load(Ordering::Relaxed),
        );
    }
    let _ = writeln!(out, "# HELP netagent_queries_total Questions answered, by type and result.\n# TYPE netagent_queries_total counter");
    for (qtype, result, value) in queries {
        let _ = writeln!(
            out,
            "netagent_queries_total{{type=\"{qtype}\",result=\"{result}\"}} {value}"
        );
    }
    let _ = writeln!(out, "# HELP netagent_resolver_events_total Client-caused events (logged rate-limited), by kind.\n# TYPE netagent_resolver_events_total counter");
    for (kind, value) in agent.event_counts() {
        let _ = writeln!(
            out,
            "netagent_resolver_events_total{{kind=\"{kind}\"}} {value}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP netagent_networks Networks.\n# TYPE netagent_networks gauge\nnetagent_networks {}",
        state.networks.len()
    );
    let _ = writeln!(out, "# HELP netagent_sandboxes Sandboxes.\n# TYPE netagent_sandboxes gauge\nnetagent_sandboxes {}", state.sandboxes.len());
    out
}

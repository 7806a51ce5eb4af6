//! netagent's integration tests: one test binary (docs/ARCHITECTURE.md,
//! tests). The pure tier lives next to the code in each crate; here are
//! the loopback tier, the namespace tier and, inside it, real runtimes.
//!
//! - [`bench_smoke`]: the benchmark harness, run briefly so it cannot rot.
//! - [`fuzz_corpus`]: the cargo-fuzz targets' bodies on stable, over their
//!   committed corpus and bounded random and mutated inputs.
//! - [`loopback_abuse`]: hostile clients: a TCP client that pipelines and
//!   never reads.
//! - [`loopback_dig`]: the real binary's `dns serve` on 127.0.0.1, checked
//!   with real dig and kdig.
//! - [`loopback_wire`]: the same server fed raw bytes over UDP and TCP:
//!   connection reuse, malformed frames, garbage, idle timeout.
//! - [`loopback_forward`]: servers started in-process on loopback with
//!   fake upstreams: what is forwarded, what is not, and the bound.
//! - [`loopback_protocol`]: issue #14's protocol corners through dig and
//!   kdig: localhost, type and class ANY, zone apexes, NOTIMP, TC with
//!   partial answers.
//! - [`loopback_upstream`]: the real forwarder against fake upstream
//!   servers: failover, health memory, spoofing, bounds, resolv.conf reload.
//! - [`netns_agent`]: the namespace tier: the real daemon in a private
//!   host namespace, the real CLI, dig and getent inside sandboxes.
//! - [`netns_cni`]: the CNI plugin under the spec's contract, called by
//!   hand, alone and chained after `bridge` + `host-local`.
//! - [`netns_dataplane`]: the bridges' data plane: published ports, the way
//!   out, ICC, isolation, options, a flushed ruleset healed.
//! - [`netns_dns_cache`]: `netagent dns cache` and `dns cache flush`.
//! - [`netns_docker_cli`]: a Docker user's command lines, exit codes and
//!   words, and the JSON key paths of `inspect` (issue #13).
//! - [`netns_crash`]: `kill -9` of the agent mid-creation, then a restart:
//!   no orphan namespace, veth or bridge, every name usable again.
//! - [`netns_firewall`]: the host firewall's table: healed after a flush,
//!   beside a dropping table, through a restart, with hundreds of ports.
//! - [`netns_domain`]: the sandboxes' own domain (`netagent.internal`):
//!   busybox `nslookup`, getent, dig and kdig through the default resolv.conf.
//! - [`netns_failures`]: the agent's failure paths, with fault points.
//! - [`netns_host_resolv`]: the host's resolv.conf bind-mounted, replaced,
//!   written in place through other paths: read again each time.
//! - [`netns_overlay`]: overlay networks across hosts through etcd
//!   (issue #15): names, TCP, leases, etcd away, a host cut off.
//! - [`netns_overlay_ipam`]: an overlay's addresses: blocks filled and
//!   given back, a borrow, a full subnet, `--ip` raced, `--ip-range`,
//!   `--aux-address`, a local subnet overlapping an overlay.
//! - [`netns_overlay_options`]: an overlay network's MTU, `--dns` and
//!   `--internal` on two hosts.
//! - [`netns_overlay_tls`]: the cluster store over TLS, and certificates
//!   etcd refuses.
//! - [`netns_redirect`]: 127.0.0.11 in redirect and direct mode: port 53
//!   left free, a flushed ruleset restored.
//! - [`netns_refusals`]: caller errors answered 4xx naming the value,
//!   with nothing left behind; the rule for dots in names.
//! - [`netns_stall`]: answers timed while the agent removes sandboxes.
//! - [`netns_publish_doors`]: published ports through the CNI plugin's
//!   `portMappings` capability.
//! - [`netns_musl`]: a static musl binary's getaddrinfo against an alias
//!   of 40 addresses (a truncated answer that still carries addresses).
//! - [`netns_tcp_abuse`]: never-reading TCP clients inside a sandbox.
//! - [`netns_walkthrough`]: Docker's walkthrough end to end through the CLI,
//!   the API on bad input, and `netagent demo`.
//! - [`runtime_podman`]: podman with netagent's CNI plugin (main and
//!   chained) and with its OCI hook.
//! - [`runtime_oci`]: runc and crun with the hook.
//! - [`runtime_containerd`]: containerd's `ctr run --cni` with the plugin.
//! - [`serve_cli`]: errors a user sees from `dns serve`.

mod bench_smoke;
mod fuzz_corpus;
mod harness;
mod loopback_abuse;
mod loopback_dig;
mod loopback_forward;
mod loopback_protocol;
mod loopback_upstream;
mod loopback_wire;
mod netns_agent;
mod netns_cni;
mod netns_crash;
mod netns_dataplane;
mod netns_dns_cache;
mod netns_docker_cli;
mod netns_domain;
mod netns_failures;
mod netns_firewall;
mod netns_host_resolv;
mod netns_musl;
mod netns_overlay;
mod netns_overlay_ipam;
mod netns_overlay_options;
mod netns_overlay_tls;
mod netns_publish_doors;
mod netns_redirect;
mod netns_refusals;
mod netns_stall;
mod netns_tcp_abuse;
mod netns_walkthrough;
mod runtime_containerd;
mod runtime_oci;
mod runtime_podman;
mod serve_cli;

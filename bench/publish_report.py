"""The publish step's section of the report (bench/publish.py measures):
medians over the rounds per path, ratios to the DNAT path from the same
run, CPU per connection and per MB, attach with and without a published
port. One function, render; the shared helpers (median, ratio, table_head,
write_section) are report_common's."""

import re

from publish import CONCURRENCY, HEAD, PATHS
from report_common import median, num, percentile, ratio, table_head

DNAT = {"world": "DNAT (netagent -p)", "host": "localhost: DNAT (route_localnet)"}


def render(bench, load_before, left):
    rows = bench.rows
    lines = [HEAD, "",
             f"Medians of {bench.rounds} round(s), {bench.seconds} s per run, the paths alternated round by round; "
             "clients in a world namespace (198.51.100.2), servers in a sandbox (10.77.0.2) on a netagent bridge. "
             "Paths: DNAT = the host's address 198.51.100.1 on a port published with `netagent run -p`; "
             "the userland proxies = the same address on a port where a process per port accepts and copies each "
             "connection to the sandbox, as docker-proxy does: socat (`-b 65536 TCP-LISTEN:PORT,fork,reuseaddr "
             "TCP:SANDBOX:PORT`, a forked process per connection, copies through a 64 KiB buffer) and spliceproxy "
             "(bench/spliceproxy.c, docker-proxy's design: one process, per connection a dial to the sandbox and a "
             "splice(2) copy each way, as Go's io.Copy between two TCP connections does, TCP_NODELAY as Go sets it); "
             "direct = the sandbox's own address routed through the host, no NAT and no proxy (the floor).", "",
             "CPU: the agent, the proxy (with its reaped per-connection children) and the server from their process CPU clocks "
             "(clock_getcpuclockid; socat's children from cutime+cstime), the client from its own rusage (iperf3: its "
             "own report), and the machine's softirq "
             "and system time from /proc/stat deltas. The kernel accounts by ticks (no IRQ time accounting): "
             "softirq is sampled, and /proc/stat counts the whole machine, other work included.", ""]

    cps = {label: [r for r in rows if r["path"] == label and r["kind"] == "cps"] for label in PATHS}
    lines += [f"### Connections (one 16-byte request, one 64-byte response, the server closes; "
              f"{CONCURRENCY} in flight)", "",
              "Ratios are to the DNAT path from the same client: the world's for the world's paths, the host's "
              "own `127.0.0.1` for the localhost ones (the host's client runs beside the agent and the proxies).", "",
              *table_head(["path", "connections/s", "/ DNAT", "p50 ms", "p99 ms", "errors", "proxy µs/conn",
                           "agent µs/conn", "server µs/conn", "client µs/conn", "softirq µs/conn", "system µs/conn",
                           "machine busy"], "l" + "r" * 12)]
    for label, got in cps.items():
        if not got:
            continue

        def per(key):
            return median(got, lambda r: r[key] * 1e6 / max(r["done"], 1))
        rate = median(got, lambda r: r["rate"])
        base = median(cps[DNAT[PATHS[label][3]]], lambda r: r["rate"])
        lines.append(
            f"| {label} | {num(rate)} | {ratio(rate, base)} | {median(got, lambda r: r['p50_ms']):.2f} | "
            f"{median(got, lambda r: r['p99_ms']):.2f} | {sum(r['errors'] for r in got)} | {num(per('proxy_s'))} | "
            f"{num(per('agent_s'), 2)} | {num(per('server_s'))} | {num(per('cpu_s'))} | {num(per('softirq_s'))} | "
            f"{num(per('system_s'))} | {median(got, lambda r: r['busy_s'] / r['wall_s'] * 100 / 2):.0f}% |")

    bulk = {label: [r for r in rows if r["path"] == label and r["kind"] == "bulk"] for label in PATHS}
    lines += ["", f"### Bulk transfer (one iperf3 TCP stream to the sandbox, {bench.seconds} s)", "",
              *table_head(["path", "MB/s", "/ DNAT", "proxy µs/MB", "agent µs/MB", "server µs/MB", "client µs/MB",
                           "softirq µs/MB", "system µs/MB", "machine busy"], "l" + "r" * 9)]
    for label, got in bulk.items():
        if not got:
            continue

        def per(key):
            return median(got, lambda r: r[key] * 1e6 / r["mb"])
        rate = median(got, lambda r: r["rate"])
        base = median(bulk[DNAT[PATHS[label][3]]], lambda r: r["rate"])
        lines.append(
            f"| {label} | {num(rate)} | {ratio(rate, base)} | {num(per('proxy_s'))} | {num(per('agent_s'), 3)} | "
            f"{num(per('server_s'))} | {num(per('client_s'))} | {num(per('softirq_s'))} | {num(per('system_s'))} | "
            f"{median(got, lambda r: r['busy_s'] / r['wall_s'] * 100 / 2):.0f}% |")

    if rows:
        agent_ms = sum(r["agent_s"] for r in rows) * 1000
        wall = sum(r["wall_s"] for r in rows)
        conns = sum(r["done"] for r in rows if r["kind"] == "cps")
        mb = sum(r["mb"] for r in rows if r["kind"] == "bulk")
        lines += ["", f"The agent's CPU over all {len(rows)} load runs ({wall:.0f} s, {conns:,} connections, "
                  f"{mb:,.0f} MB, every path): {agent_ms:.1f} ms in all, its own housekeeping included. It is not on "
                  "the DNAT path: the kernel does the work, the agent only wrote the rules."]

    attach = getattr(bench, "attach_result", None)
    if attach:
        plain, published = attach["plain"], attach["published"]
        p50_plain, p50_pub = percentile(plain, .5), percentile(published, .5)
        lines += ["", "### Attach with a published port", "",
                  f"{len(plain)} sandboxes without and {len(published)} with `-p HOSTPORT:80` (a host port of its "
                  "own each, 20000 up: a host port is published once), created alternately on one network through "
                  "the API (curl's time per request).", "",
                  *table_head(["", "sandboxes", "p50 ms", "p99 ms", "the agent's CPU per request, p50 ms"], "lrrrr"),
                  f"| without -p | {len(plain)} | {p50_plain:.2f} | {percentile(plain, .99):.2f} | "
                  f"{percentile(attach['plain_cpu'], .5):.2f} |",
                  f"| with -p | {len(published)} | {p50_pub:.2f} | {percentile(published, .99):.2f} | "
                  f"{percentile(attach['published_cpu'], .5):.2f} |", "",
                  f"p50 with -p {p50_pub - p50_plain:+.2f} ms against without; the issue's target (p50 with -p under "
                  f"5 ms): {'met' if p50_pub < 5 else 'missed'}. Published ports found in the table afterwards: "
                  f"{len(published) - len(attach['missing'])} of {len(published)}."]
        failed = attach.get("failed")
        if failed:
            lines += ["", f"**Creation failed**: the {'sandbox with -p' if failed['kind'] == 'published' else 'plain sandbox'} "
                      f"of pair {failed['index'] + 1}, with {failed['published_before']} published ports already in "
                      f"the table: the agent answered `{failed['message']}`. The series stopped there."]
        if len(plain) >= 200:
            def hundreds(times):
                return " ".join(f"{percentile(times[i:i + 100], .5):.2f}" for i in range(0, len(times) - 99, 100))
            lines += ["", "p50 of each hundred, in order (how the cost grows with the sandboxes, and published "
                      f"ports, already there): without -p {hundreds(plain)} ms; with -p {hundreds(published)} ms."]
    table, links = left
    rules = [line.strip() for line in table.splitlines() if line.startswith("\t\t") and "type " not in line]
    stale = [rule for rule in rules if re.search(r"dnat (ip6? )?to|10\.7[78]\.", rule)]
    others = [link for link in links if not link.startswith("netagent0")]
    lines += ["", "After the step removed its sandboxes and networks and stopped the agent: "
              f"{len(stale)} rule(s) of its published ports or removed networks left in table inet netagent"
              f"{' (' + '; '.join(stale) + ')' if stale else ''}; links other than the built-in `bridge` network's "
              f"left: {', '.join(others) or 'none'}. (The built-in network's bridge and rules stay by design; the "
              "step removes them by hand afterwards, so the next step starts from nothing.)",
              "", f"Load average before the step: {load_before}.", "", "Versions:", ""]
    lines += [f"- {k}: {v}" for k, v in bench.versions().items()]
    return "\n".join(lines) + "\n"

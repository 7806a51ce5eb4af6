"""The report of the load, failover and attach steps (load.py, peers.py,
attach.py measure; bench.py writes it): medians over the rounds, ratios
netagent/peer from the same run, and the issue's targets.

Map: render (the whole report), grouped (medians per workload, clients and
target), failover_lines, attach_lines, check_targets (issue #6's list). The
shared helpers are report_common's.
"""

import statistics

from report_common import median, percentile, quotient, table_head

TARGETS = ["netagent-redirect", "netagent-direct", "aardvark-dns", "dnsmasq"]


def grouped(results):
    groups = {}
    for row in results:
        groups.setdefault((row["workload"], str(row["clients"]), row["target"]), []).append(row)
    return {key: {k: median([r[k] for r in rows if k in r]) for k in ("qps", "cpu_us", "avg_ms", "max_ms", "lost")}
            for key, rows in groups.items()}


def render(results, failover, attach, rounds, seconds, versions):
    g = grouped(results)
    lines = [
        "# netagent beside aardvark-dns and dnsmasq",
        "",
        f"Medians of {rounds} rounds of {seconds} s each, targets alternated round by round; dnsperf in the client",
        "sandbox (`-q 100`), `c` = dnsperf clients, `Q5000` = a fixed 5,000 qps for latency. CPU is the server's",
        "utime+stime from /proc per completed query. Forwarded names go to a dnsmasq upstream in another namespace;",
        "`cold` names are unique (no cache helps), `warm` repeat over 1,000 names.",
        "",
        *table_head(["workload", "c", "target", "qps", "CPU µs/query", "avg latency ms", "max latency ms", "lost"],
                    "lllrrrrr"),
    ]
    keys = sorted({(w, c) for (w, c, _) in g}, key=lambda k: (k[0], k[1]))
    for workload, clients in keys:
        for target in TARGETS:
            row = g.get((workload, clients, target))
            if row:
                lines.append(f"| {workload} | {clients} | {target} | {row['qps']:.0f} | {row['cpu_us']:.1f} | "
                             f"{row['avg_ms']:.3f} | {row['max_ms']:.1f} | {row['lost']:.0f} |")
    lines += ["", "## Ratios, netagent (redirect mode) / peer, same run", "",
              *table_head(["workload", "c", "qps / aardvark", "CPU / aardvark", "qps / dnsmasq", "CPU / dnsmasq"],
                          "llrrrr")]
    for workload, clients in keys:
        ours = g.get((workload, clients, "netagent-redirect"))
        aard = g.get((workload, clients, "aardvark-dns"))
        dmq = g.get((workload, clients, "dnsmasq"))
        if ours and aard and dmq:
            lines.append(f"| {workload} | {clients} | {quotient(ours['qps'], aard['qps']):.2f} | {quotient(ours['cpu_us'], aard['cpu_us']):.2f} | "
                         f"{quotient(ours['qps'], dmq['qps']):.2f} | {quotient(ours['cpu_us'], dmq['cpu_us']):.2f} |")
    lines += fixed_rate_lines(results)
    if failover:
        lines += failover_lines(failover)
    if attach:
        lines += attach_lines(attach)
    lines += ["", "## Targets (issue #6)", ""] + check_targets(g, failover, attach)
    lines += ["", "## Versions", ""] + [f"- {k}: {v}" for k, v in versions.items()] + [""]
    return "\n".join(lines)


def fixed_rate_lines(results):
    """Each round's CPU ratios of the fixed-rate rows, netagent (redirect) /
    peer, and their median: the rows of one round and workload are measured
    one after the other (load.py), so each ratio compares runs seconds
    apart rather than medians minutes apart."""
    rows = {(r["workload"], str(r["clients"]), r.get("round", 0), r["target"]): r
            for r in results if str(r["clients"]).startswith("Q")}
    keys = sorted({(w, c) for (w, c, _, _) in rows})
    if not keys:
        return []
    lines = ["", "## Fixed-rate rows round by round: CPU per query, netagent (redirect) / peer", "",
             *table_head(["workload", "c", "/ aardvark-dns, each round", "median", "/ dnsmasq, each round", "median"],
                         "llrrrr")]
    for workload, clients in keys:
        rounds = sorted({n for (w, c, n, _) in rows if (w, c) == (workload, clients)})

        def ratios(peer):
            pairs = [(rows.get((workload, clients, n, "netagent-redirect")), rows.get((workload, clients, n, peer)))
                     for n in rounds]
            return [quotient(ours["cpu_us"], theirs["cpu_us"]) for ours, theirs in pairs if ours and theirs]

        cells = []
        for values in (ratios("aardvark-dns"), ratios("dnsmasq")):
            cells.append(", ".join(f"{v:.2f}" for v in values) or "-")
            cells.append(f"{statistics.median(values):.2f}" if values else "-")
        lines.append(f"| {workload} | {clients} | " + " | ".join(cells) + " |")
    # Issue #16's cache target: a cached forwarded answer within 1.2x of a
    # local one's CPU, netagent against itself, round by round.
    warm_to_local = [quotient(warm["cpu_us"], local["cpu_us"])
                     for n in sorted({n for (_, _, n, _) in rows})
                     for warm, local in [(rows.get(("forwarded-warm", "Q5000", n, "netagent-redirect")),
                                          rows.get(("local", "Q5000", n, "netagent-redirect")))]
                     if warm and local]
    if warm_to_local:
        lines += ["", "netagent (redirect) forwarded-warm / local, Q5000, each round: "
                  + ", ".join(f"{v:.2f}" for v in warm_to_local)
                  + f"; median {statistics.median(warm_to_local):.2f}."]
    return lines


def failover_lines(failover):
    lines = ["", "## Dead first upstream (a blackhole), live second", ""]
    for label, times in failover.items():
        lines.append(f"- {label}: median {statistics.median(times):.0f} ms, worst {max(times)} ms over {len(times)} unique names "
                     "(dig's own query time)")
    return lines


def attach_lines(attach):
    times = attach["times"]
    lines = ["", "## Attach", "",
              "Sandboxes created and attached one after another through the control API (`curl` time per request):", ""]
    for n in (1, 100, attach["total"]):
        if n <= attach["total"]:
            subset = sorted(times[:n])
            p50 = subset[len(subset) // 2]
            p99 = percentile(subset, .99)
            lines.append(f"- first {n}: p50 {p50:.2f} ms, p99 {p99:.2f} ms")
    lines += [f"- {attach['total']} in {attach['wall_s']:.1f} s; with {attach['sandboxes']} sandboxes the agent has "
              f"RSS {attach['rss_mib']:.1f} MiB and {attach['fds']} file descriptors",
              f"- a new sandbox's name, asked from a peer's namespace as soon as the API returned: answered "
              f"{attach['newcomer_ms']:.2f} ms later, on the {'first' if attach['newcomer_first_try'] else 'a later'} query"]
    return lines


def check_targets(g, failover, attach):
    out = []

    def line(ok, text):
        out.append(f"- [{'x' if ok else ' '}] {text}")

    for clients in ("1", "8"):
        ours = g.get(("local", clients, "netagent-redirect"))
        aard = g.get(("local", clients, "aardvark-dns"))
        dmq = g.get(("local", clients, "dnsmasq"))
        if ours and aard and dmq:
            line(quotient(ours["qps"], aard["qps"]) >= 2, f"local c{clients}: qps ≥ 2× aardvark ({quotient(ours['qps'], aard['qps']):.2f}×)")
            line(quotient(ours["cpu_us"], aard["cpu_us"]) <= 1 / 3, f"local c{clients}: CPU ≤ 1/3 of aardvark ({quotient(ours['cpu_us'], aard['cpu_us']):.2f})")
            line(quotient(ours["qps"], dmq["qps"]) >= 1, f"local c{clients}: qps ≥ dnsmasq ({quotient(ours['qps'], dmq['qps']):.2f}×)")
            line(quotient(ours["cpu_us"], dmq["cpu_us"]) <= 1, f"local c{clients}: CPU ≤ dnsmasq ({quotient(ours['cpu_us'], dmq['cpu_us']):.2f})")
        ours = g.get(("forwarded-cold", clients, "netagent-redirect"))
        aard = g.get(("forwarded-cold", clients, "aardvark-dns"))
        dmq = g.get(("forwarded-cold", clients, "dnsmasq"))
        if ours and aard and dmq:
            line(quotient(ours["qps"], aard["qps"]) >= 3, f"forwarded cold c{clients}: qps ≥ 3× aardvark ({quotient(ours['qps'], aard['qps']):.2f}×)")
            line(quotient(ours["qps"], dmq["qps"]) > 1, f"forwarded cold c{clients}: qps > dnsmasq ({quotient(ours['qps'], dmq['qps']):.2f}×)")
    if failover and "netagent" in failover:
        median = statistics.median(failover["netagent"])
        line(median < 200, f"dead first upstream: median < 200 ms ({median:.0f} ms)")
    if not attach:
        return out
    times = sorted(attach["times"])
    p50 = times[len(times) // 2]
    line(p50 < 5, f"attach p50 < 5 ms ({p50:.2f} ms over {attach['total']})")
    line(attach["rss_mib"] < 64, f"{attach['sandboxes']} sandboxes under 64 MiB RSS ({attach['rss_mib']:.1f} MiB)")
    line(attach["newcomer_ms"] < 10, f"a new name resolvable from a peer within 10 ms of the attach returning "
                                      f"({attach['newcomer_ms']:.2f} ms)")
    return out

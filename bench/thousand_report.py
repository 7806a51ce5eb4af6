"""The 1,000 quiet sandboxes step's section of the report (bench/thousand.py
measures): medians over the rounds per target, lost/late/wrong summed,
ratios netagent/peer from the same run, and the issue's target (#16:
netagent's CPU <= 0.5x aardvark-dns's, no lost or late answer).

Map: render (the section), summary (one target's medians), thread_lines,
stall_lines, rcodes; the shared helpers (median, ratio, table_head) are
report_common's."""

import os

from report_common import median, quotient, ratio, table_head
from thousand import LOCAL, RATE, TIMEOUT_MS, WARM

HEAD = "## 1,000 quiet sandboxes"
KINDS = ("local", "warm", "cold")


def summary(rows, kind="all"):
    """Medians over `rows` (one target's runs) of one kind of name."""
    got = [r["load"][kind] for r in rows]
    answered = [max(g["answered"], 1) for g in got]
    return {
        "answers_s": median([r["load"]["all"]["answered"] / r["load"]["wall_s"] for r in rows]),
        "cpu_s": median([r["cpu_s"] for r in rows]),
        "cpu_us": median([r["cpu_s"] * 1e6 / max(r["load"]["all"]["answered"], 1) for r in rows]),
        "ctx": median([r["ctx"] / max(r["load"]["all"]["answered"], 1) for r in rows]),
        "answered": sum(g["answered"] for g in got), "sent": sum(g["sent"] for g in got),
        "p50": median([g["p50_ms"] for g in got]), "p99": median([g["p99_ms"] for g in got]),
        "p999": median([g["p999_ms"] for g in got]), "max": max([g["max_ms"] for g in got], default=float("nan")),
        "mean": sum(g["mean_ms"] * a for g, a in zip(got, answered)) / sum(answered),
        "lost": sum(g["lost"] for g in got), "late": sum(g["late"] for g in got),
        "wrong": sum(g["wrong"] for g in got),
        "rcodes": {code: sum(g["rcodes"].get(code, 0) for g in got) for code in {c for g in got for c in g["rcodes"]}},
    }


def thread_lines(rows):
    """(thread name, median CPU s, median context switches per answer) of
    the busiest thread names over `rows`, busiest first."""
    names = {name for r in rows for name in r["threads"]}
    tick = 1 / os.sysconf("SC_CLK_TCK")
    got = [(name, median([r["threads"].get(name, [0, 0])[0] * tick for r in rows]),
            median([r["threads"].get(name, [0, 0])[1] / max(r["load"]["all"]["answered"], 1) for r in rows]))
           for name in names]
    return sorted(got, key=lambda item: -item[1])[:5]


def stall_lines(rows):
    """Where netagent's late or lost answers were, and whether the server
    was busy or starved then (its ms on a CPU / ms runnable but waiting for
    one in those seconds, from schedstat); the peers' in one line each."""
    out = []
    for r in rows:
        load = r["load"]
        seconds = [i for i, (late, lost) in enumerate(zip(load["late_by_second"], load["lost_by_second"]))
                   if late or lost]
        if not seconds:
            continue
        sched = r.get("sched", [])
        around = ", ".join(f"{i}: {load['late_by_second'][i]} late {load['lost_by_second'][i]} lost, ran "
                           f"{sched[i][0]} ms, waited {sched[i][1]} ms" for i in seconds[:6] if i < len(sched))
        if r["target"].startswith("netagent"):
            out.append(f"- {r['target']}, round {r['round'] + 1}: by second of the run, {around or seconds}")
        else:
            ran = median([s[0] for s in sched]) if sched else float("nan")
            waited = median([s[1] for s in sched]) if sched else float("nan")
            out.append(f"- {r['target']}, round {r['round'] + 1}: late or lost in {len(seconds)} of "
                       f"{len(load['late_by_second'])} seconds; per second it ran {ran:.0f} ms and waited "
                       f"{waited:.0f} ms for a CPU (medians, all its threads)")
    if out:
        out = ["", "Runs with late or lost answers (the server's time on a CPU and runnable but waiting for one, "
               "per second, from /proc/PID/task/*/schedstat):", ""] + out
    return out


def rcodes(counts):
    names = {"0": "NOERROR", "2": "SERVFAIL", "3": "NXDOMAIN", "5": "REFUSED"}
    return " ".join(f"{names.get(code, code)} {count}" for code, count in sorted(counts.items())) or "none"


def render(step, load_before, load_after):
    targets = [label for label, _, _ in step.targets]
    by_target = {label: [r for r in step.rows if r["target"] == label] for label in targets}
    s = {label: summary(rows) for label, rows in by_target.items() if rows}
    lines = [HEAD, "",
             f"{step.total} sandboxes on one netagent network (`{step.network}`), each asking {RATE} questions a "
             f"second ({step.total * RATE:,} q/s in all) from a UDP socket of its own inside its namespace, the "
             f"sandboxes' turns evenly spread (bench/thousand_load.c: one process, the sockets made by setns into "
             f"each namespace); {step.seconds} s per run, {step.rounds} round(s), the targets' order reversed every "
             f"other round; medians over the rounds, lost/late/wrong summed over them. Questions: {LOCAL}% another "
             f"sandbox's name, {WARM}% one of the upstream's 1,000 names (repeated: cacheable), "
             f"{100 - LOCAL - WARM}% a unique name under cold.zone.test; every answer checked (NOERROR, the right "
             f"address). netagent (redirect mode) is asked at 127.0.0.11 in each sandbox; aardvark-dns on the "
             f"network's gateway {step.gateway} (a config file listing the sandboxes, as netavark writes it, loaded "
             f"with SIGHUP), dnsmasq on an address of the bridge with the same names as a hosts file. Latency: from "
             f"the send to the kernel's receive timestamp of the answer; lost = no answer in {TIMEOUT_MS} ms, late "
             f"= over 100 ms. CPU: the server's utime+stime (all threads, /proc/PID/stat; netagent: the whole "
             f"daemon) around the load alone; context switches of all its threads.", "",
             *table_head(["sandboxes", "target", "answers/s", "CPU s per run", "CPU µs/answer", "ctx switches/answer",
                          "p50 ms", "p99 ms", "p99.9 ms", "max ms", "lost", "late", "wrong", "rcodes",
                          "ARP table full", "host UDP drops"], "rl" + "r" * 11 + "lrr")]
    for label, got in s.items():
        lines.append(f"| {step.total} | {label} | {got['answers_s']:,.0f} | {got['cpu_s']:.2f} | {got['cpu_us']:.1f} | "
                     f"{got['ctx']:.2f} | {got['p50']:.2f} | {got['p99']:.2f} | {got['p999']:.2f} | {got['max']:.1f} | "
                     f"{got['lost']} | {got['late']} | {got['wrong']} | {rcodes(got['rcodes'])} | "
                     f"{sum(r['table_fulls'] for r in by_target[label])} | "
                     f"{sum(r['udp_drops'] for r in by_target[label])} |")
    lines += ["", "Threads (medians of the runs: CPU s per run, context switches per answer): " + "; ".join(
        f"{label}: " + ", ".join(f"{name} {cpu:.2f} s {ctx:.2f}" for name, cpu, ctx in thread_lines(rows))
        for label, rows in by_target.items() if rows) + "."]
    lines += ["", "By kind of name (medians of the rounds' percentiles; answers, lost, late, wrong summed):", "",
              *table_head(["target", "kind", "answers", "p50 ms", "p99 ms", "max ms", "lost", "late", "wrong"],
                          "ll" + "r" * 7)]
    for label, rows in by_target.items():
        for kind in KINDS if rows else ():
            got = summary(rows, kind)
            lines.append(f"| {label} | {kind} | {got['answered']:,} | {got['p50']:.2f} | {got['p99']:.2f} | "
                         f"{got['max']:.1f} | {got['lost']} | {got['late']} | {got['wrong']} |")
    ours, aard, dmq = (s.get(label) for label in targets)
    if ours and aard and dmq:
        cpu_ratio = quotient(ours["cpu_s"], aard["cpu_s"])
        clean = ours["lost"] == 0 and ours["late"] == 0 and ours["wrong"] == 0
        lines += ["", f"netagent / aardvark-dns, CPU: {ratio(ours['cpu_s'], aard['cpu_s'])}; netagent / dnsmasq: "
                  f"{ratio(ours['cpu_s'], dmq['cpu_s'])} (same run).", "",
                  f"- [{'x' if cpu_ratio <= 0.5 else ' '}] netagent's total CPU <= 0.5x aardvark-dns's serving the "
                  f"same clients ({ratio(ours['cpu_s'], aard['cpu_s'])}x)",
                  f"- [{'x' if clean else ' '}] no lost or late answer from netagent (lost {ours['lost']}, late "
                  f"{ours['late']}, wrong {ours['wrong']} of {ours['sent']:,} questions)"]
    lines += stall_lines(step.rows)
    lag_p99 = median([r["load"]["send_lag_p99_ms"] for r in step.rows])
    lag_max = max([r["load"]["send_lag_max_ms"] for r in step.rows], default=float("nan"))
    loader_cpu = median([r["load"]["loader_cpu_s"] for r in step.rows])
    per_run = "; ".join(f"{r['target']} {r['load_before']}" for r in step.rows)
    lines += ["", f"The loader: its sends {lag_p99:.2f} ms late against the schedule at p99 (median of the runs), "
              f"{lag_max:.1f} ms at worst; {loader_cpu:.2f} s of its own CPU per run; stray answers (after the "
              f"question was counted lost, or duplicates): {sum(r['load']['stray'] for r in step.rows)}. "
              f"Load average before the step: {load_before}; after: {load_after}; per run: "
              f"{per_run}.", "",
              f"The kernel's ARP table, one for all namespaces, held at most {step.rows[0]['thresh3'] if step.rows else '-'} "
              "entries (gc_thresh3) in this run; 'ARP table full' counts the times it refused a new entry (a "
              "datagram over the bridge dropped; the machine's count, so other work adds to it). 'host UDP drops': "
              "datagrams the private host's namespace, where aardvark-dns and dnsmasq listen, dropped for a full "
              "receive buffer (/proc/net/snmp RcvbufErrors; netagent's sockets are in the sandboxes). Before each "
              "run every sandbox asks one question, not counted (answered in time: "
              f"{', '.join(str(r['warmed']) for r in step.rows)}), so that the ARP exchanges of 1,000 sandboxes "
              "starting at once, each broadcast flooded to every port of the bridge, are not in the figures.", ""]
    return "\n".join(lines)

"""The runtimes step's section of the report (bench/runtimes.py measures):
percentiles per setup, ratios to podman + netavark + aardvark-dns from the
same run, netagent's own calls, stalls, errors and leftovers.

Map: render (the section), door_calls (netagent's logged calls in the
measured window), versions, ms (a time as a cell); the shared helpers
(percentile, ratio, table_head, write_section) are report_common's."""

import os
import time

from report_common import percentile, ratio, table_head
from runtimes import NETAGENT, STALL_MS, WATCHED, run
from runtimes_asker import ASK_EVERY_S, GIVE_UP_S

HEAD = "## Runtimes: from start to a name that answers"
INF = float("inf")


def ms(value):
    return "none" if value == INF else f"{value:.0f}" if value >= 100 else f"{value:.1f}"


def door_calls(calls, window):
    """netagent's calls logged by the wrappers within the measured window:
    [(call, t0, t1, failed)], `call` like `CNI ADD (podman)`."""
    out = []
    for command, container, t0, t1, rc in calls:
        if window[0] <= float(t0) <= window[1]:
            door = "hook" if command in ("createRuntime", "poststop") else "CNI"
            runtime = "ctr" if container.startswith("bench-") else "podman"
            out.append((f"{door} {command} ({runtime})", float(t0), float(t1), rc != "0"))
    return out


def versions():
    found = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "kernel": os.uname().release,
             "cpus": str(os.cpu_count())}
    for name, args in (("netagent", [NETAGENT, "--version"]), ("podman", ["podman", "--version"]),
                       ("netavark", ["/usr/lib/podman/netavark", "--version"]),
                       ("aardvark-dns", ["/usr/lib/podman/aardvark-dns", "--version"]),
                       ("containerd", ["containerd", "--version"]), ("runc", ["runc", "--version"])):
        found[name] = (run(args, check=False).splitlines() or ["?"])[0]
    return found


def render(setups, calls, window, count, left_runs, left_end, machine_changes):
    calls = door_calls(calls, window)
    lines = [HEAD, "",
             f"{count} containers per setup, the setups alternated container by container, each container removed with",
             "its runtime's own rm before the next. The clock starts as the start command is spawned and stops when a",
             "thread that entered a peer container's network namespace beforehand (setns) gets an answer with an",
             f"address, asking every ~{ASK_EVERY_S * 1000:g} ms: aardvark-dns at the network's gateway for NAME.dns.podman, netagent at",
             "127.0.0.11 for NAME.netagent.internal (each one's search domain: what a container asks first). Each",
             f"answer is checked against the container's address. A stall: over {STALL_MS // 1000} s; given up after {GIVE_UP_S} s.",
             "", *table_head(["setup", "start command returned, p50 ms", "name answered, p50 ms", "p99 ms", "worst ms",
                              "p50 / aardvark", "p99 / aardvark", "stalls", "p50 without the stalls, ms",
                              "the same / aardvark", "errors"], "l" + "r" * 10)]
    stats = {}
    for setup in setups:
        answered = [r["answered_ms"] if r["answered_ms"] is not None else INF for r in setup.runs]
        calm = percentile([a for a in answered if a <= STALL_MS], .5)
        stats[setup.label] = st = dict(p50=percentile(answered, .5), calm=calm, p99=percentile(answered, .99), worst=max(answered, default=INF),
                                       stalls=[r for r in setup.runs if r["answered_ms"] is None or r["answered_ms"] > STALL_MS],
                                       errors=[r for r in setup.runs if r["error"]])
        base = stats[setups[0].label]
        lines.append(f"| {setup.label} | {ms(percentile([r['returned_ms'] for r in setup.runs], .5))} | {ms(st['p50'])} | "
                     f"{ms(st['p99'])} | {ms(st['worst'])} | {ratio(st['p50'], base['p50'])} | {ratio(st['p99'], base['p99'])} | "
                     f"{len(st['stalls'])} | {ms(calm)} | {ratio(calm, base['calm'])} | {len(st['errors'])} |")
    lines += ["", "Where the time goes with netagent (medians): the runtime's own work until it calls netagent, netagent's",
              "call that attached the container, and when the answer came relative to that call's return (negative:",
              "before the netagent process had exited; the latest in brackets):", "",
              *table_head(["setup", "start until netagent's call, ms", "the call, ms",
                           "answer after the call returned, ms"], "lrrr")]
    for setup in setups[1:]:
        before, during, after = [], [], []
        for r in setup.runs:
            if r["answered_ms"] is None:
                continue
            answered = r["wall"] + r["answered_ms"] / 1000
            attach = [c for c in calls if ("ADD" in c[0] or "createRuntime" in c[0]) and r["wall"] <= c[1] <= answered]
            if attach:
                _, t0, t1, _ = attach[-1]
                before.append((t0 - r["wall"]) * 1000), during.append((t1 - t0) * 1000), after.append((answered - t1) * 1000)
        lines.append(f"| {setup.label} | {ms(percentile(before, .5))} | {ms(percentile(during, .5))} | "
                     f"{ms(percentile(after, .5))} ({ms(max(after, default=INF))}) |")
    lines += ["", "netagent's own part, every plugin and hook call of the runs, timed around the binary by a bash wrapper",
              "($EPOCHREALTIME; bash's own start is outside the figure):", "",
              *table_head(["call", "calls", "p50 ms", "p99 ms", "max ms", "failed"], "lrrrrr")]
    kinds = sorted({c[0] for c in calls})
    for kind in kinds:
        times = [(c[2] - c[1]) * 1000 for c in calls if c[0] == kind]
        lines.append(f"| {kind} | {len(times)} | {ms(percentile(times, .5))} | {ms(percentile(times, .99))} | "
                     f"{ms(max(times))} | {sum(c[3] for c in calls if c[0] == kind)} |")
    lines += ["", "Targets (issue #11):", ""]
    for kind in [k for k in kinds if "ADD" in k or "createRuntime" in k]:
        p50 = percentile([(c[2] - c[1]) * 1000 for c in calls if c[0] == kind], .5)
        lines.append(f"- [{'x' if p50 < 10 else ' '}] {kind}: p50 under 10 ms ({p50:.1f} ms)")
    lines += ["", "Stalls and errors:", ""]
    sampled = [r["arp"].split() for st in stats.values() for r in st["stalls"] if r.get("arp")]
    if sampled:
        stale = sum(1 for words in sampled if "lladdr" in words and words[words.index("lladdr") + 1] != words[-1])
        lines += [f"{stale} of the {len(sampled)} stalls sampled 2 s in: the peer's ARP entry for the gateway held a MAC the",
                  "bridge no longer had (a Linux bridge with no MAC set takes its ports' lowest; netavark 1.4 sets none), so",
                  "the peer's queries went to a MAC nobody had until its neighbour entry was probed again.", ""]
    for label, st in stats.items():
        for r in {r["name"]: r for r in st["stalls"] + st["errors"]}.values():
            answered = "no answer" if r["answered_ms"] is None else f"answered after {r['answered_ms']:.0f} ms"
            lines.append(f"- {label}, {r['name']}: {answered} ({r['tries']} queries, {r['replies']} replies, longest "
                         f"silence {r['silence_ms']:.0f} ms){'; ' + r['error'] if r['error'] else ''}"
                         f"{'; after 2 s, ' + r['arp'] if r.get('arp') else ''}")
    if not any(st["stalls"] or st["errors"] for st in stats.values()):
        lines.append("- none")
    lines += ["", "Left behind:", "", f"- after the runs, peers aside: {'; '.join(left_runs) or 'nothing'}",
              f"- at the end: {'; '.join(left_end) or 'nothing'}",
              f"- on the machine ({', '.join(WATCHED)}): " + ("changed: " + "; ".join(machine_changes) if machine_changes
                                                              else "unchanged"),
              "", "Versions:", ""] + [f"- {k}: {v}" for k, v in versions().items()] + [""]
    return "\n".join(lines)


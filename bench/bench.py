#!/usr/bin/env python3
"""netagent beside aardvark-dns and dnsmasq: one private host, one load tool,
one run. Started by bench/run inside a private network and mount namespace;
see bench/README.md for what is measured and how.

Layout (all inside the private namespace):
  upstream netns  10.99.0.2   dnsmasq serving zone.test (1,000 names, a
                              wildcard for cold names, NXDOMAIN under nx.zone.test)
  host (agent)    10.99.0.1   netagent daemon; bridge network "bench" 10.88.0.0/24
                  10.88.0.1   aardvark-dns (as netavark runs it), same 100 names
                  10.88.0.253 dnsmasq (hosts file with the same 100 names)
  client sandbox  10.88.0.x   dnsperf runs here; netagent answers it at 127.0.0.11
Every loop is bounded in count and time; everything started is stopped.

Modules (this one is the CLI entry: `Bench`, the steps in order, the report):
  host.py      the private host: addresses, run, CPU/memory readers, Host
               (scratch, processes, namespaces, the daemon)
  peers.py     the upstream, aardvark-dns and dnsmasq; the failover step
  load.py      the load step (dnsperf)
  attach.py    the attach step; time_to_resolve
  report.py    the load/failover/attach report; report_common.py, what all
               report sections share
  publish.py, thousand.py, runtimes.py, overlay.py   the other steps, each
               with its *_report.py or *_load.py / *_asker.py
"""

import argparse
import json
import os
import sys

from attach import Attach
from host import AARDVARK, CONTAINERS, NETAGENT, Host, first_line, run
from load import Load
from peers import Peers


class Bench(Host, Peers, Load, Attach):
    """The load, failover and attach steps on one private host, and the
    thousand step's host (thousand.py uses its peers and sandboxes)."""

    def __init__(self, quick, out, rounds=None, workloads=None):
        super().__init__(quick)
        self.out = out
        self.rounds = rounds or (1 if quick else 3)
        self.workloads = workloads
        self.seconds = 1 if quick else 5
        self.results = []  # dicts: target, workload, clients, qps, cpu_us, avg_ms, max_ms, lost

    def setup(self):
        run(["ip", "link", "set", "lo", "up"])
        self.make_upstream()
        self.write_files()
        self.start_daemon("redirect")
        self.agent("network", "create", "bench", "--subnet", "10.88.0.0/20")
        self.agent("run", "--name", "client", "--network", "bench", "--ip", "10.88.0.2")
        for i in range(CONTAINERS):
            self.agent("run", "--name", f"c{i:03d}", "--network", "bench", "--ip", f"10.88.0.{10 + i}")
        self.start_peers()
        self.check_answers()

    def report(self, failover, attach):
        from report import render
        text = render(self.results, failover, attach, self.rounds, self.seconds, self.versions())
        with open(self.out, "w") as out:
            out.write(text)
        print(text)

    def versions(self):
        return {
            "netagent": first_line([NETAGENT, "--version"]),
            "aardvark-dns": first_line([AARDVARK, "--version"]),
            "dnsmasq": first_line(["dnsmasq", "--version"]),
            "dnsperf": next((l for l in run(["dnsperf", "-h"], check=False).splitlines() if l.startswith("Version")), "?"),
            "kernel": os.uname().release,
            "cpus": str(os.cpu_count()),
        }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a smoke run: one short round of each step")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results.md"))
    parser.add_argument("--only", choices=["load", "failover", "attach", "thousand", "publish", "runtimes", "overlay"],
                        help="run one step (the report then shows only that step); runtimes and overlay run "
                             "only when asked for; publish, thousand and runtimes add or replace their own section "
                             "in the report, overlay prints its numbers")
    parser.add_argument("--containers", type=int,
                        help="containers per setup of the runtimes step (50 by default, 5 with --quick)")
    parser.add_argument("--rounds", type=int, help="rounds of the load and of the thousand step (3 by default, "
                                                   "1 with --quick)")
    parser.add_argument("--workloads", type=lambda text: text.split(","),
                        help="comma-separated workloads of the load step: local, forwarded-warm, "
                             "forwarded-cold, nxdomain, mixed-80-20 (all by default)")
    options = parser.parse_args()
    sys.path.insert(0, os.path.dirname(__file__))
    if options.only == "runtimes":
        from runtimes import main as runtimes
        runtimes(options.out, options.containers or (5 if options.quick else 50))
        return
    if options.only == "overlay":
        from overlay import main as overlay
        print("overlay", flush=True)
        overlay(os.environ.get("NETAGENT_BENCH_WORK", "/tmp"), options.quick)
        return
    publish_section = None
    if options.only in (None, "publish"):
        # First, with a daemon of its own that it stops after removing all it
        # made, so the other steps start from the same nothing as before.
        from publish import main as publish
        from report_common import write_section
        print("publish", flush=True)
        publish_section = publish(options.quick, None if options.quick else options.out + ".publish.json")
        if options.only == "publish":
            write_section(options.out, publish_section)
            print(publish_section, flush=True)
            return
    bench = Bench(options.quick, options.out, options.rounds, options.workloads)
    try:
        bench.setup()
        failover = attach = None
        if options.only in (None, "load"):
            files = bench.query_files()
            print("load", flush=True)
            bench.load_rounds(files)
            if not options.quick:
                # Kept in case a later step fails: the load is the long part.
                with open(options.out + ".load.json", "w") as saved:
                    json.dump(bench.results, saved)
        if options.only in (None, "failover"):
            print("failover", flush=True)
            failover = bench.failover()
        if options.only in (None, "attach"):
            print("attach", flush=True)
            attach = bench.attach()
        thousand_section = None
        if options.only in (None, "thousand"):
            # After attach: its sandboxes, on a network of their own, are the
            # thousand's (alone, the step makes its own).
            from thousand import main as thousand
            print("thousand", flush=True)
            thousand_section = thousand(bench, options.quick, options.rounds, attach is not None,
                                        None if options.quick else options.out + ".thousand.json")
        bench.report(failover, attach)
        from report_common import write_section
        for section in (publish_section, thousand_section):
            if section:
                write_section(options.out, section)
                print(section, flush=True)
    finally:
        bench.stop_daemon()
        bench.stop_all()


if __name__ == "__main__":
    main()

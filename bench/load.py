"""The load step (`--only load`): dnsperf in the client sandbox against
netagent (redirect and direct mode, a daemon restart between) and the two
peers, the same query files for all, targets alternated round by round;
each row a run's qps, latency, lost queries and the server's CPU per
completed query (utime+stime from /proc around the run).

Map (methods of `Load`, a part of bench.Bench):
  query_files   the workloads' query files (a fixed seed: the same each run)
  targets       the peers as load targets (label, address, pid)
  dnsperf       one run, parsed; measure: one row, kept and printed
  load_rounds   the step: rounds x modes x targets x workloads x clients,
                then the fixed-rate (Q5000) rows, every target's back to
                back (rows carry their round for report.py's ratios)

The rows go to report.py (grouped into medians there).
"""

import random

from host import CLK_TCK, CONTAINERS, GATEWAY, PEER_DNSMASQ, cpu_ticks


class Load:
    """The load step; mixed into bench.Bench (a host.Host with peers.Peers)."""

    # ----- query files --------------------------------------------------------

    def query_files(self):
        rng = random.Random(2026)
        files = {}

        def write(name, lines):
            path = self.path(f"{name}.queries")
            with open(path, "w") as out:
                out.write("".join(lines))
            files[name] = path

        unique = 300_000 if not self.quick else 30_000
        local = [f"c{rng.randrange(CONTAINERS):03d} A\n" for _ in range(20_000)]
        write("local", local)
        write("forwarded-warm", [f"w{rng.randrange(1000):04d}.zone.test A\n" for _ in range(20_000)])
        write("forwarded-cold", [f"r{i}-{rng.randrange(1 << 30)}.cold.zone.test A\n" for i in range(unique)])
        write("nxdomain", [f"x{i}-{rng.randrange(1 << 30)}.nx.zone.test A\n" for i in range(unique)])
        mixed = [local[i % len(local)] if rng.random() < 0.8 else f"m{i}-{rng.randrange(1 << 30)}.cold.zone.test A\n"
                 for i in range(unique)]
        write("mixed-80-20", mixed)
        return files

    # ----- load -------------------------------------------------------------

    def targets(self):
        """(label, server address as the client sees it, pid whose CPU counts)."""
        return [
            ("aardvark-dns", GATEWAY, self.aardvark_pid),
            ("dnsmasq", PEER_DNSMASQ, lambda: self.peer.pid),
        ]

    def dnsperf(self, server, path, clients, pid, rate=None):
        args = ["dnsperf", "-s", server, "-d", path, "-l", str(self.seconds), "-c", str(clients), "-q", "100", "-t", "2"]
        if rate:
            args += ["-Q", str(rate)]
        before = cpu_ticks(pid)
        text = self.in_client(args, timeout=self.seconds + 30)
        used = cpu_ticks(pid) - before
        stats = {}
        for line in text.splitlines():
            line = line.strip()
            if line.startswith("Queries completed:"):
                stats["completed"] = int(line.split()[2])
            elif line.startswith("Queries lost:"):
                stats["lost"] = int(line.split()[2])
            elif line.startswith("Response codes:"):
                stats["rcodes"] = line.split(":", 1)[1].strip()
            elif line.startswith("Queries per second:"):
                stats["qps"] = float(line.split()[3])
            elif line.startswith("Average Latency (s):"):
                parts = line.replace("(", " ").replace(")", " ").replace(",", " ").split()
                stats["avg_ms"] = float(parts[4]) * 1000
                stats["max_ms"] = float(parts[8]) * 1000
        completed = max(stats.get("completed", 0), 1)
        stats["cpu_us"] = used * 1_000_000 / CLK_TCK / completed
        return stats

    def measure(self, label, server, pid, workload, path, clients, rate=None):
        stats = self.dnsperf(server, path, clients, pid, rate)
        stats.update(target=label, workload=workload, clients=clients if not rate else f"Q{rate}",
                     round=self.round_number)
        self.results.append(stats)
        print(f"  {label:18} {workload:15} c={stats['clients']!s:6} qps={stats.get('qps', 0):9.0f} "
              f"cpu={stats['cpu_us']:6.1f}us avg={stats.get('avg_ms', 0):.3f}ms lost={stats.get('lost', 0)} "
              f"[{stats.get('rcodes', '?')}]", flush=True)

    def load_rounds(self, files):
        quick = ["local", "forwarded-cold", "forwarded-warm"]
        workloads = self.workloads or (list(files) if not self.quick else quick)
        for round_number in range(self.rounds):
            self.round_number = round_number
            print(f"round {round_number + 1} of {self.rounds}", flush=True)
            for mode in ("redirect", "direct"):
                self.start_daemon(mode)
                self.in_client(["dig", "+short", "+time=2", "c000"])  # warm: the resolver is up
                order = [(f"netagent-{mode}", "127.0.0.11", lambda: self.daemon.pid)]
                if mode == "redirect":
                    order += self.targets()
                if round_number % 2:
                    order.reverse()
                for label, server, pid in order:
                    for workload in workloads:
                        for clients in (1, 8):
                            self.measure(label, server, pid(), workload, files[workload], clients)
                # Fixed-rate rows: local, cold forwarded, and warm forwarded
                # (the cache's rows, issue #16), every target's one after the
                # other, so that the ratios compare measurements seconds
                # apart: this machine's speed drifts by a quarter over the
                # minutes the saturation rows take.
                for workload in ("local", "forwarded-cold", "forwarded-warm"):
                    if workload in workloads:
                        for label, server, pid in order:
                            self.measure(label, server, pid(), workload, files[workload], 1, rate=5000)
        self.start_daemon("redirect")

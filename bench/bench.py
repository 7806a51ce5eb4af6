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
"""

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time

NETAGENT = os.environ.get("NETAGENT_BIN", "netagent")
AARDVARK = "/usr/lib/podman/aardvark-dns"
UPSTREAM = "10.99.0.2"
DEAD_UPSTREAM = "10.99.0.9"  # on the upstream link, but nobody has it: a blackhole
GATEWAY = "10.88.0.1"
PEER_DNSMASQ = "10.88.0.253"
CONTAINERS = 100
CLK_TCK = os.sysconf("SC_CLK_TCK")


def run(args, check=True, timeout=120, **kwargs):
    """Runs a command, bounded in time; returns its stdout."""
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kwargs)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def cpu_ticks(pid):
    """utime + stime of a process, in clock ticks (/proc/PID/stat fields 14, 15)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def percentile(values, fraction):
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def dns_query(qid, name):
    """A recursion-desired A query for `name`, as bytes."""
    labels = b"".join(bytes([len(part)]) + part.encode() for part in name.split("."))
    return qid.to_bytes(2, "big") + b"\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + labels + b"\x00\x00\x01\x00\x01"


def time_to_resolve(netns_path, name, action):
    """Runs `action`, then asks 127.0.0.11 inside `netns_path` for `name`
    until it answers with an address (at most 2 s, a try each 50 ms at
    most). Returns (answered on the first try, ms from the end of `action`
    to the answer). The asking thread enters the namespace (setns) before
    `action`, so nothing but the resolver lies between the two."""
    import ctypes
    import socket
    import threading
    libc = ctypes.CDLL(None, use_errno=True)
    state = {"tries": 0, "ms": float("nan")}
    ready, go = threading.Event(), threading.Event()

    def ask():
        fd = os.open(netns_path, os.O_RDONLY)
        try:
            if libc.setns(fd, 0x40000000) != 0:  # CLONE_NEWNET, this thread only
                state["error"] = os.strerror(ctypes.get_errno())
                return
        finally:
            os.close(fd)
            ready.set()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(0.05)
            if not go.wait(60):
                return
            deadline = state["returned"] + 2
            while time.monotonic() < deadline:
                state["tries"] += 1
                qid = random.randrange(1 << 16)
                sock.sendto(dns_query(qid, name), ("127.0.0.11", 53))
                try:
                    reply = sock.recv(512)
                except socket.timeout:
                    continue
                answered = reply[:2] == qid.to_bytes(2, "big") and reply[3] & 0x0F == 0 and reply[6:8] != b"\x00\x00"
                if answered:
                    state["ms"] = (time.monotonic() - state["returned"]) * 1000
                    return
                time.sleep(0.001)

    thread = threading.Thread(target=ask, daemon=True)
    thread.start()
    ready.wait(10)
    action()
    state["returned"] = time.monotonic()
    go.set()
    thread.join(10)
    if "error" in state:
        raise RuntimeError(f"setns into {netns_path}: {state['error']}")
    return state["tries"] == 1 and state["ms"] == state["ms"], state["ms"]


class Bench:
    def __init__(self, quick, out, rounds=None, workloads=None):
        self.quick = quick
        self.out = out
        self.work = tempfile.mkdtemp(prefix="bench-", dir=os.environ.get("NETAGENT_BENCH_WORK"))
        self.procs = []
        self.daemon = None
        self.rounds = rounds or (1 if quick else 3)
        self.workloads = workloads
        self.seconds = 1 if quick else 5
        self.results = []  # dicts: target, workload, clients, qps, cpu_us, avg_ms, max_ms, lost
        self.notes = []

    # ----- plumbing -------------------------------------------------------

    def path(self, name):
        return os.path.join(self.work, name)

    def agent(self, *args, check=True, timeout=60):
        return run([NETAGENT, "--host", self.path("agent.sock"), *args], check=check, timeout=timeout)

    def in_client(self, args, timeout=120, check=True):
        return self.agent("exec", "client", "--", *args, check=check, timeout=timeout)

    def spawn(self, args, **kwargs):
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kwargs)
        self.procs.append(proc)
        return proc

    def stop_all(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        pidfile = self.path("aardvark/aardvark.pid")
        if os.path.exists(pidfile):
            try:
                os.kill(int(open(pidfile).read().strip()), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass

    # ----- setup ------------------------------------------------------------

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

    def make_upstream(self):
        # The upstream's namespace is held by a process of its own rather
        # than pinned under /run/netns, so nothing outlives the run.
        holder = self.spawn(["unshare", "--net", "sleep", "7200"])
        own = os.readlink("/proc/self/ns/net")
        for _ in range(200):
            if os.readlink(f"/proc/{holder.pid}/ns/net") != own:
                break
            time.sleep(0.01)
        self.upstream_pid = holder.pid
        run(["ip", "link", "add", "up0", "type", "veth", "peer", "name", "up1", "netns", str(holder.pid)])
        run(["ip", "addr", "add", "10.99.0.1/24", "dev", "up0"])
        run(["ip", "link", "set", "up0", "up"])
        for args in (["addr", "add", f"{UPSTREAM}/24", "dev", "up1"], ["link", "set", "up1", "up"], ["link", "set", "lo", "up"]):
            run(["nsenter", "-t", str(holder.pid), "-n", "ip", *args])
        zone = self.path("zone.hosts")
        with open(zone, "w") as hosts:
            for i in range(1000):
                hosts.write(f"10.99.{1 + i // 250}.{i % 250 + 1} w{i:04d}.zone.test\n")
        self.spawn(["nsenter", "-t", str(self.upstream_pid), "-n", "dnsmasq", "-k", "--user=root", "--conf-file=/dev/null", "--no-resolv",
                    "--no-hosts", f"--addn-hosts={zone}", "--address=/cold.zone.test/10.99.9.9",
                    "--local=/nx.zone.test/", f"--listen-address={UPSTREAM}", "--bind-interfaces", "--port=53",
                    "--cache-size=10000", "--dns-forward-max=10000", f"--pid-file={self.path('upstream.pid')}",
                    # A TTL on its answers (dnsmasq's default is 0), so
                    # that a cache may keep them: the warm rows.
                    "--local-ttl=60"])

    def write_files(self):
        with open(self.path("host-resolv.conf"), "w") as conf:
            conf.write(f"nameserver {UPSTREAM}\n")
        # aardvark-dns and dnsmasq read /etc/resolv.conf; this mount lives
        # only in the private mount namespace.
        with open(self.path("peer-resolv.conf"), "w") as conf:
            conf.write(f"nameserver {UPSTREAM}\n")
        run(["mount", "--bind", self.path("peer-resolv.conf"), "/etc/resolv.conf"])

    def config(self, mode):
        return (f'[paths]\nstate_dir = "{self.path("state")}"\nnetns_dir = "{self.path("netns")}"\n'
                f'socket = "{self.path("agent.sock")}"\nhost_resolv_conf = "{self.path("host-resolv.conf")}"\n'
                f'resolv_dir = "{self.path("resolv")}"\n[log]\nlevel = "warn"\n[agent]\ndns_mode = "{mode}"\n'
                f'[forwarding]\nmax_in_flight = 4096\nmax_in_flight_per_sandbox = 2048\n')

    def start_daemon(self, mode):
        self.stop_daemon()
        with open(self.path("netagent.toml"), "w") as conf:
            conf.write(self.config(mode))
        log = open(self.path(f"daemon-{mode}.log"), "a")
        self.daemon = subprocess.Popen([NETAGENT, "daemon", "--config", self.path("netagent.toml")], stdout=log, stderr=log)
        self.procs.append(self.daemon)
        for _ in range(400):
            try:
                self.agent("network", "ls")
                return
            except RuntimeError:
                time.sleep(0.05)
        raise RuntimeError(f"netagent daemon did not start; see {log.name}")

    def stop_daemon(self):
        if self.daemon and self.daemon.poll() is None:
            self.daemon.send_signal(signal.SIGTERM)
            self.daemon.wait(timeout=20)
        self.daemon = None

    def start_peers(self):
        table = json.loads(self.agent("dns", "table", "--format", "json"))
        os.makedirs(self.path("aardvark"), exist_ok=True)
        endpoints = [(e["id"], e["ipv4"], e["sandbox"]) for e in table["endpoints"]]
        self.write_peer_files("bench", GATEWAY, endpoints)
        run([AARDVARK, "--config", self.path("aardvark"), "-p", "53", "run"])
        self.peer = self.spawn_peer_dnsmasq("bench", PEER_DNSMASQ, self.bridge())
        time.sleep(0.5)

    def write_peer_files(self, network, gateway, endpoints):
        """aardvark-dns's file for `network` as netavark writes it (the
        gateway, then `ID IPV4  NAME` a container), and a hosts file of the
        same names for dnsmasq (`network`.hosts). `endpoints`: (id, ipv4,
        name)."""
        with open(self.path(f"aardvark/{network}"), "w") as conf, open(self.path(f"{network}.hosts"), "w") as hosts:
            conf.write(f"{gateway}\n")
            for endpoint_id, ipv4, name in endpoints:
                conf.write(f"{endpoint_id} {ipv4}  {name}\n")
                hosts.write(f"{ipv4} {name}\n")

    def spawn_peer_dnsmasq(self, network, address, bridge):
        """A dnsmasq on `address`, added to `bridge`, serving `network`.hosts
        and forwarding the rest upstream: the dnsmasq-on-the-gateway setup."""
        run(["ip", "addr", "add", f"{address}/20", "dev", bridge])
        return self.spawn(["dnsmasq", "-k", "--user=root", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
                           f"--addn-hosts={self.path(network + '.hosts')}", f"--server={UPSTREAM}",
                           f"--listen-address={address}", "--bind-interfaces", "--port=53",
                           "--dns-forward-max=10000", f"--pid-file={self.path(network + '-peer.pid')}"])

    def check_answers(self, sandbox="client", servers=None, expected=None):
        """Every target must answer the same questions correctly before any
        number is taken: a fast wrong answer is no answer. Asked from
        `sandbox`; `servers`: (label, address); `expected`: name -> address."""
        expected = expected or {"c005": "10.88.0.15", "w0001.zone.test": "10.99.1.2"}
        servers = servers or [("netagent", "127.0.0.11"), ("aardvark-dns", GATEWAY), ("dnsmasq", PEER_DNSMASQ)]
        for label, server in servers:
            for name, address in expected.items():
                got = self.agent("exec", sandbox, "--", "dig", f"@{server}", "+short", "+time=2", "+tries=2", name,
                                 check=False).strip()
                if got != address:
                    raise RuntimeError(f"{label} at {server} answered {got!r} for {name}, expected {address}")
        print(f"  every target answers {' and '.join(expected)} correctly", flush=True)

    def bridge(self, network="bench"):
        return json.loads(self.agent("network", "inspect", network))[0]["Options"]["com.docker.network.bridge.name"]

    def aardvark_pid(self):
        return int(open(self.path("aardvark/aardvark.pid")).read().strip())

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
        stats.update(target=label, workload=workload, clients=clients if not rate else f"Q{rate}")
        self.results.append(stats)
        print(f"  {label:18} {workload:15} c={stats['clients']!s:6} qps={stats.get('qps', 0):9.0f} "
              f"cpu={stats['cpu_us']:6.1f}us avg={stats.get('avg_ms', 0):.3f}ms lost={stats.get('lost', 0)} "
              f"[{stats.get('rcodes', '?')}]", flush=True)

    def load_rounds(self, files):
        quick = ["local", "forwarded-cold", "forwarded-warm"]
        workloads = self.workloads or (list(files) if not self.quick else quick)
        for round_number in range(self.rounds):
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
                    # Fixed-rate rows: local, cold forwarded, and warm
                    # forwarded (the cache's rows, issue #16).
                    for workload in ("local", "forwarded-cold", "forwarded-warm"):
                        if workload in workloads:
                            self.measure(label, server, pid(), workload, files[workload], 1, rate=5000)
        self.start_daemon("redirect")

    # ----- failover ---------------------------------------------------------

    def failover(self):
        queries = 2 if self.quick else 50
        with open(self.path("host-resolv.conf"), "w") as conf:
            conf.write(f"nameserver {DEAD_UPSTREAM}\nnameserver {UPSTREAM}\n")
        with open(self.path("peer-resolv.conf"), "w") as conf:
            conf.write(f"nameserver {DEAD_UPSTREAM}\nnameserver {UPSTREAM}\n")
        os.kill(self.aardvark_pid(), signal.SIGKILL)
        time.sleep(0.2)
        run([AARDVARK, "--config", self.path("aardvark"), "-p", "53", "run"])
        time.sleep(0.5)
        outcome = {}
        for label, server in (("netagent", "127.0.0.11"), ("aardvark-dns", GATEWAY)):
            times = []
            for i in range(queries):
                text = self.in_client(["dig", f"@{server}", "+tries=1", "+time=8", f"f{i}-{label}.cold.zone.test"], timeout=30, check=False)
                took = next((int(line.split()[3]) for line in text.splitlines() if line.startswith(";; Query time:")), None)
                times.append(took if took is not None else 8000)
            outcome[label] = times
            print(f"  failover {label:14} median={statistics.median(times):.0f}ms worst={max(times)}ms", flush=True)
        # Both back to the live upstream alone: later steps (thousand) load
        # the peers too, and aardvark-dns rereads it when reloaded.
        for name in ("host-resolv.conf", "peer-resolv.conf"):
            with open(self.path(name), "w") as conf:
                conf.write(f"nameserver {UPSTREAM}\n")
        return outcome

    # ----- attach -------------------------------------------------------------

    def create_sandbox(self, name, network):
        """Creates and attaches a sandbox through the control API (as curl
        sees it, no CLI in between); returns the request's time in ms."""
        body = json.dumps({"name": name, "network": {"network": network}})
        took = run(["curl", "-sS", "--fail", "-o", "/dev/null", "-w", "%{time_total}", "--unix-socket",
                    self.path("agent.sock"), "-X", "POST", "-H", "content-type: application/json", "-d", body,
                    "http://localhost/v1/sandboxes"], timeout=30)
        return float(took) * 1000

    def attach(self):
        total = 20 if self.quick else 1000
        # A network of their own: a Linux bridge takes at most 1,024 ports
        # (BR_MAX_PORTS), and "bench" has the client and the 100 already.
        self.agent("network", "create", "attach", "--subnet", "10.90.0.0/20")
        started = time.monotonic()
        times = [self.create_sandbox(f"a{i:04d}", "attach") for i in range(total)]
        wall = time.monotonic() - started
        pid = self.daemon.pid
        rss = rss_kib(pid)
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        # A new sandbox, then its name from a peer as soon as the API returns:
        # a thread already inside the peer's namespace asks, no process start.
        peer_netns = json.loads(self.agent("inspect", "a0000"))[0]["Netagent"]["Netns"]

        def create_newcomer():
            self.create_sandbox("newcomer", "attach")

        first_try, resolved_after = time_to_resolve(peer_netns, "newcomer", create_newcomer)
        sandboxes = total + CONTAINERS + 2
        result = {"total": total, "times": times, "wall_s": wall, "rss_mib": rss / 1024, "fds": fds,
                  "sandboxes": sandboxes, "newcomer_first_try": bool(first_try), "newcomer_ms": resolved_after}
        for n in (1, 100, total):
            if n <= total:
                subset = times[:n]
                print(f"  attach first {n:5}: p50={percentile(subset, .5):.2f}ms p99={percentile(subset, .99):.2f}ms", flush=True)
        # How the cost grows with the number of sandboxes already there.
        by_hundred = [f"{percentile(times[i:i + 100], .5):.2f}" for i in range(0, total - 99, 100)]
        if by_hundred:
            print(f"  attach p50 per hundred (ms): {' '.join(by_hundred)}", flush=True)
        print(f"  {sandboxes} sandboxes: RSS {rss / 1024:.1f} MiB, {fds} fds; newcomer answered on the first query: "
              f"{first_try}, {resolved_after:.2f} ms after the API returned", flush=True)
        return result

    # ----- report -------------------------------------------------------------

    def report(self, failover, attach):
        from report import render
        text = render(self.results, failover, attach, self.rounds, self.seconds, self.versions())
        with open(self.out, "w") as out:
            out.write(text)
        print(text)

    def versions(self):
        def first_line(args):
            try:
                return run(args, check=False, timeout=10).strip().splitlines()[0]
            except (IndexError, OSError, subprocess.SubprocessError):
                return "?"
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
        from publish_report import write_section
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
        from publish_report import write_section
        for section in (publish_section, thousand_section):
            if section:
                write_section(options.out, section)
                print(section, flush=True)
    finally:
        bench.stop_daemon()
        bench.stop_all()


if __name__ == "__main__":
    main()

"""Published ports (issue #12): a published TCP port's connection rate and
bulk throughput from a "world" namespace to the host's address, through
netagent's DNAT rules, beside Docker's userland proxy approach (one proxy
process per port; socat stands in for docker-proxy) and the direct path to
the sandbox's address (no NAT, no proxy) as the floor; the CPU of each part
per connection and per MB; and the attach time with a published port
against without. Run by bench.py (`bench/run --only publish`, and briefly
in `--quick`) inside bench/run's private namespaces (bench/README.md).
Every loop is bounded in count and time; everything started is stopped.

Layout (all inside the private namespace):
  world netns   198.51.100.2  the clients (publish_load.py cps, iperf3 -c);
                              a route to 10.77.0.0/24 via the host, for
                              the direct path only
  host          198.51.100.1  netagent daemon; socat, the userland proxy
                10.77.0.1     bridge network "pub"
  sandbox srv   10.77.0.2     the servers (publish_load.py serve, iperf3 -s)
"""

import errno
import json
import os
import socket
import struct
import subprocess
import time

from host import CLK_TCK, NETAGENT, Host, first_line, run
from report_common import percentile

HEAD = "## Published ports: DNAT beside a userland proxy"
HOST, WORLD = "198.51.100.1", "198.51.100.2"
SUBNET, SANDBOX = "10.77.0.0/24", "10.77.0.2"
BULK_PORT = 5201  # iperf3's port in the sandbox
# path label -> (address the client connects to, connection-rate port, bulk
# port, where the client runs: the world namespace or the host itself, the
# connection-rate server's port in the sandbox). The server has a port per
# path (the two proxies' are shared by their world and localhost paths), so
# no two paths share a 4-tuple at the server: one path's TIME_WAIT sockets
# and conntrack entries never meet the next one's connections (a new
# connection whose reply tuple an old entry of another path holds can be
# dropped by conntrack, and its SYN retried a second later).
PATHS = {
    "DNAT (netagent -p)": (HOST, 8000, 8201, "world", 7000),
    "userland proxy: socat": (HOST, 9000, 9201, "world", 7001),
    "userland proxy: spliceproxy": (HOST, 9100, 9301, "world", 7002),
    "direct (no NAT)": (SANDBOX, 7003, BULK_PORT, "world", 7003),
    "localhost: DNAT (route_localnet)": ("127.0.0.1", 8004, 8201, "host", 7004),
    "localhost: socat": ("127.0.0.1", 9000, 9201, "host", 7001),
    "localhost: spliceproxy": ("127.0.0.1", 9100, 9301, "host", 7002),
}
CONCURRENCY = 16
LOAD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "publish_load.py")


def machine_ticks():
    """/proc/stat's first line: user, nice, system, idle, iowait, irq, softirq (ticks)."""
    with open("/proc/stat") as stat:
        fields = stat.readline().split()[1:8]
    return dict(zip(("user", "nice", "system", "idle", "iowait", "irq", "softirq"), map(int, fields)))


def run_ns(pid):
    """CPU time of process `pid`, all its threads, exited ones included, in
    seconds: its process CPU-time clock (clock_getcpuclockid's clock id,
    ns resolution)."""
    return time.clock_gettime((~pid << 3) | 2)  # MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED)


def flush_conntrack():
    """Empties this namespace's conntrack table (ctnetlink's
    IPCTNL_MSG_CT_DELETE with no tuple deletes every entry), so that each
    run starts without the previous runs' TIME_WAIT entries (the table's
    limit, nf_conntrack_max, is the whole machine's)."""
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12) as sock:  # NETLINK_NETFILTER
        sock.settimeout(5)
        # nlmsghdr (type NFNL_SUBSYS_CTNETLINK << 8 | IPCTNL_MSG_CT_DELETE,
        # flags NLM_F_REQUEST | NLM_F_ACK), nfgenmsg (AF_INET, version 0)
        sock.send(struct.pack("=IHHII", 20, (1 << 8) | 2, 1 | 4, 1, 0) + struct.pack("=BBH", socket.AF_INET, 0, 0))
        reply = sock.recv(4096)
    kind, = struct.unpack_from("=H", reply, 4)
    error, = struct.unpack_from("=i", reply, 16)
    if kind != 2 or error not in (0, -errno.ENOENT):
        raise RuntimeError(f"flushing conntrack: netlink message type {kind}, error {error}")


def with_children_s(pid):
    """CPU time of `pid` ([`run_ns`]) and of its reaped children
    (cutime + cstime: socat's forked per-connection copies), in seconds."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return run_ns(pid) + (int(fields[13]) + int(fields[14])) / CLK_TCK


class Publish(Host):
    def __init__(self, quick):
        super().__init__(quick)
        self.seconds = 1 if quick else 4
        self.rounds = 1 if quick else 5
        self.attach_each = 10 if quick else 300
        self.rows = []  # dicts: path, kind, round, ... (see measure_*)

    # ----- setup --------------------------------------------------------------

    def setup(self):
        run(["ip", "link", "set", "lo", "up"])
        with open(self.path("host-resolv.conf"), "w") as conf:
            conf.write("nameserver 10.99.0.2\n")  # nothing here asks for names
        self.start_daemon("redirect")
        self.make_world()
        self.agent("network", "create", "pub", "--subnet", SUBNET)
        dnat, local = PATHS["DNAT (netagent -p)"], PATHS["localhost: DNAT (route_localnet)"]
        self.agent("run", "--name", "srv", "--network", "pub", "--ip", SANDBOX, "-p", f"{dnat[1]}:{dnat[4]}",
                   "-p", f"{local[1]}:{local[4]}", "-p", f"{dnat[2]}:{BULK_PORT}")
        netns = json.loads(self.agent("inspect", "srv"))[0]["Netagent"]["Netns"]
        horizon = str(3600)
        ports = ",".join(str(port) for port in sorted({path[4] for path in PATHS.values()}))
        self.server = self.spawn(["nsenter", f"--net={netns}", "python3", LOAD, "serve", ports, horizon])
        self.iperf = self.spawn(["nsenter", f"--net={netns}", "iperf3", "-s", "-p", str(BULK_PORT)])
        # Docker's userland proxy: a process per published port, listening on
        # the host's port and copying each connection to the sandbox. socat
        # forks a process per connection and copies through a buffer;
        # spliceproxy.c is docker-proxy's design (one process, a dial and a
        # splice(2) copy each way per connection, TCP_NODELAY).
        self.proxies = {}
        socat, splice = PATHS["userland proxy: socat"], PATHS["userland proxy: spliceproxy"]
        binary = self.path("spliceproxy")
        source = os.path.join(os.path.dirname(os.path.abspath(__file__)), "spliceproxy.c")
        run(["cc", "-O2", "-Wall", "-o", binary, source])
        for port, target in ((socat[1], socat[4]), (socat[2], BULK_PORT)):
            self.proxies[port] = self.spawn(["socat", "-b", "65536", f"TCP-LISTEN:{port},fork,reuseaddr,backlog=4096",
                                             f"TCP:{SANDBOX}:{target}"])
        for port, target in ((splice[1], splice[4]), (splice[2], BULK_PORT)):
            self.proxies[port] = self.spawn([binary, str(port), SANDBOX, str(target)])
        # Everything answers before any number is taken.
        for label, (address, cps_port, _, origin, _) in PATHS.items():
            for _ in range(50):
                got = self.cps(origin, address, cps_port, 0.2, 5, 1)
                if got["done"] == 5:
                    break
                time.sleep(0.1)
            else:
                raise RuntimeError(f"{label}: {address}:{cps_port} does not answer from the {origin}: {got}")
        print("  every path answers", flush=True)

    def make_world(self):
        self.world = self.hold_netns()
        run(["ip", "link", "add", "wo0", "type", "veth", "peer", "name", "wi0", "netns", str(self.world)])
        run(["ip", "addr", "add", f"{HOST}/24", "dev", "wo0"])
        run(["ip", "link", "set", "wo0", "up"])
        for args in (["link", "set", "lo", "up"], ["addr", "add", f"{WORLD}/24", "dev", "wi0"],
                     ["link", "set", "wi0", "up"], ["route", "add", SUBNET, "via", HOST]):
            self.in_world(["ip", *args])

    def in_world(self, args, timeout=60):
        return run(["nsenter", "-t", str(self.world), "-n", *args], timeout=timeout)

    # ----- load ---------------------------------------------------------------

    def client(self, origin, args, timeout):
        return self.in_world(args, timeout=timeout) if origin == "world" else run(args, timeout=timeout)

    def cps(self, origin, address, port, seconds, most, concurrency):
        args = ["python3", LOAD, "cps", address, str(port), str(seconds), str(most), str(concurrency)]
        return json.loads(self.client(origin, args, seconds + 30))

    def cpu_parts(self, proxy_pid):
        return {"agent": run_ns(self.daemon.pid), "proxy": with_children_s(proxy_pid) if proxy_pid else 0.0,
                "machine": machine_ticks(), "wall": time.monotonic()}

    def cpu_delta(self, before, after, server_s):
        machine = {k: (after["machine"][k] - before["machine"][k]) / CLK_TCK for k in before["machine"]}
        return {"agent_s": after["agent"] - before["agent"], "proxy_s": after["proxy"] - before["proxy"],
                "server_s": server_s, "softirq_s": machine["softirq"], "system_s": machine["system"],
                "busy_s": sum(v for k, v in machine.items() if k not in ("idle", "iowait")),
                "wall_s": after["wall"] - before["wall"]}

    def measure_cps(self, label, round_number):
        address, port, _, origin, _ = PATHS[label]
        proxy = self.proxies[port].pid if port in self.proxies else None
        most = 2_000 if self.quick else 200_000
        flush_conntrack()
        server_before = run_ns(self.server.pid)
        before = self.cpu_parts(proxy)
        got = self.cps(origin, address, port, self.seconds, most, CONCURRENCY)
        time.sleep(0.3)  # socat reaps its last children
        after = self.cpu_parts(proxy)
        row = dict(path=label, kind="cps", round=round_number, **got,
                   **self.cpu_delta(before, after, run_ns(self.server.pid) - server_before))
        row["rate"] = got["done"] / got["seconds"]
        self.rows.append(row)
        per = 1e6 / max(got["done"], 1)
        print(f"  cps  {label:32} {row['rate']:8.0f}/s  p50={got['p50_ms']:.2f}ms p99={got['p99_ms']:.2f}ms "
              f"errors={got['errors']}  µs/conn: proxy={row['proxy_s'] * per:.1f} agent={row['agent_s'] * per:.2f} "
              f"server={row['server_s'] * per:.1f} client={got['cpu_s'] * per:.1f} softirq={row['softirq_s'] * per:.1f} "
              f"system={row['system_s'] * per:.1f} machine busy={row['busy_s'] / row['wall_s'] * 50:.0f}%", flush=True)

    def measure_bulk(self, label, round_number):
        address, _, port, origin, _ = PATHS[label]
        proxy = self.proxies[port].pid if port in self.proxies else None
        flush_conntrack()
        server_before = run_ns(self.iperf.pid)
        before = self.cpu_parts(proxy)
        text = self.client(origin, ["iperf3", "-c", address, "-p", str(port), "-t", str(self.seconds), "-J",
                                    "--connect-timeout", "3000"], self.seconds + 30)
        time.sleep(0.3)
        after = self.cpu_parts(proxy)
        result = json.loads(text)
        if result.get("error") or "sum_received" not in result.get("end", {}):
            raise RuntimeError(f"{label}: iperf3 to {address}:{port}: {result.get('error', 'no result')}")
        end = result["end"]
        received = end["sum_received"]
        mb = received["bytes"] / 1e6
        row = dict(path=label, kind="bulk", round=round_number, mb=mb, seconds=received["seconds"],
                   client_s=end["cpu_utilization_percent"]["host_total"] / 100 * received["seconds"],
                   **self.cpu_delta(before, after, run_ns(self.iperf.pid) - server_before))
        row["rate"] = mb / received["seconds"]
        self.rows.append(row)
        print(f"  bulk {label:32} {row['rate']:8.0f} MB/s  µs/MB: proxy={row['proxy_s'] * 1e6 / mb:.1f} "
              f"agent={row['agent_s'] * 1e6 / mb:.3f} server={row['server_s'] * 1e6 / mb:.1f} "
              f"client={row['client_s'] * 1e6 / mb:.1f} softirq={row['softirq_s'] * 1e6 / mb:.1f} "
              f"system={row['system_s'] * 1e6 / mb:.1f}", flush=True)

    def load(self):
        order = list(PATHS)
        for round_number in range(self.rounds):
            print(f"  round {round_number + 1} of {self.rounds}", flush=True)
            for label in (order if round_number % 2 == 0 else order[::-1]):
                self.measure_cps(label, round_number)
            for label in (order if round_number % 2 == 0 else order[::-1]):
                self.measure_bulk(label, round_number)

    # ----- attach -------------------------------------------------------------

    def create(self, name, publish):
        """Creates a sandbox through the API; returns curl's time for the
        request in ms, or raises with the agent's answer."""
        body = {"name": name, "network": {"network": "attach"}}
        if publish:
            body["publish"] = [publish]
        out = run(["curl", "-sS", "-w", "\n%{http_code} %{time_total}", "--unix-socket", self.path("agent.sock"),
                   "-X", "POST", "-H", "content-type: application/json", "-d", json.dumps(body),
                   "http://localhost/v1/sandboxes"], timeout=30)
        answer, _, status = out.rpartition("\n")
        code, took = status.split()
        if not code.startswith("2"):
            raise RuntimeError(f"{answer.strip()} (HTTP {code})")
        return float(took) * 1000

    def attach(self):
        """Sandboxes created one after another through the API, alternately
        without and with a published port (`-p HOSTPORT:80`, a host port of
        its own each: a host port is published once)."""
        self.agent("network", "create", "attach", "--subnet", "10.78.0.0/20")
        times = {"plain": [], "published": [], "plain_cpu": [], "published_cpu": [], "failed": None}
        pid = self.daemon.pid
        for i in range(self.attach_each):
            for kind, name, publish in (("plain", f"p{i:04d}", None), ("published", f"q{i:04d}", f"{20000 + i}:80")):
                before = run_ns(pid)
                try:
                    took = self.create(name, publish)
                except RuntimeError as err:
                    # Recorded and reported; the pairs stop here.
                    times["failed"] = {"kind": kind, "index": i, "published_before": len(times["published"]),
                                       "message": str(err)}
                    break
                times[kind].append(took)
                times[f"{kind}_cpu"].append((run_ns(pid) - before) * 1000)
            if times["failed"]:
                print(f"  attach: creating the {times['failed']['kind']} sandbox of pair {i + 1} failed: "
                      f"{times['failed']['message']}", flush=True)
                break
        # Every published sandbox's port is in the table.
        rules = run(["nft", "list", "table", "inet", "netagent"])
        missing = [i for i in range(len(times["published"])) if f"dport {20000 + i} " not in rules]
        self.attach_result = dict(times, missing=missing)
        for label, kind in (("without -p", "plain"), ("with -p", "published")):
            print(f"  attach {label:10}: p50={percentile(times[kind], .5):.2f}ms "
                  f"p99={percentile(times[kind], .99):.2f}ms (n={len(times[kind])}), agent CPU p50 "
                  f"{percentile(times[kind + '_cpu'], .5):.2f}ms", flush=True)
        if missing:
            print(f"  attach: {len(missing)} published ports missing from the table", flush=True)

    # ----- teardown -----------------------------------------------------------

    def teardown(self):
        """Removes what the agent made (sandboxes, networks), stops it and
        returns what is left of its table (the built-in `bridge` network
        stays, by design); then takes that away by hand too, and the
        built-in network's bridge, so the next step starts from nothing."""
        if self.daemon:
            names = self.agent("ps", "-a", "--format", "{{.Names}}", check=False).split()
            for start in range(0, len(names), 100):
                self.agent("rm", "-f", *names[start:start + 100], check=False, timeout=300)
            for network in ("attach", "pub"):
                self.agent("network", "rm", network, check=False)
        self.stop_daemon()
        self.stop_all()
        left = subprocess.run(["nft", "list", "table", "inet", "netagent"], capture_output=True, text=True)
        links = run(["ip", "-br", "link"], check=False).split("\n")
        bridges = [line.split()[0] for line in links if line.startswith(("netagent0", "na-"))]
        subprocess.run(["nft", "delete", "table", "inet", "netagent"], capture_output=True)
        for link in bridges:
            subprocess.run(["ip", "link", "del", link.split("@")[0]], capture_output=True)
        return left.stdout if left.returncode == 0 else "", bridges

    def versions(self):
        return {
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "netagent": first_line([NETAGENT, "--version"]),
            "socat": next((line.strip() for line in run(["socat", "-V"], check=False).splitlines()
                           if line.startswith("socat version")), "?"),
            "iperf3": first_line(["iperf3", "--version"]),
            "kernel": os.uname().release,
            "cpus": str(os.cpu_count()),
            "load average at the end": " ".join(open("/proc/loadavg").read().split()[:3]),
        }


def main(quick, raw=None):
    """Runs the step; returns its report section (publish_report.render).
    With `raw`, the measured rows and attach times are saved there too."""
    from publish_report import render
    bench = Publish(quick)
    left = ("", [])
    try:
        print("publish: daemon, world, sandbox, servers, proxies", flush=True)
        load_before = open("/proc/loadavg").read().split()[:3]
        bench.setup()
        print("publish: load", flush=True)
        bench.load()
        print("publish: attach", flush=True)
        bench.attach()
    finally:
        left = bench.teardown()
        if raw:
            with open(raw, "w") as saved:
                json.dump({"rows": bench.rows, "attach": getattr(bench, "attach_result", None)}, saved)
    return render(bench, " ".join(load_before), left)

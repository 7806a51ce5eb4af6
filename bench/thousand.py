"""The 1,000 quiet sandboxes step (issue #16; bench/README.md): sandboxes on
one netagent network, each asking 5 questions a second from a UDP socket of
its own inside its namespace (bench/thousand_load.c, one process), netagent
(redirect mode, 127.0.0.11 in each sandbox) beside aardvark-dns on the
network's gateway (netavark's setup) and dnsmasq on an address of its bridge,
all three serving the same names. Each server's CPU (utime + stime, all
threads, /proc/PID/stat) and context switches (/proc/PID/task/*/status) are
read around the load alone; the targets are alternated round by round.

In a full run the attach step's sandboxes (network "attach") are the
sandboxes; alone (`--only thousand`) the step makes its own on "thousand".
"""

import json
import os
import select
import signal
import subprocess
import threading
import time

from host import cpu_ticks, run

NETWORK, SUBNET, DNSMASQ_ADDRESS = "thousand", "10.92.0.0/20", "10.92.15.253"
ATTACH_DNSMASQ_ADDRESS = "10.90.15.253"  # on the attach step's 10.90.0.0/20, above its sandboxes
RATE = 5  # questions a second from each sandbox (issue #16)
TIMEOUT_MS = 2000  # no answer by then: lost
LOCAL, WARM = 50, 40  # % of questions; the remaining 10% are cold (unique) forwarded names


def threads(pid):
    """Per thread name of `pid`: [CPU ticks (utime + stime), voluntary +
    involuntary context switches], summed over the threads of that name."""
    by_name = {}
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/stat") as stat:
                text = stat.read()
            with open(f"/proc/{pid}/task/{task}/status") as status:
                switches = sum(int(line.split()[1]) for line in status if "ctxt_switches:" in line)
        except OSError:
            continue  # a thread that ended meanwhile
        name, fields = text[text.index("(") + 1:text.rindex(")")], text.rsplit(")", 1)[1].split()
        got = by_name.setdefault(name, [0, 0])
        got[0] += int(fields[11]) + int(fields[12])
        got[1] += switches
    return by_name


def schedstat(pid):
    """ns on a CPU and ns runnable but waiting for one, summed over the
    threads of `pid` (/proc/PID/task/*/schedstat)."""
    ran = waited = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as stat:
                fields = stat.read().split()
        except OSError:
            continue
        ran, waited = ran + int(fields[0]), waited + int(fields[1])
    return ran, waited


class Sampler(threading.Thread):
    """Samples schedstat(pid) every 100 ms until stopped; `by_second()`
    gives, per second since `start`, the ms the server ran and the ms it
    was runnable but waited for a CPU: which of the two a stall was."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.samples, self.stopping = pid, [], threading.Event()
        self.start()

    def run(self):
        while not self.stopping.wait(0.1):
            try:
                self.samples.append((time.monotonic(), *schedstat(self.pid)))
            except OSError:
                return

    def by_second(self, start, seconds):
        self.stopping.set()
        self.join(5)
        out = []
        for second in range(int(seconds)):
            inside = [s for s in self.samples if start + second <= s[0] < start + second + 1]
            before = [s for s in self.samples if s[0] < start + second]
            if inside and before:
                span = inside[-1][0] - before[-1][0]  # scaled to one second
                out.append([round((inside[-1][i] - before[-1][i]) / 1e6 / span) for i in (1, 2)])
        return out


class Watch:
    """What a server did during one run: CPU, per-thread CPU and context
    switches, its time on a CPU and waiting per second (Sampler), and the
    machine's ARP refusals and the private host's UDP drops meanwhile."""

    def __init__(self, pid):
        self.pid, self.load_before, self.ticks = pid, loadavg(), cpu_ticks(pid)
        self.threads, self.neigh, self.drops = threads(pid), neighbours(), udp_drops()
        self.sampler, self.started = Sampler(pid), time.monotonic()

    def finish(self, seconds):
        """The row's fields for the run that began at construction."""
        ticks, after = cpu_ticks(self.pid) - self.ticks, threads(self.pid)
        tasks = {name: [now - self.threads.get(name, [0, 0])[i] for i, now in enumerate(got)]
                 for name, got in after.items()}
        return dict(cpu_s=ticks / os.sysconf("SC_CLK_TCK"), ctx=sum(got[1] for got in tasks.values()),
                    threads=tasks, thresh3=self.neigh["thresh3"],
                    table_fulls=neighbours()["table_fulls"] - self.neigh["table_fulls"],
                    udp_drops=udp_drops() - self.drops, sched=self.sampler.by_second(self.started, seconds),
                    load_before=self.load_before, load_after=loadavg())


def show(row, sockets):
    """Prints one run's line, and where its late or lost answers were."""
    result, every = row["load"], row["load"]["all"]
    answered = max(every["answered"], 1)
    print(f"  {row['target']:18} {every['answered'] / result['wall_s']:7.0f} answers/s cpu={row['cpu_s']:.2f}s "
          f"({row['cpu_s'] * 1e6 / answered:.1f}us/answer, {row['ctx'] / answered:.2f} ctx/answer) "
          f"p50={every['p50_ms']:.2f}ms p99={every['p99_ms']:.2f}ms max={every['max_ms']:.1f}ms "
          f"lost={every['lost']} late={every['late']} wrong={every['wrong']} "
          f"send lag p99={result['send_lag_p99_ms']:.2f}ms ARP table full {row['table_fulls']}x "
          f"host UDP receive-buffer drops {row['udp_drops']} warm-up {row['warmed']}/{sockets} "
          f"[load {row['load_before']}]", flush=True)
    if every["late"] or every["lost"]:
        print(f"    late by second sent: {result['late_by_second']}; lost: {result['lost_by_second']}", flush=True)
        busy = sorted(row["threads"].items(), key=lambda item: -item[1][0])[:6]
        print(f"    threads (CPU ticks, context switches): {busy}", flush=True)
        print(f"    per second, ms on a CPU and ms runnable but waiting: {row['sched']}", flush=True)


def neighbours():
    """The kernel's ARP table: its hard limit (gc_thresh3) and how often it
    was full. One table for all namespaces, so this counts the machine's."""
    text = run(["ip", "-s", "ntable", "show", "name", "arp_cache"], check=False)
    words = text.split()

    def after(word):
        return int(words[words.index(word) + 1]) if word in words else -1
    return {"thresh3": after("thresh3"), "table_fulls": after("table_fulls")}


def udp_drops():
    """UDP datagrams this namespace (the private host: aardvark-dns's and
    dnsmasq's sockets) dropped for a full receive buffer (/proc/net/snmp)."""
    with open("/proc/net/snmp") as snmp:
        rows = [line.split() for line in snmp if line.startswith("Udp:")]
    return int(rows[1][rows[0].index("RcvbufErrors")])


def loadavg():
    return " ".join(open("/proc/loadavg").read().split()[:3])


class Thousand:
    def __init__(self, bench, quick, rounds=None):
        self.bench = bench
        self.total = 50 if quick else 1000
        self.seconds = 2 if quick else 20
        self.rounds = rounds or (1 if quick else 3)
        self.rows = []  # one per run: target, round, the loader's JSON, cpu_s, ctx, load averages

    # ----- setup ------------------------------------------------------------

    def setup(self, reuse_attach):
        """Sandboxes on one network, aardvark-dns and dnsmasq told their
        names, the loader built, every target answering right."""
        bench = self.bench
        chosen = self.sandboxes(reuse_attach)
        dnsmasq_address = self.peers(chosen, ATTACH_DNSMASQ_ADDRESS if reuse_attach else DNSMASQ_ADDRESS)
        self.loader = bench.path("thousand_load")
        source = os.path.join(os.path.dirname(os.path.abspath(__file__)), "thousand_load.c")
        run(["cc", "-O2", "-Wall", "-o", self.loader, source])
        self.targets = [("netagent-redirect", "127.0.0.11", lambda: bench.daemon.pid),
                        ("aardvark-dns", self.gateway, bench.aardvark_pid),
                        ("dnsmasq", dnsmasq_address, lambda: self.dnsmasq.pid)]
        first, second = chosen[0][0], chosen[1]
        time.sleep(0.5)  # aardvark-dns's reload, dnsmasq's start
        bench.check_answers(first, [(label, server) for label, server, _ in self.targets],
                            {second[0]: second[2]["ipv4"], "w0001.zone.test": "10.99.1.2"})
        print(f"  {self.total} sandboxes on {self.network}, gateway {self.gateway}, dnsmasq {dnsmasq_address}",
              flush=True)

    def sandboxes(self, reuse_attach):
        """The attach step's sandboxes, or new ones on a network of the
        step's own; sets the loader's plan. Returns (name, netns, endpoint)
        of each, by name."""
        bench = self.bench
        self.network = "attach" if reuse_attach else NETWORK
        if not reuse_attach:
            bench.agent("network", "create", NETWORK, "--subnet", SUBNET)
            for i in range(self.total):
                bench.create_sandbox(f"q{i:04d}", NETWORK)
        views = json.loads(run(["curl", "-sS", "--fail", "--unix-socket", bench.path("agent.sock"),
                                "http://localhost/v1/sandboxes"], timeout=60))
        chosen = sorted((view["name"], view["netns"], endpoint) for view in views for endpoint in view["endpoints"]
                        if endpoint["network"] == self.network)[:self.total]
        self.total = len(chosen)
        self.plan = "".join(f"{netns} {name} {endpoint['ipv4']}\n" for name, netns, endpoint in chosen) + "end\n"
        return chosen

    def peers(self, chosen, dnsmasq_address):
        """aardvark-dns on the network's gateway and a dnsmasq on
        `dnsmasq_address`, both told the `chosen` sandboxes' names."""
        bench = self.bench
        network = json.loads(bench.agent("network", "inspect", self.network))[0]
        self.gateway = network["IPAM"]["Config"][0]["Gateway"]
        bench.write_peer_files(self.network, self.gateway, [(e["id"], e["ipv4"], name) for name, _, e in chosen])
        # netavark's way to tell aardvark-dns of a new network: a file in
        # its config directory, then SIGHUP; it then listens on the gateway too.
        os.kill(bench.aardvark_pid(), signal.SIGHUP)
        self.dnsmasq = bench.spawn_peer_dnsmasq(self.network, dnsmasq_address, bench.bridge(self.network))
        return dnsmasq_address

    # ----- load -------------------------------------------------------------

    def load(self, label, server, pid, round_number):
        """One run of the loader against `server`; the server's CPU and
        context switches around the load alone (not the sockets' making)."""
        args = [self.loader, server, str(self.seconds), str(RATE), str(TIMEOUT_MS), str(LOCAL), str(WARM),
                f"{label[:3]}{round_number}"]
        proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            proc.stdin.write(self.plan)
            proc.stdin.flush()
            ready = select.select([proc.stdout], [], [], 120)[0] and proc.stdout.readline().split()
            if not ready or ready[0] != "ready":
                raise RuntimeError(f"thousand_load against {server} did not get ready")
            watch = Watch(pid)
            proc.stdin.write("go\n")
            proc.stdin.flush()
            if not select.select([proc.stdout], [], [], self.seconds + TIMEOUT_MS / 1000 + 60)[0]:
                raise RuntimeError(f"thousand_load against {server} did not finish")
            result = json.loads(proc.stdout.readline())
            row = dict(target=label, round=round_number, load=result, warmed=int(ready[2]),
                       **watch.finish(self.seconds))
        finally:
            proc.kill()
            proc.wait(timeout=10)
        self.rows.append(row)
        show(row, ready[1])

    def measure(self):
        for round_number in range(self.rounds):
            print(f"  round {round_number + 1} of {self.rounds}", flush=True)
            order = self.targets if round_number % 2 == 0 else self.targets[::-1]
            for label, server, pid in order:
                self.load(label, server, pid(), round_number)


def main(bench, quick, rounds, reuse_attach, save=None):
    """Runs the step; returns its report section (bench/thousand_report.py).
    `save`: a file for the raw rows (JSON), if any."""
    from thousand_report import render
    step = Thousand(bench, quick, rounds)
    load_before = loadavg()
    step.setup(reuse_attach)
    step.measure()
    if save:
        with open(save, "w") as out:
            json.dump(step.rows, out)
    return render(step, load_before, loadavg())

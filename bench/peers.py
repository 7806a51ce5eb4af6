"""The DNS servers beside netagent, and the step that is about them: the
upstream (dnsmasq in a namespace of its own, serving zone.test), the peers
on the bench network (aardvark-dns as netavark runs it, dnsmasq on an
address of the bridge), the resolv.conf files that name the upstream, the
check that every target answers right, and the failover step (a dead first
upstream, `--only failover`).

Map (methods of `Peers`, a part of bench.Bench; thousand.py calls some):
  make_upstream, write_resolv, write_files   the upstream and the files naming it
  start_peers, write_peer_files, spawn_peer_dnsmasq, aardvark_pid, bridge
                                             aardvark-dns and dnsmasq, for a network
  check_answers                              no number before every target answers right
  failover                                   the failover step

Layout: bench.py's docstring. aardvark-dns daemonizes; Host.stop_all kills
it by its pid file.
"""

import json
import os
import signal
import statistics
import time

from host import AARDVARK, DEAD_UPSTREAM, GATEWAY, PEER_DNSMASQ, UPSTREAM, run


class Peers:
    """The upstream and the peers; mixed into bench.Bench (a host.Host)."""

    # ----- the upstream -------------------------------------------------------

    def make_upstream(self):
        self.upstream_pid = self.hold_netns()
        run(["ip", "link", "add", "up0", "type", "veth", "peer", "name", "up1", "netns", str(self.upstream_pid)])
        run(["ip", "addr", "add", "10.99.0.1/24", "dev", "up0"])
        run(["ip", "link", "set", "up0", "up"])
        for args in (["addr", "add", f"{UPSTREAM}/24", "dev", "up1"], ["link", "set", "up1", "up"], ["link", "set", "lo", "up"]):
            run(["nsenter", "-t", str(self.upstream_pid), "-n", "ip", *args])
        zone = self.path("zone.hosts")
        with open(zone, "w") as hosts:
            for i in range(1000):
                hosts.write(f"10.99.{1 + i // 250}.{i % 250 + 1} w{i:04d}.zone.test\n")
        self.spawn(["nsenter", "-t", str(self.upstream_pid), "-n", "dnsmasq", "-k", "--user=root", "--conf-file=/dev/null", "--no-resolv",
                    "--no-hosts", f"--addn-hosts={zone}", "--address=/cold.zone.test/10.99.9.9",
                    "--local=/nx.zone.test/", f"--listen-address={UPSTREAM}", "--bind-interfaces", "--port=53",
                    "--cache-size=10000", f"--pid-file={self.path('upstream.pid')}",
                    # A TTL on its answers (dnsmasq's default is 0), so
                    # that a cache may keep them: the warm rows.
                    "--local-ttl=60"])

    def write_resolv(self, *servers):
        """The upstreams, in order, for netagent (its host_resolv_conf) and
        for the peers (bound over /etc/resolv.conf by write_files)."""
        for name in ("host-resolv.conf", "peer-resolv.conf"):
            with open(self.path(name), "w") as conf:
                conf.write("".join(f"nameserver {server}\n" for server in servers))

    def write_files(self):
        self.write_resolv(UPSTREAM)
        # aardvark-dns and dnsmasq read /etc/resolv.conf; this mount lives
        # only in the private mount namespace.
        run(["mount", "--bind", self.path("peer-resolv.conf"), "/etc/resolv.conf"])

    # ----- the peers ------------------------------------------------------------

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
        # dnsmasq's default --dns-forward-max (150) on purpose: dnsperf keeps
        # at most 100 questions outstanding (-q 100), and dnsmasq sizes its
        # pool of random upstream sockets by that bound and walks the whole
        # pool on every wake-up (numrrand = ftabsize / 2), so the 10,000 this
        # bench gave it before doubled its CPU per answer at 5,000 q/s
        # (22-24 against 12-13 us per local answer on loopback, 2026-11-30).
        return self.spawn(["dnsmasq", "-k", "--user=root", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
                           f"--addn-hosts={self.path(network + '.hosts')}", f"--server={UPSTREAM}",
                           f"--listen-address={address}", "--bind-interfaces", "--port=53",
                           f"--pid-file={self.path(network + '-peer.pid')}"])

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

    # ----- the failover step ----------------------------------------------------

    def failover(self):
        """A dead first upstream (a blackhole), the live one second: dig's
        own query time for unique names, netagent's and aardvark-dns's
        (restarted to read the new order). Returns label -> [ms]."""
        queries = 2 if self.quick else 50
        self.write_resolv(DEAD_UPSTREAM, UPSTREAM)
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
        self.write_resolv(UPSTREAM)
        return outcome

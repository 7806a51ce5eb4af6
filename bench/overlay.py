"""The overlay step (issue #15): two hosts, each a network namespace with
its own `netagent daemon` in a cluster, joined by an underlay bridge in a
third namespace where etcd runs (Debian's etcd-server, data in the bench's
scratch space). Measures:

- propagation: a sandbox attached on host A until its name answers on
  host B, asked by a thread already inside a sandbox of B's (p50, p99);
- attach on an overlay network against a local bridge network (p50);
- etcd traffic per attach: keys written and bytes of key and value;
- host B's agent memory before and after 1,000 remote endpoints.

Every loop is bounded; everything started is stopped.
"""

import base64
import json
import os
import subprocess
import time

from attach import time_to_resolve
from host import NETAGENT, rss_kib, run
from report_common import percentile

ETCD = "http://192.0.2.1:2379"
PREFIX = "/netagent-bench/"


class Overlay:
    def __init__(self, work, quick):
        self.work = os.path.join(work, "overlay")
        os.makedirs(self.work, exist_ok=True)
        self.quick = quick
        self.procs = []
        self.holders = {}

    def path(self, *parts):
        return os.path.join(self.work, *parts)

    def holder(self, name):
        """A process in a network namespace of its own (no mount namespace:
        the sandboxes' namespace files stay visible to this process)."""
        proc = subprocess.Popen(["unshare", "--net", "sleep", "900"])
        self.procs.append(proc)
        own = os.readlink("/proc/self/ns/net")
        for _ in range(200):
            if os.readlink(f"/proc/{proc.pid}/ns/net") != own:
                break
            time.sleep(0.01)
        self.holders[name] = proc.pid
        return proc.pid

    def inside(self, name, *args, check=True, timeout=60):
        return run(["nsenter", "-t", str(self.holders[name]), "-n", "--", *args], check=check, timeout=timeout)

    def etcdctl(self, *args, **kwargs):
        return self.inside("underlay", "etcdctl", "--endpoints", ETCD, *args, **kwargs)

    def cli(self, host, *args, timeout=60):
        return run([NETAGENT, "--host", self.path(host, "agent.sock"), *args], timeout=timeout)

    def setup(self):
        self.holder("underlay")
        for step in ("ip link set lo up", "ip link add br0 type bridge", "ip addr add 192.0.2.1/24 dev br0",
                     "ip link set br0 up"):
            self.inside("underlay", *step.split())
        log = open(self.path("etcd.log"), "w")
        etcd = subprocess.Popen(["nsenter", "-t", str(self.holders["underlay"]), "-n", "--", "etcd", "--name", "b",
                                 "--data-dir", self.path("etcd"), "--listen-client-urls", ETCD,
                                 "--advertise-client-urls", ETCD, "--listen-peer-urls", "http://127.0.0.1:2380",
                                 "--initial-advertise-peer-urls", "http://127.0.0.1:2380",
                                 "--initial-cluster", "b=http://127.0.0.1:2380"], stdout=log, stderr=log)
        self.procs.append(etcd)
        for _ in range(200):
            if self.etcdctl("endpoint", "health", check=False, timeout=10):
                break
            time.sleep(0.1)
        for n, host in enumerate(("a", "b"), start=1):
            self.start_host(host, n)

    def start_host(self, host, n):
        pid = self.holder(host)
        self.inside("underlay", "ip", "link", "add", f"ul{n}", "type", "veth", "peer", "name", "ul0", "netns", str(pid))
        self.inside("underlay", "ip", "link", "set", f"ul{n}", "master", "br0", "up")
        self.inside(host, "ip", "link", "set", "lo", "up")
        self.inside(host, "ip", "addr", "add", f"192.0.2.1{n}/24", "dev", "ul0")
        self.inside(host, "ip", "link", "set", "ul0", "up")
        root = self.path(host)
        os.makedirs(root, exist_ok=True)
        with open(os.path.join(root, "resolv.conf"), "w") as conf:
            conf.write("nameserver 192.0.2.1\n")
        with open(os.path.join(root, "netagent.toml"), "w") as conf:
            conf.write(f'[paths]\nstate_dir = "{root}/state"\nnetns_dir = "{root}/netns"\n'
                       f'socket = "{root}/agent.sock"\nhost_resolv_conf = "{root}/resolv.conf"\n'
                       f'resolv_dir = "{root}/resolv"\n'
                       f'[cluster]\nendpoints = ["{ETCD}"]\nhost = "{host}"\nadvertise = "192.0.2.1{n}"\n'
                       f'prefix = "{PREFIX}"\n')
        log = open(os.path.join(root, "daemon.log"), "w")
        daemon = subprocess.Popen(["nsenter", "-t", str(pid), "-n", "--", NETAGENT, "daemon", "--config",
                                   os.path.join(root, "netagent.toml")], stdout=log, stderr=log)
        self.procs.append(daemon)
        setattr(self, f"daemon_{host}", daemon)
        for _ in range(400):
            try:
                self.cli(host, "network", "ls")
                return
            except RuntimeError:
                time.sleep(0.05)
        raise RuntimeError(f"host {host}'s agent did not come up")

    def create_sandbox(self, host, name, network):
        body = json.dumps({"name": name, "network": {"network": network}})
        took = run(["curl", "-sS", "--fail", "-o", "/dev/null", "-w", "%{time_total}", "--unix-socket",
                    self.path(host, "agent.sock"), "-X", "POST", "-H", "content-type: application/json",
                    "-d", body, "http://localhost/v1/sandboxes"], timeout=30)
        return float(took) * 1000

    def wait_listed(self, host, network):
        for _ in range(250):
            if network in self.cli(host, "network", "ls", "--format", "{{.Name}}").split():
                return
            time.sleep(0.02)
        raise RuntimeError(f"{network} never reached host {host}")

    def measure(self):
        total = 20 if self.quick else 200
        self.cli("a", "network", "create", "-d", "overlay", "ov", "--subnet", "10.200.0.0/16")
        self.cli("a", "network", "create", "loc", "--subnet", "10.201.0.0/16")
        self.wait_listed("b", "ov")
        self.create_sandbox("b", "asker", "ov")
        asker = json.loads(self.cli("b", "inspect", "asker"))[0]["Netagent"]["Netns"]
        revision_before = self.revision()
        propagation, overlay_attach = [], []
        for i in range(total):
            took = {}

            def attach():
                took["ms"] = self.create_sandbox("a", f"o{i:03d}", "ov")

            _, ms = time_to_resolve(asker, f"o{i:03d}", attach)
            propagation.append(ms if ms == ms else 2000.0)
            overlay_attach.append(took["ms"])
        revisions = self.revision() - revision_before
        local_attach = [self.create_sandbox("a", f"l{i:03d}", "loc") for i in range(total)]
        key = f"{PREFIX}endpoints/ov/a/"
        sample = self.etcdctl("get", "--prefix", key, "--limit", "1", "-w", "json")
        kv = json.loads(sample)["kvs"][0]
        entry_bytes = len(base64.b64decode(kv["key"])) + len(base64.b64decode(kv["value"]))
        memory = self.remote_memory()
        result = {"total": total, "propagation": propagation, "overlay_attach": overlay_attach,
                  "local_attach": local_attach, "writes_per_attach": revisions / total,
                  "bytes_per_attach": entry_bytes, **memory}
        print(f"  propagation A -> B: p50={percentile(propagation, .5):.1f}ms p99={percentile(propagation, .99):.1f}ms"
              f" max={max(propagation):.1f}ms over {total}", flush=True)
        print(f"  attach p50: overlay {percentile(overlay_attach, .5):.2f}ms, local "
              f"{percentile(local_attach, .5):.2f}ms; etcd: {revisions / total:.2f} writes and "
              f"{entry_bytes} bytes (key and value) per attach", flush=True)
        print(f"  host B's agent: RSS {memory['rss_before_mib']:.1f} MiB, "
              f"{memory['rss_after_mib']:.1f} MiB with {memory['remote']} more remote endpoints "
              f"({memory['fdb_entries']} FDB entries for them)", flush=True)
        return result

    def revision(self):
        status = json.loads(self.etcdctl("endpoint", "status", "-w", "json"))
        return status[0]["Status"]["header"]["revision"]

    def remote_memory(self, count=1000):
        """Host B's RSS before and after `count` endpoints of a host that
        does not exist, written straight into etcd."""
        before = rss_kib(self.daemon_b.pid)
        for i in range(count):
            ip = f"10.200.{100 + i // 250}.{i % 250 + 1}"
            doc = {"network": "ov", "host": "ghost", "advertise": "192.0.2.99", "sandbox": f"g{i:04d}",
                   "sandbox_id": f"{i:064x}", "aliases": [], "ipv4": ip,
                   "mac": f"02:42:0a:c8:{i >> 8:02x}:{i & 255:02x}"}
            self.etcdctl("put", f"{PREFIX}endpoints/ov/ghost/{i:064x}", json.dumps(doc))
        applied = False
        for _ in range(100):
            table = self.cli("b", "dns", "table", "--format", "json")
            if '"g0999"' in table:
                applied = True
                break
            time.sleep(0.1)
        if not applied:
            raise RuntimeError("host B never applied the 1,000 remote endpoints")
        # Forwarding and neighbour entries on B's VXLAN device.
        fdb = self.inside("b", "bridge", "fdb", "show").count("dst 192.0.2.99")
        after = rss_kib(self.daemon_b.pid)
        self.etcdctl("del", "--prefix", f"{PREFIX}endpoints/ov/ghost/")
        return {"remote": count, "fdb_entries": fdb, "rss_before_mib": before / 1024, "rss_after_mib": after / 1024}

    def stop(self):
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def main(work, quick):
    overlay = Overlay(work, quick)
    try:
        overlay.setup()
        return overlay.measure()
    finally:
        overlay.stop()

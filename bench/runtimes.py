"""Runtimes (issue #11): from a runtime's start command to the new container's
name answering from a peer, for podman + netavark + aardvark-dns and for
netagent behind podman's CNI backend, podman's OCI hooks and `ctr run --cni`;
and each netagent plugin or hook call, timed. Run by bench.py (`bench/run
--only runtimes`) in bench/run's private namespaces, with a tmpfs on /run and
overlays on /var and /opt, so that what the runtimes write stays there
(bench/README.md). Every loop is bounded in count and time."""

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from types import SimpleNamespace

from runtimes_asker import GIVE_UP_S, Asker

NETAGENT = os.environ.get("NETAGENT_BIN", "netagent")
IMAGE = "localhost/bb:latest"
UPSTREAM = "10.99.0.2"  # dnsmasq on the private host's lo, NXDOMAIN for every name: what both resolvers forward to
NV_SUBNET, NV_GATEWAY = "10.89.0.0/24", "10.89.0.1"
STALL_MS = 5000
# label, prefix, runtime, start options ({n}: the name), resolver the peer asks, its domain
SETUPS = [
    ("podman + netavark + aardvark-dns", "nv", "netavark", ["--network", "bench"], NV_GATEWAY, "dns.podman"),
    ("podman (CNI) + netagent plugin", "cni", "cni", ["--network", "app"], "127.0.0.11", "netagent.internal"),
    ("podman --network none + netagent hook", "hook", "cni", ["--network", "none", "--annotation", "netagent.network=app",
                                                             "--annotation", "netagent.name={n}"], "127.0.0.11", "netagent.internal"),
    ("ctr run -d --cni + netagent plugin", "ctr", "ctr", [], "127.0.0.11", "netagent.internal"),
]
PROGRAMS = ("conmon", "aardvark-dns", "netavark", "podman", "catatonit", "containerd", "containerd-shim", "ctr", "runc",
            "dnsmasq", "netagent")
WATCHED = ("/etc/cni", "/opt/cni", "/var/lib/cni", "/var/lib/containers", "/run/netns", "/run/containers", "/run/libpod",
           "/run/containerd")
# One call of netagent as a plugin or hook, timed with bash's $EPOCHREALTIME:
# no process but netagent's own (podman runs poststop with no PATH at all).
WRAPPER = """#!/bin/bash
t0=$EPOCHREALTIME
{bin} "$@"
rc=$?
printf '%s %s %s %s %s\\n' "${{CNI_COMMAND:-$4}}" "${{CNI_CONTAINERID:--}}" "$t0" "$EPOCHREALTIME" "$rc" >> {log}
exit $rc
"""


def run(args, check=True, env=None, timeout=120):
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env, stdin=subprocess.DEVNULL)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}): {done.stderr.strip()[-600:]}")
    return done.stdout.strip()


def wait_ok(args, what):
    for _ in range(200):
        if subprocess.run(args, capture_output=True).returncode == 0:
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not start")


def api_get(path, url):
    """GET from the agent's API on its unix socket: no process per request."""
    connection = http.client.HTTPConnection("localhost", timeout=30)
    connection.sock = socket.socket(socket.AF_UNIX)
    connection.sock.connect(path)
    connection.request("GET", url)
    response = connection.getresponse()
    body, status = response.read(), response.status
    connection.close()
    return json.loads(body) if status == 200 else None


class Runtimes:
    def __init__(self, count):
        self.count, self.procs, self.env = count, [], {}
        self.work = os.path.join(os.environ["NETAGENT_BENCH_WORK"], "runtimes")
        self.parent = f"netagent-bench-{os.getpid()}"  # the cgroup parent
        self.sock = self.path("agent.sock")
        self.ctr_sock = self.path("store", "containerd", "containerd.sock")

    def path(self, *parts):
        return os.path.join(self.work, *parts)

    def spawn(self, args, log="/dev/null"):
        with open(log, "a") as out:
            self.procs.append(subprocess.Popen(args, stdout=out, stderr=out, stdin=subprocess.DEVNULL))

    def write(self, path, text, mode=0o644):
        with open(path, "w") as file:
            file.write(text if isinstance(text, str) else json.dumps(text))
        os.chmod(path, mode)

    # ----- the private host, the image, netagent, the runtimes ------------------

    def private(self):
        """The tmpfs on /run hides bench/run's scratch tmpfs: a new one goes
        at the same path. Then the overlays, the bind mounts, the upstream."""
        top = os.environ["NETAGENT_BENCH_WORK"]
        run(["mount", "-n", "-t", "tmpfs", "-o", "mode=755", "netagent-bench", "/run"])
        os.makedirs(top)
        run(["mount", "-n", "-t", "tmpfs", "netagent-bench", top])
        for dir in ("/var", "/opt"):
            up, wk = self.path("upper", dir[1:]), self.path("upper", dir[1:] + ".work")
            os.makedirs(up), os.makedirs(wk)
            run(["mount", "-n", "-t", "overlay", "-o", f"lowerdir={dir},upperdir={up},workdir={wk}", "netagent-bench", dir])
        for dir in [self.path(sub) for sub in ("netconf", "cni-conf", "hooks", "log", "store", "rootfs/bin", "rootfs/etc")] + ["/opt/cni/bin"]:
            os.makedirs(dir)
        run(["mount", "-n", "-t", "tmpfs", "netagent-bench", self.path("store")])  # overlayfs stores need a non-overlay disk
        run(["mount", "-n", "--bind", self.path("cni-conf"), "/etc/cni/net.d"])
        self.write(self.path("resolv.conf"), f"nameserver {UPSTREAM}\n")
        run(["mount", "-n", "--bind", self.path("resolv.conf"), "/etc/resolv.conf"])
        run(["ip", "link", "set", "lo", "up"])
        run(["ip", "addr", "add", f"{UPSTREAM}/32", "dev", "lo"])
        self.spawn(["dnsmasq", "-k", "--user=root", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--local=/#/",
                    f"--listen-address={UPSTREAM}", "--bind-interfaces", "--port=53", "--pid-file="])

    def image(self):
        """busybox-static as an image, offline: a tar for podman, an OCI
        layout (umoci) named by its annotation for ctr."""
        rootfs, layout, bundle = self.path("rootfs"), self.path("oci"), self.path("oci-bundle")
        for sub in ("tmp", "proc", "sys", "dev", "root", "run"):
            os.makedirs(os.path.join(rootfs, sub))
        shutil.copy("/bin/busybox", os.path.join(rootfs, "bin/busybox"))
        for applet in ("sh", "sleep", "cat", "ip", "nslookup", "wget"):
            os.symlink("busybox", os.path.join(rootfs, "bin", applet))
        for name, text in (("passwd", "root:x:0:0:root:/root:/bin/sh\n"), ("group", "root:x:0:\n"), ("hosts", ""), ("resolv.conf", "")):
            self.write(os.path.join(rootfs, "etc", name), text)
        image = f"{layout}:latest"
        for args in (["tar", "-C", rootfs, "-cf", self.path("bb.tar"), "."], ["umoci", "init", "--layout", layout],
                     ["umoci", "new", "--image", image], ["umoci", "unpack", "--rootless", "--image", image, bundle],
                     ["cp", "-a", rootfs + "/.", bundle + "/rootfs"], ["umoci", "repack", "--image", image, bundle],
                     ["umoci", "config", "--image", image, "--config.cmd", "/bin/sh"], ["umoci", "gc", "--layout", layout]):
            run(args)
        with open(os.path.join(layout, "index.json")) as file:
            index = json.load(file)
        index["manifests"][0].setdefault("annotations", {})["io.containerd.image.name"] = IMAGE
        self.write(os.path.join(layout, "index.json"), index)
        run(["tar", "-C", layout, "-cf", self.path("bb-oci.tar"), "."])

    def netagent(self):
        """The agent, network "app", and its doors as users configure them
        (contrib/), the binary behind the timing wrapper."""
        self.write(self.path("netagent.toml"), f'[paths]\nstate_dir = "{self.path("state")}"\nnetns_dir = "{self.path("netns")}"\n'
                   f'socket = "{self.sock}"\nhost_resolv_conf = "{self.path("resolv.conf")}"\n'
                   f'resolv_dir = "{self.path("resolv")}"\n[log]\nlevel = "warn"\n')
        self.spawn([NETAGENT, "daemon", "--config", self.path("netagent.toml")], log=self.path("log/netagent.log"))
        wait_ok([NETAGENT, "--host", self.sock, "network", "ls"], "netagent")
        run([NETAGENT, "--host", self.sock, "network", "create", "app", "--subnet", "10.77.0.0/22"])
        contrib = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "contrib")
        for plugin in os.listdir("/usr/lib/cni"):  # ctr runs plugins from /opt/cni/bin only
            os.symlink(os.path.join("/usr/lib/cni", plugin), os.path.join("/opt/cni/bin", plugin))
        for path, log in (("/opt/cni/bin/netagent", "cni.times"), (self.path("hook-wrapper"), "hook.times")):
            self.write(path, WRAPPER.format(bin=NETAGENT, log=self.path("log", log)), 0o755)
        with open(os.path.join(contrib, "cni/10-netagent.conflist")) as file:
            conflist = json.load(file)
        conflist["plugins"][0]["socket"] = self.sock
        for dir in ("netconf", "cni-conf"):
            self.write(self.path(dir, "10-netagent.conflist"), conflist)
        for stage in ("createRuntime", "poststop"):
            with open(os.path.join(contrib, f"hooks/netagent-{stage}.json")) as file:
                hook = json.load(file)
            hook["hook"].update(path=self.path("hook-wrapper"), args=["netagent", "--host", self.sock, "hook", stage])
            self.write(self.path("hooks", f"netagent-{stage}.json"), hook)

    def podman(self, backend):
        """podman's config of its own (RUNTIMES.md): cgroupfs, runc, its
        store on the tmpfs, the image imported."""
        store = self.path("store", backend)
        os.makedirs(os.path.join(store, "tmp"))
        netconf = self.path("netconf") if backend == "cni" else store + "/networks"
        self.write(f"{store}/containers.conf", f'[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n'
                   f'[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\nevents_logfile_path = "{store}/events.log"\n'
                   f'runtime = "runc"\ntmp_dir = "{store}/tmp"\nhooks_dir = ["{self.path("hooks")}"]\n[network]\n'
                   f'network_backend = "{backend}"\ncni_plugin_dirs = ["/opt/cni/bin"]\nnetwork_config_dir = "{netconf}"\n')
        self.write(f"{store}/storage.conf", f'[storage]\ndriver = "overlay"\ngraphroot = "{store}/graph"\nrunroot = "{store}/run"\n')
        self.env[backend] = dict(os.environ, CONTAINERS_CONF=f"{store}/containers.conf", TMPDIR=f"{store}/tmp",
                                 CONTAINERS_STORAGE_CONF=f"{store}/storage.conf")
        run(["podman", "import", "-q", self.path("bb.tar"), IMAGE], env=self.env[backend])

    def containerd(self):
        store = self.path("store", "containerd")
        disabled = ", ".join(f'"io.containerd.{p}"' for p in ("grpc.v1.cri", "snapshotter.v1.btrfs", "snapshotter.v1.zfs",
                                                                "snapshotter.v1.aufs", "snapshotter.v1.devmapper"))
        self.write(self.path("containerd.toml"), f'version = 2\nroot = "{store}/root"\nstate = "{store}/state"\n'
                   f'disabled_plugins = [{disabled}]\n[grpc]\n  address = "{self.ctr_sock}"\n[ttrpc]\n  '
                   f'address = "{self.ctr_sock}.ttrpc"\n[plugins."io.containerd.internal.v1.opt"]\n  path = "{store}/opt"\n')
        self.spawn(["containerd", "--config", self.path("containerd.toml")], log=self.path("log/containerd.log"))
        wait_ok(self.ctr("version"), "containerd")
        run(self.ctr("image", "import", self.path("bb-oci.tar")))

    def ctr(self, *args):
        return ["ctr", "--address", self.ctr_sock, "--namespace", "bench", *args]

    # ----- one container: start, ask, check, remove ------------------------------

    def start_args(self, setup, name):
        if setup.runtime == "ctr":
            return self.ctr("run", "-d", "--null-io", "--cni", "--cgroup", f"/{self.parent}/{name}", IMAGE, name, "sleep", "3600")
        return ["podman", "run", "-d", "--name", name, "--cgroup-parent", "/" + self.parent,
                *[o.format(n=name) for o in setup.options], IMAGE, "sleep", "3600"]

    @staticmethod
    def sandbox(setup, name):
        """The name netagent gives it: ctr passes none, so CNI_CONTAINERID (NAMESPACE-ID)."""
        return f"bench-{name}" if setup.runtime == "ctr" else name

    def pid(self, setup, name):
        if setup.runtime == "ctr":
            return int(next(line.split()[1] for line in run(self.ctr("task", "ls")).splitlines() if line.split()[0] == name))
        return int(run(["podman", "inspect", "-f", "{{.State.Pid}}", name], env=self.env[setup.runtime]))

    def address(self, setup, name):
        if setup.runtime == "netavark":
            return json.loads(run(["podman", "inspect", "-f", "{{json .NetworkSettings.Networks}}", name],
                                  env=self.env["netavark"]))["bench"]["IPAddress"]
        view = api_get(self.sock, f"/v1/sandboxes/{self.sandbox(setup, name)}")
        return view["endpoints"][0]["ipv4"] if view else None

    def gateway_macs(self, setup):
        """The peer's neighbour entry for the gateway beside the bridge's MAC now: a Linux bridge with no MAC
        of its own takes its ports' lowest, so adding or removing a container's veth can change it."""
        neigh = run(["nsenter", f"--net=/proc/{setup.peer_pid}/ns/net", "ip", "neigh", "show", setup.server], check=False)
        bridge = run(["ip", "-o", "-4", "addr", "show", "to", setup.server], check=False).split()
        link = run(["ip", "-br", "link", "show", "dev", bridge[1]], check=False).split() if len(bridge) > 1 else []
        mac = link[2] if len(link) > 2 else "?"
        return f"the peer's ARP entry for {setup.server}: {neigh or 'none'}; the bridge's MAC now: {mac}"

    def remove(self, setup, name):
        if setup.runtime == "ctr":
            run(self.ctr("task", "delete", "--force", name), check=False)
            run(self.ctr("containers", "delete", name), check=False)
        else:
            run(["podman", "rm", "-f", "-t0", name], env=self.env[setup.runtime], check=False)

    def one(self, setup, name):
        job = setup.asker.begin(f"{self.sandbox(setup, name)}.{setup.domain}")
        args = self.start_args(setup, name)
        began, wall = time.monotonic(), time.time()
        done = subprocess.run(args, capture_output=True, text=True, timeout=120, env=self.env.get(setup.runtime),
                              stdin=subprocess.DEVNULL)
        result = dict(name=name, wall=wall, returned_ms=(time.monotonic() - began) * 1000, answered_ms=None, error=None)
        if done.returncode != 0:
            job["cancel"] = True
            result["error"] = f"start failed ({done.returncode}): {done.stderr.strip()[-300:]}"
        if setup.runtime == "netavark" and not job["done"].wait(2):
            result["arp"] = self.gateway_macs(setup)  # a silent gateway: whose MAC does the peer still use?
        job["done"].wait(GIVE_UP_S + 10)
        result.update(tries=job["tries"], replies=job["replies"], silence_ms=job["silence"] * 1000)
        if job["at"] is not None:
            result["answered_ms"] = (job["at"] - began) * 1000
            try:
                expected = self.address(setup, name)
            except (RuntimeError, KeyError, IndexError, TypeError, StopIteration, ValueError) as err:
                expected = f"? ({err})"
            if job["address"] != expected:
                result["error"] = f"answered {job['address']}, the container has {expected}"
        elif not result["error"]:
            result["error"] = f"no answer within {GIVE_UP_S} s"
        self.remove(setup, name)
        return result

    def measure(self):
        """Per setup a peer started the same way and its asker; then `count`
        containers per setup, setups alternated container by container."""
        for backend in ("netavark", "cni"):
            self.podman(backend)
        run(["podman", "network", "create", "--subnet", NV_SUBNET, "bench"], env=self.env["netavark"])
        fields = ("label", "prefix", "runtime", "options", "server", "domain")
        self.setups = [SimpleNamespace(**dict(zip(fields, s)), asker=None, runs=[]) for s in SETUPS]
        for setup in self.setups:
            run(self.start_args(setup, f"{setup.prefix}-peer"), env=self.env.get(setup.runtime))
            setup.peer_pid = self.pid(setup, setup.prefix + "-peer")
            setup.asker = Asker(f"/proc/{setup.peer_pid}/ns/net", setup.server)
        self.window = [time.time(), None]
        for i in range(self.count):
            for setup in self.setups[i % 4:] + self.setups[:i % 4]:
                result = self.one(setup, f"{setup.prefix}-{i:03d}")
                setup.runs.append(result)
                answered = "none" if result["answered_ms"] is None else f"{result['answered_ms']:.1f} ms"
                print(f"  {setup.label:38} {i:3}: start returned {result['returned_ms']:7.1f} ms, answered {answered} "
                      f"({result['tries']} queries, {result['replies']} replies, longest silence {result['silence_ms']:.0f} ms) "
                      f"{result['error'] or ''} {result.get('arp', '')}", flush=True)
                time.sleep(0.2)  # what the runtimes do in the background after rm (conmon, cleanup) settles
        self.window[1] = time.time()

    # ----- what is left, and the end ----------------------------------------------

    def leftovers(self, peers_kept):
        """What the runtimes and the agent still hold (beyond the peers when
        `peers_kept`), as sentences; none when clean."""
        left, peers = [], {f"{s.prefix}-peer" for s in self.setups} if peers_kept else set()
        for backend, env in self.env.items():
            names = set(run(["podman", "ps", "-a", "--format", "{{.Names}}"], env=env, check=False).split()) - peers
            left += [f"podman ({backend}) containers {sorted(names)}"] if names else []
        names = set(run(self.ctr("containers", "ls", "-q"), check=False).split()) - peers
        left += [f"ctr containers {sorted(names)}"] if names else []
        kept = {self.sandbox(s, f"{s.prefix}-peer") for s in self.setups if s.runtime != "netavark"} if peers_kept else set()
        for _ in range(50):  # the agent releases ctr's containers when their process ends: up to 5 s
            names = {view["name"] for view in api_get(self.sock, "/v1/sandboxes") or []} - kept
            if not names:
                break
            time.sleep(0.1)
        return left + ([f"netagent sandboxes {sorted(names)}"] if names else [])

    def stop(self):
        """Removes the peers, stops every daemon, kills what is left of the
        runtimes in this network namespace, removes the cgroups."""
        left = []
        if getattr(self, "setups", None):
            for setup in self.setups:
                if setup.asker:
                    setup.asker.jobs.put(None)
                self.remove(setup, f"{setup.prefix}-peer")
            left = self.leftovers(peers_kept=False)
        for env in self.env.values():
            run(["podman", "rm", "-af", "-t0"], env=env, check=False)
            run(["podman", "network", "prune", "-f"], env=env, check=False)
        for proc in reversed(self.procs):
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        time.sleep(2)  # exiting conmons and shims
        own, killed = os.readlink("/proc/self/ns/net"), []
        for pid in [p for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()]:
            try:
                comm = open(f"/proc/{pid}/comm").read().strip()
                if comm in PROGRAMS and os.readlink(f"/proc/{pid}/ns/net") == own:
                    os.kill(int(pid), signal.SIGKILL)
                    killed.append(f"{pid} {comm}")
            except OSError:
                pass
        left += [f"processes killed at the end: {killed}"] if killed else []
        for hierarchy in os.listdir("/sys/fs/cgroup"):
            top = os.path.join("/sys/fs/cgroup", hierarchy, self.parent)
            tree = [d for d, _, _ in os.walk(top)]
            for _ in range(50 if tree else 0):  # deepest first; the killed need a moment
                for dir in reversed(tree):
                    try:
                        os.rmdir(dir)
                    except OSError:
                        pass
                if not os.path.exists(top):
                    break
                time.sleep(0.1)
            left += [f"cgroup {top}"] if os.path.exists(top) else []
        return left


def machine_view():
    """A copy of this mount namespace made before the step mounts anything:
    the machine's own paths, not the tmpfs and overlays over them. Held by a
    descriptor; its process is gone at once."""
    holder = subprocess.Popen(["unshare", "--mount", "--propagation", "unchanged", "sleep", "60"])
    for _ in range(200):
        if os.readlink(f"/proc/{holder.pid}/ns/mnt") != os.readlink("/proc/self/ns/mnt"):
            break
        time.sleep(0.01)
    fd = os.open(f"/proc/{holder.pid}/ns/mnt", os.O_RDONLY)
    holder.kill()
    holder.wait()
    return fd


def machine_snapshot(view):
    """Names, sizes and mtimes two levels down of the paths a leaking runtime would write."""
    args = ["nsenter", f"--mount=/proc/self/fd/{view}", "--", "find", *WATCHED, "-maxdepth", "2", "-printf", "%p %s %T@\\n"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=60, pass_fds=(view,))
    return sorted(done.stdout.splitlines()) + sorted(done.stderr.splitlines())


def main(out, count):
    from report_common import write_section
    from runtimes_report import render
    view = machine_view()
    before = machine_snapshot(view)
    bench, left_runs = Runtimes(count), []
    try:
        print("runtimes: private host, image, netagent, containerd, podman", flush=True)
        bench.private()
        bench.image()
        bench.netagent()
        bench.containerd()
        bench.measure()
        left_runs = bench.leftovers(peers_kept=True)
        logs = [bench.path("log", log) for log in ("cni.times", "hook.times")]
        calls = [line.split() for log in logs if os.path.exists(log) for line in open(log)]
    finally:
        left_end = bench.stop()
    after = machine_snapshot(view)
    changed = [f"- {line}" for line in before if line not in after] + [f"+ {line}" for line in after if line not in before]
    text = render(bench.setups, calls, bench.window, count, left_runs, left_end, changed)
    write_section(out, text)
    print(text, flush=True)

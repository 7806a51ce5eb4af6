"""The private host every step runs on (bench/run made its network and
mount namespace): the addresses, commands bounded in time, reading a
process's CPU and memory, and the `Host` that holds a scratch directory,
the processes it started, namespaces held by a process, and the netagent
daemon with the CLI to it.

Map:
  NETAGENT, AARDVARK, addresses   what the steps run and where (bench.py's layout)
  run, first_line                 a command, bounded in time: its output, its first line
  cpu_ticks, rss_kib, CLK_TCK     a process's utime+stime and resident memory
  Host                            scratch paths, spawn/stop_all, hold_netns, the daemon
                                  (config, start_daemon, stop_daemon, agent, in_client)

bench.Bench (the load, failover and attach steps) and publish.Publish are
Hosts; thousand.py and overlay.py use the functions. Every loop is bounded
in count and time; everything started is stopped (stop_all).
"""

import os
import signal
import subprocess
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


def first_line(args):
    """The first line a command prints (a version), "?" if it prints none
    or does not run."""
    try:
        return run(args, check=False, timeout=10).strip().splitlines()[0]
    except (IndexError, OSError, subprocess.SubprocessError):
        return "?"


def cpu_ticks(pid):
    """utime + stime of a process, in clock ticks (/proc/PID/stat fields 14, 15)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def rss_kib(pid):
    """A process's resident memory (VmRSS), in KiB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Host:
    """A scratch directory (on bench/run's tmpfs), the processes started
    from it, and one netagent daemon at a time with its CLI."""

    def __init__(self, quick):
        self.quick = quick
        self.work = tempfile.mkdtemp(prefix="bench-", dir=os.environ.get("NETAGENT_BENCH_WORK"))
        self.procs = []
        self.daemon = None

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
        # aardvark-dns daemonizes (peers.py): not among the procs.
        pidfile = self.path("aardvark/aardvark.pid")
        if os.path.exists(pidfile):
            try:
                os.kill(int(open(pidfile).read().strip()), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass

    def hold_netns(self):
        """A new network namespace, held by a process of its own (stopped by
        stop_all) rather than pinned under /run/netns, so nothing outlives
        the run; returns that process's pid once it is inside."""
        holder = self.spawn(["unshare", "--net", "sleep", "7200"])
        own = os.readlink("/proc/self/ns/net")
        for _ in range(200):
            if os.readlink(f"/proc/{holder.pid}/ns/net") != own:
                break
            time.sleep(0.01)
        return holder.pid

    # ----- the daemon ---------------------------------------------------------

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

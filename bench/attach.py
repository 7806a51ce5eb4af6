"""The attach step (`--only attach`): sandboxes created and attached one
after another through the control API (curl's time per request), the
daemon's memory and descriptors after, and how soon a new sandbox's name
answers in a peer's namespace after the API returned.

Map:
  dns_query, time_to_resolve   ask 127.0.0.11 from a thread inside a
                               namespace (setns) right after an action;
                               overlay.py uses it too
  Attach.create_sandbox        one sandbox through the API (thousand.py too)
  Attach.attach                the step; its result goes to report.py
"""

import json
import os
import random
import time

from host import CONTAINERS, rss_kib, run
from report_common import percentile


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


class Attach:
    """The attach step; mixed into bench.Bench (a host.Host)."""

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

"""The peer's side of the runtimes step (bench/runtimes.py): a thread that
enters a peer container's network namespace once and asks for a new
container's name until an answer with an address comes, each try from a new
source port as stub resolvers do. Bounded: one try every ASK_EVERY_S, given
up after GIVE_UP_S."""

import ctypes
import os
import queue
import socket
import struct
import threading
import time

GIVE_UP_S = 60
ASK_EVERY_S = float(os.environ.get("NETAGENT_BENCH_ASK_MS", "1")) / 1000  # how often the peer asks
LIBC = ctypes.CDLL(None, use_errno=True)


def answer_address(reply, asked):
    """The first A record's address of a NOERROR reply to `asked` (the
    question's bytes), else None."""
    try:
        if reply[3] & 0x0F or reply[12:12 + len(asked)].lower() != asked.lower():
            return None
        at = 12 + len(asked)
        for _ in range(int.from_bytes(reply[6:8], "big")):
            while reply[at] and reply[at] < 0xC0:
                at += reply[at] + 1
            rtype, _, _, length = struct.unpack_from("!HHIH", reply, at + (2 if reply[at] else 1))
            at += (2 if reply[at] else 1) + 10
            if rtype == 1 and length == 4:
                return socket.inet_ntoa(reply[at:at + 4])
            at += length
    except (IndexError, struct.error):
        pass
    return None


class Asker(threading.Thread):
    """A thread that enters a peer's network namespace once (setns, this
    thread only), then per job asks `server` for a name every ASK_EVERY_S until
    an answer with an address comes, or GIVE_UP_S pass."""

    def __init__(self, netns, server):
        super().__init__(daemon=True)
        self.netns, self.server, self.jobs, self.error, self.ready = netns, server, queue.Queue(), None, threading.Event()
        self.start()
        self.ready.wait(10)
        if self.error:
            raise RuntimeError(f"setns into {netns}: {self.error}")

    def run(self):
        fd = os.open(self.netns, os.O_RDONLY)
        if LIBC.setns(fd, 0x40000000) != 0:  # CLONE_NEWNET
            self.error = os.strerror(ctypes.get_errno())
        os.close(fd)
        self.ready.set()
        qid = 0
        while not self.error and (job := self.jobs.get()) is not None:
            asked = b"".join(bytes([len(p)]) + p.encode() for p in job["name"].split(".")) + b"\0\0\1\0\1"
            while job["at"] is None and not job["cancel"] and time.monotonic() < job["began"] + GIVE_UP_S:
                qid = (qid + 1) & 0xFFFF
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:  # a new source port each, as stub resolvers
                    sock.settimeout(ASK_EVERY_S)
                    self.ask(sock, job, qid, asked)
            job["done"].set()

    def ask(self, sock, job, qid, asked):
        try:
            sock.sendto(qid.to_bytes(2, "big") + b"\1\0\0\1\0\0\0\0\0\0" + asked, (self.server, 53))
            job["tries"] += 1
            while job["at"] is None:  # every reply until ASK_EVERY_S passes with none
                reply, now = sock.recv(1500), time.monotonic()
                job["replies"], job["silence"], job["last"] = job["replies"] + 1, max(job["silence"], now - job["last"]), now
                address = answer_address(reply, asked)
                if address:
                    job["at"], job["address"] = now, address
        except socket.timeout:
            pass
        except OSError:
            time.sleep(ASK_EVERY_S)

    def begin(self, name):
        now = time.monotonic()
        job = dict(name=name, began=now, last=now, at=None, address=None, tries=0, replies=0, silence=0, cancel=False,
                   done=threading.Event())
        self.jobs.put(job)
        return job

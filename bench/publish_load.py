#!/usr/bin/env python3
"""The connection-rate load of the publish step (bench/publish.py): a server
and a client, one process each, non-blocking with epoll, so that neither
waits on one connection while others are ready.

  publish_load.py serve PORT[,PORT...] SECONDS
      accepts on each PORT (a port per path, so that no two paths share a
      connection's 4-tuple at the server: TIME_WAIT and conntrack entries
      of one path never meet the next one's connections); reads a 16-byte request, answers 64 bytes and
      closes (the server closes first, as an HTTP/1.0 server does, so
      TIME_WAIT stays on its side and the client's ports are not used up).
      Ends by itself after SECONDS.
  publish_load.py cps HOST PORT SECONDS MAX CONCURRENCY
      keeps CONCURRENCY connections in flight to HOST:PORT, each one
      request and one response read to the end, for SECONDS or MAX
      connections, whichever comes first; prints one JSON line: done,
      errors, seconds, p50/p99 connection time in ms, and its own CPU.

Every loop is bounded in time; the client also in count."""

import errno
import json
import resource
import select
import socket
import sys
import time

REQUEST = b"GET / HTTP/1.0\r\n"  # 16 bytes
RESPONSE = b"HTTP/1.0 200 OK\r\ncontent-length: 29\r\n\r\n" + b"x" * 25  # 64 bytes
assert len(REQUEST) == 16 and len(RESPONSE) == 64


def serve(ports, seconds):
    poll = select.epoll()
    listeners = {}
    for port in ports:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("0.0.0.0", port))
        listener.listen(4096)
        listener.setblocking(False)
        poll.register(listener.fileno(), select.EPOLLIN)
        listeners[listener.fileno()] = listener
    open_conns = {}
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for fd, _ in poll.poll(0.5):
            if fd in listeners:
                listener = listeners[fd]
                for _ in range(256):
                    try:
                        conn, _ = listener.accept()
                    except BlockingIOError:
                        break
                    conn.setblocking(False)
                    open_conns[conn.fileno()] = [conn, b""]
                    poll.register(conn.fileno(), select.EPOLLIN)
                continue
            conn, got = open_conns[fd]
            try:
                data = conn.recv(64)
            except OSError:
                data = b""
            got += data
            if data and len(got) < len(REQUEST):
                open_conns[fd][1] = got
                continue
            poll.unregister(fd)
            del open_conns[fd]
            if data:
                try:
                    conn.send(RESPONSE)
                except OSError:
                    pass
            conn.close()


def cps(host, port, seconds, most, concurrency):
    poll = select.epoll()
    conns = {}  # fd -> [socket, started, state (0 connecting, 1 reading), bytes read]
    done = errors = 0
    times = []
    start = time.monotonic()
    end = start + seconds
    started = 0

    def open_one():
        nonlocal started, errors
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            sock.connect((host, port))
        except BlockingIOError:
            pass
        except OSError:
            errors += 1
            sock.close()
            return
        started += 1
        conns[sock.fileno()] = [sock, time.monotonic(), 0, 0]
        poll.register(sock.fileno(), select.EPOLLOUT)

    while time.monotonic() < end:
        while len(conns) < concurrency and started < most and time.monotonic() < end:
            open_one()
        if not conns:
            break
        for fd, events in poll.poll(0.2):
            sock, t0, state, _ = conns[fd]
            failed = False
            if state == 0:
                err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err or events & (select.EPOLLERR | select.EPOLLHUP):
                    failed = True
                else:
                    try:
                        sock.send(REQUEST)
                        conns[fd][2] = 1
                        poll.modify(fd, select.EPOLLIN)
                        continue
                    except OSError:
                        failed = True
            else:
                try:
                    data = sock.recv(4096)
                except OSError as error:
                    data = None if error.errno != errno.EAGAIN else b"again"
                if data == b"again":
                    continue
                if data:
                    conns[fd][3] += len(data)
                    continue
                failed = data is None or conns[fd][3] != len(RESPONSE)
            poll.unregister(fd)
            del conns[fd]
            sock.close()
            if failed:
                errors += 1
            else:
                done += 1
                times.append((time.monotonic() - t0) * 1000)
    elapsed = time.monotonic() - start
    for sock, *_ in list(conns.values()):
        sock.close()
    times.sort()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({
        "done": done, "errors": errors, "unfinished": len(conns), "seconds": elapsed,
        "p50_ms": times[len(times) // 2] if times else None,
        "p99_ms": times[min(len(times) - 1, int(len(times) * 0.99))] if times else None,
        "cpu_s": usage.ru_utime + usage.ru_stime,
    }))


def main():
    if sys.argv[1] == "serve":
        serve([int(port) for port in sys.argv[2].split(",")], float(sys.argv[3]))
    elif sys.argv[1] == "cps":
        cps(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]))
    else:
        sys.exit(f"unknown mode {sys.argv[1]!r}")


if __name__ == "__main__":
    main()

# The namespace tier's never-reading TCP clients (tests/netns_tcp_abuse.rs,
# issue #14), run inside a sandbox against 127.0.0.11:53. Two clients
# pipeline 20,000 queries each and never read; then a third asks one
# question ("served" or "refused"); then the two are drained ("closed" if
# the server closed them, "open" if they were still held).
import socket
import struct
import time

QUERY = bytes.fromhex("123401000001000000000000") + b"\x03web\x00\x00\x01\x00\x01"
FRAME = struct.pack(">H", len(QUERY)) + QUERY


def hog():
    s = socket.create_connection(("127.0.0.11", 53), timeout=5)
    try:
        s.sendall(FRAME * 20000)
    except OSError:
        pass
    return s


def served():
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            s = socket.create_connection(("127.0.0.11", 53), timeout=5)
            s.sendall(FRAME)
            if len(s.recv(2)) == 2:
                return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def closed(s):
    try:
        while s.recv(65536):
            pass
        return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


hogs = [hog(), hog()]
print("served" if served() else "refused")
for s in hogs:
    print("closed" if closed(s) else "open")

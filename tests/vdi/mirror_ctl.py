#!/usr/bin/env python3
"""mirror_ctl.py SOCKET REQUEST...: sends one request line to a block
service's mirror control socket (docs/specs/mirror.md) and prints the
reply line; exit status 0 for "ok", 1 for "error", 2 otherwise."""
import socket
import sys


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(60)
    s.connect(sys.argv[1])
    s.sendall((" ".join(sys.argv[2:]) + "\n").encode())
    buf = b""
    while not buf.endswith(b"\n"):
        d = s.recv(4096)
        if not d:
            break
        buf += d
    reply = buf.decode().rstrip("\n")
    print(reply)
    return 0 if reply.startswith("ok") else 1 if reply.startswith("error") \
        else 2


sys.exit(main())

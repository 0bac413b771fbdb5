#!/usr/bin/env python3
"""tcp_proxy.py - a TCP proxy the tests put between two ends of a link,
to cut it or corrupt it at a state of the test's choosing.

    tcp_proxy.py LISTEN_ADDR:PORT TARGET_ADDR:PORT STATE_FILE

It forwards every connection to LISTEN to TARGET.  SIGUSR1 cuts the link:
every open connection is reset and the listening socket closed (a new
connection is refused); SIGUSR2 listens again.  SIGHUP arms a corruption:
one byte of the next chunk a client sends is flipped on its way.
STATE_FILE says "open", "cut", "armed" or "corrupted" once the proxy is in
that state, so that a test acts only after it.  SIGTERM ends the proxy.
"""
import os
import selectors
import signal
import socket
import struct
import sys


def addr(s):
    host, port = s.rsplit(":", 1)
    return host, int(port)


class Proxy:
    def __init__(self, listen, target, state_file):
        self.listen_addr = listen
        self.target = target
        self.state_file = state_file
        self.sel = selectors.DefaultSelector()
        self.lsock = None
        self.peer = {}          # socket -> the socket it is paired with
        self.want = "open"
        self.done = False
        self.clients = set()    # the accepted ends
        self.armed = False
        self.rfd, self.wfd = os.pipe()
        os.set_blocking(self.wfd, False)
        self.sel.register(self.rfd, selectors.EVENT_READ, "wake")

    def say(self, state):
        tmp = self.state_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(state + "\n")
        os.replace(tmp, self.state_file)

    def signalled(self, want):
        self.want = want
        try:
            os.write(self.wfd, b"x")
        except BlockingIOError:
            pass

    def open(self):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(self.listen_addr)
        s.listen(64)
        s.setblocking(False)
        self.sel.register(s, selectors.EVENT_READ, "listen")
        self.lsock = s
        self.say("open")

    def drop(self, s):
        other = self.peer.pop(s, None)
        for x in (s, other):
            if x is None:
                continue
            self.peer.pop(x, None)
            self.clients.discard(x)
            try:
                self.sel.unregister(x)
            except (KeyError, ValueError):
                pass
            # A reset, as a link that went away looks to the caller.
            try:
                x.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                             struct.pack("ii", 1, 0))
            except OSError:
                pass
            x.close()

    def cut(self):
        if self.lsock:
            self.sel.unregister(self.lsock)
            self.lsock.close()
            self.lsock = None
        for s in list(self.peer):
            self.drop(s)
        self.say("cut")

    def accept(self):
        c, _ = self.lsock.accept()
        t = socket.socket()
        try:
            t.connect(self.target)
        except OSError:
            c.close()
            t.close()
            return
        for x in (c, t):
            x.setblocking(False)
            self.sel.register(x, selectors.EVENT_READ, "data")
        self.peer[c] = t
        self.peer[t] = c
        self.clients.add(c)

    def pump(self, s):
        other = self.peer.get(s)
        if other is None:
            return
        try:
            data = s.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self.drop(s)
            return
        flipped = self.armed and s in self.clients
        if flipped:
            data = bytearray(data)
            data[len(data) // 2] ^= 0xFF
            self.armed = False
        try:
            other.setblocking(True)
            other.sendall(data)
            other.setblocking(False)
        except OSError:
            self.drop(s)
        if flipped:
            self.say("corrupted")

    def run(self):
        self.open()
        while not self.done:
            for key, _ in self.sel.select():
                if key.data == "wake":
                    os.read(self.rfd, 64)
                elif key.data == "listen" and self.lsock:
                    self.accept()
                elif key.data == "data":
                    self.pump(key.fileobj)
            if self.want == "corrupt":
                self.armed = True
                self.want = "open"
                self.say("armed")
            if self.want == "cut" and self.lsock:
                self.cut()
            elif self.want == "open" and not self.lsock:
                self.open()
            elif self.want == "stop":
                self.done = True


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: tcp_proxy.py LISTEN:PORT TARGET:PORT STATE_FILE")
    p = Proxy(addr(sys.argv[1]), addr(sys.argv[2]), sys.argv[3])
    signal.signal(signal.SIGUSR1, lambda *a: p.signalled("cut"))
    signal.signal(signal.SIGUSR2, lambda *a: p.signalled("open"))
    signal.signal(signal.SIGHUP, lambda *a: p.signalled("corrupt"))
    signal.signal(signal.SIGTERM, lambda *a: p.signalled("stop"))
    p.run()


if __name__ == "__main__":
    main()

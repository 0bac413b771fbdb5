"""nbd_raw.py - a raw NBD client for the bad-client test: it speaks the
protocol (doc/proto.md of NetworkBlockDevice/nbd) byte by byte so that it
can also break it.  Each case prints one line "name: result"."""
import socket
import struct
import sys

NBDMAGIC = b"NBDMAGIC"
IHAVEOPT = 0x49484156454F5054
REQ_MAGIC = 0x25609513
SIMPLE_REPLY = 0x67446698
OPT_EXPORT_NAME, OPT_GO = 1, 7
CMD_READ, CMD_WRITE = 0, 1


def recv_all(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError("closed after %d of %d bytes" % (len(b), n))
        b += c
    return b


def greet(path):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(20)
    s.connect(path)
    hello = recv_all(s, 18)
    assert hello[:8] == NBDMAGIC and struct.unpack(">Q", hello[8:16])[0] == IHAVEOPT
    s.sendall(struct.pack(">I", 3))         # FIXED_NEWSTYLE | NO_ZEROES
    return s


def option(s, opt, data, length=None):
    s.sendall(struct.pack(">QII", IHAVEOPT, opt,
                          len(data) if length is None else length) + data)


def connect(path):
    s = greet(path)
    option(s, OPT_EXPORT_NAME, b"")
    size, _flags = struct.unpack(">QH", recv_all(s, 10))
    return s, size


def request(s, cmd, off, length, payload=b"", handle=1, magic=REQ_MAGIC):
    s.sendall(struct.pack(">IHHQQI", magic, 0, cmd, handle, off, length) +
              payload)


def simple_reply(s):
    magic, err, handle = struct.unpack(">IIQ", recv_all(s, 16))
    assert magic == SIMPLE_REPLY, hex(magic)
    return err, handle


def closed(s):
    try:
        return s.recv(1) == b""
    except (ConnectionResetError, socket.timeout):
        return True


def outcome(f):
    try:
        return f()
    except (EOFError, ConnectionResetError, BrokenPipeError) as e:
        return "closed (%s)" % e


def main(path):
    def huge_option():
        s = greet(path)
        option(s, OPT_GO, b"", length=0x7FFFFFFF)
        return "closed" if closed(s) else "still open"

    def long_name():
        s = greet(path)
        option(s, OPT_EXPORT_NAME, b"x" * 8192)
        return "closed" if closed(s) else "still open"

    def read_past_end():
        s, size = connect(path)
        request(s, CMD_READ, size, 4096)
        err, _ = simple_reply(s)
        request(s, CMD_READ, 0, 512, handle=2)
        err2, h = simple_reply(s)
        data = recv_all(s, 512) if err2 == 0 else b""
        return "error %d, then a good read %s" % (
            err, "works" if err2 == 0 and h == 2 and len(data) == 512
            else "fails (%d)" % err2)

    def read_straddling_end():
        s, size = connect(path)
        request(s, CMD_READ, size - 512, 4096)
        return "error %d" % simple_reply(s)[0]

    def write_past_end():
        s, size = connect(path)
        request(s, CMD_WRITE, size - 512, 4096, payload=b"W" * 4096)
        return "error %d" % simple_reply(s)[0]

    def oversized_read():
        s, _ = connect(path)
        request(s, CMD_READ, 0, 64 << 20)
        try:
            err, _ = simple_reply(s)
            return "error %d" % err
        except (EOFError, ConnectionResetError):
            return "closed"

    def bad_magic():
        s, _ = connect(path)
        request(s, CMD_READ, 0, 512, magic=0xDEADBEEF)
        return "closed" if closed(s) else "still open"

    for f in (huge_option, long_name, read_past_end, read_straddling_end,
              write_past_end, oversized_read, bad_magic):
        print("%s: %s" % (f.__name__, outcome(f)))
        sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1])

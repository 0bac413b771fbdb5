#!/usr/bin/env python3
"""bench_mirror.py - the mirrored-block engine moving an idle VDI to a peer,
against nbdcopy and QEMU's blockdev-mirror (run as bench/bench-mirror by
`make bench`; bench_mirror.sh's header says how each figure is measured).
One JSON object per line on stdout, nothing else (diagnostics on stderr).
"""
import argparse
import json
import os
import random
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid

MiB = 1 << 20
GiB = 1 << 30
PSK_IDENTITY = "xm-pool"        # daemon/pd_blk.c


class BenchError(Exception):
    pass


def log(msg):
    print("bench-mirror: " + msg, file=sys.stderr, flush=True)


def emit(obj):
    obj["loadavg"] = load()
    print(json.dumps(obj), flush=True)


def load():
    return round(os.getloadavg()[0], 2)


def run(*args, **kw):
    return subprocess.run(args, check=True, stdout=subprocess.DEVNULL, **kw)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def allocated(path):
    return os.stat(path).st_blocks * 512


def fdatasync(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fdatasync(fd)
    finally:
        os.close(fd)


def differing_mib(a, b):
    """How many 1 MiB blocks of a and b differ (0: identical)."""
    if subprocess.run(["cmp", "-s", a, b]).returncode == 0:
        return 0
    n = 0
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(MiB), fb.read(MiB)
            if not x and not y:
                return n
            n += x != y


class Ctl:
    """One request line to the mirror's control socket, its reply parsed
    (docs/specs/mirror.md section 2)."""

    def __init__(self, path):
        self.path = path

    def __call__(self, *words):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(60)
        try:
            s.connect(self.path)
            s.sendall((" ".join(words) + "\n").encode())
            buf = b""
            while not buf.endswith(b"\n"):
                d = s.recv(4096)
                if not d:
                    break
                buf += d
        finally:
            s.close()
        line = buf.decode().rstrip("\n")
        if not line.startswith("ok"):
            raise BenchError("mirror %s: %s" % (words[0], line))
        head, _, reason = line.partition(" reason=")
        st = dict(kv.split("=", 1) for kv in head.split()[1:])
        st["reason"] = reason
        for k, v in st.items():
            if v.isdigit():
                st[k] = int(v)
        return st


class Writer(threading.Thread):
    """The busy guest: random 64 KiB writes of random bytes at a fixed rate
    into the source through our plugin's unix socket, one at a time, by a
    minimal NBD client (fixed newstyle, NBD_OPT_EXPORT_NAME, simple
    replies)."""

    def __init__(self, sock, size, rate, block=64 * 1024):
        super().__init__(daemon=True)
        self.s = socket.socket(socket.AF_UNIX)
        self.s.settimeout(30)
        self.s.connect(sock)
        hello = self.recv(18)
        if hello[:8] != b"NBDMAGIC":
            raise BenchError("writer: not an NBD server")
        self.s.sendall(struct.pack(">I", 3))    # FIXED_NEWSTYLE|NO_ZEROES
        self.s.sendall(struct.pack(">QII", 0x49484156454F5054, 1, 0))
        esize, _ = struct.unpack(">QH", self.recv(10))
        if esize != size:
            raise BenchError("writer: export of %d bytes" % esize)
        self.size, self.rate, self.block = size, rate, block
        self.halt = threading.Event()
        self.lat = []
        self.late = 0
        self.error = None

    def recv(self, n):
        b = b""
        while len(b) < n:
            c = self.s.recv(n - len(b))
            if not c:
                raise BenchError("writer: the server closed")
            b += c
        return b

    def run(self):
        rnd = random.Random(12)
        data = os.urandom(4 * MiB)
        interval = self.block / self.rate
        t0 = time.monotonic()
        i = 0
        try:
            while not self.halt.is_set():
                due = t0 + i * interval
                now = time.monotonic()
                if due > now:
                    time.sleep(due - now)
                elif now - due > interval:
                    self.late += 1
                off = rnd.randrange(self.size // self.block) * self.block
                p = rnd.randrange(len(data) - self.block)
                t = time.monotonic()
                self.s.sendall(struct.pack(">IHHQQI", 0x25609513, 0, 1, i,
                                           off, self.block) +
                               data[p:p + self.block])
                magic, err, _ = struct.unpack(">IIQ", self.recv(16))
                if magic != 0x67446698 or err:
                    raise BenchError("writer: write error %d" % err)
                self.lat.append(time.monotonic() - t)
                i += 1
            self.s.sendall(struct.pack(">IHHQQI", 0x25609513, 0, 2, i, 0, 0))
        except Exception as e:              # reported by stop()
            self.error = e
        finally:
            self.s.close()

    def stop(self):
        self.halt.set()
        self.join()
        if self.error:
            raise BenchError(str(self.error))


class Bench:
    def __init__(self, builddir, size, extent):
        self.builddir = builddir
        self.size, self.extent = size, extent
        base = os.environ.get("TMPDIR") or "/var/tmp"
        self.tmp = tempfile.mkdtemp(prefix="xm-bench-mirror.", dir=base)
        self.sr_dir = os.path.join(self.tmp, "sr")
        os.mkdir(self.sr_dir)
        self.sr = str(uuid.uuid4())
        self.tool = os.path.join(builddir, "tests/vdi/sr-tool")
        self.plugin = os.path.join(builddir, "vdi/nbdkit-xmvdi-plugin.so")
        run(self.tool, "create", "shared-file", self.sr_dir, self.sr)
        # the PSK as the daemon writes it, in a directory of its own for
        # QEMU's tls-creds-psk (which reads DIR/keys.psk)
        self.psk_dir = os.path.join(self.tmp, "psk")
        os.mkdir(self.psk_dir, 0o700)
        self.psk = os.path.join(self.psk_dir, "keys.psk")
        fd = os.open(self.psk, os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, ("%s:%s\n" % (PSK_IDENTITY, os.urandom(32).hex()))
                 .encode())
        os.close(fd)
        self.procs = []
        self.src = None

    # ---- VDIs and services ----------------------------------------------

    def vdi(self):
        u = str(uuid.uuid4())
        run(self.tool, "vdi-create", "shared-file", self.sr_dir, self.sr, u,
            str(self.size))
        return u

    def vdi_destroy(self, u):
        os.unlink(self.raw(u))
        os.unlink(os.path.join(self.sr_dir, u + ".meta"))

    def raw(self, u):
        return os.path.join(self.sr_dir, u + ".raw")

    def make_src(self):
        """The source: extent bytes of random data, then a hole of extent
        bytes, and so on over the VDI; on disk before anything is timed."""
        self.src = self.vdi()
        fd = os.open(self.raw(self.src), os.O_WRONLY)
        try:
            for off in range(0, self.size, 2 * self.extent):
                for o in range(off, off + self.extent, 16 * MiB):
                    os.pwrite(fd, os.urandom(16 * MiB), o)
            os.fdatasync(fd)
        finally:
            os.close(fd)

    def nbdkit(self, name, u, listen, params=()):
        """Our plugin under nbdkit, in the foreground as our child, its log
        in NAME.err; returns once its pid file is written (it listens)."""
        pidfile = os.path.join(self.tmp, name + ".pid")
        if os.path.exists(pidfile):
            os.unlink(pidfile)
        err = open(os.path.join(self.tmp, name + ".err"), "w")
        p = subprocess.Popen(
            ["nbdkit", "-f", "--log=stderr", "--pidfile", pidfile] + listen +
            [self.plugin, "sr_type=shared-file", "sr_uuid=" + self.sr,
             "location=" + self.sr_dir, "vdi=" + u, "mode=rw",
             "lock=connection"] + list(params),
            stdout=subprocess.DEVNULL, stderr=err)
        err.close()
        self.procs.append(p)
        t0 = time.monotonic()
        while not (os.path.exists(pidfile) and os.path.getsize(pidfile)):
            if p.poll() is not None or time.monotonic() - t0 > 10:
                raise BenchError("nbdkit %s did not start: %s" %
                                 (name, self.log_of(name)))
            time.sleep(0.01)
        return p

    def log_of(self, name):
        with open(os.path.join(self.tmp, name + ".err")) as f:
            return f.read()[-500:]

    def serve_src(self, ctl=False):
        """The source as xm-poold serves a VM's disk (daemon/pd_blk.c):
        one thread per connection, on a unix socket; with the mirror's
        control socket."""
        sock = os.path.join(self.tmp, "src.sock")
        if os.path.exists(sock):
            os.unlink(sock)
        params = ["ctl=" + os.path.join(self.tmp, "src.ctl")] if ctl else []
        p = self.nbdkit("src", self.src, ["--threads=1", "-U", sock], params)
        return p, "nbd+unix:///?socket=" + sock

    def serve_dst(self, u, tls):
        """A fresh target as xm-poold exports a VDI to a peer
        (xa_blk_export): TCP, TLS with a PSK, the limit filter (4 clients),
        our plugin's peer check; here on 127.0.0.1.  Its NBD URI."""
        for _ in range(5):
            port = free_port()
            listen = ["-i", "127.0.0.1", "-p", str(port)]
            if tls:
                listen += ["--tls=require", "--tls-psk=" + self.psk]
            try:
                p = self.nbdkit("dst", u, listen + ["--filter=limit"],
                                ["peer=127.0.0.1", "limit=4"])
                break
            except BenchError as e:
                if "in use" not in str(e):
                    raise
        else:
            raise BenchError("no free port for the target")
        if tls:
            uri = "nbds://%s@127.0.0.1:%d/?tls-psk-file=%s" % (
                PSK_IDENTITY, port, self.psk)
        else:
            uri = "nbd://127.0.0.1:%d/" % port
        return p, port, uri

    def stop(self, p):
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs.remove(p)

    def check(self, u):
        """The target after a copy: allocation and differing MiB."""
        return {"dst_alloc": allocated(self.raw(u)),
                "mismatch_mib": differing_mib(self.raw(self.src),
                                              self.raw(u))}

    # ---- the copies -------------------------------------------------------

    def ours(self, tls, writer_rate=0, hold_s=0):
        """One mirror to a fresh target: start .. complete returning."""
        u = self.vdi()
        dst, _, uri = self.serve_dst(u, tls)
        src, src_uri = self.serve_src(ctl=True)
        ctl = Ctl(os.path.join(self.tmp, "src.ctl"))
        w = None
        res = {}
        try:
            if writer_rate:
                w = Writer(src_uri[len("nbd+unix:///?socket="):], self.size,
                           writer_rate)
                w.start()
                time.sleep(1)           # the guest was busy before
            t0 = time.monotonic()
            st = ctl("start", "uri=" + uri, "target_zeroed=1")
            # Poll with wait.  Its timeout is short because whether the
            # mirror is actively synced is taken when wait is called, not
            # from the caller (vdi/mirror.c mirror_wait): a mirror that
            # becomes actively synced between two waits shows only at the
            # timeout.  100 ms bounds what that adds.
            while not st["synced"]:
                if st["state"] not in ("copying", "synced"):
                    raise BenchError("mirror %s: %s" %
                                     (st["state"], st["reason"]))
                st = ctl("wait", "state=" + st["state"],
                         "gen=%d" % st["gen"], "timeout_ms=100")
            t_sync = time.monotonic() - t0
            if w:
                time.sleep(hold_s)      # write-blocking writes for a while
                w.stop()
            st = ctl("complete", "gen=%d" % st["gen"])
            t = time.monotonic() - t0
            if st["state"] != "completed":
                raise BenchError("complete: %r" % st)
            ctl("stop")
            t_extra = time.monotonic()
            fdatasync(self.raw(u))      # ~0: complete flushed the target
            t_extra = time.monotonic() - t_extra
            res = {"s": t, "sync_s": t_sync, "fdatasync_after_s": t_extra,
                   "status": st}
            if w:
                res["writer"] = w
                w = None
        finally:
            if w:
                w.halt.set()
                w.join()
            self.stop(src)
            self.stop(dst)
        res.update(self.check(u))
        self.vdi_destroy(u)
        return res

    def nbdcopy(self, tls, from_file):
        """nbdcopy from the source (served by our plugin, or the raw file
        itself) to a fresh target: told that the target is zero, flushing
        it at the end (as complete does), its default connections and
        requests."""
        u = self.vdi()
        dst, _, uri = self.serve_dst(u, tls)
        src = None
        try:
            if from_file:
                src_uri = self.raw(self.src)
            else:
                src, src_uri = self.serve_src()
            t0 = time.monotonic()
            run("nbdcopy", "--destination-is-zero", "--flush", src_uri, uri)
            fdatasync(self.raw(u))
            t = time.monotonic() - t0
        finally:
            if src:
                self.stop(src)
            self.stop(dst)
        res = {"s": t}
        res.update(self.check(u))
        self.vdi_destroy(u)
        return res

    def cp(self):
        """cp --sparse=always of the raw file in the same directory, then
        fdatasync: no NBD, no network, the local limit."""
        dst = os.path.join(self.sr_dir, "cp.raw")
        t0 = time.monotonic()
        run("cp", "--sparse=always", self.raw(self.src), dst)
        fdatasync(dst)
        t = time.monotonic() - t0
        res = {"s": t, "dst_alloc": allocated(dst),
               "mismatch_mib": differing_mib(self.raw(self.src), dst)}
        os.unlink(dst)
        return res

    def qemu(self, tls):
        """QEMU's blockdev-mirror, sync=full, of the source's raw file to a
        fresh target served as ours is: from the target's blockdev-add to
        BLOCK_JOB_COMPLETED after block-job-complete at BLOCK_JOB_READY,
        then fdatasync of the target file (as for every tool)."""
        u = self.vdi()
        dst, port, _ = self.serve_dst(u, tls)
        qmp_sock = os.path.join(self.tmp, "qmp.sock")
        argv = ["qemu-system-x86_64", "-M", "none", "-nodefaults",
                "-no-user-config", "-display", "none",
                "-qmp", "unix:%s,server=on,wait=off" % qmp_sock]
        if tls:
            argv += ["-object", "tls-creds-psk,id=tls0,endpoint=client,"
                     "dir=%s,username=%s" % (self.psk_dir, PSK_IDENTITY)]
        err = open(os.path.join(self.tmp, "qemu.err"), "w")
        q = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err)
        err.close()
        self.procs.append(q)
        qmp = None
        try:
            t0 = time.monotonic()
            while not os.path.exists(qmp_sock):
                if q.poll() is not None or time.monotonic() - t0 > 10:
                    raise BenchError("QEMU did not start: " +
                                     self.log_of("qemu"))
                time.sleep(0.01)
            qmp = Qmp(qmp_sock)
            qmp.cmd("blockdev-add", driver="raw", **{"node-name": "src"},
                    file={"driver": "file",
                          "filename": self.raw(self.src)})
            target = {"driver": "nbd", "node-name": "dst",
                      "server": {"type": "inet", "host": "127.0.0.1",
                                 "port": str(port)}}
            if tls:
                target["tls-creds"] = "tls0"
            t0 = time.monotonic()
            qmp.cmd("blockdev-add", **target)
            qmp.cmd("blockdev-mirror", **{"job-id": "m"}, device="src",
                    target="dst", sync="full")
            qmp.event("BLOCK_JOB_READY", 600)
            qmp.cmd("block-job-complete", device="m")
            ev = qmp.event("BLOCK_JOB_COMPLETED", 60)
            if ev.get("data", {}).get("error"):
                raise BenchError("QEMU mirror: %s" % ev["data"]["error"])
            fdatasync(self.raw(u))
            t = time.monotonic() - t0
            qmp.cmd("blockdev-del", **{"node-name": "dst"})
        finally:
            if qmp:
                qmp.close()
            self.stop(q)
            self.stop(dst)
        res = {"s": t}
        res.update(self.check(u))
        self.vdi_destroy(u)
        return res

    def close(self):
        for p in list(self.procs):
            self.stop(p)
        shutil.rmtree(self.tmp, ignore_errors=True)


class Qmp:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(path)
        self.f = self.sock.makefile("rwb")
        self.events = []
        self._read(None)                # the greeting
        self.cmd("qmp_capabilities")

    def _read(self, deadline):
        self.sock.settimeout(None if deadline is None else
                             max(0.01, deadline - time.monotonic()))
        line = self.f.readline()
        if not line:
            raise BenchError("QMP: QEMU closed the connection")
        return json.loads(line)

    def cmd(self, name, **args):
        self.f.write(json.dumps({"execute": name, "arguments": args})
                     .encode() + b"\n")
        self.f.flush()
        while True:
            r = self._read(time.monotonic() + 60)
            if "event" in r:
                self.events.append(r)
                continue
            if "error" in r:
                raise BenchError("QMP %s: %s" % (name, r["error"]))
            return r.get("return")

    def event(self, name, timeout):
        deadline = time.monotonic() + timeout
        while True:
            for i, e in enumerate(self.events):
                if e["event"] == name:
                    return self.events.pop(i)
                if e["event"] == "BLOCK_JOB_ERROR" or (
                        e["event"] == "BLOCK_JOB_COMPLETED" and
                        name != e["event"]):
                    raise BenchError("QEMU mirror: %r" % e)
            try:
                self.events.append(self._read(deadline))
            except socket.timeout:
                raise BenchError("QMP: no %s in %d s" % (name, timeout))

    def close(self):
        try:
            self.f.close()
            self.sock.close()
        except OSError:
            pass


def med(runs, key="s"):
    return statistics.median(r[key] for r in runs)


def version(*cmd):
    try:
        out = subprocess.run(cmd, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True).stdout
        return out.splitlines()[0].strip() if out else None
    except OSError:
        return None


def idle(b, a):
    """storage.mirror: the idle VDI, RUNS runs of each, interleaved."""
    qemu_skip = None if shutil.which("qemu-system-x86_64") else \
        "qemu-system-x86_64 not found"
    r = {k: [] for k in ("ours", "nbdcopy_plugin", "nbdcopy_file", "cp",
                         "qemu")}
    load_before = load()
    for i in range(a.runs):
        r["ours"].append(b.ours(a.tls))
        log("run %d ours %.2f s (synced at %.2f s)" %
            (i, r["ours"][-1]["s"], r["ours"][-1]["sync_s"]))
        r["nbdcopy_plugin"].append(b.nbdcopy(a.tls, False))
        r["nbdcopy_file"].append(b.nbdcopy(a.tls, True))
        r["cp"].append(b.cp())
        log("run %d nbdcopy %.2f / %.2f s, cp %.2f s" %
            (i, r["nbdcopy_plugin"][-1]["s"], r["nbdcopy_file"][-1]["s"],
             r["cp"][-1]["s"]))
        if not qemu_skip:
            try:
                r["qemu"].append(b.qemu(a.tls))
                log("run %d qemu %.2f s" % (i, r["qemu"][-1]["s"]))
            except BenchError as e:
                qemu_skip = "QEMU blockdev-mirror failed: %s" % e
                log(qemu_skip)
    ours = med(r["ours"])
    st = r["ours"][-1]["status"]
    res = {"bench": "storage.mirror", "vdi_bytes": b.size,
           "src_alloc": allocated(b.raw(b.src)),
           "layout": "%d MiB data / %d MiB hole" % (b.extent // MiB,
                                                     b.extent // MiB),
           "path": "TCP 127.0.0.1, " + ("TLS-PSK" if a.tls else "no TLS") +
           ", target: nbdkit + our plugin, --filter=limit",
           "runs": a.runs, "load_before": load_before,
           "ours_s": round(ours, 3),
           "ours_sync_s": round(med(r["ours"], "sync_s"), 3),
           "ours_fdatasync_after_s":
           round(max(x["fdatasync_after_s"] for x in r["ours"]), 3),
           "ours_mib_s": round((st["sent"] / MiB) / ours, 1),
           "ours_sent": st["sent"], "ours_zeroed": st["zeroed"],
           "ours_requests": st["requests"], "ours_passes": st["passes"],
           "ours_dst_alloc": max(x["dst_alloc"] for x in r["ours"]),
           "ours_mismatch_mib": max(x["mismatch_mib"] for x in r["ours"])}
    for k in ("nbdcopy_plugin", "nbdcopy_file", "cp", "qemu"):
        if not r[k]:
            continue
        res[k + "_s"] = round(med(r[k]), 3)
        res[k + "_dst_alloc"] = max(x["dst_alloc"] for x in r[k])
        res[k + "_mismatch_mib"] = max(x["mismatch_mib"] for x in r[k])
        res["ratio_" + k] = round(med(r[k]) / ours, 3)
    if qemu_skip:
        res["qemu_skipped"] = qemu_skip
    # the sceptic's baseline: the faster way of serving nbdcopy's source
    best = min(("nbdcopy_plugin", "nbdcopy_file"), key=lambda k: med(r[k]))
    res.update({"baseline": "nbdcopy from " +
                ("our plugin" if best == "nbdcopy_plugin" else "the raw file")
                + " --destination-is-zero --flush",
                "baseline_s": res[best + "_s"],
                "ratio": round(med(r[best]) / ours, 3),
                "goal": 0.8})
    ok = all(x["mismatch_mib"] == 0 for v in r.values() for x in v)
    res["identical"] = ok
    emit(res)
    return ok


def busy(b, a):
    """storage.mirror_busy: the same mirror while a writer writes."""
    load_before = load()
    x = b.ours(a.tls, writer_rate=a.busy_mib_s * MiB, hold_s=a.hold_s)
    st, w = x["status"], x["writer"]
    lat = sorted(w.lat)

    def avg(n, ns):
        return round(ns / n / 1e3, 1) if n else None

    res = {"bench": "storage.mirror_busy", "vdi_bytes": b.size,
           "writer": "%d MiB/s of random 64 KiB writes, one at a time, "
           "through our plugin's unix socket" % a.busy_mib_s,
           "load_before": load_before,
           "total_s": round(x["s"], 3), "sync_s": round(x["sync_s"], 3),
           "hold_synced_s": a.hold_s,
           "sent": st["sent"], "zeroed": st["zeroed"],
           "sent_per_vdi": round(st["sent"] / b.size, 3),
           "passes": st["passes"],
           "writes_copying": st["writes_copying"],
           "wlat_copying_us": avg(st["writes_copying"],
                                  st["wlat_copying_ns"]),
           "wmax_copying_us": round(st["wmax_copying_ns"] / 1e3, 1),
           "writes_synced": st["writes_synced"],
           "wlat_synced_us": avg(st["writes_synced"], st["wlat_synced_ns"]),
           "wmax_synced_us": round(st["wmax_synced_ns"] / 1e3, 1),
           "client_writes": len(lat), "client_late": w.late,
           "client_p50_us": round(lat[len(lat) // 2] * 1e6, 1),
           "client_p99_us": round(lat[len(lat) * 99 // 100] * 1e6, 1),
           "dst_alloc": x["dst_alloc"],
           "src_alloc": allocated(b.raw(b.src)),
           "mismatch_mib": x["mismatch_mib"]}
    emit(res)
    return x["mismatch_mib"] == 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--builddir", required=True)
    ap.add_argument("--size-mib", type=int, default=4096)
    ap.add_argument("--extent-mib", type=int, default=64)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-tls", dest="tls", action="store_false")
    ap.add_argument("--no-busy", dest="busy", action="store_false")
    ap.add_argument("--busy-mib-s", type=int, default=16)
    ap.add_argument("--hold-s", type=float, default=3.0,
                    help="busy: seconds of write-blocking writes before "
                    "the writer stops and complete is sent")
    a = ap.parse_args()
    for t in ("nbdkit", "nbdcopy", "cmp", "cp"):
        if not shutil.which(t):
            emit({"bench": "storage.mirror", "skipped": t + " not found"})
            return 0
    for f in ("tests/vdi/sr-tool", "vdi/nbdkit-xmvdi-plugin.so"):
        if not os.path.exists(os.path.join(a.builddir, f)):
            emit({"bench": "storage.mirror", "skipped": f + " not built"})
            return 0
    b = Bench(a.builddir, a.size_mib * MiB, a.extent_mib * MiB)
    ok = True
    try:
        emit({"bench": "storage.mirror.env", "cores": os.cpu_count(),
              "tmpdir": b.tmp, "nbdkit": version("nbdkit", "--version"),
              "nbdcopy": version("nbdcopy", "--version"),
              "qemu": version("qemu-system-x86_64", "--version")})
        b.make_src()
        ok = idle(b, a)
        if a.busy:
            ok = busy(b, a) and ok
    finally:
        b.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""bench_storage.py - the block service's NBD path against its peers (run
as bench/bench-storage by `make bench`).  One JSON object per line.

storage.nbd: a 1 GiB sparse VDI of a shared-file SR, written from a 1 GiB
file of random bytes (in the page cache) and read back to nothing, with
nbdcopy over one connection (64 requests in flight), through

  - ours:     nbdkit with our plugin, on a unix socket;
  - qemu-nbd: serving the same kind of file (a fresh VDI's data file), the
              best peer server (raw, its default cache mode), on a unix
              socket;
  - file:     dd with 4 MiB blocks between the files directly (the write
              ending in fdatasync, as nbdcopy ends in FLUSH): no NBD at
              all, the limit of the path.

Each figure is the median of RUNS runs, each on a fresh VDI; ratios are
ours / qemu-nbd and ours / file.  Then the allocation-aware read: the same
VDI with only its first half written, read with block status (holes
skipped) against the full VDI's read (ratio_alloc = half / full, ideally
0.5) and against the half-written VDI read without block status.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

MiB = 1 << 20


def run(*args, **kw):
    return subprocess.run(args, check=True, stdout=subprocess.DEVNULL, **kw)


class Bench:
    def __init__(self, builddir, size_mib, runs):
        self.builddir = builddir
        self.size = size_mib * MiB
        self.runs = runs
        self.tmp = tempfile.mkdtemp(prefix="xm-bench-storage.")
        self.sr_dir = os.path.join(self.tmp, "sr")
        os.mkdir(self.sr_dir)
        self.sr = str(uuid.uuid4())
        self.tool = os.path.join(builddir, "tests/vdi/sr-tool")
        self.plugin = os.path.join(builddir, "vdi/nbdkit-xmvdi-plugin.so")
        run(self.tool, "create", "shared-file", self.sr_dir, self.sr)
        self.src = os.path.join(self.tmp, "src.img")
        with open(self.src, "wb") as f:
            for _ in range(self.size // (64 * MiB)):
                f.write(os.urandom(64 * MiB))
        self.server = None

    def vdi(self):
        u = str(uuid.uuid4())
        run(self.tool, "vdi-create", "shared-file", self.sr_dir, self.sr, u,
            str(self.size))
        return u

    def raw(self, u):
        return os.path.join(self.sr_dir, u + ".raw")

    def serve(self, kind, u):
        sock = os.path.join(self.tmp, "%s.sock" % kind)
        if os.path.exists(sock):
            os.unlink(sock)
        if kind == "ours":
            cmd = ["nbdkit", "-f", "-U", sock, self.plugin,
                   "sr_type=shared-file", "sr_uuid=" + self.sr,
                   "location=" + self.sr_dir, "vdi=" + u]
        else:
            cmd = ["qemu-nbd", "-t", "-f", "raw", "-k", sock, self.raw(u)]
        self.server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
        while not os.path.exists(sock):
            if self.server.poll() is not None:
                raise RuntimeError("%s did not start" % kind)
            time.sleep(0.01)
        return "nbd+unix:///?socket=" + sock

    def stop(self):
        self.server.terminate()
        self.server.wait()
        self.server = None

    def copy(self, src, dst, *opts):
        t0 = time.monotonic()
        run("nbdcopy", "--connections=1", "--requests=64", *opts, src, dst)
        return time.monotonic() - t0

    def dd(self, src, dst, *opts):
        t0 = time.monotonic()
        run("dd", "if=" + src, "of=" + dst, "bs=4M", "status=none", *opts)
        return time.monotonic() - t0

    def one(self, kind):
        """(write s, read s) of one run on a fresh VDI."""
        u = self.vdi()
        if kind == "file":
            w = self.dd(self.src, self.raw(u), "conv=notrunc,fdatasync")
            r = self.dd(self.raw(u), "/dev/null")
        else:
            uri = self.serve(kind, u)
            try:
                w = self.copy(self.src, uri)
                r = self.copy(uri, "null:")
            finally:
                self.stop()
        os.unlink(self.raw(u))
        os.unlink(os.path.join(self.sr_dir, u + ".meta"))
        return w, r

    def nbd(self):
        res = {}
        for kind in ("file", "qemu_nbd", "ours"):
            ws, rs = zip(*(self.one("qemu" if kind == "qemu_nbd" else kind)
                           for _ in range(self.runs)))
            mib = self.size / MiB
            res[kind + "_write_mib_s"] = round(mib / statistics.median(ws), 1)
            res[kind + "_read_mib_s"] = round(mib / statistics.median(rs), 1)
        for op in ("write", "read"):
            ours = res["ours_%s_mib_s" % op]
            res["ratio_%s" % op] = round(ours / res["qemu_nbd_%s_mib_s" % op],
                                         3)
            res["ratio_%s_file" % op] = round(ours / res["file_%s_mib_s" % op],
                                              3)
        return res

    def alloc(self):
        full, half = self.vdi(), self.vdi()
        with open(self.src, "rb") as s, open(self.raw(full), "r+b") as f:
            shutil.copyfileobj(s, f, 16 * MiB)
        with open(self.src, "rb") as s, open(self.raw(half), "r+b") as f:
            f.write(s.read(self.size // 2))
        times = {}
        for name, u, opts in (("full", full, ()), ("half", half, ()),
                              ("half_no_extents", half, ("--no-extents",))):
            uri = self.serve("ours", u)
            try:
                times[name] = statistics.median(
                    self.copy(uri, "null:", *opts) for _ in range(self.runs))
            finally:
                self.stop()
        return {
            "full_read_ms": round(times["full"] * 1e3, 1),
            "half_read_ms": round(times["half"] * 1e3, 1),
            "half_read_no_extents_ms": round(times["half_no_extents"] * 1e3,
                                             1),
            "ratio_alloc": round(times["half"] / times["full"], 3),
        }

    def close(self):
        if self.server:
            self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--builddir", required=True)
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    for tool in ("nbdkit", "nbdcopy", "qemu-nbd"):
        if not shutil.which(tool):
            print(json.dumps({"bench": "storage.nbd",
                              "skipped": tool + " not found"}))
            return 0
    b = Bench(a.builddir, a.size_mib, a.runs)
    try:
        common = {"size_mib": a.size_mib, "runs": a.runs, "connections": 1,
                  "requests": 64}
        print(json.dumps(dict({"bench": "storage.nbd"}, **common, **b.nbd())))
        sys.stdout.flush()
        print(json.dumps(dict({"bench": "storage.nbd.alloc"}, **common,
                              **b.alloc())))
    finally:
        b.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

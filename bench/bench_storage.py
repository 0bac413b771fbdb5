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

storage.io (one line per disk_batch, 4 and 8): the test guest's disk
workload under xm-vmm (kvm engine) on a fresh sparse VDI of IO_MIB MiB
served by our plugin on a unix socket: disk_rate_mib=max over the whole
VDI, the memory workload idle (rate=0), disk_stop_after=IO_WRITES.  Per
block the guest reads and checks 4 KiB, then writes 4 KiB, disk_batch
requests per notify, a FLUSH (our backend: fdatasync) every 256 writes
(docs/specs/guest-abi.md section 6.5).  Measured by the guest itself with
its TSC (section 6.6), from its summary lines on the console:

  - ours_write_mib_s: writes x 4 KiB / the guest's disk time, from the
    first request's submit to the last completion (reads and flushes
    included, boot excluded; ours_wall_s is the host's wall time from
    starting xm-vmm to the guest's exit, boot included, for a check);
  - ours_p50_us, ours_p99_us: of the write batches' latency, submit to
    all-complete, from the guest's log-linear histogram (within 1/16).

Baseline, same run: fio on a fresh sparse file of the same size in the
same SR directory, the closest it comes to the guest's cycle:
rw=readwrite rwmixread=50 bs=4k (sequential reads and writes, each
direction with its own offset, so every block is read and written once
per pass, though not strictly read-then-write), buffered, fdatasync=256,
io_size = 2 x IO_WRITES x 4 KiB, with three engines: libaio and io_uring
at iodepth = disk_batch submitted and reaped disk_batch at a time (the
guest's batches), and psync.  Each figure is the median of IO_RUNS runs,
ours and fio's interleaved.

  - throughput: baseline is the engine with the highest write MiB/s in
    this run (buffered libaio and psync copy inside the system call: the
    page cache's own speed); ratio = ours / baseline;
  - latency: against fio libaio at the guest's queue depth and batching
    (latency_baseline), fio's total latency of a write (lat_ns, submit to
    completion) at p50 and p99; ratio_p50, ratio_p99 = ours / fio.  The
    guest's figure is a batch's (it completes when its last request
    does), fio's one write's in a batch submitted and reaped together.
    psync's per-write latency (fio_psync_p99_us) is one write alone, not
    a batch, so it is shown but not compared.
  - the NBD path without a VM (nbd_path_*): bench/nbd_cycle does the
    guest's exact cycle (read a batch, write it, FLUSH every 256 writes)
    as a plain libnbd client against our backend on a fresh VDI;
    ratio_nbd_path = ours / it tells the VM's share (exits, the device)
    from the NBD transport's own.  fio's completion latency
    (clat_ns) is shown too: buffered libaio writes complete inside
    io_submit, so it leaves the copy out.

load_before/load_after are the 1-minute load average.
"""
import argparse
import json
import os
import re
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
        self.server = None

    def make_src(self):
        with open(self.src, "wb") as f:
            for _ in range(self.size // (64 * MiB)):
                f.write(os.urandom(64 * MiB))

    def vdi(self, size=None):
        u = str(uuid.uuid4())
        run(self.tool, "vdi-create", "shared-file", self.sr_dir, self.sr, u,
            str(size or self.size))
        return u

    def vdi_destroy(self, u):
        os.unlink(self.raw(u))
        os.unlink(os.path.join(self.sr_dir, u + ".meta"))

    def raw(self, u):
        return os.path.join(self.sr_dir, u + ".raw")

    def serve(self, kind, u):
        sock = os.path.join(self.tmp, "%s.sock" % kind)
        if os.path.exists(sock):
            os.unlink(sock)
        if kind == "ours":
            # as xm-poold runs a VM's disk (daemon/pd_blk.c)
            cmd = ["nbdkit", "-f", "--threads=1", "-U", sock, self.plugin,
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
        self.vdi_destroy(u)
        return w, r

    def nbd(self):
        self.make_src()
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

    # ---- storage.io -------------------------------------------------------

    def guest(self, u, size_mib, batch, writes, timeout):
        """The guest's summary of one disk workload on VDI u, and the wall
        seconds from starting xm-vmm to the guest's exit."""
        uri = self.serve("ours", u)
        run_dir = os.path.join(self.tmp, "run")
        os.makedirs(run_dir, exist_ok=True)
        log = os.path.join(self.tmp, "vmm-%d.log" % batch)
        cmdline = ("rate=0 disk_rate_mib=max disk_ws_mib=%d disk_batch=%d "
                   "disk_stop_after=%d" % (size_mib, batch, writes))
        t0 = time.monotonic()
        with open(log, "w") as err:
            vmm = subprocess.Popen(
                [os.path.join(self.builddir, "vmm/xm-vmm"), "--engine", "kvm",
                 "--run-dir", run_dir, "--mem-mib", "128",
                 "--kernel", os.path.join(self.builddir, "guest/xm-guest.elf"),
                 "--cmdline", cmdline, "--disk", uri],
                stdout=subprocess.DEVNULL, stderr=err)
        try:
            text = ""
            while "guest exited with code" not in text:
                if vmm.poll() is not None:
                    raise RuntimeError("xm-vmm exited: " + text[-500:])
                if time.monotonic() - t0 > timeout:
                    raise RuntimeError("guest did not finish in %d s" %
                                       timeout)
                time.sleep(0.02)
                with open(log) as f:
                    text = f.read()
            wall = time.monotonic() - t0
        finally:
            vmm.terminate()
            vmm.wait()
            self.stop()
        return parse_guest(text), wall

    def fio(self, engine, size_mib, batch, writes):
        """fio's write figures for one engine on a fresh sparse file."""
        path = os.path.join(self.sr_dir, "fio-%s.raw" % engine)
        with open(path, "wb") as f:
            f.truncate(size_mib * MiB)
        depth = ["--iodepth=1"] if engine == "psync" else [
            "--iodepth=%d" % batch, "--iodepth_batch_submit=%d" % batch,
            "--iodepth_batch_complete_min=%d" % batch]
        try:
            out = subprocess.run(
                ["fio", "--name=storage-io", "--filename=" + path,
                 "--size=%dM" % size_mib, "--bs=4k", "--rw=readwrite",
                 "--rwmixread=50", "--ioengine=" + engine] + depth +
                ["--fdatasync=256", "--io_size=%dk" % (2 * writes * 4),
                 "--fallocate=none", "--lat_percentiles=1",
                 "--output-format=json"],
                check=True, stdout=subprocess.PIPE).stdout
        finally:
            os.unlink(path)
        w = json.loads(out)["jobs"][0]["write"]
        pct = w["lat_ns"]["percentile"]
        clat = w["clat_ns"]["percentile"]
        return {"mib_s": w["bw_bytes"] / MiB,
                "p50_us": pct["50.000000"] / 1e3,
                "p99_us": pct["99.000000"] / 1e3,
                "clat_p50_us": clat["50.000000"] / 1e3,
                "clat_p99_us": clat["99.000000"] / 1e3,
                "writes": w["total_ios"]}

    def io_ours(self, size_mib, batch, writes, timeout):
        u = self.vdi(size_mib * MiB)
        try:
            g, wall = self.guest(u, size_mib, batch, writes, timeout)
        finally:
            self.vdi_destroy(u)
        if g["writes"] != writes or g["mismatches"] or g["errors"]:
            raise RuntimeError("guest run not clean: %r" % g)
        return {"write_mib_s":
                g["writes"] * 4096 / MiB / (g["disk_us"] / 1e6),
                "p50_us": g["p50_ns"] / 1e3, "p99_us": g["p99_ns"] / 1e3,
                "max_us": g["max_ns"] / 1e3, "disk_s": g["disk_us"] / 1e6,
                "wall_s": wall, "flushes": g["flushes"]}

    def io_nbd_path(self, size_mib, batch, writes):
        """The guest's cycle by a plain libnbd client on our backend: the
        NBD path's own cost, no VM (bench/nbd_cycle.c)."""
        u = self.vdi(size_mib * MiB)
        try:
            uri = self.serve("ours", u)
            out = subprocess.run(
                [os.path.join(self.builddir, "bench/nbd_cycle"), uri,
                 str(batch), str(writes), str(size_mib * MiB)],
                check=True, stdout=subprocess.PIPE, timeout=600).stdout
        finally:
            self.stop()
            self.vdi_destroy(u)
        return json.loads(out)

    def io(self, size_mib, batch, writes, runs, timeout):
        res = {"disk_batch": batch, "vdi_mib": size_mib,
               "disk_ws_mib": size_mib, "writes": writes, "block_kib": 4,
               "flush_every": 256, "runs": runs, "load_before": load()}
        engines = ("libaio", "io_uring", "psync") if shutil.which("fio") \
            else ()
        ours, fio, path = [], {e: [] for e in engines}, []
        # interleaved, so that ours and fio see the same machine
        for _ in range(runs):
            ours.append(self.io_ours(size_mib, batch, writes, timeout))
            path.append(self.io_nbd_path(size_mib, batch, writes))
            for e in engines:
                fio[e].append(self.fio(e, size_mib, batch, writes))
        o = med(ours)
        res.update({"ours_" + k: round(v, 3 if k in ("disk_s", "wall_s")
                                       else 1) for k, v in o.items()})
        p = med(path)
        res.update({"nbd_path_write_mib_s": round(p["write_mib_s"], 1),
                    "nbd_path_p50_us": round(p["p50_us"], 1),
                    "nbd_path_p99_us": round(p["p99_us"], 1),
                    "ratio_nbd_path": round(o["write_mib_s"] /
                                            p["write_mib_s"], 3)})
        if not engines:
            res["baseline"] = "none: fio not found"
            res["load_after"] = load()
            return res
        f = {e: med(fio[e]) for e in engines}
        for e in engines:
            for k in ("mib_s", "p50_us", "p99_us"):
                res["fio_%s_%s" % (e, "write_" + k if k == "mib_s" else k)] \
                    = round(f[e][k], 1)
        best = max(engines, key=lambda e: f[e]["mib_s"])
        lat = f["libaio"]
        res.update({"baseline": "fio " + best,
                    "baseline_write_mib_s": round(f[best]["mib_s"], 1),
                    "ratio": round(o["write_mib_s"] / f[best]["mib_s"], 3),
                    "latency_baseline": "fio libaio iodepth %d" % batch,
                    "baseline_p50_us": round(lat["p50_us"], 1),
                    "baseline_p99_us": round(lat["p99_us"], 1),
                    "baseline_clat_p50_us": round(lat["clat_p50_us"], 1),
                    "baseline_clat_p99_us": round(lat["clat_p99_us"], 1),
                    "baseline_writes": round(lat["writes"]),
                    "ratio_p50": round(o["p50_us"] / lat["p50_us"], 2),
                    "ratio_p99": round(o["p99_us"] / lat["p99_us"], 2),
                    "load_after": load()})
        return res

    def close(self):
        if self.server:
            self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


SUMMARY = re.compile(r"xm-guest: disk writes (\d+) reads (\d+) flushes (\d+) "
                     r"mismatches (\d+) errors (\d+)")
LATENCY = re.compile(r"xm-guest: disk write batches (\d+) latency ns p50 "
                     r"(\d+) p99 (\d+) max (\d+) mean (\d+) disk time us "
                     r"(\d+)")


def parse_guest(text):
    """The guest's two summary lines (guest-abi.md 6.5, 6.6) as numbers."""
    s, l = SUMMARY.search(text), LATENCY.search(text)
    if not s or not l:
        raise RuntimeError("no disk summary from the guest: " + text[-500:])
    g = dict(zip(("writes", "reads", "flushes", "mismatches", "errors"),
                 map(int, s.groups())))
    g.update(zip(("batches", "p50_ns", "p99_ns", "max_ns", "mean_ns",
                  "disk_us"), map(int, l.groups())))
    return g


def med(runs):
    """The median of each figure over a list of runs' dicts."""
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def load():
    return round(os.getloadavg()[0], 2)


def kvm_usable():
    try:
        os.close(os.open("/dev/kvm", os.O_RDWR))
        return True
    except OSError:
        return False


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--builddir", required=True)
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", choices=("nbd", "io"),
                    help="run only storage.nbd(.alloc) or storage.io")
    ap.add_argument("--io-mib", type=int, default=256,
                    help="storage.io: VDI size and working set (MiB)")
    ap.add_argument("--io-writes", type=int, default=50000,
                    help="storage.io: the guest's disk_stop_after")
    ap.add_argument("--io-batch", type=int, action="append",
                    help="storage.io: disk_batch (repeatable; 4 and 8)")
    ap.add_argument("--io-runs", type=int, default=3,
                    help="storage.io: runs per disk_batch (medians)")
    a = ap.parse_args()
    if a.only != "io":
        nbd(a)
        sys.stdout.flush()
    if a.only != "nbd":
        io(a)
    return 0


def nbd(a):
    for tool in ("nbdkit", "nbdcopy", "qemu-nbd"):
        if not shutil.which(tool):
            print(json.dumps({"bench": "storage.nbd",
                              "skipped": tool + " not found"}))
            return
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


def io(a):
    why = None
    if not kvm_usable():
        why = "/dev/kvm not usable"
    elif not shutil.which("nbdkit"):
        why = "nbdkit not found"
    else:
        for f in ("vmm/xm-vmm", "guest/xm-guest.elf", "tests/vdi/sr-tool",
                  "vdi/nbdkit-xmvdi-plugin.so"):
            if not os.path.exists(os.path.join(a.builddir, f)):
                why = f + " not built"
    if why:
        print(json.dumps({"bench": "storage.io", "skipped": why}))
        return
    b = Bench(a.builddir, a.io_mib, 1)
    try:
        for batch in a.io_batch or (4, 8):
            # the guest at a few thousand writes a second: a minute is ample
            print(json.dumps(dict({"bench": "storage.io"},
                                  **b.io(a.io_mib, batch, a.io_writes,
                                         a.io_runs,
                                         60 + a.io_writes // 1000))))
            sys.stdout.flush()
    finally:
        b.close()


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""bench_sxm.py - storage live migration of a running VM to another host
(VM.migrate_send with a vdi_map) against a memory-only migration of the
same VM (VM.pool_migrate, its disk on a shared SR): storage.sxm of issue
12 (run as bench/bench-sxm by `make bench`; bench_sxm.sh's header says how
each figure is measured).  One JSON object per line on stdout, nothing
else (diagnostics on stderr).  Standard library and
tests/pool/pool_client.py only.
"""
import argparse
import glob
import hashlib
import json
import os
import random
import sys
import threading
import time

from xml.parsers.expat import ExpatError

import benchpool
from benchpool import BenchError, PASSWORD, Pool, log, version

MiB = 1 << 20


def load():
    return round(os.getloadavg()[0], 2)


def emit(obj):
    obj["loadavg"] = load()
    print(json.dumps(obj), flush=True)


def median(v):
    v = sorted(x for x in v if x is not None)
    if not v:
        return None
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def r3(x):
    return None if x is None else round(x, 3)


def allocated(path):
    return os.stat(path).st_blocks * 512


class Bench:
    def __init__(self, a, pool):
        self.a = a
        self.p = pool
        self.size = a.disk_mib * MiB
        self.extent = a.extent_mib * MiB
        self.n_ext = max(1, a.data_mib // a.extent_mib)
        # The guest writes the first disk_ws_mib of its disk: our data
        # starts after it, spread evenly over the rest.
        self.head = -(-a.disk_ws_mib * MiB // self.extent) * self.extent
        stride = (self.size - self.head) // self.n_ext
        self.stride = stride - stride % MiB
        if self.stride < self.extent:
            raise BenchError("--data-mib does not fit in --disk-mib")
        self.cmdline = ("ws_mib=%d rate_mib=%d disk_rate_mib=%d "
                        "disk_ws_mib=%d" % (a.ws_mib, a.rate_mib,
                                            a.disk_rate_mib, a.disk_ws_mib))
        self.rng = random.Random(12)

    def setup(self):
        p = self.p
        for n in (2, 3):
            p.start(n)
        benchpool.pc.Session(3).call("pool.join", "127.0.0.2", "root", PASSWORD)
        s = self.s = benchpool.pc.Session(2)
        hosts = {h["address"]: r
                 for r, h in s.call("host.get_all_records").items()}
        self.h = {2: hosts["127.0.0.2"], 3: hosts["127.0.0.3"]}
        self.loc = {}
        for name in ("l2", "l3", "shared"):
            self.loc[name] = os.path.join(p.tmp, name)
            os.makedirs(self.loc[name])
        self.sr = {
            "l2": s.call("SR.create", self.h[2], {"location": self.loc["l2"]},
                         0, "local 2", "", "file", "user", False, {}),
            "l3": s.call("SR.create", self.h[3], {"location": self.loc["l3"]},
                         0, "local 3", "", "file", "user", False, {}),
            "shared": s.call("SR.create", self.h[2],
                             {"location": self.loc["shared"]}, 0, "shared",
                             "", "shared-file", "user", True, {})}

    def raw(self, sr, vdi):
        return os.path.join(self.loc[sr], self.s.call("VDI.get_uuid", vdi) +
                            ".raw")

    def fill(self, path):
        """n_ext extents of random bytes, each followed by a hole; returns
        their SHA-256 digests."""
        digests = []
        fd = os.open(path, os.O_WRONLY)
        try:
            for i in range(self.n_ext):
                buf = self.rng.randbytes(self.extent)
                os.pwrite(fd, buf, self.head + i * self.stride)
                digests.append(hashlib.sha256(buf).hexdigest())
            os.fdatasync(fd)
        finally:
            os.close(fd)
        return digests

    def intact(self, path, digests):
        with open(path, "rb") as f:
            for i, d in enumerate(digests):
                f.seek(self.head + i * self.stride)
                if hashlib.sha256(f.read(self.extent)).hexdigest() != d:
                    return False
        return True

    def boot(self, sr, name):
        """A VM with one disk on sr, filled, started on host 2 and warmed
        up.  Returns (vm, vbd, vdi, uuid, digests)."""
        s = self.s
        vdi = s.call("VDI.create", {"SR": self.sr[sr],
                                    "virtual_size": str(self.size),
                                    "name_label": name + " disk"})
        t0 = time.monotonic()
        digests = self.fill(self.raw(sr, vdi))
        log("%s: %d MiB written into its VDI in %.1f s" %
            (name, self.n_ext * self.extent // MiB, time.monotonic() - t0))
        vm = s.call("VM.create", {
            "name_label": name,
            "memory_static_max": str(self.a.mem_mib * MiB),
            "VCPUs_max": "1",
            "other_config": {"xm:cmdline": self.cmdline}})
        vbd = s.call("VBD.create", {"VM": vm, "VDI": vdi, "userdevice": "0"})
        self.p.vms.append(vm)
        s.call("VM.start_on", vm, self.h[2], False, False)
        uuid = s.call("VM.get_uuid", vm)
        benchpool.pc.wait_until(lambda: int(self.status(2, uuid)["disk_writes"]) > 0
                      and int(self.status(2, uuid)["heartbeats"]) > 0, 60,
                      "the guest's first disk writes and heartbeats")
        time.sleep(self.a.warmup_s)
        return vm, vbd, vdi, uuid, digests

    @staticmethod
    def status(n, uuid):
        return benchpool.pc.host_local(n, "vm_status", uuid)

    def after(self, uuid, res):
        """The guest on host 3 after its move: running, writing, its
        ledgers clean."""
        st = self.status(3, uuid)
        w0, hb0 = int(st["disk_writes"]), int(st["hb_last_seq"])
        time.sleep(self.a.after_s)
        st = self.status(3, uuid)
        res.update({
            "running_on": [n for n in (2, 3)
                           if self.status(n, uuid)["running"]],
            "disk_writes_after": int(st["disk_writes"]) - w0,
            "heartbeats_after": int(st["hb_last_seq"]) - hb0,
            "disk_writes_total": int(st["disk_writes"]),
            "disk_reads_total": int(st["disk_reads"]),
            "disk_mismatches": int(st["disk_mismatches"]),
            "disk_errors": int(st["disk_errors"]),
            "mem_mismatches": int(st["mismatches"])})

    def teardown(self, vm, vbd):
        s = self.s
        vdi = s.call("VBD.get_VDI", vbd)
        s.call("VM.hard_shutdown", vm)
        self.p.vms.remove(vm)
        for call, ref in (("VBD.destroy", vbd), ("VDI.destroy", vdi),
                          ("VM.destroy", vm)):
            try:
                s.call(call, ref)
            except benchpool.pc.Failure as e:
                log("%s %s: %s" % (call, ref, e))

    @staticmethod
    def engine(rec, res):
        """The source engine's figures: the task's result (its JSON line,
        mig_stats_json)."""
        try:
            st = json.loads(benchpool.pc.task_result(rec["result"]))
        except (TypeError, ValueError, ExpatError):
            raise BenchError("task result is not the engine's JSON: %r" %
                             (rec.get("result"),))
        for k in ("downtime_ms", "guest_downtime_ms", "guest_src_gap_ms",
                  "guest_switch_gap_ms", "guest_dst_gap_ms"):
            res[k] = r3(st.get(k))
        res.update({"hb_continuous": st.get("hb_continuous"),
                    "engine_total_ms": r3(st.get("total_ms")),
                    "mem_bytes_sent": st.get("bytes_sent"),
                    "rounds": st.get("rounds"),
                    "forced_stop": st.get("forced_stop"),
                    "digest_equal": st.get("digest_equal")})

    def wait(self, task, res):
        rec = self.s.wait_task(task, self.a.timeout_s)
        res["total_s"] = r3(time.monotonic() - res.pop("_t0"))
        if rec["status"] != "success":
            raise BenchError("%s: %s %r" % (res["kind"], rec["status"],
                                            rec["error_info"]))
        self.engine(rec, res)

    def memory_only(self, run):
        """VM.pool_migrate of the VM with its disk on the shared SR."""
        vm, vbd, vdi, uuid, _ = self.boot("shared", "vm-mem-%d" % run)
        res = {"kind": "memory_only", "run": run,
               "disk_alloc": allocated(self.raw("shared", vdi)),
               "load_before": load()}
        res["_t0"] = time.monotonic()
        task = self.s.call("Async.VM.pool_migrate", vm, self.h[3], {})
        self.wait(task, res)
        self.after(uuid, res)
        log("memory-only run %d: %s" % (run, res))
        self.teardown(vm, vbd)
        return res

    def poll_mirror(self, vm_uuid, src_uuid, stop, out):
        """The source mirror's status from host 2 (host_local.
        vdi_motion_status, as the master asks it) every poll_ms until
        stop; out gets the last answer and the first synced one."""
        s = benchpool.pc.Session(2)
        dst = None
        while not stop.is_set():
            try:
                if dst is None:
                    v = s.call("SR.get_VDIs", self.sr["l3"])
                    if v:
                        dst = s.call("VDI.get_uuid", v[0])
                        out["t_dst"] = time.monotonic()
                else:
                    st = benchpool.pc.host_local(2, "vdi_motion_status", vm_uuid, 0,
                                       src_uuid, dst, "", 0, False)
                    st["t"] = time.monotonic()
                    out["last"] = st
                    out["polls"] = out.get("polls", 0) + 1
                    if st["synced"] and "synced" not in out:
                        out["synced"] = st
            except (OSError, benchpool.pc.Failure):
                pass    # not started yet, or already stopped
            stop.wait(self.a.poll_ms / 1000.0)

    def sxm(self, run):
        """VM.migrate_send of the VM with its disk on host 2's local SR,
        the disk mapped to host 3's."""
        vm, vbd, vdi, uuid, digests = self.boot("l2", "vm-sxm-%d" % run)
        s = self.s
        src_path = self.raw("l2", vdi)
        src_uuid = s.call("VDI.get_uuid", vdi)
        res = {"kind": "sxm", "run": run, "disk_alloc": allocated(src_path),
               "load_before": load()}
        dest = s.call("Host.migrate_receive", self.h[3], "OpaqueRef:NULL",
                      {})
        stop, mirror = threading.Event(), {}
        th = threading.Thread(target=self.poll_mirror,
                              args=(uuid, src_uuid, stop, mirror))
        res["_t0"] = t0 = time.monotonic()
        th.start()
        try:
            task = s.call("Async.VM.migrate_send", vm, dest, True,
                          {vdi: self.sr["l3"]}, {}, {})
            self.wait(task, res)
        finally:
            stop.set()
            th.join()
        last, syn = mirror.get("last"), mirror.get("synced")
        if not last:
            raise BenchError("never saw the mirror's status")
        res.update({
            "disk_bytes_sent": int(last["sent"]),
            "disk_sent_per_alloc": round(int(last["sent"]) /
                                         res["disk_alloc"], 3),
            "disk_mirror_state_last": last["state"],
            "disk_sync_s": r3(syn["t"] - t0) if syn else None,
            "disk_bytes_sent_at_sync": int(syn["sent"]) if syn else None,
            "mirror_polls": mirror.get("polls", 0)})
        t_end = time.monotonic()
        new = s.call("VBD.get_VDI", vbd)
        new_path = self.raw("l3", new)

        def vdi_gone():
            try:
                s.call("VDI.get_record", vdi)
                return False
            except benchpool.pc.Failure as e:
                return bool(e.desc) and e.desc[0] == "HANDLE_INVALID"

        res.update({
            "vbd_on_new_vdi": new != vdi and
            s.call("VDI.get_SR", new) == self.sr["l3"],
            "src_vdi_gone_at_end": vdi_gone(),
            "src_file_gone_at_end": not os.path.exists(src_path)})
        # The master destroys the source VDI once the migration is
        # settled, which may be after the task says success.
        try:
            benchpool.pc.wait_until(lambda: vdi_gone() and
                          not os.path.exists(src_path), 60,
                          "the source VDI and its file gone")
            res["src_gone_s"] = r3(time.monotonic() - t_end)
        except TimeoutError:
            res["src_gone_s"] = None
        self.after(uuid, res)
        res["dst_alloc"] = allocated(new_path)
        res["data_intact"] = self.intact(new_path, digests)
        log("sxm run %d: %s" % (run, res))
        self.teardown(vm, vbd)
        return res


def summary(b, a, mem, sxm):
    def med(rs, k):
        return r3(median([r[k] for r in rs]))

    res = {"bench": "storage.sxm", "hv": b.p.hv, "runs": a.runs,
           "vm_mem_mib": a.mem_mib, "disk_mib": a.disk_mib,
           "disk_layout": "%d x %d MiB random after the guest's first %d "
                          "MiB, every %d MiB" % (b.n_ext, a.extent_mib,
                                                 b.head // MiB,
                                                 b.stride // MiB),
           "guest_cmdline": b.cmdline,
           "path": "loopback 127.0.0.2 -> 127.0.0.3, the daemons' own "
                   "channels (XenAPI over plain HTTP)",
           "sxm_total_s": med(sxm, "total_s"),
           "memory_only_total_s": med(mem, "total_s"),
           "ratio": r3(median([r["total_s"] for r in sxm]) /
                       median([r["total_s"] for r in mem])),
           "sxm_guest_downtime_ms": med(sxm, "guest_downtime_ms"),
           "memory_only_guest_downtime_ms": med(mem, "guest_downtime_ms"),
           "sxm_downtime_ms": med(sxm, "downtime_ms"),
           "memory_only_downtime_ms": med(mem, "downtime_ms"),
           "sxm_guest_switch_gap_ms": med(sxm, "guest_switch_gap_ms"),
           "memory_only_guest_switch_gap_ms":
               med(mem, "guest_switch_gap_ms"),
           "sxm_disk_sync_s": med(sxm, "disk_sync_s"),
           "sxm_engine_total_ms": med(sxm, "engine_total_ms"),
           "memory_only_engine_total_ms": med(mem, "engine_total_ms"),
           "disk_alloc": max(r["disk_alloc"] for r in sxm),
           "disk_bytes_sent": max(r["disk_bytes_sent"] for r in sxm),
           "disk_bytes_sent_at_sync":
               max((r["disk_bytes_sent_at_sync"] or 0) for r in sxm),
           "disk_sent_per_alloc": med(sxm, "disk_sent_per_alloc"),
           "dst_alloc": max(r["dst_alloc"] for r in sxm),
           "sxm_mem_bytes_sent": med(sxm, "mem_bytes_sent"),
           "memory_only_mem_bytes_sent": med(mem, "mem_bytes_sent"),
           "disk_mismatches": max(r["disk_mismatches"] for r in mem + sxm),
           "disk_errors": max(r["disk_errors"] for r in mem + sxm),
           "mem_mismatches": max(r["mem_mismatches"] for r in mem + sxm),
           "hb_continuous": all(r["hb_continuous"] for r in mem + sxm),
           "data_intact": all(r["data_intact"] for r in sxm),
           "src_vdi_gone_at_end": all(r["src_vdi_gone_at_end"]
                                      for r in sxm),
           "src_file_gone_at_end": all(r["src_file_gone_at_end"]
                                       for r in sxm),
           "src_gone_s": max((r["src_gone_s"] or 0) for r in sxm)
           if all(r["src_gone_s"] is not None for r in sxm) else None,
           "sxm_total_s_all": [r["total_s"] for r in sxm],
           "memory_only_total_s_all": [r["total_s"] for r in mem],
           "sxm_guest_downtime_ms_all":
               [r["guest_downtime_ms"] for r in sxm],
           "memory_only_guest_downtime_ms_all":
               [r["guest_downtime_ms"] for r in mem]}
    res["ok"] = (res["disk_mismatches"] == 0 and res["disk_errors"] == 0 and
                 res["mem_mismatches"] == 0 and res["data_intact"] and
                 all(r["running_on"] == [3] and r["disk_writes_after"] > 0
                     for r in mem + sxm) and
                 all(r["vbd_on_new_vdi"] and r["src_gone_s"] is not None
                     for r in sxm))
    return res


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--builddir", required=True)
    ap.add_argument("--srcdir", default=os.path.dirname(here))
    ap.add_argument("--mem-mib", type=int, default=1024)
    ap.add_argument("--disk-mib", type=int, default=4096)
    ap.add_argument("--data-mib", type=int, default=1024)
    ap.add_argument("--extent-mib", type=int, default=64)
    ap.add_argument("--ws-mib", type=int, default=256)
    ap.add_argument("--rate-mib", type=int, default=64)
    ap.add_argument("--disk-rate-mib", type=int, default=16)
    ap.add_argument("--disk-ws-mib", type=int, default=64)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--warmup-s", type=float, default=5.0,
                    help="seconds the guest runs before its move")
    ap.add_argument("--after-s", type=float, default=3.0,
                    help="seconds the guest runs after its move before "
                    "its ledgers are read")
    ap.add_argument("--poll-ms", type=int, default=200)
    ap.add_argument("--timeout-s", type=float, default=900.0)
    ap.add_argument("--hv", choices=("kvm", "sim"),
                    help="default: kvm if /dev/kvm is usable, else sim")
    ap.add_argument("--keep", action="store_true",
                    help="keep the temporary directory")
    a = ap.parse_args()
    why = benchpool.cannot_run(a.builddir, (
        "daemon/xm-poold", "guest/xm-guest.elf",
        "vdi/nbdkit-xmvdi-plugin.so"), ("nbdkit",))
    if why:
        emit({"bench": "storage.sxm", "skipped": why})
        return 0
    benchpool.exit_on_signals()
    pool = Pool(a, "sxm")
    ok = False
    try:
        b = Bench(a, pool)
        emit({"bench": "storage.sxm.env", "cores": os.cpu_count(),
              "hv": pool.hv, "tmpdir": pool.tmp,
              "nbdkit": version("nbdkit", "--version")})
        b.setup()
        mem, sxm = [], []
        for run in range(a.runs):
            mem.append(b.memory_only(run))
            sxm.append(b.sxm(run))
        res = summary(b, a, mem, sxm)
        ok = res["ok"]
        emit(res)
    except (BenchError, benchpool.pc.Failure, TimeoutError) as e:
        log("failed: %r" % (e,))
        emit({"bench": "storage.sxm", "failed": str(e)[:500]})
        pool.tail_logs(sorted(glob.glob(os.path.join(
            pool.tmp, "h*", "run", "blk", "*.log"))))
    finally:
        pool.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

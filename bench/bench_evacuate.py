#!/usr/bin/env python3
"""bench_evacuate.py - host evacuation with the migration link capped:
pool.evacuate of issue 13 (run as bench/bench-evacuate by `make bench`;
bench_evacuate.sh's header says how each figure is measured).  One JSON
object per line on stdout, nothing else (diagnostics on stderr).
Standard library, bench/benchpool.py and tests/pool/pool_client.py only.
"""
import argparse
import json
import os
import sys
import time

from xml.parsers.expat import ExpatError

import benchpool
from benchpool import BenchError, Pool, log

MiB = 1 << 20
# The VMs: memory (MiB) and the rate (MiB/s) their guest dirties its
# working set, half its memory, at (written once first: prefill=1);
# idle to 64 MiB/s, 128 to 512 MiB.
VMS = [(128, 0), (160, 0), (192, 0), (224, 4), (256, 0), (288, 4),
       (320, 8), (352, 0), (384, 16), (416, 8), (448, 32), (512, 64)]


def emit(obj):
    obj["loadavg"] = round(os.getloadavg()[0], 2)
    print(json.dumps(obj), flush=True)


def pct(v, p):
    v = sorted(v)
    if not v:
        return None
    k = min(len(v) - 1, max(0, int(round(p / 100.0 * (len(v) - 1)))))
    return round(v[k], 3)


def stat(res, key):
    """key of a move's figures: its task's result, the engine's JSON as
    XML-RPC text (<value>...</value>, as XAPI keeps results)."""
    try:
        return json.loads(benchpool.pc.task_result(res)).get(key)
    except (TypeError, ValueError, ExpatError):
        return None


class Bench:
    def __init__(self, a, pool):
        self.a = a
        self.p = pool
        self.vms = []

    def setup(self):
        pc = benchpool.pc
        for n in (2, 3):
            self.p.start(n)
        pc.Session(3).call("pool.join", "127.0.0.2", "root",
                           benchpool.PASSWORD)
        s = self.s = pc.Session(2)
        hosts = {h["address"]: r
                 for r, h in s.call("host.get_all_records").items()}
        self.h = {2: hosts["127.0.0.2"], 3: hosts["127.0.0.3"]}
        for i, (mib, rate) in enumerate(VMS[:self.a.vms]):
            vm = s.call("VM.create", {
                "name_label": "evac-%d" % i,
                "memory_static_max": str(mib * MiB), "VCPUs_max": "1",
                "other_config": {"xm:cmdline": "ws_mib=%d rate_mib=%d "
                                 "prefill=1 hb_us=%d" %
                                 (mib // 2, rate, self.a.hb_us)}})
            s.call("VM.start_on", vm, self.h[3], False, False)
            self.p.vms.append(vm)
            self.vms.append((vm, s.call("VM.get_uuid", vm), mib))
        # Every working set written once before the first move.
        for vm, uuid, mib in self.vms:
            pc.wait_until(lambda: int(pc.host_local(3, "vm_status", uuid)
                                      ["pages_written"]) >= mib // 2 * 256,
                          120, "VM %s's working set" % uuid)
        time.sleep(self.a.warmup_s)

    def where(self):
        """The host number every VM is resident on (one, or an error)."""
        on = {self.s.call("VM.get_resident_on", vm) for vm, _, _ in self.vms}
        n = [k for k, h in self.h.items() if {h} == on]
        if not n:
            raise BenchError("the VMs are spread over %r" % (on,))
        return n[0]

    def run(self, batch):
        s = self.s
        src = self.where()
        host = self.h[src]
        bs = -1 if batch == "auto" else batch
        plan = s.call("host.evacuate_plan", host,
                      {"batch_size": str(self.a.cap_batch if bs < 0
                                         else bs)})
        before = set(s.call("task.get_all"))
        t0 = time.monotonic()
        task = s.call("Async.host.evacuate", host, "OpaqueRef:NULL", bs)
        rec = s.wait_task(task, self.a.timeout_s)
        total = time.monotonic() - t0
        if rec["status"] != "success":
            raise BenchError("evacuation with batch %s: %r" % (batch, rec))
        rep = json.loads(s.call("task.get_other_config", task)
                         ["xm:evacuation"])
        moves = [r for t, r in s.call("task.get_all_records").items()
                 if t not in before and r["name_label"] == "VM.pool_migrate"]
        sent = sum(stat(m["result"], "bytes_sent") or 0 for m in moves)
        down = [stat(m["result"], "guest_downtime_ms") or
                stat(m["result"], "downtime_ms") or 0 for m in moves]
        # What had to move: each VM's working set once (its other pages
        # are zero and cost no link time to speak of).
        data = sum(mib // 2 for _, _, mib in self.vms) * MiB
        bound = data / (self.a.cap_mib * MiB)
        bound_sent = sent / (self.a.cap_mib * MiB)
        spans = sorted((m["start_s"], m["end_s"]) for m in rep["migrated"])
        inflight = max(sum(1 for a, b in spans if a <= t < b)
                       for t, _ in spans) if spans else 0
        # auto's window is not known beforehand: no estimate to check.
        eta = plan.get("eta_s") if bs > 0 else None
        r = {"batch": batch, "from_host": src, "total_s": round(total, 3),
             "moves": len(moves), "data_mib": round(data / MiB, 1),
             "bytes_sent_mib": round(sent / MiB, 1),
             "bound_s": round(bound, 3),
             "ratio_bound": round(total / bound, 3) if bound else None,
             "bound_sent_s": round(bound_sent, 3),
             "ratio_sent": round(total / bound_sent, 3) if sent else None,
             "guest_downtime_p50_ms": pct(down, 50),
             "guest_downtime_p99_ms": pct(down, 99),
             "guest_downtime_max_ms": pct(down, 100),
             "most_in_flight": inflight,
             "plan_eta_s": eta if eta is not None and eta >= 0 else None,
             "eta_error": round(eta / total, 3)
             if eta is not None and eta > 0 else None,
             "batch_auto": rep.get("batch_auto")}
        for m in moves:
            log("  move: %s" % ({k: stat(m["result"], k) for k in (
                "total_ms", "bytes_sent", "rounds", "forced_stop",
                "downtime_ms", "guest_downtime_ms", "throttle_pct")},))
        for x in rep["migrated"]:
            log("  span: %.3f .. %.3f s" % (x["start_s"], x["end_s"]))
        log("batch %s: %r" % (batch, r))
        return r

    def ledgers(self):
        """Memory mismatches and heartbeat sequence breaks of every VM,
        summed, where it runs now."""
        n = self.where()
        mism = breaks = 0
        for _, uuid, _ in self.vms:
            st = benchpool.pc.host_local(n, "vm_status", uuid)
            mism += int(st.get("mismatches", 0))
            breaks += int(st.get("hb_seq_breaks", 0))
        return mism, breaks


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--builddir", required=True)
    ap.add_argument("--srcdir", default=os.path.dirname(here))
    ap.add_argument("--cap-mib", type=int, default=100,
                    help="migration-bandwidth-mib of each host")
    ap.add_argument("--vms", type=int, default=len(VMS))
    ap.add_argument("--batches", default="1,3,10,auto")
    ap.add_argument("--cap-batch", type=int, default=10,
                    help="evacuation-batch-size: auto's most in flight")
    ap.add_argument("--warmup-s", type=float, default=3.0)
    ap.add_argument("--hb-us", type=int, default=2000,
                    help="the guests' heartbeat period (each wakes a "
                    "vCPU: at 1 ms twelve guests take a core)")
    ap.add_argument("--timeout-s", type=float, default=600.0)
    ap.add_argument("--hv", choices=("kvm", "sim"),
                    help="default: kvm if /dev/kvm is usable, else sim")
    ap.add_argument("--keep", action="store_true",
                    help="keep the temporary directory")
    a = ap.parse_args()
    why = benchpool.cannot_run(a.builddir, ("daemon/xm-poold",
                                            "guest/xm-guest.elf"))
    if why:
        emit({"bench": "pool.evacuate", "skipped": why})
        return 0
    benchpool.exit_on_signals()
    pool = Pool(a, "evacuate", "migration-bandwidth-mib = %d\n"
                "evacuation-batch-size = %d\n" % (a.cap_mib, a.cap_batch))
    ok = False
    try:
        b = Bench(a, pool)
        b.setup()
        runs = [b.run(x if x == "auto" else int(x))
                for x in a.batches.split(",")]
        mism, breaks = b.ledgers()
        by = {r["batch"]: r for r in runs}
        auto, one = by.get("auto"), by.get(1)
        res = {"bench": "pool.evacuate", "hv": pool.hv, "vms": len(b.vms),
               "guest_mib": sum(m for _, _, m in b.vms),
               "cap_mib_s": a.cap_mib, "runs": runs,
               "mismatches": mism, "hb_seq_breaks": breaks,
               "opts": "2 hosts, each migration-bandwidth-mib=%d; the VMs "
               "evacuated back and forth, one batch size per run" %
               a.cap_mib}
        if auto and one:
            res["auto_ratio_bound"] = auto["ratio_bound"]
            res["goal_auto_within_1_1"] = (auto["ratio_bound"] or 99) <= 1.1
            res["goal_auto_p99_no_worse"] = (
                auto["guest_downtime_p99_ms"] <=
                one["guest_downtime_p99_ms"])
        ok = mism == 0
        emit(res)
    except (BenchError, benchpool.pc.Failure if benchpool.pc else BenchError,
            TimeoutError) as e:
        log("failed: %r" % (e,))
        emit({"bench": "pool.evacuate", "failed": str(e)[:500]})
        pool.tail_logs()
    finally:
        pool.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

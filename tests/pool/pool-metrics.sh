#!/bin/bash
# The classes GUIs list about hosts and VMs (issue 14), on a pool of two
# hosts offering 1024 and 512 MiB (2 is the master): each host has its
# host_metrics (host.metrics), live, with the memory its record and
# host.compute_free_memory say; its host_CPUs are this machine's
# processors (/proc/cpuinfo); its PIFs, one per network, on the network's
# bridge, the one of the pool-wide network with the host's address and
# management; network.PIFs has both hosts'.  A VM's VM_metrics
# (VM.metrics) follows VM.start_on (state, start_time, memory_actual,
# VCPUs_number) and hard_shutdown, in event.from, and goes with
# VM.destroy.  VM_guest_metrics and console have no objects:
# get_all_records {}, VM.guest_metrics OpaqueRef:NULL, VM.consoles [].
# Every wait is bounded and by state.
. "${XM_SRCDIR:-$(dirname "$0")/../..}/tests/pool/lib.sh"
pt_setup metrics
pt_start 2 vm-memory-mib=1024 host_check_interval=1 ||
    pt_bail "host 2 did not start"
pt_start 3 vm-memory-mib=512 || pt_bail "host 3 did not start"
pt_py <<'P'
import time
from pool_client import *
t = Tap()
MiB = 1 << 20
Session(3).call("pool.join", "127.0.0.2", "root", PASSWORD)
s = Session(2)
hosts = {h["address"]: r for r, h in s.call("host.get_all_records").items()}
h2, h3 = hosts["127.0.0.2"], hosts["127.0.0.3"]

# --- host_metrics
for h, mib in ((h2, 1024), (h3, 512)):
    m = s.call("host.get_metrics", h)
    rec = wait_until(lambda: (lambda r: r if r["live"] else None)(
        s.call("host_metrics.get_record", m)), 30, "host_metrics live")
    t.is_((int(rec["memory_total"]), int(rec["memory_free"])),
          (int(s.call("host.get_memory_total", h)),
           int(s.call("host.get_memory_free", h))),
          "host_metrics of %s: the host's memory_total and memory_free"
          % h[-6:])
    t.is_(int(rec["memory_total"]), mib * MiB, "  %d MiB" % mib)
    t.is_(int(s.call("host.compute_free_memory", h)),
          int(rec["memory_free"]), "  free as host.compute_free_memory "
          "says, no VM running")
    t.ok(rec["last_updated"] > "1970", "  last_updated set",
         rec["last_updated"])
    t.is_(s.call("host_metrics.get_by_uuid", rec["uuid"]), m,
          "  host_metrics.get_by_uuid")
t.is_(len(s.call("host_metrics.get_all")), 2, "one host_metrics per host")

# --- host_cpu
info = open("/proc/cpuinfo").read().split("\n\n")
procs = [b for b in info if b.startswith("processor")]
first = dict((k.strip(), v.strip()) for k, _, v in
             (l.partition(":") for l in procs[0].splitlines()))
for h in (h2, h3):
    cpus = wait_until(lambda: (lambda c: c if len(c) == len(procs) else
                               None)(s.call("host.get_host_CPUs", h)), 30,
                      "host_CPUs")
    recs = [s.call("host_cpu.get_record", c) for c in cpus]
    t.is_(sorted(int(r["number"]) for r in recs), list(range(len(procs))),
          "host %s: one host_cpu per processor (%d)" % (h[-6:], len(procs)))
    t.ok(all(r["host"] == h for r in recs), "  each names its host")
    t.is_((recs[0]["vendor"], recs[0]["modelname"], recs[0]["flags"]),
          (first.get("vendor_id", ""), first.get("model name", ""),
           first.get("flags", "")), "  vendor, modelname, flags of "
          "/proc/cpuinfo")

# --- PIF
nets = s.call("network.get_all_records")
pool_net = [r for r, n in nets.items()
            if n["name_label"] == "Pool-wide network"][0]
for h, addr in ((h2, "127.0.0.2"), (h3, "127.0.0.3")):
    pifs = wait_until(lambda: (lambda p: p if len(p) == len(nets) else
                               None)(s.call("host.get_PIFs", h)), 30, "PIFs")
    recs = {s.call("PIF.get_network", p): s.call("PIF.get_record", p)
            for p in pifs}
    t.is_(sorted(recs), sorted(nets), "host %s: one PIF per network"
          % addr)
    r = recs[pool_net]
    t.is_((r["host"], r["device"], r["IP"], r["management"],
           r["currently_attached"], r["ip_configuration_mode"]),
          (h, nets[pool_net]["bridge"], addr, True, True, "Static"),
          "  the pool-wide network's: its bridge, the host's address, "
          "management, attached")
t.is_(len(s.call("network.get_PIFs", pool_net)), 2,
      "network.PIFs: both hosts'")

# --- VM_metrics
vm = create_vm(s, "metrics-vm", 128 << 20)
vmm = s.call("VM.get_metrics", vm)
rec = s.call("VM_metrics.get_record", vmm)
t.is_((rec["memory_actual"], rec["VCPUs_number"], rec["state"]),
      ("0", "0", []), "a halted VM's VM_metrics: no memory, VCPUs, state")
t.ok(rec["install_time"] > "1970", "  install_time when it was made",
     rec["install_time"])
t.is_((s.call("VM.get_guest_metrics", vm), s.call("VM.get_consoles", vm)),
      ("OpaqueRef:NULL", []), "VM.guest_metrics null, VM.consoles empty")
token = s.call("event.from", ["VM_metrics"], "", 0)["token"]
before = time.strftime("%Y%m%dT%H:%M:%SZ", time.gmtime(time.time() - 2))
s.call("VM.start_on", vm, h3, False, False)
rec = s.call("VM_metrics.get_record", vmm)
t.is_((rec["memory_actual"], rec["VCPUs_number"], rec["state"]),
      (str(128 << 20), "1", ["running"]),
      "VM.start_on: memory_actual, VCPUs_number, state running")
t.ok(rec["start_time"] >= before, "  start_time now", rec["start_time"])
ev = s.call("event.from", ["VM_metrics"], token, 5.0)
t.ok(any(e["ref"] == vmm and e["operation"] == "mod" and
         e["snapshot"]["state"] == ["running"] for e in ev["events"]),
     "  in event.from", repr(ev["events"]))
s.call("VM.hard_shutdown", vm)
rec = s.call("VM_metrics.get_record", vmm)
t.is_((rec["memory_actual"], rec["state"]), ("0", []),
      "hard_shutdown: none again")
s.call("VM.destroy", vm)
t.fails_with(lambda: s.call("VM_metrics.get_record", vmm), "HANDLE_INVALID",
             "VM.destroy: its VM_metrics went with it")

# --- the classes with no objects
for c in ("VM_guest_metrics", "console"):
    t.is_(s.call(c + ".get_all_records"), {}, c + ".get_all_records: {}")
t.done()
P
pt_done

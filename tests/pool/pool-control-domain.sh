#!/bin/bash
# Each host's control domain is a VM record, as XAPI presents dom0: one
# per host (the master's at its first start, a member's when it joins),
# Running there, domid 0; no VM operation applies to it; it takes none of
# the host's VM memory; evacuation leaves it; pool.eject takes it away;
# xm-pool vm-list shows it only when asked.
. "${XM_SRCDIR:-$(dirname "$0")/../..}/tests/pool/lib.sh"
pt_setup control-domain
pt_start 2 || pt_bail "host 2 did not start"
pt_start 3 || pt_bail "host 3 did not start"
pt_py <<'P'
from pool_client import *
t = Tap()
free3 = int(Session(3).call("host.compute_free_memory",
                            Session(3).call("host.get_all")[0]))
Session(3).call("pool.join", "127.0.0.2", "root", PASSWORD)
t.ok(True, "a host joins though its control domain runs")
s = Session(2)
hosts = {h["address"]: r for r, h in s.call("host.get_all_records").items()}
h2, h3 = hosts["127.0.0.2"], hosts["127.0.0.3"]
doms = {r: v for r, v in s.call("VM.get_all_records").items()
        if v["is_control_domain"]}
t.is_(sorted(v["resident_on"] for v in doms.values()), sorted([h2, h3]),
      "one control domain per host, resident on it")
t.ok(all(v["power_state"] == "Running" and v["domid"] == "0" and
         v["name_label"].startswith("Control domain on host: ") and
         v["allowed_operations"] == [] for v in doms.values()),
     "Running, domid 0, XAPI's name, no allowed operation")
d3 = [r for r, v in doms.items() if v["resident_on"] == h3][0]
t.ok(s.call("VM_metrics.get_record", s.call("VM.get_metrics", d3)),
     "with its VM_metrics")
for name, call in (("VM.start", lambda: s.call("VM.start", d3, False, False)),
                   ("VM.hard_shutdown", lambda: s.call("VM.hard_shutdown", d3)),
                   ("VM.clean_shutdown",
                    lambda: s.call("VM.clean_shutdown", d3)),
                   ("VM.destroy", lambda: s.call("VM.destroy", d3)),
                   ("VM.pool_migrate",
                    lambda: s.call("VM.pool_migrate", d3, h2, {}))):
    t.fails_with(call, "OPERATION_NOT_ALLOWED", name + " of it: refused")
t.ok(int(s.call("host.compute_free_memory", h3)) >= free3 - (64 << 20),
     "it takes none of the host's VM memory")
vm = create_vm(s)
s.call("VM.start_on", vm, h3, False, False)
s.call("host.disable", h3)
s.call("host.evacuate", h3)
t.is_(sorted(s.call("host.get_resident_VMs", h3)), [d3],
      "evacuation moves the VMs, leaves the control domain")
t.is_(s.call("VM.get_resident_on", vm), h2, "the VM went to host 2")
s.call("VM.hard_shutdown", vm)
s.call("pool.eject", h3)
t.fails_with(lambda: s.call("VM.get_record", d3), "HANDLE_INVALID",
             "pool.eject takes the host's control domain away")
t.is_([v["resident_on"] for v in s.call("VM.get_all_records").values()
       if v["is_control_domain"]], [h2], "the master's stays")
t.done()
P
pt_cli_login 2
pt_is "$(x vm-list --minimal | tr ',' '\n' | grep -c .)" 1 \
    "vm-list shows the VM, not the control domain"
pt_is "$(x vm-list is-control-domain=true params=name-label |
         sed 's/^[^:]*: //; /^$/d')" "Control domain on host: $(hostname)" \
    "vm-list is-control-domain=true shows it"
pt_done

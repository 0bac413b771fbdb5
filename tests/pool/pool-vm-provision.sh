#!/bin/bash
# VM.provision, as XAPI clients install a VM from a template: the VM's
# other_config:disks (<provision><disk device= size= sr= bootable=/>)
# becomes VDIs and VBDs, on the SR named or the pool's default SR, and the
# key goes; bad XML or an unknown SR fails with nothing made (no orphan
# VDI); a running VM is refused.
. "${XM_SRCDIR:-$(dirname "$0")/../..}/tests/pool/lib.sh"
pt_setup vm-provision
command -v nbdkit >/dev/null || pt_skip_all "nbdkit is missing"
pt_start 2 || pt_bail "host 2 did not start"
mkdir -p "$PT_TMP/a" "$PT_TMP/b"
pt_py <<'P'
import os
from pool_client import *
t = Tap()
tmp = os.environ["PT_TMP"]
MiB = 1 << 20
s = Session(2)
h2 = s.call("host.get_all")[0]
pool = s.call("pool.get_all")[0]
a = s.call("SR.create", h2, {"location": tmp + "/a"}, 0, "a", "", "file",
           "user", False, {})
b = s.call("SR.create", h2, {"location": tmp + "/b"}, 0, "b", "", "file",
           "user", False, {})
s.call("pool.set_default_SR", pool, b)

def vm_with(disks, name="vm"):
    return s.call("VM.create", {"name_label": name, "memory_static_max":
                                str(256 * MiB), "VCPUs_max": "1",
                                "other_config": {"disks": disks}})

xml = ('<provision><disk device="0" size="%d" sr="%s" bootable="true" '
       'type="system"/><disk device="1" size="%d" sr="" bootable="false" '
       'type="system"/></provision>' % (16 * MiB, s.call("SR.get_uuid", a),
                                        8 * MiB))
vm = vm_with(xml)
s.call("VM.provision", vm)
vbds = sorted((s.call("VBD.get_record", v) for v in s.call("VM.get_VBDs", vm)),
              key=lambda r: r["userdevice"])
t.is_([(r["userdevice"], r["bootable"]) for r in vbds],
      [("0", True), ("1", False)], "VM.provision: disks 0 (bootable) and 1")
vdis = [s.call("VDI.get_record", r["VDI"]) for r in vbds]
t.is_([(v["SR"], int(v["virtual_size"])) for v in vdis],
      [(a, 16 * MiB), (b, 8 * MiB)],
      "on the SR named, and the pool's default SR for sr=\"\"")
t.ok(all(os.path.exists("%s/%s/%s.raw" % (tmp, d, v["uuid"]))
         for d, v in zip(("a", "b"), vdis)), "both on their media")
t.ok("disks" not in s.call("VM.get_other_config", vm),
     "other_config:disks is gone: provisioned once")
s.call("VM.provision", vm)
t.is_(len(s.call("VM.get_VBDs", vm)), 2, "a second VM.provision adds none")

nvdis = len(s.call("VDI.get_all"))
bad = vm_with("<provision><disk device='0' size='lots'/></provision>", "bad")
t.fails_with(lambda: s.call("VM.provision", bad), "INVALID_VALUE",
             "a size that is not a number: INVALID_VALUE")
t.fails_with(lambda: s.call("VM.provision", vm_with("<not xml", "bad2")),
             "INVALID_VALUE", "XML that does not parse: INVALID_VALUE")
half = vm_with('<provision><disk device="0" size="%d" sr=""/>'
               '<disk device="1" size="%d" sr="%s"/></provision>'
               % (MiB, MiB, "00000000-0000-4000-8000-00000000dead"), "half")
t.fails_with(lambda: s.call("VM.provision", half), "UUID_INVALID",
             "a disk on an unknown SR: UUID_INVALID")
t.is_((len(s.call("VDI.get_all")), s.call("VM.get_VBDs", half)),
      (nvdis, []), "all or nothing: the first disk's VDI and VBD are gone")
t.ok("disks" in s.call("VM.get_other_config", half),
     "and the VM keeps its other_config:disks")

s.call("VM.start", vm, False, False)
t.fails_with(lambda: s.call("VM.provision", vm), "VM_BAD_POWER_STATE",
             "a running VM: VM_BAD_POWER_STATE")
s.call("VM.hard_shutdown", vm)
t.done()
P
pt_done

#!/bin/bash
# A host exports a VDI over TCP for a peer (what storage migration's
# mirror writes through): TLS required with the fresh pre-shared key the
# export answers, only the peer's address let in.  nbdcopy and nbdinfo
# (libnbd) write and read through it; a client without TLS, with a wrong
# key, or from another address is refused; unexport ends it.
. "${XM_SRCDIR:-$(dirname "$0")/../..}/tests/pool/lib.sh"
pt_setup vdi-export
for t in nbdkit nbdinfo nbdcopy; do
    command -v $t >/dev/null || pt_skip_all "$t is missing"
done
pt_start 2 || pt_bail "host 2 did not start"
mkdir -p "$PT_TMP/shared"
pt_py <<'P'
import glob, os, subprocess
from pool_client import *
t = Tap()
tmp = os.environ["PT_TMP"]
MiB = 1 << 20
s = Session(2)
h2 = s.call("host.get_all")[0]
sr = s.call("SR.create", h2, {"location": tmp + "/shared"}, 0, "shared", "",
            "shared-file", "user", True, {})
vdi = s.call("VDI.create", {"SR": sr, "virtual_size": str(4 * MiB)})
vu = s.call("VDI.get_uuid", vdi)
disk = {"vdi": vu, "sr_type": "shared-file", "sr_uuid": s.call("SR.get_uuid",
        sr), "device_config": {"location": tmp + "/shared"}, "mode": "RW"}

def nbd(*args):
    return subprocess.run(args, capture_output=True, text=True, timeout=60)

def psk_file(name, key):
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write("xm-pool:%s\n" % key)
    os.chmod(path, 0o600)
    return path

# Our client's connections to 127.0.0.2 come from 127.0.0.1.
ex = host_local(2, "vdi_export", disk, "127.0.0.2", "127.0.0.1")
port = int(ex["port"])
t.ok(port > 0 and ex["psk_identity"] == "xm-pool" and len(ex["psk"]) == 64,
     "vdi_export answers a port and a fresh 256-bit key", repr(ex))
good = psk_file("good.psk", ex["psk"])
uri = "nbds://xm-pool@127.0.0.2:%d/?tls-psk-file=%s" % (port, good)
r = nbd("nbdinfo", "--size", uri)
t.is_(r.stdout.strip(), str(4 * MiB), "nbdinfo over TLS sees the VDI")
data = os.urandom(MiB)
with open(os.path.join(tmp, "data"), "wb") as f:
    f.write(data + bytes(3 * MiB))
r = nbd("nbdcopy", os.path.join(tmp, "data"), uri)
t.is_(r.returncode, 0, "nbdcopy writes it over TLS" +
      ("" if r.returncode == 0 else ": " + r.stderr))
with open("%s/shared/%s.raw" % (tmp, vu), "rb") as f:
    t.ok(f.read(MiB) == data, "the bytes are on the VDI")

r = nbd("nbdinfo", "--size", "nbd://127.0.0.2:%d/" % port)
t.ok(r.returncode != 0, "a client without TLS is refused", r.stdout)
bad = psk_file("bad.psk", "00" * 32)
r = nbd("nbdinfo", "--size",
        "nbds://xm-pool@127.0.0.2:%d/?tls-psk-file=%s" % (port, bad))
t.ok(r.returncode != 0, "a wrong key is refused", r.stdout)
t.fails_with(lambda: host_local(2, "vdi_export", disk, "127.0.0.2",
                                "127.0.0.1"),
             "INTERNAL_ERROR", "a second export of the VDI is refused")
host_local(2, "vdi_unexport", vu)
r = nbd("nbdinfo", "--size", uri)
t.ok(r.returncode != 0, "after vdi_unexport nothing answers", r.stdout)
t.is_(glob.glob("%s/h2/run/blk/export-*.p[is][dk]" % tmp), [],
      "and its pid and key files are gone (its log stays)")

ex = host_local(2, "vdi_export", disk, "127.0.0.2", "127.0.0.9")
other = psk_file("other.psk", ex["psk"])
r = nbd("nbdinfo", "--size", "nbds://xm-pool@127.0.0.2:%s/?tls-psk-file=%s"
        % (ex["port"], other))
t.ok(r.returncode != 0, "an export for 127.0.0.9 refuses us (127.0.0.1), "
     "key or not", r.stdout)
host_local(2, "vdi_unexport", vu)
log = open("%s/h2/run/blk/export-%s.log" % (tmp, vu)).read()
t.ok("client 127.0.0.1 refused: this export is for one peer only" in log,
     "before TLS, saying so in the export's log", log[-300:])
t.done()
P
pt_done

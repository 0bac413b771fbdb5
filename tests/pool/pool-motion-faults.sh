#!/bin/bash
# Storage motion when its target fails: the target SR fills up, the link
# from the source's mirror to the destination's export is cut, the
# export's backend dies.  Host 2 is the master; the VM runs on host 3
# with its disk on host 3's local SR (l3); host 4 has l4; t3 and t4 are
# SRs of hosts 3 and 4 on one small tmpfs.  Each fault at a named state:
#  A. VDI.pool_migrate l3 -> t3 (one host): the copy held at
#     vdi.mirror.copy in the source's backend while a file that is no VDI
#     fills the tmpfs (an SR's free space counts every VDI at its virtual
#     size, so a VDI that fits has room for its data: only another tenant
#     of the filesystem fills it under a copy); let go, the target
#     answers ENOSPC: MIRROR_FAILED, the VM on its disk;
#  B. the same with VM.migrate_send to host 4's t4;
#  C. VM.migrate_send to l4, the copy held, the mirror's TCP connections
#     to host 4's export killed (ss -K): the mirror resumes from its
#     bitmap, the VM moves to host 4 with its disk;
#  D. back to l3, the master held once the mirror is actively synced
#     (pd.sxm.synced), the connections killed: the write-blocking mirror
#     fails at the guest's next write; the master checks its mirrors
#     once more before the memory moves and resumes it from its bitmap:
#     the VM moves to host 3 with its disk;
#  D2. to l4, the master held once the receiver is prepared
#     (pd.master.prepared, after that check), the connections killed: the
#     source's precommit refuses to complete the failed mirror (another
#     generation), the migration fails, the VM stays on host 3 on its
#     disk;
#  E. to l4 again, the copy held, host 4's export backend killed
#     (SIGKILL): the master has host 4 export the VDI again (a new port
#     and key) and the mirror resumes there from its bitmap: the VM moves
#     to host 4 with its disk.
# After each: the VM runs on exactly one host, its VBD names the disk it
# runs on, which is the only VDI (and the only files) of the four SRs; the
# guest's disk and memory ledgers are clean; no export, no block service
# but the disk's, no motion tag; the migration settled.
. "${XM_SRCDIR:-$(dirname "$0")/../..}/tests/pool/lib.sh"
pt_setup motion-faults
command -v nbdkit >/dev/null || pt_skip_all "nbdkit is missing"
command -v ss >/dev/null || pt_skip_all "ss (iproute2) is missing"

# The tmpfs, outside PT_TMP: pt_cleanup removes PT_TMP, then we unmount.
MF_MNT=$(mktemp -d "${TMPDIR:-/tmp}/xm-pool-motion-sr.XXXXXX") ||
    pt_bail "mktemp failed"
mf_cleanup()
{
    pt_cleanup
    if mountpoint -q "$MF_MNT"; then
        umount "$MF_MNT" 2>/dev/null || umount -l "$MF_MNT"
    fi
    rmdir "$MF_MNT"
}
trap mf_cleanup EXIT
MF_WHY=
if ! mount -t tmpfs -o size=48m,mode=0700 xm-pool-motion "$MF_MNT" \
    2>"$PT_TMP/mount.err"; then
    MF_WHY="no tmpfs: $(head -n 1 "$PT_TMP/mount.err")"
    pt_diag "cases A and B need a small tmpfs ($MF_WHY)"
fi
export MF_MNT MF_WHY
pt_skip() { PT_N=$((PT_N + 1)); printf 'ok %d # SKIP %s\n' "$PT_N" "$1"; }

pt_start 2 host_check_interval=1 || pt_bail "host 2 did not start"
pt_start 3 || pt_bail "host 3 did not start"
pt_start 4 || pt_bail "host 4 did not start"
mkdir -p "$PT_TMP/l3" "$PT_TMP/l4"
[ -n "$MF_WHY" ] || mkdir -p "$MF_MNT/t3" "$MF_MNT/t4"

# What the cases share.
cat > "$PT_TMP/mf.py" <<'P'
import glob, os, socket, subprocess
from pool_client import *
tmp = os.environ["PT_TMP"]
mnt = os.environ["MF_MNT"]
MiB = 1 << 20


def exports(n):
    return [p for p in glob.glob(tmp + "/h%d/run/blk/export-*" % n)
            if not p.endswith(".log")]


def backends(n):
    return sorted(os.path.basename(p) for p in
                  glob.glob(tmp + "/h%d/run/blk/*.pid" % n))


def tags(s, vdi):
    return [k for k in s.call("VDI.get_other_config", vdi)
            if k.startswith("xm:motion")]


def files(d):
    return sorted(f for f in os.listdir(d) if not f.startswith("."))


def export_pid(n):
    """The pid of host n's one export backend."""
    [p] = [p for p in exports(n) if p.endswith(".pid")]
    return int(open(p).read())


def export_port(n):
    """The TCP port host n's one export listens on."""
    pid = export_pid(n)
    out = subprocess.run(["ss", "-Htlnp"], capture_output=True, text=True,
                         check=True).stdout
    for line in out.splitlines():
        if "pid=%d," % pid in line:
            return int(line.split()[3].rsplit(":", 1)[1])
    raise RuntimeError("no listening socket of pid %d" % pid)


def cut(n):
    """Kills the TCP connections to host n's export (the client's ends:
    the kernel resets the export's); how many it killed."""
    port = export_port(n)
    out = subprocess.run(["ss", "-HK", "dst", "127.0.0.%d" % n, "dport",
                          "=", ":%d" % port], capture_output=True,
                         text=True, check=True).stdout
    wait_until(lambda: subprocess.run(
        ["ss", "-Htn", "state", "established", "(", "sport", "=",
         ":%d" % port, "or", "dport", "=", ":%d" % port, ")"],
        capture_output=True, text=True).stdout.strip() == "", 10,
        "no connection left")
    return len(out.splitlines())


def mirror_status(n, uuid, vdi_uuid):
    """The mirror's status in host n's backend of the VM's disk, as a
    dict (the control socket's status line)."""
    [path] = glob.glob(tmp + "/h%d/run/blk/%s.*.%s.ctl" %
                       (n, uuid, vdi_uuid[:8]))
    c = socket.socket(socket.AF_UNIX)
    c.settimeout(10)
    c.connect(path)
    c.sendall(b"status\n")
    line = c.makefile().readline()
    c.close()
    head, _, reason = line.partition(" reason=")
    st = dict(kv.split("=", 1) for kv in head.split()[1:])
    st["reason"] = reason.strip()
    return st


def fill(leave):
    """A file that is no VDI takes the tmpfs but for leave bytes."""
    v = os.statvfs(mnt)
    fd = os.open(mnt + "/filler", os.O_WRONLY | os.O_CREAT, 0o600)
    os.posix_fallocate(fd, 0, v.f_bavail * v.f_frsize - leave)
    os.close(fd)
    v = os.statvfs(mnt)
    return v.f_bavail * v.f_frsize


def clean(t, s, ids, on, label):
    """The VM runs on host `on` only, on ids["vdi"], which is the only
    VDI of our SRs, its files their only files; nothing else is left."""
    other = 4 if on == 3 else 3
    vdi = ids["vdi"]
    t.ok(wait_until(lambda: settled(s, ids["vm"]), 120, "settled"),
         label + ": the migration settled")
    t.is_((running_on(ids["uuid"], (3, 4)), s.call("VBD.get_VDI",
                                                    ids["vbd"])),
          ([on], vdi), label + ": the VM runs on host %d only, on the disk "
          "its VBD names" % on)
    vuuid = s.call("VDI.get_uuid", vdi)
    sr = s.call("VDI.get_SR", vdi)
    want = {r: ([vdi], [vuuid + ".meta", vuuid + ".raw"]) if r == sr else
            ([], []) for r in ids["dirs"]}

    def now():
        return {r: (s.call("SR.get_VDIs", r), files(d))
                for r, d in ids["dirs"].items()}
    t.ok(wait_until(lambda: now() == want, 60, "one VDI"),
         label + ": no other VDI on any SR, no other file", repr(now()))
    t.ok(wait_until(lambda: not exports(3) and not exports(4), 30,
                    "no export"), label + ": no export is left")
    t.is_(tags(s, vdi), [], label + ": no motion tag is left")
    mine = "%s.%s.%s.pid" % (ids["uuid"], s.call("VBD.get_userdevice",
                                                  ids["vbd"]), vuuid[:8])
    t.ok(wait_until(lambda: backends(on) == [mine] and
                    backends(other) == [], 30, "backends"),
         label + ": one block service, the disk's, on host %d" % on,
         repr((backends(on), backends(other))))
    w = int(host_local(on, "vm_status", ids["uuid"])["disk_writes"])
    t.ok(wait_until(lambda: int(host_local(on, "vm_status", ids["uuid"])
                                ["disk_writes"]) > w + 20, 30, "writes"),
         label + ": the guest writes on")
    st = host_local(on, "vm_status", ids["uuid"])
    t.is_((int(st["disk_mismatches"]), int(st["disk_errors"]),
           int(st["mismatches"])), (0, 0, 0),
          label + ": disk and memory ledgers clean")


def send(s, ids, to, sr):
    """VM.migrate_send of the VM to host `to`, its disk to SR ids[sr]."""
    dest = s.call("Host.migrate_receive", ids["h%d" % to], "OpaqueRef:NULL",
                  {})
    return s.call("Async.VM.migrate_send", ids["vm"], dest, True,
                  {ids["vdi"]: ids[sr]}, {}, {})
P

pt_py <<'P'
import sys, os
sys.path.insert(0, os.environ["PT_TMP"])
from mf import *
t = Tap()
for n in (3, 4):
    Session(n).call("pool.join", "127.0.0.2", "root", PASSWORD)
s = Session(2)
hosts = {h["address"]: r for r, h in s.call("host.get_all_records").items()}
h3, h4 = hosts["127.0.0.3"], hosts["127.0.0.4"]
ids = dict(h3=h3, h4=h4, dirs={})
for name, host, d in (("l3", h3, tmp + "/l3"), ("l4", h4, tmp + "/l4"),
                      ("t3", h3, mnt + "/t3"), ("t4", h4, mnt + "/t4")):
    if d.startswith(mnt) and os.environ["MF_WHY"]:
        continue
    ids[name] = s.call("SR.create", host, {"location": d}, 0, name, "",
                       "file", "user", False, {})
    ids["dirs"][ids[name]] = d
vdi = s.call("VDI.create", {"SR": ids["l3"], "virtual_size": str(32 * MiB)})
vm = s.call("VM.create", {"name_label": "vm-motion-faults",
                          "memory_static_max": str(128 * MiB),
                          "VCPUs_max": "1",
                          "other_config": {"xm:cmdline":
                                           "ws_mib=8 rate_mib=4 "
                                           "disk_rate_mib=4 disk_ws_mib=16"}})
vbd = s.call("VBD.create", {"VM": vm, "VDI": vdi, "userdevice": "0"})
s.call("VM.start_on", vm, h3, False, False)
uuid = s.call("VM.get_uuid", vm)
raw = tmp + "/l3/" + s.call("VDI.get_uuid", vdi) + ".raw"
# The guest's working set written once: 16 MiB of data to copy.
t.ok(wait_until(lambda: os.stat(raw).st_blocks * 512 >= 16 * MiB, 60,
                "16 MiB written"), "the VM writes its disk on host 3 "
     "(16 MiB allocated)")
ids.update(vm=vm, vbd=vbd, vdi=vdi, uuid=uuid)
save(**ids)
t.done()
P

# A, B. The target SR fills up mid-copy: a file that is no VDI takes the
# tmpfs while the copy is held.
full()
{
    local label=$1 sr=$2
    if [ -n "$MF_WHY" ]; then
        pt_skip "$label: the target SR fills up: $MF_WHY"
        return
    fi
    pt_arm 3 "vdi.mirror.copy=wait"
    LABEL=$label SR=$sr pt_py <<'P'
import sys, os
sys.path.insert(0, os.environ["PT_TMP"])
from mf import *
t = Tap()
ids = load()
s = Session(2)
if os.environ["SR"] == "t3":
    ids["task"] = s.call("Async.VDI.pool_migrate", ids["vdi"], ids["t3"], {})
else:
    ids["task"] = send(s, ids, 4, "t4")
save(**ids)
t.done()
P
    pt_hit 3 vdi.mirror.copy ||
        pt_fail "$label: the copy reached vdi.mirror.copy"
    LABEL=$label SR=$sr pt_py <<'P'
import sys, os
sys.path.insert(0, os.environ["PT_TMP"])
from mf import *
t = Tap()
ids = load()
s = Session(2)
label = os.environ["LABEL"]
[dst] = s.call("SR.get_VDIs", ids[os.environ["SR"]])
left = fill(2 * MiB)
t.ok(left < 4 * MiB, label + ": with the copy held, another file fills "
     "the target SR's filesystem (%d bytes left)" % left)
arm(3, "")
go(3, "vdi.mirror.copy")
rec = s.wait_task(ids["task"], 120)
err = rec["error_info"] or ["?"]
t.ok((rec["status"], err[0]) == ("failure", "MIRROR_FAILED"),
     label + ": MIRROR_FAILED", repr(rec["status"]), repr(err))
t.ok(len(err) == 3 and "No space left" in err[2],
     label + ":   because the target has no space left (%s)" % err[2:])
t.ok(wait_until(lambda: dst not in s.call("VDI.get_all"), 30,
                "destination gone"), label + ": the destination VDI is "
     "destroyed")
os.unlink(mnt + "/filler")
clean(t, s, ids, 3, label)
t.done()
P
    rm -f "$MF_MNT/filler"
}
full A t3
full B t4

# C. The link cut while the mirror copies: it resumes, the VM moves.
pt_arm 3 "vdi.mirror.copy=wait"
pt_py <<'P'
import sys, os
sys.path.insert(0, os.environ["PT_TMP"])
from mf import *
t = Tap()
ids = load()
ids["task"] = send(Session(2), ids, 4, "l4")
save(**ids)
t.done()
P
pt_hit 3 vdi.mirror.copy || pt_fail "C: the copy reached vdi.mirror.copy"
pt_py <<'P'
import sys, os
sys.path.insert(0, os.environ["PT_TMP"])
from mf import *
t = Tap()
ids = load()
s = Session(2)
log = os.path.getsize(tmp + "/h2/log")
n = cut(4)
t.ok(n >= 1, "C: with the copy held, the mirror's %d connections to host "
     "4's export are killed" % n)
arm(3, "")
go(3, "vdi.mirror.copy")
rec = s.wait_task(ids["task"], 180)
t.is_(rec["status"], "success", "C: the mirror resumes, the migration "
      "succeeds")
said = open(tmp + "/h2/log", "rb").read()[log:]
t.ok(b"resuming (1 of 3)" in said and b"resuming (2 of 3)" not in said,
     "C: the master's log says it resumed, once")
new = s.call("VBD.get_VDI", ids["vbd"])
t.ok(new != ids["vdi"] and s.call("VDI.get_SR", new) == ids["l4"],
     "C: the VBD names a new VDI on host 4's SR")
ids["vdi"] = new
save(**ids)
clean(t, s, ids, 4, "C")
t.done()
P

# D. The link cut with the mirror write-blocking, before the memory
# moves: the master checks its mirrors once more and resumes the failed
# one from its bitmap; the VM moves.
pt_arm 2 "pd.sxm.synced=wait"
pt_py <<'P'
import sys, os
sys.path.insert(0, os.environ["PT_TMP"])
from mf import *
t = Tap()
ids = load()
ids["task"] = send(Session(2), ids, 3, "l3")
save(**ids)
t.done()
P
pt_hit 2 pd.sxm.synced || pt_fail "D: the master reached pd.sxm.synced"
pt_py <<'P'
import sys, os
sys.path.insert(0, os.environ["PT_TMP"])
from mf import *
t = Tap()
ids = load()
s = Session(2)
vu = s.call("VDI.get_uuid", ids["vdi"])
log = os.path.getsize(tmp + "/h2/log")
t.is_(mirror_status(4, ids["uuid"], vu)["state"], "synced",
      "D: the master held, the mirror is write-blocking")
n = cut(3)
t.ok(n >= 1, "D: the mirror's %d connections to host 3's export are "
     "killed" % n)
t.ok(wait_until(lambda: mirror_status(4, ids["uuid"], vu)["state"] ==
                "failed", 30, "failed"), "D: the mirror fails at the "
     "guest's next write", repr(mirror_status(4, ids["uuid"], vu)))
arm(2, "")
go(2, "pd.sxm.synced")
rec = s.wait_task(ids["task"], 180)
t.is_((rec["status"], rec["error_info"]), ("success", []),
      "D: the master resumes it before the memory moves: the migration "
      "succeeds")
t.ok(b"resuming (1 of" in open(tmp + "/h2/log", "rb").read()[log:],
     "D: the master's log says it resumed the mirror")
ids["vdi"] = s.call("VBD.get_VDI", ids["vbd"])
save(**ids)
clean(t, s, ids, 3, "D")
t.done()
P

# D2. The link cut once the mirrors were checked and the receiver is
# prepared (pd.master.prepared): the source's precommit refuses the
# failed mirror (another generation), the VM stays on host 3 on its disk.
pt_arm 2 "pd.master.prepared=wait"
pt_py <<'P'
import sys, os
sys.path.insert(0, os.environ["PT_TMP"])
from mf import *
t = Tap()
ids = load()
ids["task"] = send(Session(2), ids, 4, "l4")
save(**ids)
t.done()
P
pt_hit 2 pd.master.prepared || pt_fail "D2: the master reached " \
    "pd.master.prepared"
pt_py <<'P'
import sys, os
sys.path.insert(0, os.environ["PT_TMP"])
from mf import *
t = Tap()
ids = load()
s = Session(2)
vu = s.call("VDI.get_uuid", ids["vdi"])
log = os.path.getsize(tmp + "/h3/log")
n = cut(4)
t.ok(n >= 1, "D2: the mirror's %d connections to host 4's export are "
     "killed" % n)
t.ok(wait_until(lambda: mirror_status(3, ids["uuid"], vu)["state"] ==
                "failed", 30, "failed"), "D2: the mirror fails at the "
     "guest's next write", repr(mirror_status(3, ids["uuid"], vu)))
arm(2, "")
go(2, "pd.master.prepared")
rec = s.wait_task(ids["task"], 180)
t.ok(rec["status"] == "failure", "D2: the migration fails (the source's "
     "precommit refuses the mirror that failed: %s)" % rec["error_info"])
t.ok(b"mirror cannot complete" in open(tmp + "/h3/log", "rb").read()[log:],
     "D2: the source's log says its mirror could not complete")
clean(t, s, ids, 3, "D2")
t.done()
P

# E. The destination's export backend killed while the mirror copies.
pt_arm 3 "vdi.mirror.copy=wait"
pt_py <<'P'
import sys, os
sys.path.insert(0, os.environ["PT_TMP"])
from mf import *
t = Tap()
ids = load()
ids["task"] = send(Session(2), ids, 4, "l4")
save(**ids)
t.done()
P
pt_hit 3 vdi.mirror.copy || pt_fail "E: the copy reached vdi.mirror.copy"
pt_py <<'P'
import sys, os, signal
sys.path.insert(0, os.environ["PT_TMP"])
from mf import *
t = Tap()
ids = load()
s = Session(2)
pid = export_pid(4)
os.kill(pid, signal.SIGKILL)

def gone():
    """No such process, or a zombie: it serves nothing."""
    try:
        return open("/proc/%d/stat" % pid).read().split(") ")[1][0] == "Z"
    except FileNotFoundError:
        return True
t.ok(wait_until(gone, 10, "export gone"), "E: with the copy held, host "
     "4's export backend is killed")
arm(3, "")
go(3, "vdi.mirror.copy")
rec = s.wait_task(ids["task"], 180)
t.is_(rec["status"], "success", "E: the mirror resumes at the export made "
      "again, the migration succeeds")
on = 4 if rec["status"] == "success" else 3
ids["vdi"] = s.call("VBD.get_VDI", ids["vbd"])
save(**ids)
clean(t, s, ids, on, "E")
t.done()
P

pt_done

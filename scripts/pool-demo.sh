#!/bin/bash
# scripts/pool-demo.sh - the main job: a three-host pool on this machine
# (xm-poold on 127.0.0.2, .3 and .4, plain HTTP on loopback only), a VM
# running the test guest with its disk on a shared-file SR plugged on the
# three hosts, live-migrated host1 -> host2 -> host3 -> host1 with
# xm-pool's progress bar; each move's total time and guest-observed
# downtime are printed, and the guest's disk writes and ledgers after
# each; then a second VDI that the block service serves over NBD, hot-plugged
# into the running VM and unplugged again; last, the VM's disk moved live to
# another SR (storage live migration), then the VM to host2 with its disk
# moved to host2's local SR; last, two more VMs started on host3 and host3
# evacuated (host-evacuate: its plan and ETA first, then 2 moves at a
# time); then a second pool of one host (127.0.0.5) and demo-vm moved
# there with its disk (vm-migrate remote-master=...); last, the first pool
# upgraded host by host to the daemon one version newer
# (pool-rolling-upgrade), its VMs running throughout.  The pools are left
# running;
# `scripts/pool-demo.sh stop` stops it.  Expects a built tree (scripts/demo.sh builds first).
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=$top/build
demo=${XM_DEMO_DIR:-/var/tmp/xm-pool-demo}
port=${XM_DEMO_PORT:-8080}
password=${XM_DEMO_PASSWORD:-xm-demo}
cli=$build/cli/xm-pool
poold=$build/daemon/xm-poold

stop_pool() {
    local f pid
    for f in "$demo"/h*/pid; do
        [ -f "$f" ] || continue
        pid=$(cat "$f")
        kill -TERM "$pid" 2>/dev/null
    done
    sleep 1
    # The VMs' VMM processes live under the demo's run directories.
    for pid in $(pgrep -f "$demo/h" 2>/dev/null); do
        kill -KILL "$pid" 2>/dev/null
    done
    rm -f "$demo"/h*/pid
}

if [ "${1:-}" = stop ]; then
    stop_pool
    echo "pool-demo: stopped (state kept in $demo; rm -rf it to start anew)"
    exit 0
fi

for b in "$cli" "$poold" "$build/guest/xm-guest.elf"; do
    [ -e "$b" ] || { echo "pool-demo: $b is not built: run" \
        "scripts/setup.sh" >&2; exit 1; }
done

stop_pool
rm -rf "$demo"
mkdir -p "$demo"
hv=kvm
if ! [ -r /dev/kvm ] || ! [ -w /dev/kvm ]; then
    echo "pool-demo: /dev/kvm is not usable here: the hosts use the sim driver"
    hv=sim
fi
printf '%s\n' "$password" > "$demo/password"
chmod 600 "$demo/password"

start_host() {
    local n=$1 d=$demo/h$1 i
    mkdir -p "$d"
    cat > "$d/xm-pool.conf" <<EOF
state_dir = $d/state
run_dir = $d/run
pid_file = $d/pid
listen_address = 127.0.0.$((n + 1))
port = 0
http_port = $port
log = $d/xm-poold.log
root_password_file = $demo/password
hv_driver = $hv
guest_image = $build/guest/xm-guest.elf
EOF
    XM_BUILDDIR=$build setsid "$poold" --config "$d/xm-pool.conf" \
        --foreground \
        >"$d/out" 2>&1 </dev/null &
    echo $! > "$d/pid"
    for i in $(seq 1 100); do
        if "$cli" --http -s "127.0.0.$((n + 1))" -p "$port" -u root \
                -pwf "$demo/password" host-list --minimal >/dev/null 2>&1 ||
           grep -q HOST_IS_SLAVE "$d/out" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    echo "pool-demo: host$n did not start; its log:" >&2
    tail -n 20 "$d/xm-poold.log" "$d/out" >&2
    return 1
}

export XM_POOLRC=$demo/xm-poolrc
printf 'server=127.0.0.2\nport=%s\nusername=root\npassword_file=%s\n' \
    "$port" "$demo/password" > "$XM_POOLRC"
x() { "$cli" --http "$@"; }

echo "== starting three hosts (xm-poold) on 127.0.0.2, .3, .4, port $port"
start_host 1 && start_host 2 && start_host 3 || { stop_pool; exit 1; }
for n in 2 3; do
    x -s "127.0.0.$((n + 1))" pool-join master-address=127.0.0.2 \
        master-username=root master-password="$password" ||
        { stop_pool; exit 1; }
done
h=()
for n in 1 2 3; do
    h[$n]=$(x host-list address="127.0.0.$((n + 1))" --minimal)
done
# name_host MASTER UUID NAME: names a host after its place in the demo
# (XenAPI host.set_name_label on its pool's master, as any client would).
name_host() {
    python3 - "$port" "$password" "$@" <<'EOP' || true
import sys, xmlrpc.client
port, pw, master, uuid, name = sys.argv[1:6]
s = xmlrpc.client.ServerProxy("http://%s:%s/" % (master, port))
sess = s.session.login_with_password("root", pw)["Value"]
s.host.set_name_label(sess, s.host.get_by_uuid(sess, uuid)["Value"], name)
s.session.logout(sess)
EOP
}
for n in 1 2 3; do name_host 127.0.0.2 "${h[$n]}" "host$n"; done
x host-list params=uuid,name-label,address
echo "== storage: a shared-file SR plugged on the three hosts, the pool's default"
mkdir -p "$demo/sr-shared"
sr=$(x sr-create host-uuid="${h[1]}" name-label=demo-shared type=shared-file \
     device-config:location="$demo/sr-shared" physical-size=8G) &&
    x pool-param-set uuid="$(x pool-list --minimal)" default_SR="$sr" ||
    { echo "pool-demo: storage step failed" >&2; stop_pool; exit 1; }
x sr-list params=name-label,type,shared,physical-size
x pbd-list params=host,currently-attached

# The guest's own counters (heartbeats, disk writes and re-reads, ledger
# mismatches) as its host sees them: host_local.vm_status, with the pool
# secret of the host's state directory.
guest_status() {
    python3 - "$port" "$demo/h$1/state/pool-secret" "$2" "$1" <<'EOP' || true
import sys, xmlrpc.client
port, secret_file, vm, n = sys.argv[1:5]
secret = open(secret_file).read().split()[0]
addr = "127.0.0.%d" % (int(n) + 1)
s = xmlrpc.client.ServerProxy("http://%s:%s/" % (addr, port))
st = s.host_local.vm_status(secret, vm)["Value"]
print("   guest on host%s: heartbeat %s, disk writes %s, disk re-reads %s, "
      "disk mismatches %s, memory mismatches %s" % (
          n, st["hb_last_seq"], st.get("disk_writes", "-"),
          st.get("disk_reads", "-"), st.get("disk_mismatches", "-"),
          st.get("mismatches", "-")))
if int(st.get("disk_hp_attached", 0)) or int(st.get("disk_hp_refused", 0)):
    print("   its hot-plug: disks taken %s, released %s, refused %s, "
          "stamps written and read back %s" % (
              st["disk_hp_attached"], st["disk_hp_ejected"],
              st["disk_hp_refused"], st["disk_hp_stamps"]))
EOP
}

echo "== a VM running the test guest (1 GiB, dirtying 64 MiB/s, writing" \
    "its disk at 16 MiB/s)"
x vm-create name-label=demo-vm memory=1024M \
    cmdline="ws_mib=256 rate_mib=64 disk_rate_mib=16 disk_ws_mib=64 disk_hp_stamp=1" \
    >/dev/null || { stop_pool; exit 1; }
echo "== its disk: a 256 MiB VDI on demo-shared (vm-disk-add)"
x vm-disk-add vm=demo-vm disk-size=256M >/dev/null || { stop_pool; exit 1; }
x vbd-list params=userdevice,device,mode
x vm-start vm=demo-vm on=127.0.0.2 || { stop_pool; exit 1; }
x vm-list params=name-label,power-state,resident-on
vm_uuid=$(x vm-list name-label=demo-vm --minimal)
# Let the guest boot and its heartbeat start, so the first move's pause is
# measured as the guest sees it.
sleep 3
guest_status 1 "$vm_uuid"

for step in "2 host2" "3 host3" "1 host1"; do
    set -- $step
    echo "== live-migrating demo-vm to $2 (127.0.0.$(($1 + 1)))"
    x vm-migrate vm=demo-vm host-uuid="${h[$1]}" live=true ||
        { echo "pool-demo: migration failed (the VM still runs on its" \
          "source)" >&2; exit 1; }
    sleep 1
    guest_status "$1" "$vm_uuid"
done

echo "== the block service: a second VDI, served over NBD (nbdinfo, qemu-io)"
vdi=$(x vdi-create sr-uuid="$sr" name-label=demo-data virtual-size=1G) ||
    { echo "pool-demo: storage step failed" >&2; exit 1; }
x vdi-list params=name-label,virtual-size,physical-utilisation
if command -v nbdkit >/dev/null && command -v nbdinfo >/dev/null; then
    sock=$demo/demo-data.sock
    nbdkit -U "$sock" --pidfile "$demo/nbdkit.pid" \
        "$build/vdi/nbdkit-xmvdi-plugin.so" sr_type=shared-file \
        sr_uuid="$sr" location="$demo/sr-shared" vdi="$vdi" &&
    while [ ! -s "$demo/nbdkit.pid" ]; do sleep 0.05; done &&
    qemu-io -f raw -c "write -P 0x5a 0 64M" -c flush \
        "nbd+unix:///?socket=$sock" | tail -1 &&
    nbdinfo --map "nbd+unix:///?socket=$sock"
    kill "$(cat "$demo/nbdkit.pid")" 2>/dev/null
    x sr-scan uuid="$sr" &&
        x vdi-list params=name-label,virtual-size,physical-utilisation
fi

echo "== disk hot-plug: demo-data into the running demo-vm as its disk 1"
vbd=$(x vbd-create vm-uuid="$vm_uuid" vdi-uuid="$vdi" device=1) &&
    x vbd-plug uuid="$vbd" &&
    x vbd-list params=userdevice,device,currently-attached ||
    { echo "pool-demo: hot-plug failed" >&2; exit 1; }
sleep 1
guest_status 1 "$vm_uuid"
echo "== vbd-unplug of disk 0, where the guest keeps its disk ledger:" \
    "the guest refuses"
x vbd-unplug uuid="$(x vbd-list userdevice=0 --minimal)" ||
    true
echo "== vbd-unplug of disk 1: the guest lets it go"
x vbd-unplug uuid="$vbd" &&
    x vbd-list params=userdevice,currently-attached ||
    { echo "pool-demo: hot-unplug failed" >&2; exit 1; }
guest_status 1 "$vm_uuid"

echo "== storage live migration: demo-vm's disk from demo-shared to" \
    "demo-array while the guest writes it (vdi-pool-migrate)"
mkdir -p "$demo/sr-array"
sr2=$(x sr-create host-uuid="${h[1]}" name-label=demo-array type=shared-file \
      device-config:location="$demo/sr-array" physical-size=8G) ||
    { echo "pool-demo: storage step failed" >&2; exit 1; }
disk=$(x vdi-list name-label="demo-vm disk" --minimal)
t0=$(date +%s%N)
new=$(x vdi-pool-migrate uuid="$disk" sr-uuid="$sr2" | tail -n 1) ||
    { echo "pool-demo: the disk move failed (the VM keeps its disk)" >&2
      exit 1; }
echo "   moved in $((($(date +%s%N) - t0) / 1000000)) ms; the disk is now" \
    "VDI $new on demo-array ($(ls "$demo/sr-array" | grep -c raw) VDI" \
    "there), the VM still on host1:"
guest_status 1 "$vm_uuid"

echo "== storage live migration to another host: demo-vm to host2 with its" \
    "disk moved to host2's local SR (vm-migrate vdi:...)"
mkdir -p "$demo/sr-local2"
sr3=$(x sr-create host-uuid="${h[2]}" name-label=host2-local type=file \
      device-config:location="$demo/sr-local2" physical-size=4G) ||
    { echo "pool-demo: storage step failed" >&2; exit 1; }
disk=$(x vdi-list name-label="demo-vm disk" --minimal)
x vm-migrate vm=demo-vm host-uuid="${h[2]}" vdi:"$disk"="$sr3" --dry-run
x vm-migrate vm=demo-vm host-uuid="${h[2]}" vdi:"$disk"="$sr3" ||
    { echo "pool-demo: the move failed (the VM still runs on host1, on" \
      "its disk)" >&2; exit 1; }
echo "   the disk is now on host2-local:" \
    "$(ls "$demo/sr-local2" | grep -c raw) VDI there," \
    "$(ls "$demo/sr-array" | grep -c raw) left on demo-array"
guest_status 2 "$vm_uuid"

echo "== host evacuation: two more VMs on host3, then host3 emptied"
for n in 1 2; do
    x vm-create name-label="demo-small-$n" memory=256M \
        cmdline="ws_mib=32 rate_mib=$((8 * n))" >/dev/null &&
        x vm-start vm="demo-small-$n" on=127.0.0.4 ||
        { echo "pool-demo: evacuation step failed" >&2; exit 1; }
done
x vm-list params=name-label,resident-on
echo "   what would keep host2 from being emptied (demo-vm's disk is on" \
    "host2's local SR):"
x host-get-vms-which-prevent-evacuation uuid="${h[2]}"
echo "   host3: nothing in the way; its plan, then the evacuation, 2 moves" \
    "at a time:"
x host-get-vms-which-prevent-evacuation uuid="${h[3]}"
x host-evacuate uuid="${h[3]}" batch-size=2 --plan
x host-disable uuid="${h[3]}" &&
    x host-evacuate uuid="${h[3]}" batch-size=2 ||
    { echo "pool-demo: the evacuation failed (its VMs still run where" \
      "they were)" >&2; exit 1; }
x host-enable uuid="${h[3]}"
x vm-list params=name-label,resident-on

echo "== storage live migration to another pool: a second pool, host4 on" \
    "127.0.0.5 alone, and demo-vm moved there with its disk" \
    "(vm-migrate remote-master=...)"
start_host 4 || { echo "pool-demo: host4 did not start" >&2; exit 1; }
h4=$(x -s 127.0.0.5 host-list --minimal)
name_host 127.0.0.5 "$h4" host4
mkdir -p "$demo/sr-local4"
sr4=$(x -s 127.0.0.5 sr-create host-uuid="$h4" name-label=host4-local \
      type=file device-config:location="$demo/sr-local4" \
      physical-size=4G) ||
    { echo "pool-demo: storage step failed" >&2; exit 1; }
echo "   demo-data stays in this pool: its VBD (disk 1, unplugged) goes" \
    "first (a disk not plugged cannot move with the VM)"
x vbd-destroy uuid="$vbd" ||
    { echo "pool-demo: vbd-destroy failed" >&2; exit 1; }
disk=$(x vdi-list name-label="demo-vm disk" --minimal)
remote=(remote-master="127.0.0.5:$port" remote-username=root
        remote-password="$password")
x vm-migrate vm=demo-vm host-uuid="$h4" "${remote[@]}" \
    vdi:"$disk"="$sr4" --dry-run
x vm-migrate vm=demo-vm host-uuid="$h4" "${remote[@]}" vdi:"$disk"="$sr4" ||
    { echo "pool-demo: the move failed (the VM still runs on host2, on" \
      "its disk)" >&2; exit 1; }
echo "   the first pool's VMs now:"
x vm-list params=name-label,resident-on
echo "   the second pool's (demo-vm kept its uuid $vm_uuid):"
x -s 127.0.0.5 vm-list params=name-label,uuid,power-state,resident-on
echo "   its disk: $(ls "$demo/sr-local4" | grep -c raw) VDI on host4-local," \
    "$(ls "$demo/sr-local2" | grep -c raw) left on host2-local"
guest_status 4 "$vm_uuid"

echo "== the XenAPI a GUI sees: its classes from system.listMethods, each" \
    "host's control domain, the pool's messages, every field of a host"
python3 - "$port" "$password" <<'P'
import sys, xmlrpc.client
x = xmlrpc.client.ServerProxy("http://127.0.0.2:%s/" % sys.argv[1])
ms = x.system.listMethods()["Value"]
cls = sorted(m.split(".")[0] for m in ms if m.endswith(".get_all_records"))
print("   %d methods; the classes: %s" % (len(ms), " ".join(cls)))
s = x.session.login_with_password("root", sys.argv[2], "2.21", "demo")
recs = x.VM.get_all_records(s["Value"])["Value"]
for r in recs.values():
    if r["power_state"] == "Running" and not r["is_control_domain"]:
        print("   a GUI may offer for %s (allowed_operations): %s" %
              (r["name_label"], " ".join(sorted(r["allowed_operations"]))))
        break
x.session.logout(s["Value"])
P
x vm-list is-control-domain=true params=name-label,resident-on
x message-list params=name,priority,cls,body
x host-param-list uuid="$(x host-list address=127.0.0.3 --minimal)" |
    sed -n '1,12p'
echo "   ... (host-param-list prints every field XAPI's host record has)"

echo "== rolling pool upgrade of the first pool to the build one version" \
    "newer (pool-rolling-upgrade): the master first, each host emptied," \
    "upgraded by the hook, back, enabled; then the VMs go home"
next=$build/tests/pool/xm-poold-next
if [ -x "$next" ]; then
    cat > "$demo/upgrade-hook" <<EOH
#!/bin/bash
# pool-rolling-upgrade's hook: HOST-UUID ADDRESS (127.0.0.N is host N-1).
d=$demo/h\$(( \${2##*.} - 1 ))
pid=\$(cat "\$d/pid")
kill -TERM "\$pid"
while kill -0 "\$pid" 2>/dev/null; do sleep 0.1; done
XM_BUILDDIR=$build setsid "$next" --config "\$d/xm-pool.conf" \
    --foreground >>"\$d/out" 2>&1 </dev/null &
echo \$! > "\$d/pid"
EOH
    chmod +x "$demo/upgrade-hook"
    x host-list params=name-label,software-version
    x pool-rolling-upgrade hook="$demo/upgrade-hook" ||
        { echo "pool-demo: the rolling upgrade stopped (run it again to" \
          "resume)" >&2; exit 1; }
    x host-list params=name-label,software-version,enabled
    x vm-list params=name-label,resident-on
else
    echo "   (skipped: $next is not built; scripts/setup.sh builds it)"
fi

cat <<EOF

The pools are running: three xm-poold hosts in the first, upgraded one
at a time to the next version, the VDI demo-data on demo-shared,
demo-small-1 and -2 moved off host3 by its evacuation (and back home
after the upgrade); host4 alone in the second, with demo-vm and its disk
on host4-local.  Try:
    export XM_POOLRC=$XM_POOLRC
    $cli --http host-list
    $cli --http vm-list params=all
    $cli --http -s 127.0.0.5 vm-list params=all
    $cli --http -s 127.0.0.5 vm-migrate vm=demo-vm host-uuid=${h[2]} remote-master=127.0.0.2:$port remote-password=\$(cat $demo/password) vdi:\$($cli --http -s 127.0.0.5 vdi-list name-label="demo-vm disk" --minimal)=$sr3
    $cli --http vm-migrate vm=demo-small-1 host-uuid=${h[2]} live=true
    $cli --http vdi-create sr-uuid=$sr name-label=disk2 virtual-size=2G
    $cli --http vdi-pool-migrate uuid=\$($cli --http vdi-list name-label="demo-data" --minimal) sr-uuid=$sr2
    $cli --http host-evacuate uuid=${h[1]} batch-size=1
    $cli --http help
Logs are in $demo/h*/xm-poold.log.  Stop it all with:
    $top/scripts/pool-demo.sh stop
EOF

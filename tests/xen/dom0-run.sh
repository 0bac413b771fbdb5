#!/bin/sh
# tests/xen/dom0-run.sh - runs inside the lane's dom0 (started by the
# image's /xm-lane-init from the 9p share): brings up the Xen daemons,
# runs every case under cases/ and writes TAP lines to results/tap.  The
# init powers the machine off when this returns.
# The 9p share is used only to copy things in at the start and results
# out after each case: binaries, scripts and the domU's initramfs run from
# dom0's own tmpfs.  (Under heavy 9p traffic, dom0 saw corrupted memory.)
OUT=/mnt/share/results
SHARE=/tmp/lane
mkdir -p "$SHARE"
cp -a /mnt/share/bin /mnt/share/domu /mnt/share/cases /mnt/share/tls \
    /mnt/share/lib.sh "$SHARE/"
R=$SHARE/results
mkdir -p "$R"
export SHARE R
export PATH=/usr/lib/xen-4.17/bin:/usr/sbin:/usr/bin:/sbin:/bin
exec >"$R/dom0.log" 2>&1
publish() { cp "$R"/* "$OUT/" 2>/dev/null; sync; }
echo "dom0: $(uname -r), $(nproc) vCPUs"

ip link set lo up
for m in xen-evtchn xen-gntdev xen-gntalloc xen-privcmd xenfs; do
    modprobe "$m" 2>/dev/null
done
mkdir -p /proc/xen /var/run/xen /var/lib/xen /var/lib/xenstored \
    /var/log/xen/console /run/xen /var/lib/xen/dump
mount -t xenfs xenfs /proc/xen
xenstored --pid-file=/run/xen/xenstored.pid
i=0
until xenstore-read / >/dev/null 2>&1 || [ $i -ge 100 ]; do
    sleep 0.1; i=$((i + 1))
done
xen-init-dom0
xenconsoled --pid-file=/run/xen/xenconsoled.pid --log=guest \
    --log-dir=/var/log/xen/console --timestamp=none
xl info | sed -n '/^xen_version/p;/^virt_caps/p;/^free_memory/p'

# A heartbeat on the console: whether dom0 is alive, and its domUs' states,
# every 15 s -- to follow a stuck run from outside.
(
    while sleep 15; do
        echo "lane-hb: $(cut -d' ' -f1 /proc/uptime) s: $(xl list 2>&1 | awk 'NR > 2 {printf "%s/%s/%s ", $1, $2, $5}') $(tail -qn1 /var/log/xen/console/*.log 2>/dev/null | tr '\n' ' ' | cut -c1-200)" >/dev/console
        ps -eo pid,stat,etime,args | grep -E 'cases/|grep|sed|sleep|xm-migrate|xl ' |
            grep -v -E 'grep -E|ps -eo' | sed 's/^/lane-ps: /' | cut -c1-160 >/dev/console
    done
) &
hb=$!

echo "TAP version 13" >"$R/tap"
for c in "$SHARE"/cases/*.sh; do
    echo "# case $(basename "$c")" >>"$R/tap"
    echo "==== case $(basename "$c") ===="
    echo "lane: case $(basename "$c")" >/dev/console
    start=$(date +%s)
    # A case's time limit: a PV move alone took 6.5 min on a loaded host.
    timeout -k 5 900 sh "$c" >>"$R/tap" 2>&1
    rc=$?
    [ $rc -eq 0 ] || echo "not ok - case $(basename "$c") exited with $rc" >>"$R/tap"
    echo "==== case $(basename "$c") done: rc $rc, $(( $(date +%s) - start )) s (emulated) ===="
    xl list
    for l in /var/log/xen/console/guest-*.log; do
        [ -f "$l" ] && { echo "-- last lines of $l"; tail -n 3 "$l"; }
    done
    # Leave no domU behind for the next case.
    for d in $(xl list | awk 'NR > 2 {print $2}'); do xl destroy "$d"; done
    publish
done
kill "$hb" 2>/dev/null
cp /var/log/xen/console/*.log "$R/" 2>/dev/null
echo "# lane complete" >>"$R/tap"
publish

# tests/xen/lib.sh - helpers for the Xen lane's cases (sourced; runs in
# dom0).  A case prints TAP lines ("ok - ...", "not ok - ...") on stdout
# and its diagnostics on stderr; dom0-run.sh collects both.
BIN=$SHARE/bin
KERNEL=$(ls /boot/vmlinuz-* | head -n1)
INITRD=$SHARE/domu/initrd.gz
CONSOLE_DIR=/var/log/xen/console
export XM_XEN_REAPER=$BIN/xm-xen-reaper
# The migration channel is TLS (docs/specs/migration-stream.md, section
# 15): our receivers present the test identity a (tests/data/tls), our
# senders pin its key.
TLS_CERT=$SHARE/tls/a.crt
TLS_KEY=$SHARE/tls/a.key
TLS_PIN=$("$BIN/xm-migrate" tls-pin --tls-cert "$TLS_CERT")

# Results also go to the console, to follow a run live in console.log.
ok() { echo "ok - $*"; echo "lane: ok - $*" >/dev/console; }
not_ok() { echo "not ok - $*"; echo "lane: not ok - $*" >/dev/console; }
# check DESCRIPTION COMMAND...: ok if the command succeeds.
check() {
    d=$1; shift
    if "$@"; then ok "$d"; else not_ok "$d"; fi
}
note() { echo "# $*"; echo "lane: $*" >/dev/console; }
# new_domain D1 D0: D1 is a domain id, not D0 (one command for check: a
# `check ... [ A ] && [ B ]` would check only A).
new_domain() { [ -n "$1" ] && [ "$1" != "$2" ]; }

# domu_start NAME pv|pvh MEM_MIB: an xl-created domU running xm-domu-init.
domu_start() {
    cfg=/tmp/$1.cfg
    {
        echo "name = \"$1\""
        echo "type = \"$2\""
        echo "kernel = \"$KERNEL\""
        echo "ramdisk = \"$INITRD\""
        echo "extra = \"console=hvc0 quiet xm_ws_mib=16\""
        echo "memory = $3"
        echo "vcpus = 1"
        echo "on_crash = \"preserve\""
        echo "on_reboot = \"preserve\""   # a triple fault is a reboot: keep it visible
        [ "$2" = pvh ] && echo 'tsc_mode = "native"'
        # Shadow paging unless LANE_HAP=1: QEMU TCG's emulation of nested
        # paging makes PVH guests crash now and then (docs/design/hv.md).
        [ "$2" = pvh ] && echo "hap = ${LANE_HAP:-0}"
    } >"$cfg"
    rm -f "$CONSOLE_DIR/guest-$1.log"
    xl create -q "$cfg"
}

domid_of() { xl domid "$1" 2>/dev/null; }

# domu_ready NAME pv|pvh: domu_start (256 MiB), then checks that xl made
# it and that it ticks (booted, self-check running); sets d0 to its domid.
domu_ready() {
    domu_start "$1" "$2" 256
    check "xl created $2 domU $1" [ -n "$(domid_of "$1")" ]
    check "$1 ($2) ticks (booted, self-check running)" wait_tick "$1" 4 240
    d0=$(domid_of "$1")
}

# The last tick line of NAME's console log ("" if none yet).
# Only whole lines count: xenconsoled may have written half of the last.
last_tick_line() {
    grep -E 'xm-domu tick=[0-9]+ pass=[0-9]+ bad=[0-9]+ gap_ms=' \
        "$CONSOLE_DIR/guest-$1.log" 2>/dev/null | tail -n1
}
# The last tick number (0 if none).
last_tick() {
    t=$(last_tick_line "$1" | sed -n 's/.*tick=\([0-9]*\).*/\1/p')
    echo "${t:-0}"
}
# Mismatches in the last line (empty if none).
last_bad() { last_tick_line "$1" | sed -n 's/.*bad=\([0-9]*\).*/\1/p'; }

# wait_tick NAME N SECONDS: until NAME's tick reaches N (timed by the
# clock: every poll forks a few processes, slow under emulation).
wait_tick() {
    end=$(( $(date +%s) + $3 ))
    while [ "$(last_tick "$1")" -lt "$2" ]; do
        [ "$(date +%s)" -ge "$end" ] && return 1
        sleep 1
    done
    return 0
}

# Ticks must be consecutive in NAME's whole log: no line lost, none
# repeated (a guest resumed from a stale state would repeat ticks).
ticks_consecutive() {
    grep -o 'xm-domu tick=[0-9]*' "$CONSOLE_DIR/guest-$1.log" |
        sed 's/.*=//' | awk 'NR > 1 && $1 != prev + 1 { bad = 1; print "tick " prev " then " $1 > "/dev/stderr" } { prev = $1 } END { exit bad }'
}

# Domains in state running/blocked (not paused/shutdown) named NAME.
domain_running() {
    xl list "$1" 2>/dev/null | awk 'NR == 2 { s = $5 } END { exit !(s ~ /^[rb-]+$/ && s !~ /[psc]/) }'
}

# Number of domains besides dom0.
nr_domus() { xl list | awk 'NR > 2' | wc -l; }

# our_migrate DOMID PORT [receiver options...]: our engine, both ends in
# this dom0 (like `xl migrate` to localhost), over TLS.  RECV_FAULT
# ("point=action", common/xt.h) arms the receiver's fault points through
# XM_FAULT.  Sets MIG_SEND_RC, MIG_RECV_RC; the JSON lines are in
# /tmp/send.json and /tmp/recv.json.
our_migrate() {
    dom=$1 port=$2; shift 2
    # The destination's paging mode as the source's (domu_start).
    hap=no; [ "${LANE_HAP:-0}" = 1 ] && hap=yes
    XM_FAULT=${RECV_FAULT:-} "$BIN/xm-migrate" receive --driver xen \
        --driver-args "hap=$hap" --log-level "${XM_LANE_LOG:-debug}" \
        --listen "127.0.0.1:$port" --tls-cert "$TLS_CERT" \
        --tls-key "$TLS_KEY" --token lane-token "$@" \
        >/tmp/recv.json 2>/tmp/recv.err &
    rpid=$!
    end=$(( $(date +%s) + 60 ))
    while ! grep -q ":$(printf %04X "$port") " /proc/net/tcp 2>/dev/null; do
        [ "$(date +%s)" -ge "$end" ] && break
        sleep 0.2
    done
    mig_start=$(date +%s%N)
    "$BIN/xm-migrate" send --driver xen --log-level "${XM_LANE_LOG:-debug}" \
        --domid "$dom" --to "127.0.0.1:$port" --tls-pin "$TLS_PIN" \
        --token lane-token >/tmp/send.json 2>/tmp/send.err
    MIG_SEND_RC=$?
    wait "$rpid"
    MIG_RECV_RC=$?
    MIG_MS=$(( ($(date +%s%N) - mig_start) / 1000000 ))
    note "xm-migrate send rc=$MIG_SEND_RC receive rc=$MIG_RECV_RC in $MIG_MS ms (emulated time)"
    note "send: $(cat /tmp/send.json)"
    sed 's/^/# send stderr: /' /tmp/send.err
    sed 's/^/# recv stderr: /' /tmp/recv.err
    # What went wrong, on the console at once (a wedged dom0 never
    # publishes its results).
    grep -a -v 'debug:' /tmp/send.err | sed 's/^/lane: send: /' | cut -c1-300 >/dev/console
    grep -a -v 'debug:' /tmp/recv.err | sed 's/^/lane: recv: /' | cut -c1-300 >/dev/console
}

# xl_reference NAME pv|pvh: `xl migrate` of a fresh domU to localhost,
# checked like ours (continuity, integrity); times are emulated, printed
# only.  xl's destination runs as NAME--incoming until it commits, so its
# console log has that name: both logs are read in order.
xl_reference() {
    domu_ready "$1" "$2"
    t0=$(last_tick "$1")
    s=$(date +%s%N)
    xl migrate -s '' "$d0" 'xl migrate-receive' >/tmp/xl.out 2>&1
    rc=$?
    note "xl migrate of $1 ($2): rc=$rc in $(( ($(date +%s%N) - s) / 1000000 )) ms (emulated time)"
    tail -n 5 /tmp/xl.out | sed 's/^/# xl: /'
    check "xl migrate of $2 domU $1 (exit 0)" [ "$rc" -eq 0 ]
    d1=$(domid_of "$1")
    check "$1 is a new domain after xl migrate" new_domain "$d1" "$d0"
    cat "$CONSOLE_DIR/guest-$1.log" "$CONSOLE_DIR/guest-$1--incoming.log" \
        >"/tmp/$1.all.log" 2>/dev/null
    t1=$(grep -o 'xm-domu tick=[0-9]*' "/tmp/$1.all.log" | tail -n1 | sed 's/.*=//')
    t1=${t1:-0}
    note "$1 was at tick $t0 before the move, $t1 after it"
    end=$(( $(date +%s) + 180 ))
    while :; do
        cat "$CONSOLE_DIR/guest-$1.log" "$CONSOLE_DIR/guest-$1--incoming.log" \
            >"/tmp/$1.all.log" 2>/dev/null
        t=$(grep -o 'xm-domu tick=[0-9]*' "/tmp/$1.all.log" | tail -n1 | sed 's/.*=//')
        [ "${t:-0}" -ge $((t1 + 4)) ] && break
        [ "$(date +%s)" -ge "$end" ] && break
        sleep 1
    done
    check "$1 ticks on after xl's move (from $t1)" [ "${t:-0}" -ge $((t1 + 4)) ]
    bad=$(grep 'xm-domu tick=' "/tmp/$1.all.log" | tail -n1 | sed -n 's/.*bad=\([0-9]*\).*/\1/p')
    check "$1's memory self-check is clean after xl's move (bad=0)" [ "$bad" = 0 ]
}

# ours_case NAME pv|pvh PORT: a fresh domU live-migrated to localhost by
# our engine (xm-migrate --driver xen), checked for success, a new domain,
# the source gone, continuity (ticks go on, consecutive) and integrity.
ours_case() {
    domu_ready "$1" "$2"
    t0=$(last_tick "$1")
    note "$1 is domain $d0 at tick $t0"
    our_migrate "$d0" "$3"
    check "our engine migrated $2 domU $1 (sender exit 0)" [ "$MIG_SEND_RC" -eq 0 ]
    check "our receiver exit 0" [ "$MIG_RECV_RC" -eq 0 ]
    d1=$(domid_of "$1")
    note "$1 is now domain ${d1:-none}"
    check "$1 is a new domain" new_domain "$d1" "$d0"
    check "the source domain $d0 is gone" sh -c "! xl list $d0 >/dev/null 2>&1"
    # Ticks after the move's end, from the only domain left.
    t1=$(last_tick "$1")
    note "$1 was at tick $t0 before the move, $t1 after it"
    check "$1 ticks on after the move (from $t1)" wait_tick "$1" $((t1 + 4)) 120
    check "$1's ticks are consecutive across the move" ticks_consecutive "$1"
    check "$1's memory self-check is clean (bad=0)" [ "$(last_bad "$1")" = 0 ]
    note "last line: $(last_tick_line "$1")"
}

# source_kept TAG NAME: after a migration of NAME (domain $d0) failed,
# NAME is still domain $d0, ticks on, and no half-built domain is left
# (within 30 s: the reaper works asynchronously).
source_kept() {
    check "$1: $2 is still domain $d0" [ "$(domid_of "$2")" = "$d0" ]
    t1=$(last_tick "$2")
    check "$1: $2 ticks on (from $t1)" wait_tick "$2" $((t1 + 3)) 120
    end=$(( $(date +%s) + 30 ))
    while [ "$(nr_domus)" -ne 1 ] && [ "$(date +%s)" -lt "$end" ]; do sleep 1; done
    check "$1: no half-built domain left (xl list shows $2 only)" [ "$(nr_domus)" -eq 1 ]
}

# kill_case NAME pv|pvh PORT POINT...: our receiver kills itself
# (SIGKILL) at each fault POINT (XM_FAULT=POINT=kill; mig.recv.precopy:
# a batch of a pre-copy round after round 0, the source still running;
# mig.recv.stopcopy: the stop-and-copy, the source suspended): the sender
# must fail cleanly, the source domU keep running as the same domain
# (resumed with xc_domain_resume if it had been suspended) with its memory
# intact, and no half-built domain may be left (the receiver's
# xm-xen-reaper destroys it).
kill_case() {
    name=$1 type=$2 port=$3; shift 3
    domu_ready "$name" "$type"
    for fault in "$@"; do
        RECV_FAULT="$fault=kill"
        our_migrate "$d0" "$port"
        RECV_FAULT=
        check "receiver killed at $fault: the sender fails (exit 1)" [ "$MIG_SEND_RC" -eq 1 ]
        check "receiver killed at $fault: it died of SIGKILL" [ "$MIG_RECV_RC" -eq 137 ]
        source_kept "after $fault" "$name"
        xl list >&2
    done
    check "$name's ticks are consecutive" ticks_consecutive "$name"
    check "$name's memory self-check is clean (bad=0)" [ "$(last_bad "$name")" = 0 ]
}

# The pool's own migration on a real Xen: two xm-poold daemons in this
# dom0, hosts A (127.0.0.2, the master) and B (127.0.0.3, joined), both
# with hv_driver = xen over the one Xen, plain HTTP on loopback as the
# pool tests run them (tests/pool/lib.sh).  A VM record with a PV kernel,
# ramdisk and command line in its other_config (128 MiB: a move takes
# minutes under emulation) is started on A through the pool (VM.start ->
# host_local.vm_start -> hv_boot: the xen driver's `xl create`,
# hv/hv_xen_boot.c), then moved to B by VM.pool_migrate (xm-pool
# vm-migrate: Async.VM.pool_migrate, followed to its end): B's daemon
# receives with our engine, A's sends.  Checked as the other cases check
# a move (ticks on and consecutive, bad=0), and the pool's record:
# resident_on = B with the new domid, exactly one domain with the VM's
# uuid.
. "$SHARE/lib.sh"
P=/tmp/pool
PORT=8080
CLI=$BIN/xm-pool
XM_POOL_ROOT_PASSWORD=lane-root-pw
export XM_POOL_ROOT_PASSWORD XM_POOLRC=$P/xm-poolrc
mkdir -p "$P"
printf '%s\n' "$XM_POOL_ROOT_PASSWORD" >"$P/pw"
printf 'port=%s\nusername=root\npassword_file=%s\n' "$PORT" "$P/pw" \
    >"$XM_POOLRC"
x() { "$CLI" --http -s 127.0.0.2 "$@"; }
pids=

# pool_host N: xm-poold on 127.0.0.N, waited for until it answers.
pool_host() {
    hd=$P/h$1
    mkdir -p "$hd"
    cat >"$hd/conf" <<EOC
state_dir = $hd/state
run_dir = $hd/run
listen_address = 127.0.0.$1
port = 0
http_port = $PORT
log = $hd/log
log_level = debug
password_cost = 1
login_delay_ms = 0
hv_driver = xen
EOC
    "$BIN/xm-poold" --config "$hd/conf" --foreground >"$hd/out" \
        2>"$hd/err" &
    pids="$pids $!"
    i=0
    until "$CLI" --http -s "127.0.0.$1" host-list --minimal >/dev/null 2>&1; do
        i=$((i + 1))
        [ $i -ge 120 ] && return 1
        sleep 0.5
    done
}

# The daemons' logs, for a failure.
pool_logs() {
    for n in 2 3; do
        echo "-- xm-poold 127.0.0.$n: err and last log lines" >&2
        cat "$P/h$n/err" >&2
        tail -n 40 "$P/h$n/log" >&2
    done
}

check "xm-poold A (127.0.0.2, hv_driver = xen) answers" pool_host 2
check "xm-poold B (127.0.0.3, hv_driver = xen) answers" pool_host 3
check "B joins A's pool" "$CLI" --http -s 127.0.0.3 pool-join \
    master-address=127.0.0.2 master-username=root \
    master-password="$XM_POOL_ROOT_PASSWORD"
hA=$(x host-list address=127.0.0.2 --minimal)
hB=$(x host-list address=127.0.0.3 --minimal)
check "the pool has hosts A and B" [ -n "$hA" -a -n "$hB" ]
vm=$(x vm-create name-label=pool1 memory=128M kernel="$KERNEL" \
    cmdline="console=hvc0 quiet xm_ws_mib=16")
check "vm-create pool1 ($vm)" [ -n "$vm" ]
x vm-param-set uuid="$vm" other-config:xm:ramdisk="$INITRD" \
    other-config:xm:guest_type=pv
check "its other_config names the ramdisk and the guest type" \
    [ "$(x vm-param-get uuid="$vm" param-name=other-config \
        param-key=xm:ramdisk)" = "$INITRD" -a \
      "$(x vm-param-get uuid="$vm" param-name=other-config \
        param-key=xm:guest_type)" = pv ]
rm -f "$CONSOLE_DIR/guest-pool1.log"
x vm-start vm=pool1 on=127.0.0.2 >/tmp/pool-start.out 2>&1
rc=$?
check "vm-start pool1 on A through the pool (exit 0)" [ $rc -eq 0 ]
[ $rc -eq 0 ] || { cat /tmp/pool-start.out >&2; pool_logs; }
d0=$(domid_of pool1)
note "pool1 is domain ${d0:-none}; xl list -l: $(xl list -l pool1 2>/dev/null | grep -E '"(type|kernel|ramdisk|cmdline)"' | tr -d ' \n')"
check "xl sees pool1 (booted by the xen driver's xl create)" [ -n "$d0" ]
# resident_on prints as the host's uuid, as xe prints it: A's now, B's
# after the move.
refA=$(x vm-param-get uuid="$vm" param-name=resident-on)
note "pool1 resident_on: $refA"
check "the pool says resident_on = a host ($refA)" \
    [ -n "$refA" -a "$refA" != "<not in database>" -a "$refA" != "$hB" ]
check "the pool has its domid ($d0)" \
    [ "$(x vm-param-get uuid="$vm" param-name=domid)" = "$d0" ]
check "pool1 ticks (booted, self-check running)" wait_tick pool1 4 240
t0=$(last_tick pool1)
note "pool1 is domain $d0 at tick $t0"
s=$(date +%s%N)
x vm-migrate vm=pool1 host-uuid="$hB" live=true >/tmp/pool-mig.out 2>&1
rc=$?
note "vm-migrate rc=$rc in $(( ($(date +%s%N) - s) / 1000000 )) ms (emulated time): $(tail -n 1 /tmp/pool-mig.out)"
check "VM.pool_migrate of pool1 to B (xm-pool vm-migrate exit 0)" [ $rc -eq 0 ]
[ $rc -eq 0 ] || { cat /tmp/pool-mig.out >&2; pool_logs; }
d1=$(domid_of pool1)
note "pool1 is now domain ${d1:-none}"
check "pool1 is a new domain" new_domain "$d1" "$d0"
check "the source domain $d0 is gone" sh -c "! xl list $d0 >/dev/null 2>&1"
check "exactly one domain has pool1's uuid" \
    [ "$(xl list -v | grep -c -i "$vm")" -eq 1 ]
refB=$(x vm-param-get uuid="$vm" param-name=resident-on)
note "pool1 resident_on: $refB"
check "the pool says resident_on = B ($hB, not A's $refA: $refB)" \
    [ "$refB" = "$hB" ]
check "the pool has the new domid ($d1)" \
    [ "$(x vm-param-get uuid="$vm" param-name=domid)" = "$d1" ]
check "the pool says Running" \
    [ "$(x vm-param-get uuid="$vm" param-name=power-state)" = Running ]
t1=$(last_tick pool1)
note "pool1 was at tick $t0 before the move, $t1 after it"
check "pool1 ticks on after the move (from $t1)" wait_tick pool1 $((t1 + 4)) 120
check "pool1's ticks are consecutive across the move" ticks_consecutive pool1
check "pool1's memory self-check is clean (bad=0)" [ "$(last_bad pool1)" = 0 ]
note "last line: $(last_tick_line pool1)"
grep -h -E "migration received|xen boot of" "$P"/h*/log | sed 's/^/# /'
for p in $pids; do kill "$p"; done
wait

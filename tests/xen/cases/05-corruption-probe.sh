# Diagnostic: do plain loopback TCP transfers in dom0 (no code of ours:
# a byte-pattern sender and checker) stay intact while xl itself migrates
# a domU (foreign mappings of guest memory, log-dirty)?
. "$SHARE/lib.sh"
r=$("$SHARE/domu/xm-lane-tcpcheck" 9300 64)
note "tcpcheck, idle dom0: $r"
domu_start probe pv 256
wait_tick probe 4 240
( for i in 1 2 3 4 5 6; do "$SHARE/domu/xm-lane-tcpcheck" $((9310 + i)) 64; done >/tmp/tcp.out 2>&1 ) &
p=$!
xl migrate -s '' "$(domid_of probe)" 'xl migrate-receive' >/tmp/xl.out 2>&1
note "xl migrate rc=$?"
wait $p
while read -r l; do note "tcpcheck during xl migrate: $l"; done </tmp/tcp.out
check "loopback TCP stayed intact while xl migrated a PV domU" sh -c "! grep -q ' [1-9][0-9]* bad' /tmp/tcp.out"

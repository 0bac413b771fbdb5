# Machine check: are a dom0 process's SSE registers and memory kept intact
# (xm-lane-regcheck, no code of ours in it) while dom0 is alone, while a PV
# domU runs, and while a PVH domU runs?  Without Xen's eager FPU switch
# (run.sh) they are not, and nothing else in the lane could be trusted.
. "$SHARE/lib.sh"
RC=$SHARE/domu/xm-lane-regcheck
regcheck_pair() {
    "$RC" "$1" 32 >/tmp/rc1.out 2>&1 & a=$!
    "$RC" "$1" 32 >/tmp/rc2.out 2>&1 & b=$!
    wait $a; ra=$?; wait $b; rb=$?
    while read -r l; do note "$2: $l"; done </tmp/rc1.out
    while read -r l; do note "$2: $l"; done </tmp/rc2.out
    [ $ra = 0 ] && [ $rb = 0 ]
}
check "registers and memory intact, dom0 alone" regcheck_pair 10 "dom0 alone"
domu_start rpv pv 256
wait_tick rpv 4 240
check "registers and memory intact while a PV domU runs" regcheck_pair 20 "PV domU running"
xl destroy rpv
domu_start rpvh pvh 256
check "registers and memory intact while a PVH domU boots and runs" regcheck_pair 30 "PVH domU"
note "PVH domU last tick: $(last_tick rpvh)"
xl destroy rpvh

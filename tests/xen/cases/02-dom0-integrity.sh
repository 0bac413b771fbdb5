# Diagnostic: does running an HVM-container (PVH) domU corrupt dom0's
# memory on this emulated machine?  A copy of the domU's self-checking
# workload runs in dom0 (128 MiB) before and while a PVH domU boots and
# runs; its mismatch count must stay 0.
. "$SHARE/lib.sh"
cp "$SHARE/domu/xm-domu-init" /tmp/chk
(cd /tmp && XM_DOMU_NO_CONSOLE=1 xm_ws_mib=128 setsid /tmp/chk >/tmp/chk.out 2>&1 </dev/null &)
sleep 15
domu_start chk1 pvh 256
check "the PVH domU ticks" wait_tick chk1 10 240
sleep 20
xl destroy chk1
b=$(grep -a -o 'bad=[0-9]*' /tmp/chk.out | tail -n1)
note "dom0's self-check after a PVH domU ran: $b"
check "dom0's memory stayed intact while a PVH domU ran ($b)" [ "$b" = bad=0 ]
pkill -f /tmp/chk

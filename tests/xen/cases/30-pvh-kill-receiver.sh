# Failure injection: our receiver kills itself (SIGKILL) in the middle of
# a pre-copy round.  The source PVH domU must keep running (the sender
# resumes it) and no half-built domain may be left: the receiver's reaper
# (xm-xen-reaper) destroys the domain it was building.  Then, with stop-
# and-copy as the point of death, the source has been suspended already
# and must be resumed (xc_domain_resume) and keep its memory intact.
. "$SHARE/lib.sh"

domu_start pvh3 pvh 256
check "pvh3 ticks" wait_tick pvh3 4 240
d0=$(domid_of pvh3)

for fault in midround stopcopy; do
    t0=$(last_tick pvh3)
    our_migrate "$d0" 7003 --fault "$fault" --fault-action kill
    check "receiver killed at $fault: the sender fails (exit 1)" [ "$MIG_SEND_RC" -eq 1 ]
    check "receiver killed at $fault: the receiver died of SIGKILL" [ "$MIG_RECV_RC" -eq 137 ]
    check "after $fault: pvh3 is still domain $d0" [ "$(domid_of pvh3)" = "$d0" ]
    check "after $fault: pvh3 ticks on" wait_tick pvh3 $((t0 + 3)) 120
    end=$(( $(date +%s) + 30 ))
    while [ "$(nr_domus)" -ne 1 ] && [ "$(date +%s)" -lt "$end" ]; do sleep 1; done
    check "after $fault: no half-built domain left (xl list shows pvh3 only)" [ "$(nr_domus)" -eq 1 ]
    xl list >&2
done
check "pvh3's ticks are consecutive" ticks_consecutive pvh3
check "pvh3's memory self-check is clean (bad=0)" [ "$(last_bad pvh3)" = 0 ]

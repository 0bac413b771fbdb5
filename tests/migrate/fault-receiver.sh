# tests/migrate/fault-receiver.sh - sourced by migrate-fault-kill.sh and
# migrate-fault-drop.sh: a receiver that fails at each point of a migration
# (round 0, a later pre-copy round, stop-and-copy, right after READY), by
# dying (kill) or by dropping its connections (drop).  Whatever the point,
# the migration fails cleanly: see mt_check_failed in lib.sh.
#
# $action: kill or drop.

# The guest: 512 MiB, dirtying 64 MiB/s of 256 MiB.  Where the fault must
# hit after pre-copy round 1 (midround, stopcopy), the sender's policy is
# made to iterate: a 1 ms downtime target is below the 2 ms the policy
# counts for pause and resume alone, so it never converges and stops after
# --max-rounds (a fast link would otherwise stop after round 0, and the
# midround fault would never fire).  The JSON's rounds is checked there.  It never writes beyond
# its image, ledger and working set: a VMM holding more than ram_limit MiB
# of its RAM had pages allocated that the guest never touched.
ram_limit=$((256 + 16))
fault_boot()
{
    mt_boot 512 "ws_mib=256 rate_mib=64" || mt_bail "could not boot a guest"
    mt_wait_for 60 mt_pages_at_least "$MT_DOMID" 16384 ||
        mt_diag "guest wrote only $(mt_stat "$MT_DOMID" pages_written)" \
            "pages in 60 s"
}

# The receiver's fault point (xt.h) for each case.
fault_point()
{
    case $1 in
    round0) echo round0 ;;
    midround) echo precopy ;;
    stopcopy) echo stopcopy ;;
    after-ready) echo ready-sent ;;
    esac
}

# Lets the held sender go once the receiver's fault has done its work: it
# has died (kill), or said that its connections are dropped (drop).
release_after_fault()
{
    if [ "$action" = kill ]; then
        mt_wait_for 60 mt_pid_gone "$MT_RECV_PID"
    else
        mt_wait_for 60 grep -q "connections are dropped" "$MT_RECV_ERR"
    fi
    touch "$XM_FAULT_DIR/mig.send.ready-read.go"
}

# fault_case POINT: one migration against a receiver failing at POINT.
fault_case()
{
    local point=$1 tag="$1/$action" src uuid rounds leftover f iterate=
    local fails=$MT_FAILED
    fault_boot
    src=$MT_DOMID
    uuid=$(mt_uuid "$src")
    # The receiver lingers after a failure to answer an in-doubt sender.
    MT_RECV_FAULT="mig.recv.$(fault_point "$point")=$action" \
        mt_recv_start --linger-ms 3000 || mt_bail "could not start a receiver"
    case $point in
    midround|stopcopy) iterate="--downtime-ms 1 --max-rounds 4" ;;
    esac
    sfault=
    if [ "$point" = after-ready ]; then
        # The sender holds after reading READY until the receiver has died
        # or dropped its connections: then, before COMMIT, it must see the
        # receiver gone, every time.
        sfault=mig.send.ready-read=wait
        release_after_fault &
    fi
    # shellcheck disable=SC2086  # two options or none
    MT_SEND_FAULT=$sfault mt_send "$src" $iterate
    mt_check_failed "$tag" "$src" "$uuid" "$ram_limit"
    rounds=$(mt_json "$MT_SEND_JSON" rounds)
    case $point in
    midround|stopcopy)
        mt_cmp "$rounds" ">=" 2 "$tag: the fault hit after pre-copy round 1"
        ;;
    *)
        mt_diag "$tag: failed in round $((rounds - 1))"
        ;;
    esac
    mt_recv_wait 30
    if [ "$action" = kill ]; then
        mt_is "$MT_RECV_RC" 137 "$tag: the receiver died (SIGKILL)"
    else
        mt_is "$MT_RECV_RC" 1 "$tag: the receiver exits 1"
        mt_diag "$tag: receiver: $(grep 'error:' "$MT_RECV_ERR" |
                                   sed 's/^xm-migrate: //' | tr '\n' ' ')"
    fi
    # Self-discarded incoming VMMs keep their log: say so, but this is
    # not the behaviour under test.
    leftover=$(mt_run_files log | tr ' ' '\n' | grep -vx "$src.log" |
               tr '\n' ' ')
    [ -z "$leftover" ] || mt_diag "$tag: logs left in the run directory:" \
        "$leftover"

    if [ "$point" = midround ]; then
        # The failure left nothing behind that stops a later migration.
        mt_migrate "$src" || mt_bail "could not start a receiver"
        mt_is "$MT_SEND_RC/$(mt_json "$MT_SEND_JSON" digest_equal)" 0/true \
            "$tag: the source migrates afterwards" || mt_diag_migration
        [ -n "$MT_DST" ] && src=$MT_DST
    fi
    mt_xm destroy --domid "$src" >/dev/null 2>&1
    # The next case starts with an empty run directory; the VMM logs of a
    # case that failed go to the TAP output first.
    for f in "$MT_RUN"/*.log; do
        [ -f "$f" ] && [ "$MT_FAILED" -gt "$fails" ] &&
            mt_diag_file "$tag: VMM log ${f##*/}" "$f" 15
        rm -f "$f"
    done
}

XM_FAULT_DIR=$MT_WORK/faults
export XM_FAULT_DIR
mkdir -p "$XM_FAULT_DIR"
for point in round0 midround stopcopy after-ready; do
    fault_case "$point"
done

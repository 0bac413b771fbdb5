#!/bin/sh
# Faults around the commit, one state each (docs/specs/migration-stream.md
# section 11): whatever happens, the VM runs on at most one host, the
# sender resumes the source only when the receiver said it does not have
# the VM, and says "in doubt" (exit 3, source left paused) when nobody can
# tell.  The in-doubt case is then resolved as the pool does it: the
# destination is asked (here: the run directory), and the source resumed
# or destroyed.
. "$(dirname "$0")/lib.sh"
mt_setup fault-commit

# A small guest: these cases are about the handshake, not the rounds.
commit_boot()
{
    mt_boot 256 "ws_mib=32 rate_mib=16" || mt_bail "could not boot a guest"
    mt_wait_for 60 mt_pages_at_least "$MT_DOMID" 4096 ||
        mt_diag "guest wrote only $(mt_stat "$MT_DOMID" pages_written)"
}

# Running domains with the VM's uuid, and the one other than the source.
running_copies()
{
    local d n=0
    for d in $(mt_domids_of "$1"); do
        [ "$(mt_state "$d")" = running ] && n=$((n + 1))
    done
    echo "$n"
}
other_domain()
{
    mt_domids_of "$1" | grep -vx "$2" | head -n 1
}

# case_run TAG: sender and receiver faults in MT_SEND_FAULT and
# MT_RECV_FAULT; the receiver lingers to answer a QUERY.
case_run()
{
    commit_boot
    src=$MT_DOMID
    uuid=$(mt_uuid "$src")
    mt_recv_start --linger-ms 3000 || mt_bail "could not start a receiver"
    mt_send "$src"
    mt_recv_wait 30
    dst=$(other_domain "$uuid" "$src")
    mt_diag "$1: send exit $MT_SEND_RC, receive exit $MT_RECV_RC," \
        "sender state $(mt_json "$MT_SEND_JSON" state), receiver" \
        "state $(mt_json "$MT_RECV_JSON" state)"
}

# The sender failed, the source runs, the destination holds nothing.
expect_source_runs()
{
    mt_is "$MT_SEND_RC/$(mt_json "$MT_SEND_JSON" state)" 1/sole-running \
        "$1: the sender fails and resumes the source (sole-running)"
    mt_is "$(mt_state "$src")" running "$1: the source runs"
    mt_check "$1: its heartbeat advances" mt_hb_advances "$src"
    mt_is "$(mt_domids_of "$uuid" | tr '\n' ' ')" "$src " \
        "$1: exactly one domain with the VM's uuid (the source)"
    mt_xm destroy --domid "$src" >/dev/null 2>&1
}

# The destination runs the VM, the source is gone.
expect_handed_over()
{
    mt_is "$MT_SEND_RC/$(mt_json "$MT_SEND_JSON" state)" 0/handed-over \
        "$1: the sender succeeds (handed-over)"
    mt_check "$1: the source is gone" mt_wait_for 5 mt_domain_gone "$src"
    mt_is "$(mt_json "$MT_SEND_JSON" dst_domid)" "${dst:-none}" \
        "$1: the sender names the destination's domain"
    mt_is "$(running_copies "$uuid")/$(mt_domids_of "$uuid" | wc -l)" 1/1 \
        "$1: one domain with the VM's uuid, running"
    [ -n "$dst" ] && mt_check "$1: its heartbeat advances" \
        mt_hb_advances "$dst"
    [ -n "$dst" ] && mt_xm destroy --domid "$dst" >/dev/null 2>&1
}

# Nobody can say: the source stays paused, never two running copies.
expect_in_doubt()
{
    mt_is "$MT_SEND_RC/$(mt_json "$MT_SEND_JSON" state)" 3/in-doubt \
        "$1: the sender says in doubt (exit 3)"
    mt_is "$(mt_state "$src")" paused "$1: the source is left paused"
    mt_cmp "$(running_copies "$uuid")" "<=" 1 \
        "$1: never two running copies"
}

# in-doubt resolved by asking the destination: it runs (want=running) or
# holds nothing (want=none); the source is destroyed or resumed.
resolve()
{
    if [ "$2" = running ]; then
        mt_is "$(mt_state "$dst")" running \
            "$1: the destination runs its copy: the source goes"
        mt_xm destroy --domid "$src" >/dev/null 2>&1
        mt_check "$1: its heartbeat advances" mt_hb_advances "$dst"
        mt_xm destroy --domid "$dst" >/dev/null 2>&1
    else
        mt_is "$dst" "" "$1: the destination holds nothing: the source" \
            "resumes"
        mt_xm unpause --domid "$src" >/dev/null 2>&1
        mt_check "$1: the source's heartbeat advances" mt_hb_advances "$src"
        mt_xm destroy --domid "$src" >/dev/null 2>&1
    fi
}

# The receiver dies after reading COMMIT, before it unpaused: its domain
# never ran and goes with it; the sender cannot know.
MT_RECV_FAULT=mig.recv.commit-read=kill case_run commit-read/kill
mt_is "$MT_RECV_RC" 137 "commit-read/kill: the receiver died"
expect_in_doubt commit-read/kill
mt_check "commit-read/kill: the destination's domain went away" \
    mt_wait_for 5 [ -z "$(other_domain "$uuid" "$src")" ]
dst=$(other_domain "$uuid" "$src")
resolve commit-read/kill none

# The receiver drops its connections there: it destroys its copy and says
# ABORTED to the sender's QUERY, a positive answer.
MT_RECV_FAULT=mig.recv.commit-read=drop case_run commit-read/drop
mt_is "$(mt_json "$MT_RECV_JSON" state)" discarded \
    "commit-read/drop: the receiver discarded its copy"
expect_source_runs commit-read/drop

# The receiver dies after it unpaused, before RESUMED: its domain runs on
# (it ran: it is nobody's to discard); the sender cannot know.
MT_RECV_FAULT=mig.recv.unpaused=kill case_run unpaused/kill
expect_in_doubt unpaused/kill
resolve unpaused/kill running

# The receiver drops its connections after it unpaused: the sender asks
# and hears RESUMED.
MT_RECV_FAULT=mig.recv.unpaused=drop case_run unpaused/drop
expect_handed_over unpaused/drop

# The sender dies right after COMMIT: the receiver runs the VM, the
# source stays paused (the pool resolves it: the destination runs it).
MT_SEND_FAULT=mig.send.commit-sent=kill case_run commit-sent/kill
mt_is "$MT_SEND_RC/$(mt_json "$MT_RECV_JSON" state)" 137/running \
    "commit-sent/kill: the sender died, the receiver runs the VM"
mt_is "$(mt_state "$src")" paused "commit-sent/kill: the source is paused"
resolve commit-sent/kill running

# The sender drops its connection right after COMMIT: it asks, and hears
# that the receiver runs the VM.
MT_SEND_FAULT=mig.send.commit-sent=drop case_run commit-sent/drop
expect_handed_over commit-sent/drop

# The sender dies with the source paused, before COMMIT: the receiver
# discards its copy; the source stays paused, the only copy.
MT_SEND_FAULT=mig.send.paused=kill case_run paused/kill
mt_is "$MT_SEND_RC/$(mt_json "$MT_RECV_JSON" state)" 137/discarded \
    "paused/kill: the sender died, the receiver discarded its copy"
mt_is "$(mt_state "$src")" paused "paused/kill: the source is paused"
resolve paused/kill none

# The sender fails with the source paused, and before COMMIT: it resumes
# the source.
MT_SEND_FAULT=mig.send.paused=fail case_run paused/fail
expect_source_runs paused/fail
MT_SEND_FAULT=mig.send.end-sent=fail case_run end-sent/fail
expect_source_runs end-sent/fail
MT_SEND_FAULT=mig.send.setup=fail case_run setup/fail
expect_source_runs setup/fail

mt_done

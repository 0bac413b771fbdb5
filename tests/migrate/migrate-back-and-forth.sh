#!/bin/sh
# One 512 MiB test guest dirtying 32 MiB/s migrates 20 times in a row, A ->
# B -> A ... (on one host: a new receiver each time, a new domain id each
# time).  Every move is consistent; afterwards nothing is left behind: one
# VMM process and one socket in the run directory, no log of a destroyed
# domain, the surviving VMM holds as many file descriptors as a freshly
# booted one and its resident set stays within its guest RAM plus slack.
. "$(dirname "$0")/lib.sh"
mt_setup back-and-forth

moves=${XM_TEST_MOVES:-20}
mem_mib=512
slack_mib=64

# The fd count of a VMM once its clients have gone: the lowest of a few
# readings (a client of ours may still be closing).
settled_fds()
{
    local i=0 n min=
    while [ $i -lt 10 ]; do
        n=$(mt_fd_count "$1")
        [ -z "$min" ] || [ "$n" -lt "$min" ] && min=$n
        i=$((i + 1))
        sleep 0.1
    done
    echo "$min"
}

fd_list()
{
    ls -l "/proc/$1/fd" 2>/dev/null | awk 'NR > 1 { print $9, $10, $11 }' |
        sed 's/\[[0-9]*\]/[]/; s|/[0-9]*\.log$|/PID.log|'
}

fds_equal()
{
    [ "$(mt_fd_count "$1")" -eq "$2" ]
}

mt_boot "$mem_mib" "ws_mib=256 rate_mib=32" ||
    mt_bail "could not boot the guest"
src=$MT_DOMID
uuid=$(mt_uuid "$src")
fresh_fds=$(settled_fds "$src")
fd_list "$src" >"$MT_WORK/fresh.fds"
mt_diag "fresh VMM $src: $fresh_fds fds, RSS $(mt_rss_kib "$src") KiB"
mt_wait_for 60 mt_pages_at_least "$src" 16384 ||
    mt_diag "guest wrote only $(mt_stat "$src" pages_written) pages in 60 s"

rss_series=
k=1
while [ $k -le "$moves" ]; do
    if [ $((k % 2)) -eq 1 ]; then dir="A->B"; else dir="B->A"; fi
    why=
    mt_migrate "$src" || mt_bail "could not start a receiver"
    dst=$MT_DST
    j=$MT_SEND_JSON
    [ "$MT_SEND_RC/$MT_RECV_RC" = 0/0 ] ||
        why="$why; exit codes send $MT_SEND_RC receive $MT_RECV_RC"
    [ "$(mt_json "$j" committed)" = true ] || why="$why; not committed"
    [ "$(mt_json "$j" hb_continuous)" = true ] &&
    [ "$(mt_json "$j" hb_first_seq_dst)" = \
      $(($(mt_json "$j" hb_last_seq_src) + 1)) ] ||
        why="$why; heartbeat not continuous"
    [ "$(mt_json "$j" mismatches)" = 0 ] || why="$why; ledger mismatches"
    [ "$(mt_json "$j" digest_equal)" = true ] || why="$why; digests differ"
    if [ -z "$dst" ]; then
        why="$why; no destination domain"
    else
        [ "$(mt_state "$dst")" = running ] ||
            why="$why; destination $dst not running"
        [ "$dst" != "$src" ] || why="$why; domain id did not change"
    fi
    mt_wait_for 10 mt_domain_gone "$src" || why="$why; source $src not gone"
    if [ -z "$why" ]; then
        mt_ok "move $k ($dir, domain $src -> $dst): continuous, clean" \
"ledger, equal digests, source gone ($(mt_json "$j" total_ms) ms," \
"downtime $(mt_json "$j" downtime_ms) ms)"
    else
        mt_fail "move $k ($dir, domain $src -> $dst)" "${why#; }"
        mt_diag_migration
    fi
    [ -n "$dst" ] || mt_bail "no domain to continue with after move $k"
    rss_series="$rss_series $(mt_rss_kib "$dst")"
    src=$dst
    k=$((k + 1))
done
mt_diag "destination RSS after each move (KiB):$rss_series"

mt_check "heartbeat advances on the surviving domain $src" \
    mt_hb_advances "$src"
mt_is "$(mt_stat "$src" mismatches)" 0 "its ledger is clean"
mt_is "$(mt_domids_of "$uuid" | tr '\n' ' ')" "$src " \
    "exactly one domain with the VM's UUID"
mt_is "$(mt_vmm_count | tr -d ' ')" 1 "exactly one xm-vmm process left"
mt_is "$(mt_run_files sock)" "$src.sock" "exactly one socket left"
mt_is "$(mt_run_files log)" "$src.log" "no log of a destroyed domain left"
if mt_wait_for 5 fds_equal "$src" "$fresh_fds"; then
    mt_ok "surviving VMM holds as many fds as a fresh one ($fresh_fds)"
else
    fd_list "$src" >"$MT_WORK/survivor.fds"
    mt_fail "surviving VMM holds as many fds as a fresh one" \
        "got $(mt_fd_count "$src"), fresh VMM had $fresh_fds" \
        "$(diff "$MT_WORK/fresh.fds" "$MT_WORK/survivor.fds")"
fi
rss=$(mt_rss_kib "$src")
mt_cmp "$rss" "<=" $(((mem_mib + slack_mib) * 1024)) \
    "surviving VMM's RSS ($rss KiB) within guest RAM + $slack_mib MiB"
first_rss=$(echo $rss_series | cut -d' ' -f1)
mt_cmp "$rss" "<=" $((first_rss + slack_mib * 1024)) \
    "RSS not growing move after move (first $first_rss KiB, now $rss KiB)"

mt_done

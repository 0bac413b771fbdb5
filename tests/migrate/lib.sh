# tests/migrate/lib.sh - shared helpers of the migration integration tests.
#
# Sourced by tests/migrate/*.sh (POSIX sh).  It gives:
#   - TAP output: mt_ok/mt_fail/mt_is/mt_cmp/mt_check/mt_skip, mt_diag,
#     mt_skip_all REASON, mt_bail REASON, mt_done (prints the plan);
#   - a private temporary directory (MT_TMP) holding the VMM run directory
#     (MT_RUN, exported as XM_VMM_RUN_DIR) and the tests' own files
#     (MT_WORK); every VMM of that run directory and every background
#     process started here is killed on any exit;
#   - the hv driver: kvm when /dev/kvm can be opened, else sim
#     (XM_TEST_DRIVER overrides), said in a TAP comment;
#   - the steps of a migration through xm-migrate: boot a test guest,
#     start a receiver and read its port, run a send, read JSON fields,
#     wait for heartbeats, count this run directory's VMMs and sockets.
#
# Each test script is one behaviour: it calls mt_setup NAME first and
# mt_done last.  Set XM_TEST_KEEP=1 to keep MT_TMP after the run.

MT_BUILDDIR=${XM_BUILDDIR:-.}
MT_SRCDIR=${XM_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
MT_XM=$MT_BUILDDIR/xl-migrate/xm-migrate
MT_VMM=$MT_BUILDDIR/vmm/xm-vmm
MT_GUEST=$MT_BUILDDIR/guest/xm-guest.elf

MT_N=0              # test points so far
MT_FAILED=0
MT_NAME=
MT_TMP=
MT_RUN=
MT_WORK=
MT_DRIVER=
MT_BG_PIDS=         # background processes of ours (receivers)
MT_SEQ=0            # numbers the files of each command
MT_T0=$(date +%s)
# Generous: the machine may be shared with other migrations.
MT_SEND_TIMEOUT=${XM_TEST_SEND_TIMEOUT:-300}

# ---------------------------------------------------------------- TAP

mt_diag()
{
    printf '%s\n' "$*" | sed 's/^/# /'
}

# Prints a file as TAP comments, under a title (if it exists and is not
# empty); at most the last $3 lines (default 40).
mt_diag_file()
{
    if [ -s "$2" ]; then
        mt_diag "$1:"
        tail -n "${3:-40}" "$2" | sed 's/^/#   /'
    fi
}

# mt_ok NAME...: the words of NAME joined by spaces.
mt_ok()
{
    MT_N=$((MT_N + 1))
    printf 'ok %d - %s\n' "$MT_N" "$*"
}

# mt_fail NAME [DIAGNOSTIC...]
mt_fail()
{
    local l
    MT_N=$((MT_N + 1))
    MT_FAILED=$((MT_FAILED + 1))
    printf 'not ok %d - %s\n' "$MT_N" "$1"
    shift
    for l in "$@"; do
        mt_diag "  $l"
    done
}

# mt_skip NAME REASON
mt_skip()
{
    MT_N=$((MT_N + 1))
    printf 'ok %d - %s # SKIP %s\n' "$MT_N" "$1" "$2"
}

# mt_is GOT WANT NAME...: string equality.
mt_is()
{
    local _got=$1 _want=$2
    shift 2
    if [ "x$_got" = "x$_want" ]; then
        mt_ok "$*"
        return 0
    fi
    mt_fail "$*" "got  '$_got'" "want '$_want'"
    return 1
}

# mt_cmp GOT OP WANT NAME...: numeric comparison (OP: < <= == != >= >),
# floats allowed.
mt_cmp()
{
    local _got=$1 _op=$2 _want=$3
    shift 3
    if awk -v a="$_got" -v b="$_want" -v op="$_op" 'BEGIN {
            if (a !~ /^-?[0-9.eE+]+$/) exit 1;
            a += 0; b += 0;
            if (op == "<") r = a < b; else if (op == "<=") r = a <= b;
            else if (op == "==") r = a == b; else if (op == "!=") r = a != b;
            else if (op == ">=") r = a >= b; else if (op == ">") r = a > b;
            else r = 0;
            exit !r }'; then
        mt_ok "$*"
        return 0
    fi
    mt_fail "$*" "got  '$_got'" "want $_op $_want"
    return 1
}

# mt_check NAME COMMAND...: ok when COMMAND succeeds; its output and
# $MT_WHY are the diagnostic otherwise.
mt_check()
{
    local name=$1 out
    shift
    MT_WHY=
    if "$@" >"$MT_WORK/check.out" 2>&1; then
        mt_ok "$name"
        return 0
    fi
    out=$(cat "$MT_WORK/check.out")
    mt_fail "$name" ${MT_WHY:+"$MT_WHY"} ${out:+"$out"}
    return 1
}

mt_skip_all()
{
    echo "1..0 # SKIP $*"
    exit 0
}

mt_bail()
{
    echo "Bail out! $MT_NAME: $*"
    MT_FAILED=$((MT_FAILED + 1))
    exit 1
}

# Prints the plan and exits: 0 when every point passed.
mt_done()
{
    echo "1..$MT_N"
    mt_diag "$MT_NAME: $MT_FAILED of $MT_N failed, $(($(date +%s) - MT_T0)) s"
    [ "$MT_FAILED" -eq 0 ] && exit 0
    exit 1
}

# ---------------------------------------------------------------- set-up

mt_cleanup()
{
    local _rc=$? _p _f _left
    trap - EXIT HUP INT TERM
    for _p in $MT_BG_PIDS; do
        kill -KILL "$_p" 2>/dev/null
    done
    for _p in $MT_BG_PIDS; do
        wait "$_p" 2>/dev/null
    done
    if [ -n "$MT_RUN" ] && [ -d "$MT_RUN" ]; then
        if [ "$MT_FAILED" -gt 0 ]; then
            for _f in "$MT_RUN"/*.log; do
                [ -f "$_f" ] && mt_diag_file "VMM log ${_f##*/}" "$_f" 15
            done
        fi
        _left=$(mt_vmm_pids)
        [ -n "$_left" ] && mt_diag "cleanup: killing VMMs" $_left
        for _p in $_left; do
            kill -KILL "$_p" 2>/dev/null
        done
        mt_wait_for 10 mt_no_vmms
    fi
    if [ -n "$MT_TMP" ] && [ -d "$MT_TMP" ]; then
        if [ "${XM_TEST_KEEP:-0}" = 1 ]; then
            mt_diag "kept $MT_TMP"
        else
            rm -rf "$MT_TMP"
        fi
    fi
    exit "$_rc"
}

mt_no_vmms()
{
    [ -z "$(mt_vmm_pids)" ]
}

# mt_setup NAME: the temporary directories, the trap, the driver.
mt_setup()
{
    local _f
    MT_NAME=$1
    for _f in "$MT_XM" "$MT_VMM"; do
        [ -x "$_f" ] || mt_bail "$_f is not built (XM_BUILDDIR=$MT_BUILDDIR)"
    done
    [ -f "$MT_GUEST" ] || mt_bail "$MT_GUEST is not built"
    MT_TMP=$(mktemp -d "/tmp/xm-mig-$MT_NAME.XXXXXX") ||
        mt_bail "mktemp failed"
    MT_RUN=$MT_TMP/run
    MT_WORK=$MT_TMP/work
    mkdir "$MT_RUN" "$MT_WORK" || mt_bail "mkdir in $MT_TMP failed"
    XM_VMM_RUN_DIR=$MT_RUN
    XM_BUILDDIR=$MT_BUILDDIR
    export XM_VMM_RUN_DIR XM_BUILDDIR
    trap mt_cleanup EXIT
    trap 'exit 130' HUP INT TERM
    if [ -n "${XM_TEST_DRIVER:-}" ]; then
        MT_DRIVER=$XM_TEST_DRIVER
        mt_diag "driver: $MT_DRIVER (XM_TEST_DRIVER)"
    elif [ -c /dev/kvm ] && (: <>/dev/kvm) 2>/dev/null; then
        MT_DRIVER=kvm
        mt_diag "driver: kvm (/dev/kvm is usable)"
    else
        MT_DRIVER=sim
        mt_diag "driver: sim (no usable /dev/kvm)"
        mt_probe_sim
    fi
    mt_diag "run directory: $MT_RUN"
    # The channel: TLS with the test receiver identity, its key pinned by
    # the sender (MT_PLAIN=1: plain TCP on loopback instead).
    MT_TLS_CERT=$MT_SRCDIR/tests/data/tls/a.crt
    MT_TLS_KEY=$MT_SRCDIR/tests/data/tls/a.key
    MT_TLS_PIN=$("$MT_XM" tls-pin --tls-cert "$MT_TLS_CERT") ||
        mt_bail "no pin for $MT_TLS_CERT"
}

# The channel options of a receiver and of a sender.
mt_recv_chan()
{
    if [ "${MT_PLAIN:-0}" = 1 ]; then
        echo --plain
    else
        echo --tls-cert "$MT_TLS_CERT" --tls-key "$MT_TLS_KEY"
    fi
}
mt_send_chan()
{
    if [ "${MT_PLAIN:-0}" = 1 ]; then
        echo --plain
    else
        echo --tls-pin "$MT_TLS_PIN"
    fi
}

# Without /dev/kvm the sim driver is all there is; it needs a kernel with
# userfaultfd write-protect: a machine without it cannot run this test.
mt_probe_sim()
{
    local _d
    if ! _d=$(mt_xm boot --mem-mib 16 --cmdline "ws_mib=1 rate=0" \
              2>"$MT_WORK/probe.err"); then
        mt_skip_all "no usable /dev/kvm, and the sim driver cannot run" \
            "here: $(tail -n 1 "$MT_WORK/probe.err")"
    fi
    mt_xm destroy --domid "$_d" >/dev/null 2>&1
}

# ---------------------------------------------------------------- waiting

# mt_wait_for SECONDS COMMAND...: polls COMMAND every 0.1 s until it
# succeeds (0) or the time is up (1).
mt_wait_for()
{
    local end=$(($(date +%s) + $1 + 1))
    shift
    while :; do
        "$@" && return 0
        [ "$(date +%s)" -ge "$end" ] && return 1
        sleep 0.1
    done
}

# Is process PID gone (or a zombie)?
mt_pid_gone()
{
    local _st
    [ -r "/proc/$1/stat" ] || return 0
    _st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
    [ -z "$_st" ] || [ "$_st" = Z ] || [ "$_st" = X ]
}

# ---------------------------------------------------------------- JSON

# mt_json JSON FIELD: prints the field of a flat JSON object line as
# xm-migrate writes them (true/false/null, numbers, strings without their
# quotes); fails when FIELD is not there.  sed, not python: cheap enough
# to call in loops on a loaded machine.
mt_json()
{
    local _v
    _v=$(printf '%s\n' "$1" |
         sed -n "s/.*[{,]\"$2\":\(\"[^\"]*\"\|[^,}]*\).*/\1/p")
    [ -n "$_v" ] || return 1
    _v=${_v#\"}
    printf '%s\n' "${_v%\"}"
}

# The last line of FILE that is a stats object (has "role").
mt_last_json()
{
    grep '"role"' "$1" 2>/dev/null | tail -n 1
}

# ---------------------------------------------------------------- domains

# xm-migrate with this test's driver: mt_xm COMMAND [ARGS...]
mt_xm()
{
    local _cmd=$1
    shift
    "$MT_XM" "$_cmd" --driver "$MT_DRIVER" "$@"
}

# mt_stat DOMID FIELD: one field of `xm-migrate stats`.
mt_stat()
{
    local _j
    _j=$(mt_xm stats --domid "$1" 2>/dev/null) || return 1
    mt_json "$_j" "$2"
}

# mt_boot MIB CMDLINE [MIN_HB]: boots a test guest; MT_DOMID gets its id.
# Waits until it has sent MIN_HB heartbeats (default 20).
mt_boot()
{
    local _err
    MT_DOMID=
    MT_SEQ=$((MT_SEQ + 1))
    _err=$MT_WORK/boot.$MT_SEQ.err
    MT_DOMID=$(mt_xm boot --mem-mib "$1" --cmdline "$2" \
               --name "$MT_NAME" 2>"$_err") || {
        mt_diag_file "boot failed" "$_err"
        return 1
    }
    mt_wait_for 30 mt_hb_at_least "$MT_DOMID" "${3:-20}" || {
        mt_diag "domain $MT_DOMID: no heartbeat within 30 s"
        mt_diag_file "its log" "$MT_RUN/$MT_DOMID.log"
        return 1
    }
}

mt_hb_at_least()
{
    local _s
    _s=$(mt_stat "$1" hb_count) && [ "$_s" -ge "$2" ]
}

mt_pages_at_least()
{
    local _s
    _s=$(mt_stat "$1" pages_written) && [ "$_s" -ge "$2" ]
}

# mt_hb_advances DOMID [BY] [SECONDS]: the guest's heartbeat sequence
# grows by BY (default 50) within SECONDS (default 10).
mt_hb_advances()
{
    local _s0
    _s0=$(mt_stat "$1" hb_last_seq) || {
        MT_WHY="domain $1: no stats"
        return 1
    }
    if mt_wait_for "${3:-10}" mt_hb_seq_at_least "$1" $((_s0 + ${2:-50}))
    then
        return 0
    fi
    MT_WHY="domain $1: hb_last_seq $_s0 -> $(mt_stat "$1" hb_last_seq) \
in ${3:-10} s, want +${2:-50}"
    return 1
}

mt_hb_seq_at_least()
{
    local _s
    _s=$(mt_stat "$1" hb_last_seq) && [ "$_s" -ge "$2" ]
}

mt_state()
{
    mt_stat "$1" state
}

# The UUID of DOMID, from `xm-migrate list`.
mt_uuid()
{
    mt_xm list 2>/dev/null | awk -v d="$1" '$1 == d { print $2 }'
}

# The domain ids `xm-migrate list` shows with UUID.
mt_domids_of()
{
    mt_xm list 2>/dev/null | awk -v u="$1" '$2 == u { print $1 }'
}

mt_domain_count()
{
    mt_xm list 2>/dev/null | wc -l
}

# Pids of the live xm-vmm processes of this test's run directory: those
# whose command line holds "--run-dir MT_RUN" (zombies have none).
mt_vmm_pids()
{
    local _f _p
    for _f in $(grep -laF -- "$MT_RUN" /proc/[0-9]*/cmdline 2>/dev/null)
    do
        _p=${_f#/proc/}
        _p=${_p%/cmdline}
        { tr '\0' '\n' <"$_f"; } 2>/dev/null | awk -v run="$MT_RUN" '
            NR == 1 && $0 !~ /(^|\/)xm-vmm$/ { exit 1 }
            prev == "--run-dir" && $0 == run { found = 1 }
            { prev = $0 }
            END { exit !found }' && echo "$_p"
    done
}

mt_vmm_count()
{
    mt_vmm_pids | wc -l
}

# Names of the sockets (or logs: mt_run_files log) in the run directory.
mt_run_files()
{
    (cd "$MT_RUN" && ls -1 -- *."${1:-sock}" 2>/dev/null) | tr '\n' ' ' |
        sed 's/ $//'
}

# The run directory holds exactly the VMMs (pids) given, and their sockets.
mt_only_vmms()
{
    local _want _got _wsock _gsock _p
    _want=$(printf '%s\n' "$@" | sort | tr '\n' ' ')
    _got=$(mt_vmm_pids | sort | tr '\n' ' ')
    _wsock=$(for _p in "$@"; do echo "$_p.sock"; done | sort | tr '\n' ' ')
    _gsock=$(mt_run_files sock | tr ' ' '\n' | sed '/^$/d' | sort |
             tr '\n' ' ')
    MT_WHY="VMMs: $_got(want $_want); sockets: $_gsock(want $_wsock)"
    [ "$_got" = "$_want" ] && [ "$_gsock" = "$_wsock" ]
}

# Is domain DOMID gone: no VMM process, no socket, stats refuse it?
mt_domain_gone()
{
    mt_pid_gone "$1" && [ ! -e "$MT_RUN/$1.sock" ] &&
        ! mt_xm stats --domid "$1" >/dev/null 2>&1
}

# Open file descriptors and resident set (KiB) of a process.
mt_fd_count()
{
    ls "/proc/$1/fd" 2>/dev/null | wc -l
}

mt_rss_kib()
{
    awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null
}

# MiB of guest RAM the VMM of DOMID has allocated (the blocks of its
# memfd); fails for a driver without one.
mt_ram_mib()
{
    local _fd
    _fd=$(ls -l "/proc/$1/fd" 2>/dev/null |
          awk '/memfd:xm-guest-ram/ { print $9; exit }')
    [ -n "$_fd" ] || return 1
    stat -L -c '%b %B' "/proc/$1/fd/$_fd" 2>/dev/null |
        awk '{ printf "%d\n", $1 * $2 / 1048576 }'
}

# ---------------------------------------------------------------- migrate

# mt_recv_start [RECEIVE OPTIONS...]: a receiver in the background on
# 127.0.0.1:0; MT_PORT, MT_RECV_PID, MT_RECV_OUT, MT_RECV_ERR.  Its fault
# points are armed by MT_RECV_FAULT ("point=action", xt.h), the sender's
# by MT_SEND_FAULT: each process gets its own.
mt_recv_start()
{
    MT_RECV_RC=
    MT_RECV_JSON=
    MT_SEQ=$((MT_SEQ + 1))
    MT_RECV_OUT=$MT_WORK/recv.$MT_SEQ.out
    MT_RECV_ERR=$MT_WORK/recv.$MT_SEQ.err
    MT_PORT=
    # shellcheck disable=SC2046  # the channel options are words
    env XM_FAULT="${MT_RECV_FAULT:-}" \
        "$MT_XM" receive --driver "$MT_DRIVER" --listen 127.0.0.1:0 \
        $(mt_recv_chan) "$@" >"$MT_RECV_OUT" 2>"$MT_RECV_ERR" </dev/null &
    MT_RECV_PID=$!
    MT_BG_PIDS="$MT_BG_PIDS $MT_RECV_PID"
    if ! mt_wait_for 30 mt_recv_listening || [ -z "$MT_PORT" ]; then
        mt_diag "receiver did not say where it listens"
        mt_diag_file "its stderr" "$MT_RECV_ERR"
        return 1
    fi
}

mt_recv_listening()
{
    MT_PORT=$(sed -n 's/^{"event":"listening","port":\([0-9]*\)}$/\1/p' \
              "$MT_RECV_OUT" 2>/dev/null | head -n 1)
    [ -n "$MT_PORT" ] && [ "$MT_PORT" -gt 0 ] && return 0
    MT_PORT=
    mt_pid_gone "$MT_RECV_PID"     # gave up: stop waiting
}

# mt_recv_wait [SECONDS]: waits for the receiver to exit (default 60 s,
# then kills it); MT_RECV_RC (128+N when killed by signal N), MT_RECV_JSON.
mt_recv_wait()
{
    if ! mt_wait_for "${1:-60}" mt_pid_gone "$MT_RECV_PID"; then
        mt_diag "receiver $MT_RECV_PID still running after ${1:-60} s:" \
            "killing it"
        kill -KILL "$MT_RECV_PID" 2>/dev/null
    fi
    wait "$MT_RECV_PID"
    MT_RECV_RC=$?
    MT_BG_PIDS=$(echo "$MT_BG_PIDS" | tr ' ' '\n' |
                 grep -vx "$MT_RECV_PID" | tr '\n' ' ')
    MT_RECV_JSON=$(mt_last_json "$MT_RECV_OUT")
}

# mt_send DOMID [SEND OPTIONS...]: sends DOMID to the receiver at MT_PORT;
# MT_SEND_RC, MT_SEND_JSON, MT_SEND_ERR (stderr file), MT_SEND_SECS.
mt_send()
{
    local _dom=$1 _t0
    shift
    MT_SEQ=$((MT_SEQ + 1))
    MT_SEND_OUT=$MT_WORK/send.$MT_SEQ.out
    MT_SEND_ERR=$MT_WORK/send.$MT_SEQ.err
    _t0=$(date +%s)
    # shellcheck disable=SC2046  # the channel options are words
    timeout -k 10 "$MT_SEND_TIMEOUT" env XM_FAULT="${MT_SEND_FAULT:-}" \
        "$MT_XM" send --driver "$MT_DRIVER" --to "127.0.0.1:$MT_PORT" \
        --domid "$_dom" $(mt_send_chan) "$@" \
        >"$MT_SEND_OUT" 2>"$MT_SEND_ERR" </dev/null
    MT_SEND_RC=$?
    MT_SEND_SECS=$(($(date +%s) - _t0))
    [ "$MT_SEND_RC" -eq 124 ] &&
        mt_diag "send timed out after $MT_SEND_TIMEOUT s"
    MT_SEND_JSON=$(mt_last_json "$MT_SEND_OUT")
}

# The sender's error message: its "error:" lines, on one line.
mt_send_error()
{
    grep 'error:' "$MT_SEND_ERR" 2>/dev/null | sed 's/^xm-migrate: //' |
        tr '\n' ' ' | sed 's/ $//'
}

# mt_migrate DOMID [SEND OPTIONS...]: a whole migration on this host: a
# fresh receiver, the send, the receiver's end.  MT_DST: the new domain
# (from the receiver's JSON), empty if none.
mt_migrate()
{
    MT_DST=
    MT_SEND_RC=
    MT_RECV_RC=
    MT_SEND_JSON=
    MT_RECV_JSON=
    mt_recv_start || return 1
    mt_send "$@"
    mt_recv_wait 60
    MT_DST=$(mt_json "$MT_RECV_JSON" dst_domid 2>/dev/null)
    [ "$MT_DST" = 0 ] && MT_DST=
    return 0
}

# Prints a few figures of the last migration as a TAP comment.
mt_report()
{
    local _k _line=
    if [ -z "$MT_SEND_JSON" ]; then
        mt_diag "$1: no JSON from the sender"
        return
    fi
    for _k in total_ms downtime_ms guest_downtime_ms rounds forced_stop \
              throttle_pct bandwidth_mib_s bytes_sent pages_sent \
              compression_ratio streams final_dirty_pages_s; do
        _line="$_line $_k=$(mt_json "$MT_SEND_JSON" "$_k")"
    done
    mt_diag "$1:$_line"
}

# Diagnostics of a failed migration step: both ends' output.
mt_diag_migration()
{
    mt_diag "send exit $MT_SEND_RC, receive exit ${MT_RECV_RC:-(not yet)}"
    mt_diag "send JSON: $MT_SEND_JSON"
    mt_diag "receive JSON: $MT_RECV_JSON"
    mt_diag_file "send stderr" "$MT_SEND_ERR" 20
    mt_diag_file "receive stderr" "$MT_RECV_ERR" 20
}

# mt_check_migrated TAG SRC [UUID]: the checks every successful migration
# of a test guest passes (several TAP points, named "TAG: ...").  The new
# domain is MT_DST.
mt_check_migrated()
{
    local _tag=$1 _src=$2 _uuid=${3:-} _fails=$MT_FAILED _last _first

    mt_is "$MT_SEND_RC/$MT_RECV_RC" "0/0" "$_tag: send and receive exit 0"
    mt_is "$(mt_json "$MT_SEND_JSON" committed)/$(mt_json "$MT_RECV_JSON" \
           committed)" "true/true" "$_tag: both ends committed"
    _last=$(mt_json "$MT_SEND_JSON" hb_last_seq_src)
    _first=$(mt_json "$MT_SEND_JSON" hb_first_seq_dst)
    if [ -n "$_last" ] && [ -n "$_first" ] &&
       [ "$_first" -eq $((_last + 1)) ] &&
       [ "$(mt_json "$MT_SEND_JSON" hb_continuous)" = true ]; then
        mt_ok "$_tag: heartbeat continuous ($_last -> $_first)"
    elif [ -z "$_first" ] &&
         [ "$(mt_json "$MT_SEND_JSON" guest_downtime_ms)" = null ]; then
        mt_fail "$_tag: heartbeat continuous" \
            "not measured: the JSON has no heartbeat figures (the receiver" \
            "saw no heartbeat in its wait right after the resume)"
    else
        mt_fail "$_tag: heartbeat continuous" \
            "hb_last_seq_src '$_last' hb_first_seq_dst '$_first'" \
            "hb_continuous '$(mt_json "$MT_SEND_JSON" hb_continuous)'"
    fi
    mt_is "$(mt_json "$MT_SEND_JSON" mismatches)" 0 \
        "$_tag: no ledger mismatch after the move"
    mt_is "$(mt_json "$MT_SEND_JSON" digest_equal)" true \
        "$_tag: memory digests equal"
    if [ -z "$MT_DST" ]; then
        mt_fail "$_tag: a destination domain exists" \
            "no dst_domid in the receiver's JSON"
    else
        mt_is "$(mt_state "$MT_DST")" running \
            "$_tag: destination domain $MT_DST running"
        mt_check "$_tag: heartbeat advances on the destination" \
            mt_hb_advances "$MT_DST"
        mt_is "$(mt_stat "$MT_DST" mismatches)" 0 \
            "$_tag: destination ledger still clean"
    fi
    mt_check "$_tag: source domain $_src gone" \
        mt_wait_for 10 mt_domain_gone "$_src"
    if [ -n "$_uuid" ]; then
        mt_is "$(mt_domids_of "$_uuid" | tr '\n' ' ')" "$MT_DST " \
            "$_tag: exactly one domain with the VM's UUID"
    fi
    [ "$MT_FAILED" -eq "$_fails" ] || mt_diag_migration
}

# mt_check_failed TAG SRC UUID [RAM_MIB]: the checks every failed
# migration passes (several TAP points, named "TAG: ...").  Until the
# commit the source is the one and only copy: the sender exits 1 (not 3,
# "in doubt") with a clear error, the source runs on with a clean ledger,
# it is the only domain with its UUID, and the destination holds nothing
# within ~2 s.  With RAM_MIB: the source's VMM has allocated at most that
# much guest RAM (reading never-written pages must not allocate them).
mt_check_failed()
{
    local _tag=$1 _src=$2 _uuid=$3 _fails=$MT_FAILED _err _ram
    _err=$(mt_send_error)
    case $MT_SEND_RC in
    1)  mt_ok "$_tag: send exits 1 (failed, source still running)" ;;
    3)  mt_fail "$_tag: send exits 1 (failed, source still running)" \
            "got 3: COMMIT IN DOUBT, the source was left paused" \
            "(engine bug: this commit was never taken)" ;;
    *)  mt_fail "$_tag: send exits 1 (failed, source still running)" \
            "got exit $MT_SEND_RC" ;;
    esac
    mt_is "$(mt_json "$MT_SEND_JSON" committed)/$(mt_json "$MT_SEND_JSON" \
           in_doubt)" "false/false" \
        "$_tag: sender's JSON: not committed, not in doubt"
    if [ -n "$_err" ]; then
        mt_ok "$_tag: the sender says why"
        mt_diag "$_tag: sender: $_err"
    else
        mt_fail "$_tag: the sender says why" "no error line on stderr"
    fi
    mt_is "$(mt_state "$_src")" running "$_tag: source domain $_src running"
    mt_check "$_tag: source heartbeat advances" mt_hb_advances "$_src"
    mt_is "$(mt_stat "$_src" mismatches)/$(mt_stat "$_src" hb_seq_breaks)" \
        0/0 "$_tag: source ledger clean, heartbeat sequence unbroken"
    mt_is "$(mt_domids_of "$_uuid" | tr '\n' ' ')" "$_src " \
        "$_tag: exactly one domain with the VM's UUID (the source)"
    mt_check "$_tag: the destination holds nothing (only the source's \
VMM and socket remain)" mt_wait_for 2 mt_only_vmms "$_src"
    if [ -n "${4:-}" ]; then
        if _ram=$(mt_ram_mib "$_src"); then
            mt_cmp "$_ram" "<=" "$4" "$_tag: the source's untouched RAM" \
                "stays unallocated ($_ram MiB allocated, at most $4)"
        else
            mt_skip "$_tag: the source's untouched RAM stays unallocated" \
                "no guest RAM memfd to look at ($MT_DRIVER driver)"
        fi
    fi
    [ "$MT_FAILED" -eq "$_fails" ] || mt_diag_migration
}

# tests/daemon/lib.sh - shared helpers of the xm-poold lifecycle tests.
#
# Sourced by tests/daemon/*.sh (bash: plain HTTP is spoken through
# /dev/tcp).  It gives:
#   - TAP output: dt_ok/dt_fail/dt_is/dt_check, dt_diag, dt_bail, dt_done;
#   - a private temporary directory DT_TMP with a configuration DT_CONF
#     (state and run directories inside it, HTTPS on a free port, plain
#     HTTP on 127.0.0.1:DT_HTTP_PORT, log to DT_LOG) and the root password
#     in the environment; any daemon of ours is killed on exit;
#   - dt_start (foreground, in the background) and dt_wait_ready,
#     dt_stop (exit status in DT_RC), dt_http METHOD PATH (prints the
#     status code).
#
# Each script is one behaviour: dt_setup NAME first, dt_done last.  Set
# XM_TEST_KEEP=1 to keep DT_TMP.

DT_BUILDDIR=${XM_BUILDDIR:-.}
DT_POOLD=$DT_BUILDDIR/daemon/xm-poold

DT_N=0
DT_FAILED=0
DT_NAME=
DT_TMP=
DT_CONF=
DT_LOG=
DT_PID=             # the foreground daemon started by dt_start
DT_RC=              # its exit status, after dt_stop
DT_READY_BEFORE=0   # "ready" lines in the log before dt_start
DT_HTTP_PORT=

dt_diag()
{
    printf '%s\n' "$*" | sed 's/^/# /'
}

dt_diag_file()
{
    if [ -s "$2" ]; then
        dt_diag "$1:"
        tail -n 30 "$2" | sed 's/^/#   /'
    fi
}

dt_ok()
{
    DT_N=$((DT_N + 1))
    printf 'ok %d - %s\n' "$DT_N" "$1"
}

dt_fail()
{
    local l
    DT_N=$((DT_N + 1))
    DT_FAILED=$((DT_FAILED + 1))
    printf 'not ok %d - %s\n' "$DT_N" "$1"
    shift
    for l in "$@"; do
        dt_diag "  $l"
    done
}

# dt_is GOT WANT NAME
dt_is()
{
    if [ "$1" = "$2" ]; then
        dt_ok "$3"
    else
        dt_fail "$3" "got  '$1'" "want '$2'"
    fi
}

# dt_check NAME COMMAND...: ok when the command succeeds.
dt_check()
{
    local name=$1
    shift
    if "$@"; then
        dt_ok "$name"
    else
        dt_fail "$name" "failed: $*"
    fi
}

dt_bail()
{
    echo "Bail out! $*"
    dt_diag_file "daemon log" "$DT_LOG"
    exit 1
}

dt_done()
{
    echo "1..$DT_N"
    [ "$DT_FAILED" -eq 0 ] || dt_diag_file "daemon log" "$DT_LOG"
    [ "$DT_FAILED" -eq 0 ]
    exit $?
}

dt_cleanup()
{
    local pid
    trap - EXIT HUP INT TERM
    [ -n "$DT_PID" ] && kill -KILL "$DT_PID" 2>/dev/null
    if [ -n "$DT_TMP" ] && [ -f "$DT_TMP/run/xm-poold.pid" ]; then
        pid=$(cat "$DT_TMP/run/xm-poold.pid" 2>/dev/null)
        [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
    fi
    if [ -n "$DT_TMP" ] && [ -z "$XM_TEST_KEEP" ]; then
        rm -rf "$DT_TMP"
    fi
}

# A TCP port of 127.0.0.1 nobody listens on, below the kernel's
# ephemeral range: a port in it may be taken meanwhile by any outgoing
# connection of the tests running beside this one (the daemon's bind then
# fails).  A race with another test picking the same port remains: rare.
dt_free_port()
{
    local p i lo=32768 hi
    read -r lo hi < /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null
    [ "$lo" -gt 12000 ] || lo=32768
    for i in 1 2 3 4 5 6 7 8 9 10; do
        p=$((10000 + RANDOM % (lo - 10000)))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    return 1
}

# dt_setup NAME
dt_setup()
{
    DT_NAME=$1
    [ -x "$DT_POOLD" ] || dt_bail "$DT_POOLD is not built (XM_BUILDDIR)"
    DT_TMP=$(mktemp -d "${TMPDIR:-/tmp}/xm-poold-$1.XXXXXX") ||
        dt_bail "mktemp failed"
    trap dt_cleanup EXIT
    trap 'exit 1' HUP INT TERM
    DT_HTTP_PORT=$(dt_free_port) || dt_bail "no free port"
    DT_CONF=$DT_TMP/xm-pool.conf
    DT_LOG=$DT_TMP/xm-poold.log
    cat > "$DT_CONF" <<EOF
# written by tests/daemon/lib.sh
state_dir = $DT_TMP/state
run_dir = $DT_TMP/run
listen_address = 127.0.0.1
port = 0
http_port = $DT_HTTP_PORT
log = $DT_LOG
log_level = debug
password_cost = 1
EOF
    XM_POOL_ROOT_PASSWORD=test-root-pw
    export XM_POOL_ROOT_PASSWORD
    unset NOTIFY_SOCKET XM_POOL_CONF
}

# dt_start [ARGS...]: the daemon in the foreground, as a child of ours;
# stdout and stderr to DT_TMP/out and DT_TMP/err.
dt_start()
{
    DT_READY_BEFORE=$(grep -c 'info: ready$' "$DT_LOG" 2>/dev/null)
    "$DT_POOLD" --config "$DT_CONF" --foreground "$@" \
        > "$DT_TMP/out" 2> "$DT_TMP/err" &
    DT_PID=$!
}

# Waits (10 s at most) until the log says "ready" once more than before
# dt_start.
dt_wait_ready()
{
    local i n
    for i in $(seq 100); do
        n=$(grep -c 'info: ready$' "$DT_LOG" 2>/dev/null)
        [ "${n:-0}" -gt "${DT_READY_BEFORE:-0}" ] && return 0
        sleep 0.1
    done
    return 1
}

# dt_http METHOD PATH: the status code of a plain HTTP request.
dt_http()
{
    local line
    exec 3<>"/dev/tcp/127.0.0.1/$DT_HTTP_PORT" || return 1
    printf '%s %s HTTP/1.0\r\nContent-Length: 0\r\n\r\n' "$1" "$2" >&3
    IFS= read -r line <&3
    exec 3<&-
    line=${line#HTTP/1.? }
    echo "${line%% *}"
}

# dt_stop [SIGNAL]: signals the daemon started by dt_start and waits for
# it; its exit status goes to DT_RC.
dt_stop()
{
    DT_RC=0
    kill -"${1:-TERM}" "$DT_PID"
    wait "$DT_PID" || DT_RC=$?
    DT_PID=
}

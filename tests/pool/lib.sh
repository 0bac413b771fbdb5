# tests/pool/lib.sh - shared helpers of the pool integration tests.
#
# Sourced by tests/pool/*.sh (bash).  It gives:
#   - TAP output: pt_ok/pt_fail/pt_is, pt_diag, pt_bail, pt_skip_all,
#     pt_done;
#   - pt_setup NAME: a private temporary directory PT_TMP, a free port
#     PT_PORT, the root password in the environment, the hv driver PT_HV
#     (kvm where /dev/kvm is usable, else sim; XM_TEST_HV=sim forces it); everything we start is
#     stopped on exit, and so are the VMMs of our hosts;
#   - pt_start N [KEY=VALUE...]: an xm-poold on 127.0.0.N with plain HTTP
#     on PT_PORT (HTTPS only, on PT_PORT, when PT_HTTPS=1), state in
#     PT_TMP/hN; pt_kill N [SIG]; pt_url N;
#   - pt_py SCRIPT: runs python3 with tests/pool/pool_client.py importable
#     (the test's steps as a GUI would make them, with xmlrpc.client);
#   - faults by state (xt_fault, common/xt.h): every host reads its own
#     fault file PT_TMP/hN/fault at each fault point and waits in
#     PT_TMP/hN/faults: pt_arm N SPEC, pt_hit N POINT (waits until host N
#     holds at POINT, armed "wait"), pt_go N POINT (lets it go on),
#     pt_gone N (waits for a host that killed itself at a point);
#   - pt_cli_login N: xm-pool (PT_CLI, run by x) logged in to host N;
#   - pt_proxy_start NAME LISTEN TARGET, pt_proxy_cut NAME, pt_proxy_open
#     NAME: a TCP proxy (tcp_proxy.py) whose link the test cuts.
#
# One behaviour per script: pt_setup NAME first, pt_done last.  Set
# XM_TEST_KEEP=1 to keep PT_TMP.

# Run on its own (a glob of tests/pool/*.sh given to make check), it is
# not a test.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    printf '1..0 # SKIP lib.sh is sourced by the tests, not one itself\n'
    exit 0
fi

PT_BUILDDIR=${XM_BUILDDIR:-.}
PT_SRCDIR=${XM_SRCDIR:-$(dirname "$0")/../..}
PT_POOLD=$PT_BUILDDIR/daemon/xm-poold
PT_N=0
PT_FAILED=0
PT_TMP=
PT_PORT=
PT_HV=
declare -A PT_PID

pt_diag() { printf '%s\n' "$*" | sed 's/^/# /'; }
pt_ok() { PT_N=$((PT_N + 1)); printf 'ok %d - %s\n' "$PT_N" "$1"; }
pt_fail()
{
    PT_N=$((PT_N + 1))
    PT_FAILED=$((PT_FAILED + 1))
    printf 'not ok %d - %s\n' "$PT_N" "$1"
    shift
    local l
    for l in "$@"; do pt_diag "  $l"; done
}
pt_is()
{
    if [ "$1" = "$2" ]; then pt_ok "$3"
    else pt_fail "$3" "got  '$1'" "want '$2'"; fi
}
pt_bail() { printf 'Bail out! %s\n' "$*"; exit 1; }
pt_skip_all() { printf '1..0 # SKIP %s\n' "$*"; exit 0; }

pt_logs()
{
    local f
    for f in "$PT_TMP"/h*/log; do
        [ -s "$f" ] || continue
        pt_diag "$f:"
        tail -n 25 "$f" | sed 's/^/#   /'
    done
}

pt_done()
{
    [ "$PT_FAILED" -eq 0 ] || pt_logs
    printf '1..%d\n' "$PT_N"
    [ "$PT_FAILED" -eq 0 ]
}

pt_cleanup()
{
    local n pid f
    # No host may be left holding at a fault point: it would not stop.
    for f in "$PT_TMP"/h*/fault; do [ -f "$f" ] && : > "$f"; done
    for f in "$PT_TMP"/h*/faults/*.hit; do
        [ -e "$f" ] && : > "${f%.hit}.go"
    done
    for n in "${!PT_PID[@]}"; do
        pid=${PT_PID[$n]}
        kill -TERM "$pid" 2>/dev/null
    done
    for n in "${!PT_PID[@]}"; do
        wait "${PT_PID[$n]}" 2>/dev/null
    done
    # The VMMs of our hosts (their sockets are under our run dirs).
    for pid in $(pgrep -f "$PT_TMP/h" 2>/dev/null); do
        kill -KILL "$pid" 2>/dev/null
    done
    if [ -n "$PT_TMP" ] && [ -z "$XM_TEST_KEEP" ]; then
        rm -rf "$PT_TMP"
    elif [ -n "$PT_TMP" ]; then
        echo "# kept $PT_TMP" >&2
    fi
}

pt_setup()
{
    [ -x "$PT_POOLD" ] || pt_bail "$PT_POOLD is not built (XM_BUILDDIR)"
    command -v python3 >/dev/null || pt_skip_all "python3 is missing"
    [ -f "$PT_BUILDDIR/guest/xm-guest.elf" ] ||
        pt_skip_all "guest/xm-guest.elf is not built"
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.2",0))' \
        2>/dev/null || pt_skip_all "cannot bind 127.0.0.2"
    PT_TMP=$(mktemp -d "${TMPDIR:-/tmp}/xm-pool-$1.XXXXXX") ||
        pt_bail "mktemp failed"
    trap pt_cleanup EXIT
    trap 'exit 1' HUP INT TERM
    PT_PORT=$(python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    if [ -n "${XM_TEST_HV:-}" ]; then PT_HV=$XM_TEST_HV
    elif [ -r /dev/kvm ] && [ -w /dev/kvm ]; then PT_HV=kvm; else PT_HV=sim; fi
    XM_POOL_ROOT_PASSWORD=test-root-pw
    export XM_POOL_ROOT_PASSWORD XM_BUILDDIR=$PT_BUILDDIR
    unset NOTIFY_SOCKET XM_POOL_CONF
}

pt_url()
{
    local scheme=http
    [ -z "$PT_HTTPS" ] || scheme=https
    printf '%s://127.0.0.%s:%s/' "$scheme" "$1" "$PT_PORT"
}

# pt_start N [KEY=VALUE...]: starts host N and waits until it answers.
pt_start()
{
    local n=$1 d=$PT_TMP/h$1 kv i port=0 http_port=$PT_PORT
    shift
    [ -z "$PT_HTTPS" ] || { port=$PT_PORT; http_port=0; }
    mkdir -p "$d"
    if [ ! -f "$d/conf" ]; then
        cat > "$d/conf" <<EOC
state_dir = $d/state
run_dir = $d/run
listen_address = 127.0.0.$n
port = $port
http_port = $http_port
log = $d/log
log_level = debug
password_cost = 1
login_delay_ms = 0
hv_driver = $PT_HV
guest_image = $PT_BUILDDIR/guest/xm-guest.elf
EOC
        for kv in "$@"; do
            printf '%s = %s\n' "${kv%%=*}" "${kv#*=}" >> "$d/conf"
        done
    fi
    mkdir -p "$d/faults"
    [ -f "$d/fault" ] || : > "$d/fault"
    XM_FAULT_FILE=$d/fault XM_FAULT_DIR=$d/faults \
        "$PT_POOLD" --config "$d/conf" --foreground >"$d/out" 2>"$d/err" &
    PT_PID[$n]=$!
    for i in $(seq 1 100); do
        if python3 - "$(pt_url "$n")" <<'EOP' 2>/dev/null
import ssl, sys, xmlrpc.client
xmlrpc.client.ServerProxy(sys.argv[1], context=
    ssl._create_unverified_context()).host_local.hello("x")
EOP
        then return 0; fi
        kill -0 "${PT_PID[$n]}" 2>/dev/null || break
        sleep 0.1
    done
    pt_diag "host $n did not start"
    cat "$d/err" "$d/log" 2>/dev/null | tail -n 20 | sed 's/^/#   /'
    return 1
}

# pt_kill N [SIG]
pt_kill()
{
    kill "-${2:-TERM}" "${PT_PID[$1]}" 2>/dev/null
    wait "${PT_PID[$1]}" 2>/dev/null
    unset "PT_PID[$1]"
}

# pt_py: python3 reading its script on stdin, with pool_client importable
# and PT_PORT, PT_TMP, PT_N in its environment; a pool_client.Tap
# numbers its lines after ours and hands the count back (tap.state).
pt_py()
{
    local st rc
    PT_PORT=$PT_PORT PT_TMP=$PT_TMP PT_N=$PT_N PT_HTTPS=$PT_HTTPS PT_HV=$PT_HV \
        PYTHONPATH=$PT_SRCDIR/tests/pool${PYTHONPATH:+:$PYTHONPATH} \
        python3 - "$@"
    rc=$?
    if [ -f "$PT_TMP/tap.state" ]; then
        read -r PT_N st < "$PT_TMP/tap.state"
        PT_FAILED=$((PT_FAILED + st))
        rm -f "$PT_TMP/tap.state"
    fi
    [ "$rc" -eq 0 ] || pt_fail "python steps ended with status $rc"
}

# pt_arm N SPEC: host N's faults from now on ("point=action ..."; "" for
# none); the waits of earlier arms are forgotten.
pt_arm()
{
    rm -f "$PT_TMP/h$1/faults/"*.hit "$PT_TMP/h$1/faults/"*.go
    printf '%s\n' "$2" > "$PT_TMP/h$1/fault"
}

# pt_hit N POINT: waits (at most 120 s) until host N holds at POINT.
pt_hit()
{
    local i
    for i in $(seq 1 1200); do
        [ -e "$PT_TMP/h$1/faults/$2.hit" ] && return 0
        sleep 0.1
    done
    pt_diag "host $1 never reached $2"
    return 1
}

# pt_go N POINT: host N goes on from POINT.
pt_go() { : > "$PT_TMP/h$1/faults/$2.go"; }

# pt_gone N: waits (at most 120 s) for host N, which kills itself at a
# fault point, to be gone.
pt_gone()
{
    local i pid=${PT_PID[$1]}
    for i in $(seq 1 1200); do
        if ! kill -0 "$pid" 2>/dev/null; then
            wait "$pid" 2>/dev/null
            unset "PT_PID[$1]"
            return 0
        fi
        sleep 0.1
    done
    pt_diag "host $1 is still there"
    return 1
}

# pt_proxy_start NAME LISTEN_ADDR:PORT TARGET_ADDR:PORT
pt_proxy_start()
{
    local f=$PT_TMP/proxy-$1 i
    python3 "$PT_SRCDIR/tests/pool/tcp_proxy.py" "$2" "$3" "$f.state" \
        2>"$f.err" &
    PT_PID[proxy-$1]=$!
    for i in $(seq 1 100); do
        grep -qx open "$f.state" 2>/dev/null && return 0
        sleep 0.1
    done
    pt_diag "proxy $1 did not start: $(cat "$f.err")"
    return 1
}

# pt_proxy_cut NAME / pt_proxy_open NAME: once done, the link is so.
pt_proxy_state()
{
    local f=$PT_TMP/proxy-$1.state i
    kill "-$2" "${PT_PID[proxy-$1]}" || return 1
    for i in $(seq 1 100); do
        grep -qx "$3" "$f" 2>/dev/null && return 0
        sleep 0.1
    done
    pt_diag "proxy $1 is not $3"
    return 1
}
pt_proxy_cut() { pt_proxy_state "$1" USR1 cut; }
pt_proxy_open() { pt_proxy_state "$1" USR2 open; }

# pt_upgrade_hook: writes PT_TMP/hook, the rolling upgrade's hook
# (HOST-UUID ADDRESS, 127.0.0.N): host N's xm-poold is stopped and the
# build one version newer (tests/pool/xm-poold-next) started in its
# place; it fails (exit 3) while PT_TMP/hook-fail.N exists.  Each run is
# logged in PT_TMP/hook.log.
pt_upgrade_hook()
{
    local next=$PT_BUILDDIR/tests/pool/xm-poold-next
    [ -x "$next" ] || pt_bail "$next is not built (make check builds it)"
    cat > "$PT_TMP/hook" <<HOOK
#!/bin/bash
n=\${2##*.}
d=$PT_TMP/h\$n
echo "hook: host \$n (\$1)" >> "$PT_TMP/hook.log"
[ -e "$PT_TMP/hook-fail.\$n" ] && { echo "hook: host \$n: no" >&2; exit 3; }
pid=\$(cat "\$d/run/xm-poold.pid")
kill -TERM "\$pid"
while kill -0 "\$pid" 2>/dev/null; do sleep 0.1; done
XM_FAULT_FILE=\$d/fault XM_FAULT_DIR=\$d/faults XM_BUILDDIR=$PT_BUILDDIR \\
    setsid "$next" --config "\$d/conf" --foreground \\
    >>"\$d/out" 2>>"\$d/err" </dev/null &
exit 0
HOOK
    chmod +x "$PT_TMP/hook"
}

# pt_cli_login N: xm-pool logs in to host N as root over plain HTTP
# through an rc file (XM_POOLRC, exported) and a password file; the CLI is
# PT_CLI, and x runs it.
pt_cli_login()
{
    PT_CLI=$PT_BUILDDIR/cli/xm-pool
    [ -x "$PT_CLI" ] || pt_bail "$PT_CLI is not built"
    export XM_POOLRC=$PT_TMP/xm-poolrc
    printf 'server=127.0.0.%s\nport=%s\nusername=root\npassword_file=%s\n' \
        "$1" "$PT_PORT" "$PT_TMP/pw" > "$XM_POOLRC"
    printf '%s\n' "$XM_POOL_ROOT_PASSWORD" > "$PT_TMP/pw"
}
x() { "$PT_CLI" --http "$@"; }

# tests/vdi/lib.sh - shared helpers of the block service's tests.
#
# Sourced by tests/vdi/*.sh (bash).  It gives:
#   - TAP output: vt_ok/vt_fail/vt_is/vt_check, vt_diag, vt_skip_all,
#     vt_bail, vt_done (prints the plan);
#   - vt_setup NAME: a private temporary directory VT_TMP holding a
#     shared-file SR (VT_SR_DIR, uuid VT_SR); every server started here is
#     killed on exit;
#   - vt_vdi SIZE: creates a VDI, prints its uuid;
#   - vt_serve NAME VDI [nbdkit options...] [-- plugin params...]: runs
#     our plugin under nbdkit on the unix socket VT_TMP/NAME.sock (URI
#     from vt_uri NAME) unless the options give a TCP port (-p), pid file
#     VT_TMP/NAME.pid; with -f among the options it stays in the
#     foreground, as our child, and logs into VT_TMP/NAME.err;
#     vt_stop NAME [SIG].
# Set XM_TEST_KEEP=1 to keep VT_TMP.

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    printf '1..0 # SKIP lib.sh is sourced by the tests, not one itself\n'
    exit 0
fi

VT_BUILDDIR=${XM_BUILDDIR:-.}
VT_SRCDIR=${XM_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
VT_PLUGIN=$VT_BUILDDIR/vdi/nbdkit-xmvdi-plugin.so
VT_SRTOOL=$VT_BUILDDIR/tests/vdi/sr-tool
VT_N=0
VT_FAILED=0
VT_TMP=
VT_SR=
VT_SR_DIR=

vt_diag() { printf '%s\n' "$*" | sed 's/^/# /'; }
vt_ok() { VT_N=$((VT_N + 1)); printf 'ok %d - %s\n' "$VT_N" "$1"; }
vt_fail()
{
    local l
    VT_N=$((VT_N + 1))
    VT_FAILED=$((VT_FAILED + 1))
    printf 'not ok %d - %s\n' "$VT_N" "$1"
    shift
    for l in "$@"; do vt_diag "  $l"; done
}
vt_is()
{
    if [ "$1" = "$2" ]; then vt_ok "$3"
    else vt_fail "$3" "got  '$1'" "want '$2'"; fi
}
# vt_check NAME COMMAND...: ok if the command succeeds; its output is
# shown when it fails.
vt_check()
{
    local name=$1 out
    shift
    if out=$("$@" 2>&1); then vt_ok "$name"
    else vt_fail "$name" "$(printf '%s' "$out" | tail -n 5)"; fi
}
vt_bail() { printf 'Bail out! %s\n' "$*"; exit 1; }
vt_skip_all() { printf '1..0 # SKIP %s\n' "$*"; exit 0; }
vt_done()
{
    printf '1..%d\n' "$VT_N"
    [ "$VT_FAILED" -eq 0 ]
}

# The pid in pid file $1 if that process is still one of ours (its
# command line names VT_TMP): a backend that died leaves its pid file,
# and a recycled pid may by now be another test's process.
vt_pid_of()
{
    local pid
    [ -f "$1" ] || return 1
    pid=$(cat "$1" 2>/dev/null) && [ -n "$pid" ] || return 1
    tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF "$VT_TMP/" ||
        return 1
    printf '%s\n' "$pid"
}

vt_cleanup()
{
    local p pid
    for p in "$VT_TMP"/*.pid; do
        pid=$(vt_pid_of "$p") && kill -9 "$pid" 2>/dev/null
    done
    if [ -n "$VT_TMP" ] && [ "${XM_TEST_KEEP:-0}" != 1 ]; then
        rm -rf "$VT_TMP"
    elif [ -n "$VT_TMP" ]; then
        vt_diag "kept $VT_TMP"
    fi
}

vt_setup()
{
    local t
    for t in nbdkit nbdinfo qemu-io qemu-img python3; do
        command -v "$t" >/dev/null ||
            vt_skip_all "$t is missing (scripts/setup.sh installs it)"
    done
    [ -x "$VT_PLUGIN" ] || vt_bail "no plugin at $VT_PLUGIN (build first)"
    VT_TMP=$(mktemp -d "${TMPDIR:-/tmp}/xm-vdi-$1.XXXXXX") ||
        vt_bail "mktemp"
    trap vt_cleanup EXIT
    VT_SR=$(cat /proc/sys/kernel/random/uuid)
    VT_SR_DIR=$VT_TMP/sr
    mkdir "$VT_SR_DIR"
    "$VT_SRTOOL" create shared-file "$VT_SR_DIR" "$VT_SR" ||
        vt_bail "cannot create the SR"
}

vt_vdi()
{
    local u
    u=$(cat /proc/sys/kernel/random/uuid)
    "$VT_SRTOOL" vdi-create shared-file "$VT_SR_DIR" "$VT_SR" "$u" "$1" ||
        vt_bail "cannot create a VDI of $1 bytes"
    printf '%s\n' "$u"
}

vt_uri() { printf 'nbd+unix:///?socket=%s/%s.sock' "$VT_TMP" "$1"; }

# Starts nbdkit in the background and returns once it serves; 1 if it
# fails to start, its stderr in VT_TMP/NAME.err.
vt_serve()
{
    local name=$1 vdi=$2 opts=() params=()
    shift 2
    while [ $# -gt 0 ] && [ "$1" != -- ]; do opts+=("$1"); shift; done
    [ "${1:-}" = -- ] && shift
    params=("$@")
    [[ " ${opts[*]} " = *" -p "* ]] || opts+=(-U "$VT_TMP/$name.sock")
    rm -f "$VT_TMP/$name.pid"
    if [[ " ${opts[*]} " = *" -f "* ]]; then
        # In the foreground nbdkit keeps its stderr (in the background it
        # logs to syslog): the log is NAME.err, the server our child.
        nbdkit "${opts[@]}" --pidfile "$VT_TMP/$name.pid" \
            "$VT_PLUGIN" sr_type=shared-file \
            sr_uuid="$VT_SR" location="$VT_SR_DIR" vdi="$vdi" \
            "${params[@]}" 2>"$VT_TMP/$name.err" &
        while [ ! -s "$VT_TMP/$name.pid" ]; do
            kill -0 $! 2>/dev/null || return 1
            sleep 0.01
        done
        return 0
    fi
    nbdkit "${opts[@]}" --pidfile "$VT_TMP/$name.pid" \
        "$VT_PLUGIN" sr_type=shared-file \
        sr_uuid="$VT_SR" location="$VT_SR_DIR" vdi="$vdi" "${params[@]}" \
        2>"$VT_TMP/$name.err" || return 1
    # The socket listens before nbdkit forks; the pid file comes from the
    # child, just after.
    while [ ! -s "$VT_TMP/$name.pid" ]; do sleep 0.01; done
}

vt_stop()
{
    local pid
    if pid=$(vt_pid_of "$VT_TMP/$1.pid"); then
        kill -"${2:-TERM}" "$pid" 2>/dev/null
        while vt_pid_of "$VT_TMP/$1.pid" >/dev/null; do sleep 0.05; done
    fi
    rm -f "$VT_TMP/$1.pid"
}

# ---- the mirror's tests (mirror.sh, mirror-corrupt.sh) ----
# The source is served with ctl=VT_TMP/src.ctl and faults under
# VT_TMP/faults (XM_FAULT_DIR).

# vt_raw VDI: the VDI's file.
vt_raw() { printf '%s/%s.raw' "$VT_SR_DIR" "$1"; }
# vt_mctl WORDS...: one request to the mirror's control socket.
vt_mctl() { python3 "$VT_SRCDIR/tests/vdi/mirror_ctl.py" "$VT_TMP/src.ctl" "$@"; }
# vt_field KEY: the value of KEY in a status line on stdin.
vt_field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }
# vt_wait_for KEY VALUE: polls the status (with wait) until KEY=VALUE.
vt_wait_for()
{
    local st
    for _ in $(seq 100); do
        st=$(vt_mctl status) || return 1
        [ "$(printf '%s' "$st" | vt_field "$1")" = "$2" ] && return 0
        vt_mctl wait state="$(printf '%s' "$st" | vt_field state)" \
            gen="$(printf '%s' "$st" | vt_field gen)" timeout_ms=200 >/dev/null
    done
    vt_diag "never $1=$2: $st"
    return 1
}
# vt_hit POINT: waits (30 s at most) until the source holds at POINT.
vt_hit() {
    for _ in $(seq 600); do [ -e "$VT_TMP/faults/$1.hit" ] && return 0
        sleep 0.05; done; return 1
}

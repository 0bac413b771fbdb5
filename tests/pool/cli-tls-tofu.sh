#!/bin/bash
# xm-pool over HTTPS trusts the daemon's self-signed certificate on first
# use: it prints the fingerprint (the one xm-poold --print-fingerprint
# shows) and records it in the rc file; the next call is accepted
# silently; a different recorded fingerprint is refused with exit status 3
# before the password is sent; --no-verify skips the check.
. "${XM_SRCDIR:-$(dirname "$0")/../..}/tests/pool/lib.sh"
CLI=$PT_BUILDDIR/cli/xm-pool
[ -x "$CLI" ] || pt_bail "$CLI is not built"
pt_setup cli-tls
P=$(python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
pt_start 2 port="$P" || pt_bail "host 2 did not start"
export XM_POOLRC=$PT_TMP/xm-poolrc
: > "$XM_POOLRC"
x() { "$CLI" -s 127.0.0.2 -p "$P" -pw "$XM_POOL_ROOT_PASSWORD" "$@"; }
fp=$("$PT_POOLD" --print-fingerprint --config "$PT_TMP/h2/conf")

x host-list --minimal >/dev/null 2>"$PT_TMP/e"
pt_is "$?" 0 "first HTTPS call exits 0"
grep -q "fingerprint $fp" "$PT_TMP/e" &&
    pt_ok "prints the daemon's fingerprint" ||
    pt_fail "prints the daemon's fingerprint" "$(cat "$PT_TMP/e")" "want $fp"
pt_is "$(cat "$XM_POOLRC")" "fingerprint.127.0.0.2:$P=$fp" \
    "records it in the rc file"
x host-list --minimal >/dev/null 2>"$PT_TMP/e"
pt_is "$?:$(cat "$PT_TMP/e")" "0:" "second call: accepted silently"
sed -i "s/=../=00/" "$XM_POOLRC"
x host-list --minimal >/dev/null 2>"$PT_TMP/e"
pt_is "$?" 3 "another certificate: refused (3)"
grep -q "certificate changed" "$PT_TMP/e" && pt_ok "says it changed" ||
    pt_fail "says it changed" "$(cat "$PT_TMP/e")"
x --no-verify host-list --minimal >/dev/null 2>"$PT_TMP/e"
pt_is "$?" 0 "--no-verify skips the check"
pt_done

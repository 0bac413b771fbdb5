#!/bin/bash
# xm-pool over HTTPS trusts the daemon's self-signed certificate on first
# use: it prints the fingerprint (the one xm-poold --print-fingerprint
# shows) and records it in the rc file; the next call is accepted
# silently; a daemon with another certificate on the same address:port
# (reinstalled), or a different recorded fingerprint, is refused with exit
# status 3 before any request is sent (the daemon logs every POST it
# gets: none); --no-verify skips the check.
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
# requests host 2 logged since its log had $1 lines
posts_since() { tail -n "+$(($1 + 1))" "$PT_TMP/h2/log" | grep -c 'POST'; }

# Every hex digit of the recorded fingerprint changed (a fixed "00"
# prefix was the same one in 256 runs).
other=$(printf '%s' "$fp" | tr '0-9a-f' 'f0-9a-e')
echo "fingerprint.127.0.0.2:$P=$other" > "$XM_POOLRC"
lines=$(wc -l < "$PT_TMP/h2/log")
x host-list --minimal >/dev/null 2>"$PT_TMP/e"
pt_is "$?" 3 "another recorded fingerprint: refused (3)"
grep -q "certificate changed" "$PT_TMP/e" && pt_ok "says it changed" ||
    pt_fail "says it changed" "$(cat "$PT_TMP/e")"
pt_is "$(posts_since "$lines")" 0 "the daemon received no request"
echo "fingerprint.127.0.0.2:$P=$fp" > "$XM_POOLRC"

# Reinstalled: the same address:port, a new key and certificate.
pt_kill 2
rm -f "$PT_TMP/h2/state/xm-poold.pem" "$PT_TMP/h2/state/xm-poold.key"
pt_start 2 || pt_bail "host 2 did not start again"
fp_new=$("$PT_POOLD" --print-fingerprint --config "$PT_TMP/h2/conf")
[ "$fp_new" != "$fp" ] || pt_bail "host 2 kept its certificate"
lines=$(wc -l < "$PT_TMP/h2/log")
x host-list --minimal >/dev/null 2>"$PT_TMP/e"
pt_is "$?" 3 "a reinstalled daemon: refused (3)"
e=$(cat "$PT_TMP/e")
[[ $e == *"127.0.0.2:$P: the certificate changed"* &&
   $e == *"expected $fp"* && $e == *"received $fp_new"* &&
   $e == *"$XM_POOLRC"* ]] &&
    pt_ok "names server:port, both fingerprints, the rc file" ||
    pt_fail "names server:port, both fingerprints, the rc file" "$e"
pt_is "$(posts_since "$lines")" 0 "the daemon received no request"
x --no-verify host-list --minimal >/dev/null 2>"$PT_TMP/e"
pt_is "$?" 0 "--no-verify skips the check"
pt_done

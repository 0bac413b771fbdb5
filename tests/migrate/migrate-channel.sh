#!/bin/sh
# The migration channel (docs/specs/migration-stream.md section 15): the
# receiver's key is pinned by the sender before anything is sent; a
# stray, hostile or wrong connection is dropped and the receiver goes on
# accepting until its deadline, so the real sender still gets through; the
# token is good for one VM of one size; plain TCP is loopback only.
. "$(dirname "$0")/lib.sh"
mt_setup channel

PIN_B=$("$MT_XM" tls-pin --tls-cert "$MT_SRCDIR/tests/data/tls/b.crt") ||
    mt_bail "no pin for the second test identity"

mt_boot 128 "ws_mib=16 rate_mib=8" || mt_bail "could not boot a guest"
src=$MT_DOMID
uuid=$(mt_uuid "$src")

# A connection of our own to the receiver: HOW is garbage (bytes that are
# no TLS) or silent (connects, says nothing, holds on).
stray()
{
    python3 - "$MT_PORT" "$1" "$MT_WORK/stray.connected" <<'EOF'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
open(sys.argv[3], "w").close()
if sys.argv[2] == "garbage":
    s.sendall(b"GET / HTTP/1.0\r\n\r\n" + bytes(range(256)) * 4)
    time.sleep(0.5)
else:
    s.settimeout(10)
    try:
        s.recv(1)   # until the receiver gives up on us
    except OSError:
        pass
s.close()
EOF
}

# The source ran on after a refused attempt.
still_here()
{
    mt_is "$(mt_state "$src")" running "$1: the source runs on"
}

# The real sender, after the stray: the migration works.
then_it_works()
{
    mt_send "$src"
    mt_recv_wait 30
    mt_is "$MT_SEND_RC/$MT_RECV_RC/$(mt_json "$MT_SEND_JSON" tls)" 0/0/true \
        "$1: then the real sender migrates the VM, over TLS" ||
        mt_diag_migration
    dst=$(mt_json "$MT_RECV_JSON" dst_domid)
    [ -n "$dst" ] && [ "$dst" != 0 ] && src=$dst
    mt_is "$(grep -c 'dropped a connection' "$MT_RECV_ERR")" 1 \
        "$1: the receiver dropped one connection, with a warning"
}

# A receiver that waits long enough for a second attempt, with a short
# handshake timeout (a silent stray costs it that).
start()
{
    mt_recv_start --accept-ms 30000 --timeout-ms 3000 "$@" ||
        mt_bail "could not start a receiver"
}

start
MT_SEND_TIMEOUT=30 mt_send "$src" --tls-pin "$PIN_B"
mt_is "$MT_SEND_RC" 1 "wrong pin: the sender fails"
case $(mt_send_error) in
*"not the pinned $PIN_B: refused before sending anything"*)
    mt_ok "wrong pin: it names both keys and sent nothing" ;;
*)  mt_fail "wrong pin: it names both keys and sent nothing" \
        "$(mt_send_error)" ;;
esac
still_here "wrong pin"
then_it_works "wrong pin"

start
stray garbage
then_it_works "garbage"

# Connected first, it is accepted first (the listen queue is in order):
# the receiver waits out its handshake, drops it, then takes the sender.
start
rm -f "$MT_WORK/stray.connected"
stray silent &
mt_wait_for 10 [ -e "$MT_WORK/stray.connected" ]
then_it_works "a silent connection"
wait

start
mt_send "$src" --plain
mt_is "$MT_SEND_RC" 1 "plain sender to a TLS receiver: it fails"
still_here "plain sender"
then_it_works "plain sender"

start --token good-token
mt_send "$src" --token bad-token
mt_is "$MT_SEND_RC" 1 "wrong token: the sender fails"
case $(mt_send_error) in
*"no valid one-time token"*) mt_ok "wrong token: it says so" ;;
*) mt_fail "wrong token: it says so" "$(mt_send_error)" ;;
esac
still_here "wrong token"
mt_send "$src" --token good-token
mt_recv_wait 30
mt_is "$MT_SEND_RC/$MT_RECV_RC" 0/0 \
    "wrong token: then the right token migrates the VM" || mt_diag_migration
dst=$(mt_json "$MT_RECV_JSON" dst_domid)
[ -n "$dst" ] && [ "$dst" != 0 ] && src=$dst
uuid=$(mt_uuid "$src")

# The token is bound to one VM of one size.
other=$(cat /proc/sys/kernel/random/uuid)
pages=$(mt_xm list | awk -v d="$src" '$1 == d { print $4 }')
for bind in "--vm-uuid $other:VM" "--nr-pages $((pages * 2)):pages"; do
    # shellcheck disable=SC2086  # two words
    start --token t ${bind%:*}
    mt_send "$src" --token t
    mt_recv_wait 30
    mt_is "$MT_SEND_RC/$MT_RECV_RC" 1/1 \
        "a token for another ${bind#*:}: both sides fail"
    case $(mt_send_error) in
    *"the token is for"*) mt_ok "another ${bind#*:}: the error says why" ;;
    *) mt_fail "another ${bind#*:}: the error says why" \
           "$(mt_send_error)" ;;
    esac
    still_here "another ${bind#*:}"
done

# A TLS sender to a plain receiver: dropped, nothing moves.
MT_PLAIN=1 mt_recv_start --accept-ms 3000 || mt_bail "no plain receiver"
mt_send "$src"
mt_recv_wait 30
mt_is "$MT_SEND_RC/$MT_RECV_RC" 1/1 \
    "TLS sender, plain receiver: both fail (the receiver gives up waiting)"
still_here "TLS sender, plain receiver"

# Plain TCP to an address that is not loopback is refused.
addr=$(ip -4 -o addr show scope global 2>/dev/null |
       awk '{ sub("/.*", "", $4); print $4; exit }')
if [ -z "$addr" ]; then
    mt_skip "plain TCP to a non-loopback address is refused" \
        "this machine has no non-loopback IPv4 address"
else
    "$MT_XM" receive --driver "$MT_DRIVER" --listen "$addr:0" --plain \
        --accept-ms 3000 >"$MT_WORK/nl.out" 2>"$MT_WORK/nl.err" &
    nl=$!
    mt_wait_for 10 grep -q listening "$MT_WORK/nl.out"
    port=$(sed -n 's/.*"port":\([0-9]*\).*/\1/p' "$MT_WORK/nl.out")
    "$MT_XM" send --driver "$MT_DRIVER" --to "$addr:$port" --domid "$src" \
        --plain >/dev/null 2>"$MT_WORK/nl.send.err"
    rc=$?
    wait "$nl"
    mt_is "$rc" 1 "plain TCP to $addr (not loopback): the sender refuses"
    if grep -q "plain migration channels are for loopback tests only" \
        "$MT_WORK/nl.send.err"; then
        mt_ok "plain TCP to $addr: it says why"
    else
        mt_fail "plain TCP to $addr: it says why" \
            "$(cat "$MT_WORK/nl.send.err")"
    fi
    still_here "plain TCP to $addr"
fi

mt_xm destroy --domid "$src" >/dev/null 2>&1
mt_done

#!/bin/bash
# Under systemd (Type=notify) xm-poold sends READY=1 on $NOTIFY_SOCKET once
# it listens, and STOPPING=1 when SIGTERM arrives.
. "${XM_SRCDIR:-.}/tests/daemon/lib.sh"
dt_setup notify

command -v python3 > /dev/null || {
    echo "1..0 # SKIP python3 is needed to play systemd's socket"
    exit 0
}
sock=$DT_TMP/notify.sock
python3 - "$sock" > "$DT_TMP/notify.out" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(20)
for _ in range(2):
    try:
        print(s.recv(4096).decode(), flush=True)
    except socket.timeout:
        break
PY
listener=$!
for i in $(seq 50); do
    [ -S "$sock" ] && break
    sleep 0.1
done

NOTIFY_SOCKET=$sock dt_start
dt_wait_ready || dt_bail "xm-poold did not get ready"
for i in $(seq 50); do
    grep -q READY=1 "$DT_TMP/notify.out" && break
    sleep 0.1
done
dt_check "READY=1 once listening" grep -qx READY=1 "$DT_TMP/notify.out"
dt_stop
dt_is "$DT_RC" 0 "stopped"
wait "$listener"
dt_check "STOPPING=1 on SIGTERM" grep -qx STOPPING=1 "$DT_TMP/notify.out"

dt_done

#!/bin/bash
# xm-poold without --foreground: the command returns 0 once the detached
# daemon serves; a second instance is refused by the pid file lock with a
# message on stderr; SIGTERM stops the daemon.
. "${XM_SRCDIR:-.}/tests/daemon/lib.sh"
dt_setup detach

"$DT_POOLD" --config "$DT_CONF" > "$DT_TMP/out" 2> "$DT_TMP/err"
dt_is "$?" 0 "xm-poold returns 0 when the daemon is ready"
dt_check "ready in the log" grep -q 'info: ready$' "$DT_LOG"
pid=$(cat "$DT_TMP/run/xm-poold.pid" 2>/dev/null)
dt_check "pid file names a live process" kill -0 "${pid:-0}"
dt_is "$(dt_http GET /)" 405 "the detached daemon serves"

"$DT_POOLD" --config "$DT_CONF" > "$DT_TMP/out2" 2> "$DT_TMP/err2"
dt_is "$?" 1 "a second instance fails"
dt_check "it says the first holds the pid file" \
    grep -q "another xm-poold (pid $pid) holds" "$DT_TMP/err2"
dt_is "$(cat "$DT_TMP/run/xm-poold.pid")" "$pid" "pid file untouched"

kill -TERM "$pid"
for i in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
dt_check "SIGTERM stops it" test ! -e "/proc/$pid"
dt_check "pid file removed" test ! -e "$DT_TMP/run/xm-poold.pid"

dt_done

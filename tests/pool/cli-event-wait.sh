#!/bin/bash
# xm-pool event-wait (xe's): returns at once when an object already
# meets the conditions, waits for a change otherwise, and gives up with
# exit 1 after timeout=.  The wait is made certain by holding the
# daemon's event.from where it starts waiting (fault point
# pd.event.waiting) while the VM starts.
. "${XM_SRCDIR:-$(dirname "$0")/../..}/tests/pool/lib.sh"
pt_setup cli-event-wait
pt_start 2 || pt_bail "host 2 did not start"
pt_cli_login 2

vm=$(x vm-create name-label=ev01 memory=256M vcpus=1)
host=$(x host-list --minimal)
x event-wait class=vm uuid="$vm" power-state=halted name-label=ev01 &&
    pt_ok "a VM that already meets them: at once" ||
    pt_fail "a VM that already meets them: at once"
x event-wait class=vm uuid="$vm" power-state=/=running &&
    pt_ok "=/= means anything but" || pt_fail "=/= means anything but"
x event-wait class=vm uuid="$vm" power-state=running timeout=1 \
    2>"$PT_TMP/e"
pt_is "$?" 1 "timeout= passes: exit 1"
grep -q "no VM met the conditions within 1 s" "$PT_TMP/e" &&
    pt_ok "and says so" || pt_fail "and says so" "$(cat "$PT_TMP/e")"
x event-wait class=nope uuid="$vm" 2>/dev/null
pt_is "$?" 2 "an unknown class: exit 2"
x event-wait class=vm colour=red 2>/dev/null
pt_is "$?" 2 "an unknown field: exit 2"

pt_arm 2 "pd.event.waiting=wait"
x event-wait class=vm uuid="$vm" power-state=running resident-on="$host" \
    timeout=120 &
waiter=$!
pt_hit 2 pd.event.waiting && pt_ok "event-wait waits on event.from" ||
    pt_fail "event-wait waits on event.from"
kill -0 "$waiter" 2>/dev/null && pt_ok "and has not returned" ||
    pt_fail "and has not returned"
x vm-start vm="$vm" >/dev/null 2>&1 &
starter=$!
pt_go 2 pd.event.waiting
wait "$waiter"
pt_is "$?" 0 "the VM starts: it returns, the host given by its uuid"
wait "$starter"
pt_is "$(x vm-param-get uuid="$vm" param-name=power-state)" Running \
    "the VM runs"
pt_arm 2 ""
x event-wait class=vm uuid="$vm" other-config:owner=/=nobody &&
    pt_ok "FIELD:KEY looks at a map's key" ||
    pt_fail "FIELD:KEY looks at a map's key"
pt_done

#!/bin/bash
# xm-pool against a real one-host xm-poold: vm-create prints the new
# uuid, vm-list shows it (records and --minimal), vm-param-get reads
# fields, vm-param-set writes one, vm-start runs it, vm-shutdown --force
# halts it; exit statuses 0 / 1 (server) / 2 (usage) / 3 (login).
. "${XM_SRCDIR:-$(dirname "$0")/../..}/tests/pool/lib.sh"
pt_setup cli-vm
pt_start 2 || pt_bail "host 2 did not start"
pt_cli_login 2

uuid=$(x vm-create name-label=web01 memory=256M vcpus=1 2>"$PT_TMP/e")
rc=$?
pt_is "$rc" 0 "vm-create exits 0"
[[ $uuid =~ ^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$ ]] &&
    pt_ok "vm-create prints a uuid" ||
    pt_fail "vm-create prints a uuid" "got '$uuid'" "$(cat "$PT_TMP/e")"

pt_is "$(x vm-list --minimal)" "$uuid" "vm-list --minimal: the uuid"
out=$(x vm-list name-label=web01)
pt_is "$(printf '%s\n' "$out" | sed -n 2p | sed 's/^ *//')" \
    "name-label ( RW): web01" "vm-list prints xe record blocks"
pt_is "$(x vm-list name-label=nope --minimal)" "" \
    "a selector matching nothing: empty"
pt_is "$(x vm-param-get uuid="$uuid" param-name=power-state)" "Halted" \
    "vm-param-get power-state: Halted"
pt_is "$(x vm-param-get uuid="$uuid" param-name=memory-static-max)" \
    "268435456" "vm-param-get memory-static-max: 256 MiB in bytes"
x vm-param-set uuid="$uuid" name-description="front end" \
    other-config:owner=ops &&
    pt_is "$(x vm-param-get uuid="$uuid" param-name=name-description)" \
        "front end" "vm-param-set name-description" ||
    pt_fail "vm-param-set exits 0"
pt_is "$(x vm-param-get uuid="$uuid" param-name=other-config \
    param-key=owner)" "ops" "vm-param-set other-config:owner"
# Two keys of one map in one call: both are kept.
x vm-param-set uuid="$uuid" other-config:tier=web other-config:zone=b ||
    pt_fail "vm-param-set of two map keys exits 0"
pt_is "$(x vm-param-get uuid="$uuid" param-name=other-config \
    param-key=tier),$(x vm-param-get uuid="$uuid" param-name=other-config \
    param-key=zone),$(x vm-param-get uuid="$uuid" param-name=other-config \
    param-key=owner)" "web,b,ops" "vm-param-set of two map keys keeps both"

x vm-param-set uuid="$uuid" power-state=Running 2>"$PT_TMP/e"
pt_is "$?" 2 "setting a read-only field: usage error (2)"

x vm-start vm=web01 2>"$PT_TMP/e"
rc=$?
pt_is "$rc" 0 "vm-start vm=NAME exits 0"
[ "$rc" -eq 0 ] || pt_diag "$(cat "$PT_TMP/e")"
pt_is "$(x vm-list power-state=Running --minimal)" "$uuid" \
    "vm-list power-state=Running selects it"

x vm-start vm="$uuid" 2>"$PT_TMP/e"
pt_is "$?" 1 "starting it again: server error (1)"
grep -q 'VM_BAD_POWER_STATE' "$PT_TMP/e" && grep -q 'meaning:' "$PT_TMP/e" &&
    pt_ok "the error names the code and its meaning" ||
    pt_fail "the error names the code and its meaning" "$(cat "$PT_TMP/e")"

x vm-shutdown vm=web01 --force
pt_is "$?" 0 "vm-shutdown --force exits 0"
pt_is "$(x vm-param-get uuid="$uuid" param-name=power-state)" "Halted" \
    "halted again"

pt_is "$(x host-list --minimal | tr ',' '\n' | wc -l)" "1" \
    "host-list: one host"

x vm-lsit 2>"$PT_TMP/e"
pt_is "$?" 2 "misspelt command: usage error (2)"
grep -q "Did you mean 'vm-list'" "$PT_TMP/e" &&
    pt_ok "suggests vm-list" || pt_fail "suggests vm-list" "$(cat "$PT_TMP/e")"

x help vm-migrate | grep -q '^usage: xm-pool vm-migrate vm=' &&
    pt_ok "help COMMAND prints its usage" ||
    pt_fail "help COMMAND prints its usage"

x -pw wrong vm-list 2>"$PT_TMP/e"
pt_is "$?" 3 "wrong password: authentication error (3)"
"$PT_CLI" --http -s 127.0.0.2 -p 1 vm-list 2>"$PT_TMP/e"
pt_is "$?" 3 "nobody listening: connection error (3)"
grep -q '127.0.0.2 port 1' "$PT_TMP/e" &&
    pt_ok "the message names server and port" ||
    pt_fail "the message names server and port" "$(cat "$PT_TMP/e")"
pt_done

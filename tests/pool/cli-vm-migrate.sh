#!/bin/bash
# xm-pool pool-join makes host 3 a member of host 2's pool; vm-migrate
# moves a running VM there, following the task, and ends with one summary
# line "migrated NAME to HOST in X s, ..."; off a terminal the progress is
# printed as plain lines.  Migrating to the host it is on fails with the
# server's code (exit status 1).
. "${XM_SRCDIR:-$(dirname "$0")/../..}/tests/pool/lib.sh"
CLI=$PT_BUILDDIR/cli/xm-pool
[ -x "$CLI" ] || pt_bail "$CLI is not built"
pt_setup cli-migrate
pt_start 2 || pt_bail "host 2 did not start"
pt_start 3 || pt_bail "host 3 did not start"
export XM_POOLRC=$PT_TMP/xm-poolrc
printf 'port=%s\nusername=root\npassword_file=%s\n' "$PT_PORT" \
    "$PT_TMP/pw" > "$XM_POOLRC"
printf '%s\n' "$XM_POOL_ROOT_PASSWORD" > "$PT_TMP/pw"
x() { "$CLI" --http -s 127.0.0.2 "$@"; }

"$CLI" --http -s 127.0.0.3 pool-join master-address=127.0.0.2 \
    master-username=root master-password="$XM_POOL_ROOT_PASSWORD" \
    2>"$PT_TMP/e"
pt_is "$?" 0 "pool-join exits 0"
pt_is "$(x host-list --minimal | tr ',' '\n' | grep -c .)" 2 \
    "host-list: two hosts"
h3=$(x host-list address=127.0.0.3 --minimal)

x vm-create name-label=web01 memory=256M >/dev/null &&
    x vm-start vm=web01 on=127.0.0.2 2>"$PT_TMP/e"
pt_is "$?" 0 "vm-start on=ADDRESS"
[ -s "$PT_TMP/e" ] && pt_diag "$(cat "$PT_TMP/e")"
pt_is "$(x vm-param-get uuid="$(x vm-list --minimal)" \
    param-name=power-state)" "Running" "web01 runs"

x vm-migrate vm=web01 host-uuid="$h3" live=true compress=zstd \
    >"$PT_TMP/out" 2>"$PT_TMP/e"
rc=$?
pt_is "$rc" 0 "vm-migrate exits 0"
[ "$rc" -eq 0 ] || pt_diag "$(cat "$PT_TMP/e")"
last=$(tail -n 1 "$PT_TMP/out")
[[ $last =~ ^migrated\ web01\ to\ .+\ in\ [0-9.]+\ s ]] &&
    pt_ok "summary line: $last" ||
    pt_fail "summary line" "got '$last'"
grep -q '^progress: ' "$PT_TMP/out" &&
    pt_ok "plain progress lines off a terminal" ||
    pt_fail "plain progress lines off a terminal" "$(cat "$PT_TMP/out")"
on=$(x vm-param-get uuid="$(x vm-list --minimal)" param-name=resident-on)
pt_is "$on" "$h3" "vm-param-get resident-on: the host's uuid, as xe prints it"
pt_is "$(x vm-list resident-on="$h3" --minimal)" "$(x vm-list --minimal)" \
    "vm-list resident-on=UUID selects the moved VM"

x vm-migrate vm=web01 host-uuid="$h3" 2>"$PT_TMP/e" >/dev/null
pt_is "$?" 1 "migrating to the host it is on: server error (1)"
grep -q 'meaning:' "$PT_TMP/e" && pt_ok "the code's meaning is printed" ||
    pt_fail "the code's meaning is printed" "$(cat "$PT_TMP/e")"

x vm-shutdown vm=web01 --force
pt_is "$?" 0 "vm-shutdown --force on the member"
pt_done

#!/bin/bash
# xe's *-param-* forms for every class: X-param-get reads one field (a
# reference as a uuid, one key of a map), X-param-set writes the writable
# ones (a map key with FIELD:KEY=), X-param-list prints every field, and a
# read-only or unknown field is a usage error (exit 2).
. "${XM_SRCDIR:-$(dirname "$0")/../..}/tests/pool/lib.sh"
pt_setup cli-param
pt_start 2 || pt_bail "host 2 did not start"
pt_cli_login 2
mkdir "$PT_TMP/sr"
host=$(x host-list --minimal)
sr=$(x sr-create host-uuid="$host" name-label=local type=file \
     device-config:location="$PT_TMP/sr")
vdi=$(x vdi-create sr-uuid="$sr" name-label=d1 virtual-size=4M)

pt_is "$(x host-param-get uuid="$host" param-name=address)" 127.0.0.2 \
    "host-param-get reads a field"
x host-param-set uuid="$host" name-description="rack 4" &&
    pt_is "$(x host-param-get uuid="$host" param-name=name-description)" \
        "rack 4" "host-param-set writes one" ||
    pt_fail "host-param-set writes one"
pt_is "$(x vdi-param-get uuid="$vdi" param-name=SR)" "$sr" \
    "vdi-param-get SR: the SR's uuid"
x sr-param-set uuid="$sr" other-config:tier=gold &&
    pt_is "$(x sr-param-get uuid="$sr" param-name=other-config \
             param-key=tier)" gold "sr-param-set FIELD:KEY= and param-key=" ||
    pt_fail "sr-param-set FIELD:KEY="
out=$(x vdi-param-list uuid="$vdi")
grep -q "^ *virtual-size ( RO): 4194304$" <<<"$out" &&
    grep -q "^ *name-label ( RW): d1$" <<<"$out" &&
    pt_ok "vdi-param-list prints every field" ||
    pt_fail "vdi-param-list prints every field" "$out"
x sr-param-set uuid="$sr" physical-size=1 2>"$PT_TMP/e"
pt_is "$?" 2 "a read-only field: exit 2"
grep -q "read-only" "$PT_TMP/e" && pt_ok "and says so" ||
    pt_fail "and says so" "$(cat "$PT_TMP/e")"
x host-param-get uuid="$host" param-name=colour 2>"$PT_TMP/e"
pt_is "$?" 2 "an unknown field: exit 2"
grep -q "see host-list params=all" "$PT_TMP/e" && pt_ok "and where to look" ||
    pt_fail "and where to look" "$(cat "$PT_TMP/e")"
pool=$(x pool-list --minimal)
pt_is "$(x pool-param-get uuid="$pool" param-name=master)" "$host" \
    "pool-param-get master: the host's uuid"
pt_done

# The reference peer for PV: `xl migrate` of a PV domU to localhost.
. "$SHARE/lib.sh"
xl_reference pv2 pv

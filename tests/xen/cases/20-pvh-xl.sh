# The reference peer: `xl migrate` of a PVH domU to localhost, checked as
# ours is (continuity, integrity).  Times are emulated: printed only.
. "$SHARE/lib.sh"
xl_reference pvh2 pvh

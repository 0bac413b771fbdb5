# Failure injection on a PVH domU: our receiver dies mid-round (the source
# was never suspended) and in stop-and-copy (the source was suspended and
# must be resumed).  See kill_case in lib.sh.
. "$SHARE/lib.sh"
kill_case pvh3 pvh 7003 mig.recv.precopy mig.recv.stopcopy

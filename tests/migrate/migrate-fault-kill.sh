#!/bin/sh
# A receiver that dies (SIGKILL) in round 0, in a later pre-copy round, in
# stop-and-copy or right after READY: the migration fails, the source runs
# on as the only copy, the destination keeps nothing.  After READY the
# commit was never taken: the sender must find that out and resume the
# source, not stay "in doubt".
. "$(dirname "$0")/lib.sh"
mt_setup fault-kill
action=kill
. "$(dirname "$0")/fault-receiver.sh"
mt_done

#!/bin/sh
# The gateway binary named in GW_BINARY (default /tmp/gw-642bbf3) with Debian's mimalloc 2.0.9 as
# its malloc (apt-get install libmimalloc2.0). exec keeps the pid, so the bench reads the
# gateway's own RSS.
LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libmimalloc.so.2 exec "${GW_BINARY:-/tmp/gw-642bbf3}" "$@"

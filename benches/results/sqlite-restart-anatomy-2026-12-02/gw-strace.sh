#!/bin/sh
# The gateway in GW_BINARY under strace, recording only the calls that can make a SQLite
# checkpoint wait: fsync/fdatasync (the disk), nanosleep (SQLite's busy handler between looks for
# readers) and ftruncate, each with its duration and thread id, into $TRACE. --seccomp-bpf stops
# the process for these calls alone, so the writes and reads in between run at full speed. Also
# serves the gateway's metrics on 127.0.0.1:19188 (the bench turns them off).
METRICS_ADDR=127.0.0.1:19188 exec strace -f --seccomp-bpf -tt -T -qq \
  -e trace=fsync,fdatasync,nanosleep,clock_nanosleep,ftruncate -o "$TRACE" "$GW_BINARY" "$@"

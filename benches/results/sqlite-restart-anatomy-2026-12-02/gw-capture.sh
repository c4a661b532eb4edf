#!/bin/sh
# The gateway in GW_BINARY; when it serves, its database file and WAL are copied every 2 s (for
# 2 minutes at most) into $CAPTURE as HH:MM:SS.db and .wal, for wal-pages.py: which b-trees the
# logged pages belong to.
db=${DATABASE_URL#sqlite://}; db=${db%%\?*}
if [ "$1" = serve ]; then
  ( for _ in $(seq 60); do
      sleep 2
      [ -f "$db" ] || exit 0
      t=$(date +%T)
      cp "$db" "$CAPTURE/$t.db" && cp "$db-wal" "$CAPTURE/$t.wal"
    done ) < /dev/null > /dev/null 2>&1 &
fi
exec "$GW_BINARY" "$@"

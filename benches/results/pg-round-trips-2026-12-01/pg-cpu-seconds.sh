#!/bin/bash
# prints total CPU seconds used by PostgreSQL: live processes plus reaped children of the postmaster
pm=$(head -1 /var/run/postgresql/15-main.pid)
tck=$(getconf CLK_TCK)
live=0
for p in $(pgrep -u postgres); do
  s=$(cat /proc/$p/stat 2>/dev/null | sed 's/.*) //') || continue
  set -- $s; live=$((live + ${12} + ${13}))
done
s=$(cat /proc/$pm/stat | sed 's/.*) //'); set -- $s
echo "scale=3; ($live + ${14} + ${15}) / $tck" | bc

"""usage: compact.py PG_LOG [FROM] — the statements of a log written by run-trace.sh with LOG=1,
one line each: time, backend pid, milliseconds, the statement's first 90 characters. FROM
(negative) keeps the last -FROM of them (default -80)."""
import re, sys

pat = re.compile(r'^(\S+ \S+) UTC \[(\d+)\] \S+ LOG:  duration: ([\d.]+) ms  (execute \S+|statement): (.*)')
out = []
for line in open(sys.argv[1]):
    m = pat.match(line)
    if m:
        t, pid, ms, _, sql = m.groups()
        out.append((t[11:], pid, ms, sql[:90]))
for row in out[int(sys.argv[2]) if len(sys.argv) > 2 else -80:]:
    print(*row)

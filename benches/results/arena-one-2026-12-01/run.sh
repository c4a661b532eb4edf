#!/bin/bash
for r in 1 2 3; do for a in 2 1; do
  MALLOC_ARENA_MAX=$a /tmp/gateway-bench --gateway /tmp/gw-new --backend sqlite --scenarios e2e --rates 250,500,1000 --idle-payments 20 --out OUT/a$a-$r.d > /dev/null 2>&1
  mv OUT/a$a-$r.d/*.md OUT/a$a-$r.md; rm -rf OUT/a$a-$r.d
  echo "arena $a round $r: $(grep '| e2e |' OUT/a$a-$r.md) $(grep 'closed 32' OUT/a$a-$r.md | cut -d'|' -f4,7,11,12)"
done; done
echo finished

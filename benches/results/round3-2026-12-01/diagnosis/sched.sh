#!/bin/bash
# sched.sh PID SECONDS: per thread, ms on CPU and ms runnable-waiting per second of the window, and voluntary/involuntary switches
pid=$1; secs=$2
snap() { for t in /proc/$pid/task/*; do n=$(cat $t/comm); read run wait slices < $t/schedstat; v=$(grep ^voluntary_ctxt $t/status | awk '{print $2}'); iv=$(grep ^nonvoluntary_ctxt $t/status | awk '{print $2}'); echo "$n.$(basename $t) $run $wait $v $iv"; done | sort; }
snap > /tmp/diag/c0; sleep $secs; snap > /tmp/diag/c1
join /tmp/diag/c0 /tmp/diag/c1 | awk -v s=$secs '{printf "%-28s run %6.0f ms/s  runq-wait %6.0f ms/s  vol %6.0f/s  invol %6.0f/s\n", $1, ($6-$2)/1e6/s, ($7-$3)/1e6/s, ($8-$4)/s, ($9-$5)/s}'

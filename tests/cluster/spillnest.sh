#!/usr/bin/env bash
# spillnest.sh - nested calls leave a busy node (docs/architecture.md,
# "Nested calls on a cluster"): a head offering 1 CPU (its node 1 runs
# tasks too, as in the README) and two 1-CPU workers (namespace hosts).
# A task fanning out 8 CPU-bound calls, placed on a worker, and again
# placed on the head's own node 1 (each through a resource only that node
# offers), runs them on more than one node, with the sum --serial prints
# (spillfan.flow); a nested call needing a resource only the other worker
# offers runs there (spillres.flow); one needing a resource no node
# offers fails clearly. A client interrupted while its task on node 1
# waits for calls spilled to the workers (spillstop.flow runs 10 minutes)
# stops them there too: both workers are idle again and say so; so does
# one whose fan-out went straight to a leased worker (spilldirect.flow):
# every node is idle again. A spilled call's prints name the node that
# ran it, and --trace draws it on that node's lane (spillprint.flow), and
# `flow status` counts the job's spilled calls (spillhold.flow); it keeps
# its nesting level, so the nesting limit holds across nodes
# (spilldeep.flow).
# Usage: spillnest.sh FLOW. Exit 77 (skipped) without root or netns.
set -u
flow=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
here=$(cd "$(dirname "$0")" && pwd)
. "$here/netns.sh"
. "$here/harness.sh"
cluster_harness 3
cp "$here/spillfan.flow" "$here/spillres.flow" "$here/spillstop.flow" "$here/spilldirect.flow" \
	"$here/spillprint.flow" "$here/spilldeep.flow" "$here/spillhold.flow" "$tmp/"

run 1 "$flow" start --head --block --cpus 1 --resources headonly=1 --token-file "$tmp/token" >"$tmp/head.out" 2>"$tmp/head.err" &
wait_until 10 grep -q "Flow head started" "$tmp/head.out" || bad "the head did not start"
run 2 "$flow" start --address "$head_addr" --block --cpus 1 --resources side=1 \
	--token-file "$tmp/token" >"$tmp/w2.out" 2>"$tmp/w2.err" &
wait_until 10 count_is 2 && ok || bad "worker 2 did not join"
run 3 "$flow" start --address "$head_addr" --block --cpus 1 --resources special=1 \
	--token-file "$tmp/token" >"$tmp/w3.out" 2>"$tmp/w3.err" &
wait_until 10 count_is 3 && ok || bad "worker 3 did not join"

# ---- a fan-out from a busy 1-CPU node uses the cluster ----
(cd "$tmp" && run 1 timeout 120 "$flow" run --serial spillfan.flow) >"$tmp/serial.out" 2>/dev/null
# fanout WHERE RESOURCE: fan placed on node WHERE (the only one offering
# RESOURCE); its 8 calls must run on more than one node
fanout() {
	local where=$1 res=$2 name="fan$1"
	sed "s/^task fan(/@resources($res=1)\ntask fan(/" "$tmp/spillfan.flow" >"$tmp/$name.flow"
	frun "$name.flow" >"$tmp/$name.out" 2>"$tmp/$name.err"
	rc=$?
	[ $rc = 0 ] && [ -s "$tmp/$name.out" ] && cmp -s "$tmp/$name.out" "$tmp/serial.out" && ok ||
		bad "$name.flow should print what --serial prints ($(cat "$tmp/serial.out")): exit $rc: $(cat "$tmp/$name.out" "$tmp/$name.err" | head -5)"
	grep -q "fan ran on node $where\$" "$tmp/$name.err" && ok ||
		bad "$name.flow's fan should run on node $where: $(grep "fan ran" "$tmp/$name.err")"
	nodes=$(grep -o "work ran on node [0-9]*" "$tmp/$name.err" | sort -u | wc -l)
	[ "$(grep -c "work ran on node" "$tmp/$name.err")" = 8 ] && [ "$nodes" -gt 1 ] && ok ||
		bad "the calls of a fan-out on node $where should run on more than one node: $(grep "work ran" "$tmp/$name.err" | sort | uniq -c)"
}
fanout 2 side
# the head's own node 1 (the worker in the head's process) spills too
fanout 1 headonly

# ---- a nested call needing what only another node offers runs there ----
frun spillres.flow >"$tmp/res.out" 2>"$tmp/res.err"
rc=$?
[ $rc = 0 ] && [ "$(cat "$tmp/res.out")" = "3 from 2" ] && ok ||
	bad "spillres.flow should print '3 from 2': exit $rc: $(cat "$tmp/res.out" "$tmp/res.err" | head -5)"

# ---- one needing what no node offers: the usual clear error ----
sed 's/special=1/special=2/' "$tmp/spillres.flow" >"$tmp/spillnone.flow"
frun spillnone.flow >"$tmp/none.out" 2>"$tmp/none.err"
rc=$?
[ $rc = 1 ] && grep -q "no node of this cluster offers what the task needs (@cpus 1, @memory 0 bytes, special 2)" "$tmp/none.err" && ok ||
	bad "a nested call that fits no node should fail clearly: exit $rc: $(cat "$tmp/none.out" "$tmp/none.err" | head -5)"

# ---- Ctrl-C stops the calls node 1's task spilled to the workers ----
# used I N: host I reports N CPUs in use
used() {
	status_json 2>/dev/null | tr '{' '\n' | grep "\"host\": \"host$1\"" | grep -q "\"cpus_used\": $2[,}]"
}
(cd "$tmp" && run 1 sh -c 'echo $$ >"$0"; exec "$@"' "$tmp/client.pid" \
	"$flow" run --address "$head_addr" --token-file "$tmp/token" spillstop.flow \
	>"$tmp/stop.out" 2>"$tmp/stop.err") &
client=$!
wait_until 30 used 2 1 && wait_until 30 used 3 1 && ok ||
	bad "spillstop.flow's calls did not start on both workers: $(status_json 2>&1 | tr '{' '\n' | grep host)"
kill -INT "$(cat "$tmp/client.pid")"
wait_until 10 gone "$client" || { bad "the client did not end on SIGINT"; kill -9 "$client"; }
wait $client
for i in 2 3; do
	wait_until 15 used $i 0 && ok || bad "worker $i still runs the interrupted job's spilled calls: $(status_json 2>&1 | tr '{' '\n' | grep host$i)"
	grep -q "its client went away; stopping its 1 task calls running here" "$tmp/w$i.err" && ok ||
		bad "worker $i should say it stopped the spilled call: $(tail -3 "$tmp/w$i.err")"
done

# ---- ... and those a direct call (a leased worker's) spilled ----
busy() {
	status_json 2>/dev/null | tr '{' '\n' | grep "\"host\": \"host$1\"" | grep -q "\"cpus_used\": [1-9]"
}
(cd "$tmp" && run 1 sh -c 'echo $$ >"$0"; exec "$@"' "$tmp/client.pid" \
	"$flow" run --address "$head_addr" --token-file "$tmp/token" spilldirect.flow \
	>"$tmp/direct.out" 2>"$tmp/direct.err") &
client=$!
wait_until 40 busy 1 && wait_until 30 busy 2 && wait_until 30 busy 3 && ok ||
	bad "spilldirect.flow's calls did not run on every node: $(status_json 2>&1 | tr '{' '\n' | grep host)"
kill -INT "$(cat "$tmp/client.pid")"
wait_until 10 gone "$client" || { bad "the client did not end on SIGINT"; kill -9 "$client"; }
wait $client
for i in 1 2 3; do
	wait_until 15 used $i 0 && ok || bad "node $i still runs the interrupted job's calls: $(status_json 2>&1 | tr '{' '\n' | grep host$i)"
done

# ---- a spilled call's prints are prefixed with the node that ran it ----
frun spillprint.flow >"$tmp/print.out" 2>"$tmp/print.err"
rc=$?
lines=$(grep -E '^\[node [0-9]+ \([^)]*\)\] \(work#[^)]*\) work [0-9] ran on node [0-9]+$' "$tmp/print.err")
same=$(echo "$lines" | sed -E 's/^\[node ([0-9]+) .* ran on node ([0-9]+)$/\1 \2/' | awk '$1 == $2' | wc -l)
ran=$(echo "$lines" | sed -E 's/.* ran on node //' | sort -u | wc -l)
[ $rc = 0 ] && [ "$(echo "$lines" | grep -c .)" = 8 ] && [ "$same" = 8 ] && [ "$ran" -gt 1 ] && ok ||
	bad "each print of spillprint.flow's calls should be prefixed with the node that ran it (8 lines, on more than one node): exit $rc, $same of them right: $(head -12 "$tmp/print.err")"

# ---- --trace draws a spilled call on the lane of the node that ran it ----
frun --trace "$tmp/trace.json" spillprint.flow >"$tmp/trace.out" 2>"$tmp/trace.err"
rc=$?
# the fan's event (a DAG call, on its node's lane), then every "work"
# event: each a nested task on a node's lane (pid 1-3: node 1 runs tasks
# too), at least one
# of them on a node other than the fan's, inside the fan's time there
lanes=$(/usr/bin/python3 - "$tmp/trace.json" <<'PY' 2>&1
import json, sys
ev = json.load(open(sys.argv[1]))["traceEvents"]
fan = [e for e in ev if e.get("name", "").startswith("fan") and e.get("ph") == "X"]
work = [e for e in ev if e.get("name") == "work" and e.get("ph") == "X"]
ok = (len(fan) == 1 and 1 <= len(work) <= 8
      and all(e["cat"] == "nested task" and e["pid"] in (1, 2, 3) and e["tid"] >= 1 for e in work)
      and any(e["pid"] != fan[0]["pid"] for e in work)
      and all(fan[0]["ts"] <= e["ts"] and e["ts"] + e["dur"] <= fan[0]["ts"] + fan[0]["dur"] + 1
              for e in work))
print("ok" if ok else "fan %s, work %s" % (fan, work))
PY
)
[ $rc = 0 ] && [ "$lanes" = ok ] && ! grep -q $'\x1e' "$tmp/trace.err" && ok ||
	bad "--trace should show spillprint.flow's spilled calls on their nodes' lanes: exit $rc: $(echo "$lanes" | head -c 1500)"

# ---- flow status counts a job's spilled calls ----
frun spillhold.flow >"$tmp/hold.out" 2>"$tmp/hold.err" &
hold=$!
spilled_seen() { status_json 2>/dev/null | /usr/bin/python3 -c '
import json, sys
jobs = json.load(sys.stdin)["jobs"]
sys.exit(0 if any(j["program"].endswith("spillhold.flow") and j.get("tasks_spilled", 0) >= 1 for j in jobs) else 1)'; }
wait_until 60 spilled_seen && ok ||
	bad "flow status should count spillhold.flow's spilled calls: $(status_json 2>&1 | tail -c 600)"
run 1 timeout 10 "$flow" status --address "$head_addr" --token-file "$tmp/token" >"$tmp/status.txt" 2>&1
grep -Eq "FAILED +SPILLED$" "$tmp/status.txt" && ok || bad "flow status should show a job's SPILLED column: $(cat "$tmp/status.txt")"
wait $hold
[ "$(cat "$tmp/hold.out")" = "$(printf '3500357\ndone')" ] && ok ||
	bad "spillhold.flow: $(cat "$tmp/hold.out" "$tmp/hold.err" | head -5)"

# ---- a spilled call keeps its nesting level: the limit holds ----
frun spilldeep.flow >"$tmp/deep.out" 2>"$tmp/deep.err"
rc=$?
[ $rc = 1 ] && grep -q "error: tasks nested more than 400 deep" "$tmp/deep.err" && ok ||
	bad "spilldeep.flow should stop at the nesting limit as --serial does: exit $rc: $(cat "$tmp/deep.out"; head -3 "$tmp/deep.err")"

stop_all
echo "cluster spillnest: $pass passed, $fail failed"
[ $fail = 0 ]

#!/usr/bin/env bash
# run.sh - `flow run --address`: programs run on a head and two workers
# (namespace hosts). Every sample prints what it prints under --serial;
# the hostnames sample spreads its tasks over the hosts; a result made on
# one host is consumed on another; task prints come back prefixed with the
# node; 20,000 tasks and a reduction give the local answer, and so do
# 6,000 dependent calls (chains.flow); a failed task
# is reported as locally; a wrong token is refused;
# a worker killed mid-run gives an error naming it, not a hang.
# Usage: run.sh FLOW. Exit 77 (skipped) without root or netns.
set -u
flow=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$here/netns.sh"
. "$here/harness.sh"
cluster_harness 3
# frun I ARGS...: flow run --address on host I (the client), from samples/
frun() {
	local i=$1
	shift
	(cd "$root/samples" && run "$i" timeout 120 "$flow" run --address "$head_addr" \
		--token-file "$tmp/token" "$@")
}

# the daemons run from samples/ as the client does: a task or an actor
# reading data/... finds it on every host (as a shared folder would)
cd "$root/samples" || exit 1
run 1 "$flow" start --head --block --cpus 1 --token-file "$tmp/token" >"$tmp/head.out" 2>"$tmp/head.err" &
wait_until 10 grep -q "Flow head started" "$tmp/head.out" || bad "the head did not start"
for i in 2 3; do
	run $i "$flow" start --address "$head_addr" --block --cpus 1 --token-file "$tmp/token" \
		>"$tmp/w$i.out" 2>"$tmp/w$i.err" &
done
cd - >/dev/null || exit 1
wait_until 10 count_is 3 && ok || bad "the workers did not join"

# ---- every sample: the same stdout as under --serial (its .out file) ----
# (003_hostnames counts per host: on a cluster its counts spread, below)
run 1 env FLOW_RUN_ARGS="--address $head_addr --token-file $tmp/token" \
	bash "$root/tests/golden/run.sh" samples "$flow" >"$tmp/samples.txt" 2>&1
grep -q "golden samples: [1-9][0-9]* passed" "$tmp/samples.txt" && ok || bad "samples: $(tail -3 "$tmp/samples.txt")"
others=$(grep '^  failed: ' "$tmp/samples.txt" | grep -v 'samples/003_hostnames$')
[ -z "$others" ] && ok || { bad "samples on the cluster differ from --serial:"; cat "$tmp/samples.txt"; }

# ---- a plan (flow compile -o) runs as its source does ----
(cd "$root/samples" && "$flow" compile -o "$tmp/tasks.plan" 002_tasks.flow)
frun 1 "$tmp/tasks.plan" >"$tmp/plan.out" 2>"$tmp/plan.err" && cmp -s "$tmp/plan.out" "$root/samples/002_tasks.out" && ok ||
	bad "a plan on the cluster: $(head -5 "$tmp/plan.out" "$tmp/plan.err")"

# ---- the golden programs (tests/golden/run): as locally, but for the
# three that say where they run (cluster_local: the membership; proc_sys:
# a task's host is not the driver's; nested_failure: a nested failure's
# lines come back prefixed with the node) and deep_nesting (a value nested
# past what the encoding holds cannot reach the actor's node: a clear
# error) and ray2_limit_running (a @cpus(2) task: the test cluster's
# nodes have 1 CPU each, so it is refused before the run, clearly)
# and ray2_tasks_basics (the same task called by the staged driver:
# refused when it is called; never run on the client instead).
# timeout.flow: a task past its
# @timeout is stopped on its node, which then takes the next run's tasks.
run 1 env FLOW_RUN_ARGS="--address $head_addr --token-file $tmp/token" \
	bash "$root/tests/golden/run.sh" run "$flow" >"$tmp/golden.txt" 2>&1
grep -q "golden run: [1-9][0-9]* passed" "$tmp/golden.txt" && ok || bad "golden run: $(tail -3 "$tmp/golden.txt")"
others=$(grep '^  failed: ' "$tmp/golden.txt" | grep -vE 'run/(cluster_local|proc_sys|nested_failure|deep_nesting|ray2_limit_running|ray2_tasks_basics)$')
[ -z "$others" ] && ok || {
	bad "golden programs on the cluster differ: $(echo $others | sed 's/failed: //g')"
	for f in $(echo "$others" | sed 's/^  failed: //'); do grep -A12 "^FAIL $f[: ]" "$tmp/golden.txt"; done
}
grep -q "task 'process_two_cpus' needs 2 CPUs (@cpus), so it can never run on this cluster" "$tmp/golden.txt" && ok ||
	bad "ray2_limit_running should be refused clearly on 1-CPU nodes: $(grep -A3 'FAIL run/ray2_limit_running' "$tmp/golden.txt")"
grep -q "no node of this cluster offers what the task needs (@cpus 2, " "$tmp/golden.txt" &&
	grep -q "task 'needs_two' failed; it was called from .*ray2_tasks_basics.flow:54:11" "$tmp/golden.txt" && ok ||
	bad "ray2_tasks_basics's @cpus(2) call should be refused on 1-CPU nodes: $(grep -A6 'FAIL run/ray2_tasks_basics' "$tmp/golden.txt")"

# ---- the hostnames sample: its tasks over at least two hosts ----
frun 1 -p n_tasks=300 003_hostnames.flow >"$tmp/hosts.out" 2>"$tmp/hosts.err"
rc=$?
[ $rc = 0 ] && ok || bad "003_hostnames: exit $rc: $(head -5 "$tmp/hosts.err")"
nhosts=$(grep -cE '^    [0-9]+ tasks on host[123]$' "$tmp/hosts.out")
total=$(grep -oE '^    [0-9]+ tasks' "$tmp/hosts.out" | awk '{ s += $1 } END { print s + 0 }')
[ "$nhosts" -ge 2 ] && [ "$total" = 300 ] && ok ||
	bad "003_hostnames: $nhosts hosts, $total tasks: $(cat "$tmp/hosts.out")"

# ---- a result made on one host, consumed on another; prints come back ----
cp "$here/pass.flow" "$here/boom.flow" "$here/sleepy.flow" "$tmp/"
(cd "$tmp" && run 1 timeout 60 "$flow" run --address "$head_addr" --token-file "$tmp/token" pass.flow \
	>"$tmp/pass.out" 2>"$tmp/pass.err")
rc=$?
[ $rc = 0 ] && ok || bad "pass.flow: exit $rc: $(head -5 "$tmp/pass.err")"
grep -qE 'made on (host[123]) \(node [123]\) used on (host[123]) \(node [123]\): 11' "$tmp/pass.out" && ok ||
	bad "pass.flow: $(cat "$tmp/pass.out")"
grep -oE 'made on host[123] \(node [123]\) used on host[123] \(node [123]\)' "$tmp/pass.out" |
	awk '{ if ($3 != $8) n++ } END { exit n > 0 ? 0 : 1 }' && ok ||
	bad "no result was consumed on another host than it was made on: $(cat "$tmp/pass.out")"
grep -q '^\[0, 1, 2\]$' "$tmp/pass.out" && ok || bad "pass.flow's second line: $(cat "$tmp/pass.out")"
grep -qx '3 host1' "$tmp/pass.out" && ok ||
	bad "cluster.nodes() in the driver should list the members: $(cat "$tmp/pass.out")"
for k in 0 1 2; do
	grep -qE "^\[node [123] \(host[123]\)\] \(shout#[0-9]+\) hello $k$" "$tmp/pass.err" && ok ||
		bad "the print of shout($k) did not come back: $(cat "$tmp/pass.err")"
done

# ---- a large fan-out: 20,000 tasks in batches over the nodes and a
# reduction of their results: the local answer ----
cp "$here/fanout.flow" "$tmp/"
(cd "$tmp" && run 1 timeout 120 "$flow" run --address "$head_addr" --token-file "$tmp/token" fanout.flow \
	>"$tmp/fanout.out" 2>"$tmp/fanout.err")
rc=$?
[ $rc = 0 ] && [ "$(cat "$tmp/fanout.out")" = 9230000 ] && ok ||
	bad "fanout.flow: exit $rc: $(head -3 "$tmp/fanout.out" "$tmp/fanout.err")"

# ---- thousands of dependent calls, sent without a thread waiting for
# each (remote_async.h): the same answer as --serial ----
cp "$here/chains.flow" "$tmp/"
(cd "$tmp" && "$flow" run --serial -p width=60 chains.flow >"$tmp/chains.local")
(cd "$tmp" && run 1 timeout 120 "$flow" run --address "$head_addr" --token-file "$tmp/token" \
	-p width=60 chains.flow >"$tmp/chains.out" 2>"$tmp/chains.err")
rc=$?
[ $rc = 0 ] && [ -s "$tmp/chains.local" ] && cmp -s "$tmp/chains.local" "$tmp/chains.out" && ok ||
	bad "chains.flow: exit $rc: $(head -3 "$tmp/chains.out" "$tmp/chains.err") (--serial: $(cat "$tmp/chains.local"))"

# ---- a failed task: reported as locally (the same stderr and status) ----
(cd "$tmp" && "$flow" run boom.flow >"$tmp/boom.local" 2>"$tmp/boom.local.err")
lrc=$?
(cd "$tmp" && run 1 timeout 60 "$flow" run --address "$head_addr" --token-file "$tmp/token" boom.flow \
	>"$tmp/boom.out" 2>"$tmp/boom.err")
rc=$?
[ $rc = 1 ] && [ $lrc = 1 ] && ok || bad "boom.flow: exit $rc (locally $lrc)"
cmp -s "$tmp/boom.local" "$tmp/boom.out" && ok || bad "boom.flow's stdout differs: $(cat "$tmp/boom.out")"
diff <(sort "$tmp/boom.local.err") <(sort "$tmp/boom.err") >"$tmp/boom.diff" && ok ||
	bad "boom.flow's report differs from the local one: $(cat "$tmp/boom.diff")"

# ---- a wrong token: refused, with a clear message, exit 1 ----
(cd "$tmp" && run 1 timeout 20 "$flow" run --address "$head_addr" --token-file "$tmp/wrong" pass.flow \
	>"$tmp/wrong.out" 2>"$tmp/wrong.err")
rc=$?
[ $rc = 1 ] && grep -q "refused us: .*wrong cluster token" "$tmp/wrong.err" && [ ! -s "$tmp/wrong.out" ] && ok ||
	bad "wrong token: exit $rc: $(cat "$tmp/wrong.err")"

# ---- Ctrl-C: the client ends at once, the head drops its waiting calls ----
# (its spill directory, made in its own TMPDIR, is removed as it exits)
mkdir -p "$tmp/cspill"
(cd "$tmp" && run 1 env TMPDIR="$tmp/cspill" sh -c 'echo $$ >"$0"; exec "$@"' "$tmp/client.pid" \
	"$flow" run --address "$head_addr" --token-file "$tmp/token" sleepy.flow \
	>"$tmp/int.out" 2>"$tmp/int.err") &
client=$!
sleep 1.5
t0=$SECONDS
kill -INT "$(cat "$tmp/client.pid")"
wait $client
rc=$?
[ $rc = 130 ] && [ $((SECONDS - t0)) -lt 3 ] && grep -q "interrupted" "$tmp/int.err" && ok ||
	bad "Ctrl-C: exit $rc after $((SECONDS - t0)) s: $(cat "$tmp/int.err")"
[ -z "$(ls "$tmp/cspill")" ] && ok || bad "Ctrl-C left the client's spill directory: $(ls "$tmp/cspill")"
# what ran finishes (one 2 s task per node); nothing more runs: the calls
# still queued at the head are dropped, and the workers drop theirs (CANCEL)
sleep 3
idle() {
	local st
	st=$(run 1 timeout 10 "$flow" status --address "$head_addr" --token-file "$tmp/token" --json) &&
		[ "$(grep -o '"cpus_used": 0' <<<"$st" | wc -l)" = 3 ]
}
wait_until 3 idle && ok || bad "nodes still busy after the interrupted run"
sleep 2
idle && ok || bad "a node took more work of the interrupted run"

# ---- a worker killed with -9 mid-run: an error naming it, no hang ----
w2=$(daemon_pid 2 worker)
(cd "$tmp" && run 1 timeout 60 "$flow" run --address "$head_addr" --token-file "$tmp/token" sleepy.flow \
	>"$tmp/sleepy.out" 2>"$tmp/sleepy.err") &
client=$!
# once host2 runs one of its tasks (the client's start-up takes a moment)
busy2() {
	run 1 timeout 10 "$flow" status --address "$head_addr" --token-file "$tmp/token" --json |
		tr '{' '\n' | grep '"host": "host2"' | grep -q '"cpus_used": 1'
}
wait_until 15 busy2 || bad "host2 took no task of sleepy.flow"
t0=$SECONDS
[ -n "$w2" ] && kill -9 "$w2"
wait $client
rc=$?
[ $rc = 1 ] && ok || bad "a run whose worker was killed: exit $rc: $(cat "$tmp/sleepy.err")"
[ $((SECONDS - t0)) -lt 30 ] && ok || bad "the run took $((SECONDS - t0)) s after the kill"
grep -q "node [0-9]* (host2 at 10.77.0.2:[0-9]*) did not return the task's result" "$tmp/sleepy.err" && ok ||
	bad "the error does not name the lost node: $(cat "$tmp/sleepy.err")"

echo "cluster run: $pass passed, $fail failed"
if [ $fail != 0 ]; then
	echo "--- head log"
	cat "$tmp/head.err" "$tmp"/h1/.flow/logs/* 2>/dev/null | tail -20
fi
[ $fail = 0 ]

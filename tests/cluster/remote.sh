#!/usr/bin/env bash
# remote.sh - tasks run on a worker through the head, one and a batch: the plan
# travels to the worker once (by SHA-256) and is validated there, the task
# runs in the worker's VM and its result comes back; a failing task's error
# comes back, in a batch too, beside the others' results; a task that outlives the heartbeat deadline does not make
# anyone look dead; a worker killed while running a task gives a clear
# error naming it, not a hang.
# Usage: remote.sh FLOW REMOTE_CLIENT. Exit 77 (skipped) without root or netns.
set -u
flow=$1
client=$2
here=$(cd "$(dirname "$0")" && pwd)
. "$here/netns.sh"
. "$here/harness.sh"
cluster_harness 2
task() { run 1 timeout 30 "$client" "$head_addr" "$tmp/token" "$tmp/remote.plan" "$@"; }

"$flow" compile "$here/remote.flow" -o "$tmp/remote.plan" || { echo "FAIL: compile"; exit 1; }
# --cpus 0: the head runs no tasks itself, so every task goes to the worker
run 1 "$flow" start --head --block --cpus 0 --token-file "$tmp/token" >"$tmp/head.out" 2>"$tmp/head.err" &
wait_until 10 grep -q "Flow head started" "$tmp/head.out" || bad "the head did not start"
run 2 "$flow" start --address "$head_addr" --block --cpus 1 --token-file "$tmp/token" \
	>"$tmp/w2.out" 2>"$tmp/w2.err" &
wait_until 10 count_is 2 && ok || bad "the worker did not join"

out=$(task square 7) && [ "$out" = 50 ] && ok || bad "square(7) remotely: '$out'"
out=$(task where) && [ "$out" = host2 ] && ok || bad "where() should run on host2: '$out'"
out=$(task square -3) && [ "$out" = 10 ] && ok || bad "square(-3), the plan already there: '$out'"
out=$(task boom 1)
rc=$?
[ $rc = 1 ] && grep -q "division" <<<"$out" && ok || bad "boom(1): exit $rc, '$out'"
# one batch (RUN_TASKS) holding a failing call among succeeding ones:
# each outcome is its own, in its place
out=$(run 1 env FLOW_BATCH="square:7 boom:1 where square:-3" timeout 30 "$client" "$head_addr" \
	"$tmp/token" "$tmp/remote.plan" square)
rc=$?
# (the error's report spans lines: the second outcome starts line 2)
[ $rc = 1 ] && [ "$(sed -n 2p <<<"$out" | grep -c "^failed: .*division by zero (in task 'boom')")" = 1 ] &&
	[ "$(sed -n 1p <<<"$out") $(tail -2 <<<"$out" | tr '\n' ' ')" = "50 host2 10 " ] && ok ||
	bad "a batch with a failing task: exit $rc, '$out'"

# a task longer than the 3 s heartbeat deadline: the head keeps answering
# meanwhile, and nobody is declared dead (suspect is allowed: under a
# sanitizer on a loaded machine a heartbeat may come a second late)
not_dead_is() {
	[ "$(status_json 2>/dev/null | grep -Eo '"state": "(alive|suspect)"' | wc -l)" = "$1" ]
}
task slow 4 >"$tmp/slow.out" 2>&1 &
slow_pid=$!
sleep 1
not_dead_is 2 && ok || bad "the head did not answer, or a node looked dead, while a task ran: $(status_json 2>&1 | head -c 600)"
wait $slow_pid && [ "$(cat "$tmp/slow.out")" = 4 ] && ok || bad "slow(4): $(cat "$tmp/slow.out")"
not_dead_is 2 && ok || bad "a node was declared dead after a 4 s task"
grep -q "declared dead" "$tmp/head.err" && bad "the head declared a node dead: $(cat "$tmp/head.err")" || ok

# the worker killed while running a task: a clear error naming it, at once
task slow 20 >"$tmp/lost.out" 2>&1 &
lost_pid=$!
sleep 1
kill -9 "$(daemon_pid 2 worker)"
t0=$SECONDS
wait $lost_pid
rc=$?
[ $rc != 0 ] && [ $((SECONDS - t0)) -le 5 ] && grep -q "node 2 (host2" "$tmp/lost.out" && ok ||
	bad "a lost worker's task: exit $rc after $((SECONDS - t0)) s: $(cat "$tmp/lost.out")"
out=$(task square 2 2>&1)
rc=$?
[ $rc != 0 ] && grep -q "offers CPUs" <<<"$out" && ok || bad "no worker left: exit $rc, '$out'"
# the killed worker's spill directory: removed by the next daemon on its host
[ -n "$(spill_dirs 2)" ] && ok || bad "the killed worker left no spill directory (none made?)"
run 2 "$flow" start --address "$head_addr" --block --cpus 1 --token-file "$tmp/token" \
	>"$tmp/w2b.out" 2>>"$tmp/w2.err" &
wait_until 10 count_is 2 && ok || bad "the second worker did not join"
[ "$(spill_dirs 2 | wc -l)" = 1 ] && ok || bad "the dead worker's spill directory is still there: $(spill_dirs 2)"
kill -TERM "$(daemon_pid 2 worker)"
wait_until 10 count_is 1 && ok || bad "the second worker did not leave"

stop_head() {
	local pid
	pid=$(daemon_pid 1 head)
	kill -TERM "$pid"
	wait_until 10 bash -c "! kill -0 $pid 2>/dev/null || grep -q '^Z' <(ps -o stat= -p $pid)" ||
		{ bad "the head did not stop on SIGTERM"; kill -9 "$pid"; }
}
stop_head

# a head with CPUs runs tasks itself (node 1), the plan validated there
run 1 "$flow" start --head --block --cpus 1 --token-file "$tmp/token" >"$tmp/head2.out" 2>>"$tmp/head.err" &
wait_until 10 grep -q "Flow head started" "$tmp/head2.out" || bad "the second head did not start"
out=$(task where) && [ "$out" = host1 ] && ok || bad "where() on a lone head: '$out'"
out=$(task square 4) && [ "$out" = 17 ] && ok || bad "square(4) on the head: '$out'"
stop_head
nothing_left
echo "cluster remote: $pass passed, $fail failed"
[ $fail = 0 ] || { echo "--- head log"; cat "$tmp/head.err"; echo "--- worker log"; cat "$tmp/w2.err"; }
[ $fail = 0 ]

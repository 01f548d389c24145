#!/usr/bin/env bash
# direct.sh - direct calls (docs/wire.md, "Direct calls"): a head that runs
# no tasks (--cpus 0) and two workers on namespace hosts, the client on
# the head's host.
#  - a loop of synchronous calls goes straight to the worker the head
#    leased the client (that worker logs the client's direct connection),
#    with the right result; the head still counts the calls for the job
#    ("job N ended: 200 task calls done") and lists them in flow status
#    while they run;
#  - FLOW_DIRECT=0: every call through the head (no direct connection);
#  - the leased worker killed with -9 while calls run there: its calls are
#    sent again (through the head, then a new lease), the output is right;
#  - the leased worker stopped with SIGTERM (draining) while calls run,
#    three times: they end there or go through the head; the output is
#    right (no client waits forever on a call sent to the leaving worker).
# Usage: direct.sh FLOW. Exit 77 (skipped) without root or netns.
set -u
flow=$1
here=$(cd "$(dirname "$0")" && pwd)
. "$here/netns.sh"
. "$here/harness.sh"
cluster_harness 3
cp "$here/direct.flow" "$tmp/"

run 1 "$flow" start --head --block --cpus 0 --token-file "$tmp/token" >"$tmp/head.out" 2>"$tmp/head.err" &
wait_until 10 grep -q "Flow head started" "$tmp/head.out" || bad "the head did not start"
start_worker 2
start_worker 3
wait_until 15 count_is 3 && ok || bad "the workers did not join"
# the worker (2 or 3) that logged the client's direct connection, or none
leased() { grep -l "direct calls from the client at $(host_ip 1):" "$tmp"/w2.err "$tmp"/w3.err 2>/dev/null |
	head -1 | sed 's/.*w\([0-9]\)\.err/\1/'; }
has_lease() { [ -n "$(leased)" ]; }
forget_leases() { : >"$tmp/w2.err"; : >"$tmp/w3.err"; }

out=$(frun direct.flow 2>"$tmp/c1.err")
[ "$out" = 200 ] && ok || bad "200 synchronous calls: '$out' $(cat "$tmp/c1.err")"
w=$(leased)
[ -n "$w" ] && ok || bad "no worker served direct calls: $(cat "$tmp"/w2.err "$tmp"/w3.err)"
# the head learned of them: the job's count, once the client has gone
wait_until 10 grep -q "job 1 ended: 200 task calls done, 0 failed" "$tmp/head.err" && ok ||
	bad "the head should count the 200 direct calls: $(grep job "$tmp/head.err")"

# flow status lists the direct calls of a running job
frun -p n=40 -p nap=0.1 direct.flow >"$tmp/c2.out" 2>"$tmp/c2.err" &
client=$!
running_seen() { status_json 2>/dev/null >"$tmp/st.json" && grep -qE '"tasks_(running|done)": [1-9]' "$tmp/st.json"; }
wait_until 20 running_seen && ok || bad "flow status should list the job's direct calls: $(cat "$tmp/st.json")"
wait $client && [ "$(cat "$tmp/c2.out")" = 40 ] && ok || bad "40 calls with naps: $(cat "$tmp/c2.out" "$tmp/c2.err")"

# FLOW_DIRECT=0: through the head only
forget_leases
out=$(cd "$tmp" && run 1 env FLOW_DIRECT=0 timeout 120 "$flow" run --address "$head_addr" \
	--token-file "$tmp/token" direct.flow 2>"$tmp/c3.err")
[ "$out" = 200 ] && [ -z "$(leased)" ] && ok || bad "FLOW_DIRECT=0: '$out', direct on: $(leased)"

# the leased worker killed while calls run: sent again, the right output
forget_leases
frun -p n=60 -p nap=0.05 direct.flow >"$tmp/c4.out" 2>"$tmp/c4.err" &
client=$!
wait_until 20 has_lease && w=$(leased)
if [ -n "${w:-}" ]; then
	sleep 0.5
	kill_worker "$w"
	ok
else
	bad "no lease to kill: $(cat "$tmp"/w2.err "$tmp"/w3.err)"
fi
wait $client && [ "$(cat "$tmp/c4.out")" = 60 ] && ok ||
	bad "calls on the killed leased worker should be sent again: $(cat "$tmp/c4.out" "$tmp/c4.err")"
restart_worker "$w" 3 || bad "no fresh worker on host $w"

# the leased worker stopped (draining) while calls run: the right output,
# several times (a client once hung here: a call the head forwarded to
# the worker as it left waited forever), each on a fresh worker
for round in 1 2 3; do
	forget_leases
	frun -p n=60 -p nap=0.05 direct.flow >"$tmp/c5.out" 2>"$tmp/c5.err" &
	client=$!
	w=
	wait_until 20 has_lease && w=$(leased)
	if [ -n "${w:-}" ]; then
		sleep 0.$((2 * round + 1))
		kill -TERM "$(daemon_pid "$w" worker)"
		ok
	else
		bad "no lease to stop (round $round): $(cat "$tmp"/w2.err "$tmp"/w3.err)"
	fi
	wait $client && [ "$(cat "$tmp/c5.out")" = 60 ] && ok ||
		bad "calls on a draining leased worker (round $round): $(cat "$tmp/c5.out" "$tmp/c5.err")"
	if [ -n "${w:-}" ]; then
		wait_until 15 count_is 2 || bad "the drained worker should leave (round $round)"
		restart_worker "$w" 3 || bad "no fresh worker on host $w (round $round)"
	fi
done

stop_all
sanitizer_clean
echo "direct: $pass ok, $fail failed"
[ "$fail" = 0 ]

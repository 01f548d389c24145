#!/usr/bin/env bash
# nest.sh - calls made inside task bodies on a worker (a head offering no
# CPUs, a worker with --cpus 2, namespace hosts): they are nested jobs on
# the worker's own threads, so two calls a body fans out run at once (each
# sees the other arrive at a shared actor: nestpar.flow; no timing); and
# a client interrupted (SIGINT) stops the calls of its job running on the
# worker, nested ones too (forever.flow runs 10 minutes): the worker is
# idle again soon after and says so in its log.
# Usage: nest.sh FLOW. Exit 77 (skipped) without root or netns.
set -u
flow=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
here=$(cd "$(dirname "$0")" && pwd)
. "$here/netns.sh"
. "$here/harness.sh"
cluster_harness 2
cp "$here/nestpar.flow" "$here/forever.flow" "$here/nestcap.flow" "$tmp/"

run 1 "$flow" start --head --block --cpus 0 --token-file "$tmp/token" >"$tmp/head.out" 2>"$tmp/head.err" &
wait_until 10 grep -q "Flow head started" "$tmp/head.out" || bad "the head did not start"
run 2 "$flow" start --address "$head_addr" --block --cpus 2 --token-file "$tmp/token" \
	>"$tmp/w2.out" 2>"$tmp/w2.err" &
wait_until 10 count_is 2 && ok || bad "the worker did not join"

# ---- a body's two calls run at once on the worker (--cpus 2) ----
frun nestpar.flow >"$tmp/par.out" 2>"$tmp/par.err"
rc=$?
[ $rc = 0 ] && [ "$(cat "$tmp/par.out")" = "[true, true]" ] && ok ||
	bad "nested calls on a worker should run at once: exit $rc: $(cat "$tmp/par.out" "$tmp/par.err" | head -5)"

# ---- Ctrl-C stops the job's running calls on the worker ----
# worker_used N: host2 reports N CPUs in use
worker_used() {
	status_json 2>/dev/null | tr '{' '\n' | grep '"host": "host2"' | grep -q "\"cpus_used\": $1[,}]"
}

# ---- a caller's @timeout stops its nested calls, wherever they run ----
frun nestcap.flow >"$tmp/cap.out" 2>"$tmp/cap.err"
rc=$?
[ $rc = 0 ] && [ "$(cat "$tmp/cap.out")" = "timeout" ] && ok ||
	bad "nestcap.flow: exit $rc: $(cat "$tmp/cap.out" "$tmp/cap.err" | head -5)"
# the nested calls' prints came back with their task, from the worker
for k in 0 1; do
	grep -q "spin $k starts" "$tmp/cap.err" && ok || bad "nested call $k's print did not come back: $(head -5 "$tmp/cap.err")"
done
wait_until 15 worker_used 0 && ok || bad "the worker still runs the timed-out task's nested calls"
(cd "$tmp" && run 1 sh -c 'echo $$ >"$0"; exec "$@"' "$tmp/client.pid" \
	"$flow" run --address "$head_addr" --token-file "$tmp/token" forever.flow \
	>"$tmp/int.out" 2>"$tmp/int.err") &
client=$!
# the caller and its nested call both run (one on each CPU)
wait_until 20 worker_used 2 && ok || bad "forever.flow did not start on the worker: $(status_json 2>&1 | head -5)"
kill -INT "$(cat "$tmp/client.pid")"
wait_until 10 gone "$client" || { bad "the client did not end on SIGINT"; kill -9 "$client"; }
wait $client
wait_until 15 worker_used 0 && ok || bad "the worker still runs the interrupted job's calls: $(status_json 2>&1 | tr '{' '\n' | grep host2)"
grep -q "its client went away; stopping its 1 task calls running here" "$tmp/w2.err" && ok ||
	bad "the worker should say it stopped the running call: $(tail -5 "$tmp/w2.err")"
# it can still run the next job
frun nestpar.flow >"$tmp/par2.out" 2>"$tmp/par2.err" && [ "$(cat "$tmp/par2.out")" = "[true, true]" ] && ok ||
	bad "the worker after the interrupted job: $(cat "$tmp/par2.out" "$tmp/par2.err" | head -5)"

stop_all
echo "cluster nest: $pass passed, $fail failed"
[ $fail = 0 ]

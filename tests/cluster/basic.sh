#!/usr/bin/env bash
# basic.sh - a head and two workers on three namespace hosts: joining,
# status, wrong tokens, broken frames, leaving, kill -9, a lost head.
# Usage: basic.sh FLOW WIRE_CLIENT. Exit 77 (skipped) without root or netns.
set -u
flow=$1
client=$2
here=$(cd "$(dirname "$0")" && pwd)
. "$here/netns.sh"
. "$here/harness.sh"
cluster_harness 3
gone() { ! kill -0 "$1" 2>/dev/null || grep -q '^Z' <(ps -o stat= -p "$1" 2>/dev/null); }

# ---- a head and two workers ----
run 1 "$flow" start --head --block --port 6379 --cpus 2 --token-file "$tmp/token" \
	>"$tmp/head.out" 2>"$tmp/head.err" &
wait_until 20 grep -q "Flow head started" "$tmp/head.out" && ok || bad "the head did not start: $(cat "$tmp/head.err")"
head_pid=$(daemon_pid 1 head)
for i in 2 3; do
	run $i "$flow" start --address "$head_addr" --block --cpus 1 --resources "slot=$i" \
		--token-file "$tmp/token" >"$tmp/w$i.out" 2>"$tmp/w$i.err" &
done
wait_until 20 count_is 3 && ok || bad "3 alive nodes expected, status: $(status_json 2>&1)"
status_json >"$tmp/status.json"
if python3 - "$tmp/status.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
hosts = sorted(n["host"] for n in s["nodes"])
assert hosts == ["host1", "host2", "host3"], hosts
assert all(n["alive"] for n in s["nodes"]), s
addrs = sorted(n["address"].split(":")[0] for n in s["nodes"])
assert addrs == ["10.77.0.1", "10.77.0.2", "10.77.0.3"], addrs
assert s["jobs"] == []
assert {n["host"]: n["resources"] for n in s["nodes"]}["host2"] == {"slot": 2}
PY
then ok; else bad "status --json: $(cat "$tmp/status.json")"; fi
run 1 timeout 10 "$flow" status --address "$head_addr" --token-file "$tmp/token" >"$tmp/status.txt" &&
	grep -q "host3" "$tmp/status.txt" && ok || bad "status text: $(cat "$tmp/status.txt")"

# ---- wrong tokens are refused, clearly, with exit 1 ----
run 2 timeout 10 "$flow" start --address "$head_addr" --block --token-file "$tmp/wrong" \
	>/dev/null 2>"$tmp/wrong.err"
rc=$?
[ $rc = 1 ] && grep -q "wrong cluster token" "$tmp/wrong.err" && ok ||
	bad "worker with a wrong token: exit $rc, $(cat "$tmp/wrong.err")"
run 3 timeout 10 "$flow" status --address "$head_addr" --token-file "$tmp/wrong" >/dev/null 2>"$tmp/wrong.err"
rc=$?
[ $rc = 1 ] && grep -q "wrong cluster token" "$tmp/wrong.err" && ok ||
	bad "status with a wrong token: exit $rc, $(cat "$tmp/wrong.err")"
count_is 3 && ok || bad "the refused worker joined"
# nothing listens there: said at once, with the reason
run 2 timeout 10 "$flow" start --address "$(host_ip 1):6390" --block --token-file "$tmp/token" \
	>/dev/null 2>"$tmp/refused.err"
rc=$?
[ $rc = 1 ] && grep -q "Connection refused" "$tmp/refused.err" && ok ||
	bad "worker for a closed port: exit $rc, $(cat "$tmp/refused.err")"

# ---- broken and hostile frames: refused, logged, the head keeps serving ----
for c in truncated oversized version kind noauth badauth truncated-authed huge; do
	run 2 timeout 15 "$client" "$head_addr" "$tmp/token" $c >>"$tmp/client.out" 2>&1
	rc=$?
	# huge: nng drops the connection before reading the frame, and the
	# hostile client's own nng req may keep re-sending it on each new
	# connection until it is killed (seen under ASan): that client's fate
	# is not the point; the head's is, checked below (it keeps serving)
	[ $c = huge ] && [ $rc = 124 ] && rc=0
	[ $rc = 0 ] && ok || bad "wire_client $c: exit $rc: $(tail -1 "$tmp/client.out")"
done
for why in "truncated frame" "frame too large" "protocol version mismatch" \
	"unknown message kind" "not authenticated" "authentication failed"; do
	grep -q "refused .*$why" "$tmp/head.err" && ok || bad "the head did not log '$why'"
done
run 3 timeout 15 "$client" "$head_addr" "$tmp/token" ok >>"$tmp/client.out" 2>&1 && ok ||
	bad "the head stopped serving after bad frames"
kill -0 "$head_pid" && ok || bad "the head died"

# ---- a worker stopped with SIGTERM leaves ----
w3=$(daemon_pid 3 worker)
kill -TERM "$w3"
wait_until 10 gone "$w3" && ok || bad "worker 3 did not stop on SIGTERM"
wait_until 5 count_is 2 && ok || bad "worker 3 still listed after SIGTERM"
grep -q "node .* (host3 .*) left" "$tmp/head.err" && ok || bad "the head did not log worker 3 leaving"

# ---- `flow stop` on host 3 stops its background daemon ----
run 3 timeout 15 "$flow" start --address "$head_addr" --token-file "$tmp/token" >"$tmp/w3bg.out" 2>&1 &&
	grep -q "joined" "$tmp/w3bg.out" && ok || bad "background worker: $(cat "$tmp/w3bg.out")"
wait_until 5 count_is 3 && ok || bad "the background worker is not listed"
w3=$(daemon_pid 3 worker)
run 3 timeout 15 "$flow" stop >"$tmp/stop.out" 2>&1 && grep -q "stopped the worker" "$tmp/stop.out" && ok ||
	bad "flow stop: $(cat "$tmp/stop.out")"
wait_until 5 count_is 2 && ok || bad "worker 3 still listed after flow stop"
gone "$w3" && ok || bad "flow stop left the worker running"
[ -z "$(ls "$tmp/h3/.flow/run/" 2>/dev/null)" ] && ok || bad "flow stop left a pid file"

# ---- a worker killed with -9 is removed ----
w2=$(daemon_pid 2 worker)
kill -9 "$w2"
wait_until 5 count_is 1 && ok || bad "worker 2 still listed 5 s after kill -9"
grep -q "node .* (host2 .*) disconnected" "$tmp/head.err" && ok || bad "the head did not log worker 2's loss"

# ---- a lost head makes its workers exit with a clear message ----
for i in 2 3; do
	run $i "$flow" start --address "$head_addr" --block --token-file "$tmp/token" \
		>"$tmp/l$i.out" 2>"$tmp/l$i.err" &
done
wait_until 20 count_is 3 && ok || bad "workers did not rejoin"
w2=$(daemon_pid 2 worker)
w3=$(daemon_pid 3 worker)
kill -9 "$head_pid"
for i in 2 3; do
	[ $i = 2 ] && p=$w2 || p=$w3
	wait_until 8 gone "$p" && ok || bad "worker $i outlived its head by 8 s"
	grep -q "lost the head" "$tmp/l$i.err" && ok || bad "worker $i: no clear message: $(cat "$tmp/l$i.err")"
done
# (anything still running has failed above: kill it so that wait is bounded)
for f in "$tmp"/h*/.flow/run/*.pid; do [ -f "$f" ] && kill -9 "$(cut -d' ' -f1 "$f")" 2>/dev/null; done
wait 2>/dev/null

# ---- the killed head left its spill directory: the next daemon there removes it ----
[ -n "$(spill_dirs 1)" ] && ok || bad "the head killed with -9 left no spill directory (none made?)"
run 1 "$flow" start --head --block --port 6379 --cpus 1 --token-file "$tmp/token" \
	>"$tmp/head3.out" 2>>"$tmp/head.err" &
wait_until 20 grep -q "Flow head started" "$tmp/head3.out" && ok || bad "the third head did not start"
[ "$(spill_dirs 1 | wc -l)" = 1 ] && ok || bad "the dead head's spill directory is still there: $(spill_dirs 1)"
p=$(daemon_pid 1 head)
kill -TERM "$p"
wait_until 10 gone "$p" && ok || bad "the third head did not stop"

# ---- nothing left behind ----
nothing_left

echo "cluster basic: $pass passed, $fail failed"
[ $fail = 0 ] || { echo "--- head log"; cat "$tmp/head.err"; echo "--- client"; cat "$tmp/client.out"; }
[ $fail = 0 ]

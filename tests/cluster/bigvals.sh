#!/usr/bin/env bash
# bigvals.sh - values larger than one message travel as objects
# (executor/cluster/objects.h): on a head (--cpus 0) and two workers, a
# tensor of 5.6 MB made by a task on one worker is consumed by tasks on
# workers; a tensor and a 6 MB string made on the client are given to
# several tasks; results over 4 MiB come back. The output is --serial's;
# every task ran on a worker; results are pulled by the client straight
# from the worker that made them (not through the head), arguments by the
# workers from the client, each object at most once per node; a cap too
# small for a value fails the run with a clear error. w2w.flow: a result
# made on host2 and used on host3 goes from host2 to host3 (the client
# pulls nothing), and a task with no needs runs where its input is.
# chunks.flow: 40 MB tensors (10 pull chunks) moved client to worker,
# worker to client and worker to worker arrive intact (checksums).
# spill.flow: results held past a worker's --object-store-memory go to
# its spill store and are served from there.
# Usage: bigvals.sh FLOW. Exit 77 (skipped) without root or netns.
set -u
flow=$1
here=$(cd "$(dirname "$0")" && pwd)
. "$here/netns.sh"
. "$here/harness.sh"
cluster_harness 3
prog="$here/bigvals.flow"

run 1 timeout 60 "$flow" run --serial "$prog" >"$tmp/serial.out" 2>/dev/null || bad "--serial failed"
run 1 "$flow" start --head --block --cpus 0 --token-file "$tmp/token" >"$tmp/head.out" 2>"$tmp/head.err" &
wait_until 10 grep -q "Flow head started" "$tmp/head.out" || bad "the head did not start"
res2=side=1 res3=far=1 # for w2w.flow: make runs on host2, total on host3
for i in 2 3; do
	eval "res=\$res$i"
	run "$i" env FLOW_OBJECT_LOG=1 "$flow" start --address "$head_addr" --block --cpus 1 \
		--resources "$res" --token-file "$tmp/token" >"$tmp/w$i.out" 2>"$tmp/w$i.err" &
done
wait_until 10 count_is 3 && ok || bad "the workers did not join"

run 1 env FLOW_OBJECT_LOG=1 timeout 120 "$flow" run --address "$head_addr" --token-file "$tmp/token" \
	"$prog" >"$tmp/cluster.out" 2>"$tmp/cluster.err"
rc=$?
[ $rc = 0 ] && ok || bad "flow run --address: exit $rc: $(cat "$tmp/cluster.err")"
cmp -s "$tmp/serial.out" "$tmp/cluster.out" && ok ||
	bad "the cluster printed something else than --serial: $(diff "$tmp/serial.out" "$tmp/cluster.out")"
[ "$(grep -cE '\((make|twice|combine)#[0-9]+\) [a-z]+ on host[23]$' "$tmp/cluster.err")" = 5 ] && ok ||
	bad "not every task ran on a worker: $(grep ' on host' "$tmp/cluster.err")"
# the client pulled the results from the workers' own listeners
pulls=$(grep -c "pulled object .* from 10\.77\.0\.[23]:" "$tmp/cluster.err")
[ "$pulls" -ge 2 ] && ok || bad "the client pulled $pulls results from the workers: $(cat "$tmp/cluster.err")"
grep -q "pulled object .* from 10\.77\.0\.1:6379" "$tmp/cluster.err" && bad "a result came through the head" || ok
# the workers pulled the arguments from the client (host 1, not the head's port)
wpulls=$(cat "$tmp/w2.err" "$tmp/w3.err" | grep "pulled object .* from 10\.77\.0\.1:" | grep -vc ":6379 ")
[ "$wpulls" -ge 2 ] && ok || bad "the workers pulled $wpulls arguments from the client"
# what the workers keep (the client's tensor and string they pulled, cached
# for the next task) counts in flow status's store_used (heartbeats)
cached() {
	status_json 2>/dev/null >"$tmp/st.json" && /usr/bin/python3 - "$tmp/st.json" <<'PY'
import json, sys
nodes = json.load(open(sys.argv[1]))["nodes"]
used = sum(n["store_used"] for n in nodes if n["id"] != 1)
sys.exit(0 if used >= 11000000 else 1)
PY
}
wait_until 10 cached && ok || bad "the workers' cached objects are not in store_used: $(cat "$tmp/st.json")"
# each object at most once per node (the same tensor and string given to three tasks)
for i in 2 3; do
	twice=$(grep -o "pulled object [0-9a-f]*" "$tmp/w$i.err" | sort | uniq -d)
	[ -z "$twice" ] && ok || bad "host$i pulled an object more than once: $twice"
done
# ---- worker to worker: host2's result used on host3 never passes the client ----
w3before=$(wc -l <"$tmp/w3.err")
run 1 env FLOW_OBJECT_LOG=1 timeout 120 "$flow" run --address "$head_addr" --token-file "$tmp/token" \
	"$here/w2w.flow" >"$tmp/w2w.out" 2>"$tmp/w2w.err"
rc=$?
[ $rc = 0 ] && printf 'total: true\nnear: true\n' | cmp -s - "$tmp/w2w.out" && ok ||
	bad "w2w.flow: exit $rc: $(cat "$tmp/w2w.out" "$tmp/w2w.err")"
grep -q '(make#[0-9]*) make on host2$' "$tmp/w2w.err" && grep -q '(total#[0-9]*) total on host3$' "$tmp/w2w.err" &&
	ok || bad "make should run on host2, total on host3: $(grep ' on host' "$tmp/w2w.err")"
# locality: the task with no needs runs on the node holding its input
grep -q '(near#[0-9]*) near on host2$' "$tmp/w2w.err" && ok ||
	bad "near should run on host2, where its input is: $(grep ' on host' "$tmp/w2w.err")"
tail -n +"$((w3before + 1))" "$tmp/w3.err" >"$tmp/w3.new"
grep -q "pulled object .* bytes from 10\.77\.0\.2:" "$tmp/w3.new" && ok ||
	bad "host3 should pull make's result from host2: $(cat "$tmp/w3.new")"
grep -q "pulled object .* from 10\.77\.0\.1:" "$tmp/w3.new" && bad "host3 pulled through the client or head" || ok
grep -q "pulled object" "$tmp/w2w.err" && bad "the client pulled the object: $(grep pulled "$tmp/w2w.err")" || ok

# ---- many chunks: 40 MB tensors arrive intact (chunks.flow's checksums) ----
run 1 timeout 60 "$flow" run --serial "$here/chunks.flow" >"$tmp/chunks.serial" 2>/dev/null ||
	bad "chunks.flow --serial failed"
w2before=$(wc -l <"$tmp/w2.err")
w3before=$(wc -l <"$tmp/w3.err")
run 1 env FLOW_OBJECT_LOG=1 timeout 120 "$flow" run --address "$head_addr" --token-file "$tmp/token" \
	"$here/chunks.flow" >"$tmp/chunks.out" 2>"$tmp/chunks.err"
rc=$?
[ $rc = 0 ] && cmp -s "$tmp/chunks.serial" "$tmp/chunks.out" && ok ||
	bad "chunks.flow: exit $rc: $(diff "$tmp/chunks.serial" "$tmp/chunks.out") $(cat "$tmp/chunks.err")"
# each of the three pulls moved the whole 40 MB object (many chunks) from
# where it was made
pulled() { grep -q "pulled object .*: 40000015 bytes from 10\.77\.0\.$1:" "$2" && ok ||
	bad "$3 should pull 40000015 bytes from host$1: $(grep pulled "$2")"; }
pulled 2 "$tmp/chunks.err" "the client"
tail -n +"$((w3before + 1))" "$tmp/w3.err" >"$tmp/w3.chunks"
pulled 2 "$tmp/w3.chunks" "host3"
tail -n +"$((w2before + 1))" "$tmp/w2.err" >"$tmp/w2.chunks"
pulled 1 "$tmp/w2.chunks" "host2"
# each by one byte stream (OBJ_STREAM, version 8)
for f in "$tmp/chunks.err" "$tmp/w3.chunks" "$tmp/w2.chunks"; do
	grep -q "pulled object .*: 40000015 bytes from .*by stream" "$f" && ok ||
		bad "a 40 MB pull should go by stream: $(grep pulled "$f")"
done
# and in chunks (OBJ_GET) when the consumer does not stream: the same bytes
run 1 env FLOW_OBJECT_LOG=1 FLOW_OBJECT_NO_STREAM=1 timeout 120 "$flow" run --address "$head_addr" \
	--token-file "$tmp/token" "$here/chunks.flow" >"$tmp/chunks2.out" 2>"$tmp/chunks2.err"
rc=$?
[ $rc = 0 ] && cmp -s "$tmp/chunks.serial" "$tmp/chunks2.out" && ok ||
	bad "chunks.flow in chunks: exit $rc: $(diff "$tmp/chunks.serial" "$tmp/chunks2.out") $(cat "$tmp/chunks2.err")"
grep "pulled object .*: 40000015 bytes from 10\.77\.0\.2:" "$tmp/chunks2.err" | grep -qv "by stream" && ok ||
	bad "the client should pull in chunks: $(grep pulled "$tmp/chunks2.err")"

# a cap too small for the client's 6 MB string: the run fails and says why
out=$(run 1 env FLOW_OBJECT_CAP=2M timeout 60 "$flow" run --address "$head_addr" \
	--token-file "$tmp/token" "$prog" 2>&1)
rc=$?
[ $rc = 1 ] && grep -q "does not fit this node's object store" <<<"$out" && ok ||
	bad "a cap too small: exit $rc, '$out'"
# the workers serve on
run 1 timeout 120 "$flow" run --address "$head_addr" --token-file "$tmp/token" \
	"$prog" >"$tmp/again.out" 2>/dev/null && cmp -s "$tmp/serial.out" "$tmp/again.out" && ok ||
	bad "a second run after the failed one"

# ---- spilling: host3 again with an 8 MiB object store; three 5.6 MB results ----
kill -TERM "$(daemon_pid 3 worker)"
wait_until 10 count_is 2 || bad "host3 did not leave"
run 3 env FLOW_OBJECT_LOG=1 "$flow" start --address "$head_addr" --block --cpus 1 --resources far=1 \
	--object-store-memory 8MiB --token-file "$tmp/token" >"$tmp/w3b.out" 2>"$tmp/w3b.err" &
wait_until 10 count_is 3 || bad "host3 did not join again"
run 1 env FLOW_OBJECT_LOG=1 timeout 120 "$flow" run --address "$head_addr" --token-file "$tmp/token" \
	"$here/spill.flow" >"$tmp/spill.out" 2>"$tmp/spill.err"
rc=$?
[ $rc = 0 ] && [ "$(grep -cx 'true true' "$tmp/spill.out")" = 3 ] && ok ||
	bad "spill.flow: exit $rc: $(cat "$tmp/spill.out" "$tmp/spill.err")"
grep -q "spilled object .* to the spill store: over the object store's cap of 8388608 bytes" "$tmp/w3b.err" &&
	ok || bad "host3 should have spilled a result: $(cat "$tmp/w3b.err")"
[ "$(grep -c "pulled object .* from 10\.77\.0\.3:.*by stream" "$tmp/spill.err")" = 3 ] && ok ||
	bad "the client should pull the three results from host3: $(grep pulled "$tmp/spill.err")"

for i in 2 3; do kill -TERM "$(daemon_pid "$i" worker)"; done
wait_until 10 count_is 1 || bad "the workers did not leave"
kill -TERM "$(daemon_pid 1 head)"
nothing_left
echo "cluster bigvals: $pass passed, $fail failed"
[ $fail = 0 ] || { echo "--- head log"; cat "$tmp/head.err"; echo "--- worker logs"; cat "$tmp/w2.err" "$tmp/w3.err" "$tmp/w3b.err"; }
[ $fail = 0 ]

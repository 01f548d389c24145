#!/usr/bin/env bash
# survive.sh - the cluster keeps running while workers fail (a head and
# three workers on namespace hosts; the client on the head's host):
#  - a worker killed with -9 at ~25%, 50% and 75% of a run of thousands of
#    short tasks with a reduction: the same output as --serial, exit 0
#    (the lost calls are sent again); a worker started there afterwards
#    removes the dead one's spill directory;
#  - a worker cut off by nft rules inside its namespace: suspect, then
#    dead within ~3 s (flow status --json), fenced; it stops by itself;
#    the run completes correctly; after healing, a worker started there
#    joins as a NEW node id and the old id stays listed as dead;
#  - workers whose task threads are all busy with CPU work for ~10 s are
#    never declared dead;
#  - a worker stopped with SIGTERM is listed as draining while its task
#    finishes, then removed;
#  - a short chaos loop (a random worker killed every 2 s and a fresh one
#    started, at most 8 times in ~15 s): the correct output;
#  - a task with effects on a killed worker is not re-run: a clear error
#    naming the task and the node;
#  - at the end no process and no spill directory is left.
# Usage: survive.sh FLOW. Exit 77 (skipped) without root or netns.
set -u
flow=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
here=$(cd "$(dirname "$0")" && pwd)
. "$here/netns.sh"
. "$here/harness.sh"
cluster_harness 4
command -v nft >/dev/null || { echo "skipped: needs nft (nftables)"; exit 77; }
cp "$here/survive.flow" "$here/sleepy.flow" "$tmp/"
workers="2 3 4"
gone() { ! kill -0 "$1" 2>/dev/null || grep -q '^Z' <(ps -o stat= -p "$1" 2>/dev/null); }
# frun ARGS...: flow run --address on host 1, in $tmp
frun() { (cd "$tmp" && run 1 timeout 120 "$flow" run --address "$head_addr" --token-file "$tmp/token" "$@"); }
start_worker() {
	run "$1" "$flow" start --address "$head_addr" --block --cpus 1 --token-file "$tmp/token" \
		>>"$tmp/w$1.out" 2>>"$tmp/w$1.err" &
}
# jq-free JSON queries: node_field ID FIELD; worker_id I (the alive node on host I)
node_field() {
	status_json 2>/dev/null | python3 -c 'import json,sys
s = json.load(sys.stdin)
print(next((str(n[sys.argv[2]]) for n in s["nodes"] if str(n["id"]) == sys.argv[1]), "absent"))' "$1" "$2"
}
worker_id() {
	status_json 2>/dev/null | python3 -c 'import json,sys
s = json.load(sys.stdin)
print(next((n["id"] for n in s["nodes"] if n["host"] == sys.argv[1] and n["state"] == "alive"), ""))' "host$1"
}
is_state() { [ "$(node_field "$1" state)" = "$2" ]; }
ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }
# each line of the head's log after the time it was read (ms): for timings
stamp() { local l t; while IFS= read -r l; do t=${EPOCHREALTIME/./}; printf '%s %s\n' $((t / 1000)) "$l"; done; }
logged_at() { grep -m1 "$1" "$tmp/head.err" | cut -d' ' -f1; }

run 1 "$flow" start --head --block --cpus 1 --token-file "$tmp/token" >"$tmp/head.out" 2> >(stamp >"$tmp/head.err") &
wait_until 10 grep -q "Flow head started" "$tmp/head.out" || bad "the head did not start"
for i in $workers; do start_worker $i; done
wait_until 15 count_is 4 && ok || bad "the workers did not join: $(status_json 2>&1)"

# ---- kill -9 at 25%, 50%, 75% of a run ----
# sized so a run lasts a few seconds here (calls travel in batches: thousands a second)
args=(-p n=20000 -p work=400)
"$flow" run --serial "${args[@]}" "$tmp/survive.flow" >"$tmp/expected.out" || bad "--serial run failed"
t0=$(ms)
frun "${args[@]}" survive.flow >"$tmp/base.out" 2>"$tmp/base.err" && cmp -s "$tmp/base.out" "$tmp/expected.out" &&
	ok || bad "the run without failures: $(cat "$tmp/base.out" "$tmp/base.err" | head -5)"
base=$(($(ms) - t0))
# calls travel fast (remote_async.h): a run of a second or so ends before
# a late kill on a noisy machine; make it last about 5 s
if [ "$base" -lt 3000 ]; then
	n=$((20000 * 5000 / (base > 0 ? base : 1)))
	[ $n -gt 200000 ] && n=200000
	args=(-p n=$n -p work=400)
	"$flow" run --serial "${args[@]}" "$tmp/survive.flow" >"$tmp/expected.out" || bad "--serial run failed"
	t0=$(ms)
	frun "${args[@]}" survive.flow >"$tmp/base.out" 2>"$tmp/base.err" && cmp -s "$tmp/base.out" "$tmp/expected.out" &&
		ok || bad "the longer run without failures: $(cat "$tmp/base.out" "$tmp/base.err" | head -5)"
	base=$(($(ms) - t0))
fi
echo "a run of ${args[*]}: $base ms without failures"
k=0
resent=0
for pct in 25 50 75; do
	k=$((k + 1))
	i=$(echo $workers | cut -d' ' -f$k)
	victim=$(daemon_pid $i worker)
	t0=$(ms)
	frun "${args[@]}" survive.flow >"$tmp/k$pct.out" 2>"$tmp/k$pct.err" &
	client=$!
	sleep "$(awk -v b=$base -v p=$pct 'BEGIN { printf "%.2f", b * p / 100000 }')"
	kill -0 $client 2>/dev/null && ok || bad "the run had ended before the kill at $pct%"
	kill -9 "$victim"
	wait $client
	rc=$?
	echo "a worker killed at $pct%: $(($(ms) - t0)) ms, $(grep -c 'again (' "$tmp/k$pct.err") calls sent again"
	[ $rc = 0 ] && cmp -s "$tmp/k$pct.out" "$tmp/expected.out" && ok ||
		bad "worker on host$i killed at $pct%: exit $rc: $(cat "$tmp/k$pct.out") $(head -5 "$tmp/k$pct.err")"
	# (late in a run the victim may hold no call any more: the calls left
	# are elsewhere, or only the reduction remains; checked over all three)
	grep -q "host$i .*(the node was lost); running task 'step' again (1 of 3)" "$tmp/k$pct.err" &&
		resent=$((resent + 1))
	[ -n "$(spill_dirs $i)" ] && ok || bad "the killed worker left no spill directory (none made?)"
	start_worker $i
	wait_until 10 count_is 4 && ok || bad "a fresh worker on host$i did not join"
	[ "$(spill_dirs $i | wc -l)" = 1 ] && ok || bad "the dead worker's spill directory is still there: $(spill_dirs $i)"
done
[ $resent -ge 1 ] && ok || bad "no call was sent again after any of the three kills: $(head -3 "$tmp/k25.err")"

# ---- a partition (nft inside host 3): dead within ~3 s, the run completes, a rejoin is new ----
old=$(worker_id 3)
w3=$(daemon_pid 3 worker)
long=(-p n=40000 -p work=400)
"$flow" run --serial "${long[@]}" "$tmp/survive.flow" >"$tmp/long.expected" || bad "--serial run failed"
frun "${long[@]}" survive.flow >"$tmp/part.out" 2>"$tmp/part.err" &
client=$!
sleep 1
ip netns exec "$(host_ns 3)" nft -f - <<'NFT'
table inet flowpart {
	chain in { type filter hook input priority 0; policy drop; iif lo accept; }
	chain out { type filter hook output priority 0; policy drop; oif lo accept; }
}
NFT
t0=$(ms)
# status says so (polled: each poll is a process in a namespace) ...
wait_until 8 is_state "$old" dead && ok || bad "the partitioned node is not listed as dead"
# ... and the head's log, stamped as it is read, says when
suspect=$(( $(logged_at "node $old (host3 .*) suspect: no heartbeat") - t0 ))
dead=$(( $(logged_at "node $old (host3 .*) declared dead: no heartbeat for") - t0 ))
echo "partition of node $old: suspect after $suspect ms, dead after $dead ms ($(grep -o "node $old (host3 .*) declared dead: .*" "$tmp/head.err"))"
[ "$dead" -gt 0 ] && [ "$dead" -le 3500 ] && ok || bad "the partitioned node was not declared dead within 3.5 s ($dead ms)"
[ "$suspect" -gt 0 ] && [ "$suspect" -le "$dead" ] && ok || bad "the partitioned node was not suspect before dead ($suspect ms)"
wait $client
rc=$?
[ $rc = 0 ] && cmp -s "$tmp/part.out" "$tmp/long.expected" && ok ||
	bad "the run through a partition: exit $rc: $(cat "$tmp/part.out") $(head -5 "$tmp/part.err")"
wait_until 10 gone "$w3" && ok || bad "the partitioned worker did not stop by itself"
grep -q "lost the head" "$tmp/w3.err" && ok || bad "the partitioned worker did not say it lost the head: $(tail -3 "$tmp/w3.err")"
ip netns exec "$(host_ns 3)" nft delete table inet flowpart || bad "could not heal the partition"
start_worker 3
wait_until 10 count_is 4 && ok || bad "host3 did not rejoin after healing"
new=$(worker_id 3)
[ -n "$new" ] && [ "$new" -gt "$old" ] && ok || bad "host3 rejoined as node '$new' (was $old): not a new node"
[ "$(node_field "$old" state)" = dead ] && ok || bad "the old node $old is not listed as dead"
[ "$(spill_dirs 3 | wc -l)" = 1 ] && ok || bad "spill directories on host3: $(spill_dirs 3)"

# ---- every task thread busy with CPU work for ~10 s: nobody is declared dead ----
cat >"$tmp/busy.flow" <<'EOF'
import time
task burn(i: int, secs: float) -> int {
    let t0 = time.monotonic()
    let n = 0
    while time.monotonic() - t0 < secs {
        n = n + 1
    }
    return i
}
print(get([burn(i, 10.0) for i in range(4)]))
EOF
deaths=$(grep -c "declared dead" "$tmp/head.err")
frun busy.flow >"$tmp/busy.out" 2>"$tmp/busy.err" &
client=$!
sleep 1
busy=0 notalive=0 first="" last=""
while kill -0 $client 2>/dev/null; do
	st=$(status_json 2>/dev/null)
	# the live nodes busy (dead ones stay listed with their last figures)
	nbusy=$(python3 -c 'import json,sys
print(sum(1 for x in json.load(sys.stdin)["nodes"] if x["state"] == "alive" and x["cpus_used"] == 1))' <<<"$st" 2>/dev/null)
	if [ "$nbusy" = 4 ]; then
		busy=$((busy + 1))
		last=$(ms)
		[ -n "$first" ] || first=$last
	fi
	grep -qE '"state": "(suspect|dead)"' <<<"$(grep -v "\"id\": $old," <<<"$st")" && notalive=$((notalive + 1))
	sleep 0.5
done
wait $client
rc=$?
[ $rc = 0 ] && [ "$(cat "$tmp/busy.out")" = "[0, 1, 2, 3]" ] && ok || bad "busy.flow: exit $rc: $(cat "$tmp/busy.out" "$tmp/busy.err")"
span=$((${last:-0} - ${first:-0}))
[ $span -ge 5000 ] && ok || bad "the four nodes were not all seen busy for ~10 s ($busy polls over $span ms)"
[ "$(grep -c "declared dead" "$tmp/head.err")" = "$deaths" ] && ok ||
	bad "a busy node was declared dead: $(grep "declared dead" "$tmp/head.err" | tail -2)"
count_is 4 && ok || bad "not all four nodes alive after the busy run"
echo "busy run: all four seen busy over $span ms ($busy status polls); a node was suspect in $notalive"

# ---- SIGTERM: the worker drains (its task finishes, it gets no new one), then leaves ----
sed 's/burn(i, 10.0)/burn(i, 3.0)/' "$tmp/busy.flow" >"$tmp/drain.flow"
id4=$(worker_id 4)
frun drain.flow >"$tmp/drain.out" 2>"$tmp/drain.err" &
client=$!
sleep 1
w4=$(daemon_pid 4 worker)
kill -TERM "$w4"
wait_until 5 is_state "$id4" draining && ok || bad "node $id4 is not listed as draining after SIGTERM: $(node_field "$id4" state)"
wait $client
rc=$?
[ $rc = 0 ] && [ "$(cat "$tmp/drain.out")" = "[0, 1, 2, 3]" ] && ok ||
	bad "a run whose worker drained: exit $rc: $(cat "$tmp/drain.out" "$tmp/drain.err")"
wait_until 5 gone "$w4" && ok || bad "the draining worker did not stop"
wait_until 3 is_state "$id4" absent && ok || bad "the drained node $id4 is still listed: $(node_field "$id4" state)"
grep -q "node $id4 (host4 .*) finished draining; removed" "$tmp/head.err" && ok || bad "the head did not log the drain"
start_worker 4
wait_until 10 count_is 4 && ok || bad "a fresh worker on host4 did not join"

# ---- chaos: a random worker killed every second, a fresh one started ----
# (bench/cluster/survive.sh runs the long version: every 2 s through 60 s)
# (sized from the run above to last about 12 s: at least 3 kills)
nchaos=$(($(sed 's/.*n=\([0-9]*\).*/\1/' <<<"${args[*]}") * 12000 / (base > 0 ? base : 1)))
[ $nchaos -lt 100000 ] && nchaos=100000
[ $nchaos -gt 400000 ] && nchaos=400000
chaos=(-p n=$nchaos -p work=400)
"$flow" run --serial "${chaos[@]}" "$tmp/survive.flow" >"$tmp/chaos.expected" || bad "--serial run failed"
t0=$(ms)
frun "${chaos[@]}" survive.flow >"$tmp/chaos.out" 2>"$tmp/chaos.err" &
client=$!
kills=0
while [ $kills -lt 8 ] && [ $(($(ms) - t0)) -lt 15000 ]; do
	sleep 1
	kill -0 $client 2>/dev/null || break
	i=$(echo $workers | tr ' ' '\n' | shuf -n 1)
	p=$(daemon_pid $i worker)
	[ -n "$p" ] && kill -9 "$p" && kills=$((kills + 1))
	start_worker $i
done
wait $client
rc=$?
echo "chaos: $kills workers killed, run took $(($(ms) - t0)) ms, $(grep -c 'again (' "$tmp/chaos.err") calls sent again"
[ $kills -ge 3 ] && ok || bad "the chaos run ended after $kills kills (too short to test anything)"
[ $rc = 0 ] && cmp -s "$tmp/chaos.out" "$tmp/chaos.expected" && ok ||
	bad "chaos: exit $rc: $(cat "$tmp/chaos.out") $(grep -v 'again (' "$tmp/chaos.err" | head -5)"
for i in $workers; do wait_until 10 bash -c "[ -n \"\$(ls $tmp/h$i/.flow/run/worker-*.pid 2>/dev/null)\" ]"; done
wait_until 15 count_is 4 && ok || bad "the fresh workers did not all join"

# ---- a task with effects on a killed worker: not re-run, a clear error ----
victim=$(daemon_pid 2 worker)
frun sleepy.flow >"$tmp/eff.out" 2>"$tmp/eff.err" &
client=$!
sleep 1
kill -9 "$victim"
wait $client
rc=$?
[ $rc = 1 ] && grep -q "node [0-9]* (host2 at .*(the node was lost); task 'nap' has effects and may have started there, so it is not run again" "$tmp/eff.err" &&
	ok || bad "a task with effects on a lost node: exit $rc: $(head -5 "$tmp/eff.err")"
start_worker 2
wait_until 10 count_is 4 && ok || bad "a fresh worker on host2 did not join"

# ---- the head killed mid-run: the driver says so once and stops; the workers stop ----
head_pid=$(daemon_pid 1 head)
t0=$(ms)
# a small plan of long calls: connected well before the kill, still running at it
frun -p n=20000 -p work=20000 survive.flow >"$tmp/hl.out" 2>"$tmp/hl.err" &
client=$!
sleep 1.5
kill -9 "$head_pid"
wait_until 10 gone "$client" && ok || bad "the driver did not stop within 10 s of losing the head"
wait $client
rc=$?
echo "head killed: the driver ended after $(($(ms) - t0)) ms (exit $rc)"
[ $rc = 1 ] && [ "$(grep -c "lost the head at .*; the run stops" "$tmp/hl.err")" = 1 ] &&
	[ "$(grep -c "failed; it was called from" "$tmp/hl.err")" = 0 ] && ok ||
	bad "a lost head: exit $rc, not one clear message: $(head -4 "$tmp/hl.err")"
for i in $workers; do
	p=$(daemon_pid $i worker)
	[ -z "$p" ] || wait_until 10 gone "$p" || bad "the worker on host$i did not stop after losing the head"
	tail -1 "$tmp/w$i.err" | grep -q "lost the head" && ok || bad "the worker on host$i did not say it lost the head: $(tail -1 "$tmp/w$i.err")"
done
# a head started after the crash removes the dead head's spill directory
run 1 "$flow" start --head --block --cpus 1 --token-file "$tmp/token" >"$tmp/head2.out" 2>"$tmp/head2.err" &
wait_until 10 grep -q "Flow head started" "$tmp/head2.out" && ok || bad "a fresh head did not start: $(cat "$tmp/head2.err")"
[ "$(spill_dirs 1 | wc -l)" = 1 ] && ok || bad "spill directories on host1 after a fresh head: $(spill_dirs 1)"

# ---- stop everything: nothing left ----
for i in 4 3 2 1; do
	for f in "$tmp/h$i"/.flow/run/*.pid; do
		[ -f "$f" ] || continue
		p=$(cut -d' ' -f1 "$f")
		kill -0 "$p" 2>/dev/null || { rm -f "$f"; continue; } # killed with -9 above
		kill -TERM "$p"
		wait_until 10 gone "$p" || bad "pid $p (${f##*/}) did not stop on SIGTERM"
	done
done
nothing_left

echo "cluster survive: $pass passed, $fail failed"
if [ $fail != 0 ]; then
	echo "--- head log"
	grep -vE "did not return the task's result" "$tmp/head.err" | tail -60
fi
[ $fail = 0 ]

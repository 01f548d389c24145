#!/usr/bin/env bash
# survive.sh - the figures of a cluster that loses workers, on demand (not
# a test; root): a head (1 cpu) and three workers (1 cpu each) on
# namespace hosts, the client on the head's host, the program
# tests/cluster/survive.flow (short CPU tasks with a random stream each,
# and a reduction).
#   - detection of a worker killed with -9: the kill to the head's
#     "disconnected ... suspect" log line (lines stamped as read, ms);
#   - detection of a partition (nft rules dropping all traffic inside the
#     worker's namespace): the rules in place to "declared dead"; then the
#     rules removed to the same worker alive again as a new node;
#   - recovery (60,000 tasks): the kill to the client's first "running task ... again",
#     and the run's time with a worker killed at 25% (not replaced) beside
#     the same run with no failure (throughput with and without it);
#   - chaos: RUNS runs of about SECS seconds, a random worker killed every
#     2 s and a fresh one started; a run passes when its output is the
#     --serial one and it exits 0.
# Usage: bench/cluster/survive.sh [BUILD_DIR] [RUNS] [SECS] (defaults: build, 10, 30)
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
runs=${2:-10}
secs=${3:-30}
flow=$build/cli/flow
. "$root/tests/cluster/netns.sh"
. "$root/tests/cluster/harness.sh"
netns_available || { echo "needs root and network namespaces"; exit 1; }
command -v nft >/dev/null || { echo "needs nft (nftables)"; exit 1; }
cluster_harness 4
cp "$root/tests/cluster/survive.flow" "$tmp/"
workers="2 3 4"
ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }
stamp() { local l t; while IFS= read -r l; do t=${EPOCHREALTIME/./}; printf '%s %s\n' $((t / 1000)) "$l"; done; }
frun() { (cd "$tmp" && run 1 timeout 600 "$flow" run --address "$head_addr" --token-file "$tmp/token" "$@"); }
start_worker() {
	run "$1" "$flow" start --address "$head_addr" --block --cpus 1 --token-file "$tmp/token" \
		>/dev/null 2>>"$tmp/w$1.err" &
}
# waits (at most 10 s) until N nodes are alive
settle() { wait_until 20 count_is "${1:-4}" || echo "warning: $(alive_count) nodes alive, not ${1:-4}"; }
# the alive node on host I (asked again while it has none yet)
node_on() {
	local k id
	for k in 1 2 3 4 5 6 7 8 9 10; do
		id=$(status_json 2>/dev/null | python3 -c 'import json,sys
print(next((n["id"] for n in json.load(sys.stdin)["nodes"] if n["host"] == sys.argv[1] and n["state"] == "alive"), ""))' "host$1" 2>/dev/null)
		[ -n "$id" ] && break
		sleep 0.5
	done
	echo "$id"
}
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR ? v[int((NR + 1) / 2)] : "-") }'; }
minmax() { sort -n | awk 'NR == 1 { lo = $1 } { hi = $1 } END { print lo "-" hi }'; }

run 1 "$flow" start --head --block --cpus 1 --token-file "$tmp/token" >"$tmp/head.out" 2> >(stamp >"$tmp/head.err") &
wait_until 10 grep -q "Flow head started" "$tmp/head.out" || { echo "the head did not start"; exit 1; }
for i in $workers; do start_worker $i; done
settle

echo "== detection of a worker killed with -9 (5 kills)"
: >"$tmp/kill.ms"
for k in 1 2 3 4 5; do
	i=$(echo $workers | cut -d' ' -f$(((k - 1) % 3 + 1)))
	p=$(daemon_pid $i worker)
	id=$(node_on $i)
	t0=$(ms)
	kill -9 "$p"
	wait_until 5 grep -q "node $id (host$i .*) disconnected" "$tmp/head.err"
	echo $(($(grep -m1 "node $id (host$i .*) disconnected" "$tmp/head.err" | cut -d' ' -f1) - t0)) >>"$tmp/kill.ms"
	start_worker $i
	settle
done
echo "  kill -> suspect (ms): $(tr '\n' ' ' <"$tmp/kill.ms")(median $(median <"$tmp/kill.ms"))"

echo "== detection of a partition (3 partitions, nft inside the worker's namespace)"
: >"$tmp/part.ms"
: >"$tmp/suspect.ms"
: >"$tmp/rejoin.ms"
for k in 1 2 3; do
	i=$(echo $workers | cut -d' ' -f$k)
	id=$(node_on $i)
	sleep 0.$((RANDOM % 10)) # a random phase against the 500 ms heartbeat
	ip netns exec "$(host_ns $i)" nft -f - <<'NFT'
table inet flowpart {
	chain in { type filter hook input priority 0; policy drop; iif lo accept; }
	chain out { type filter hook output priority 0; policy drop; oif lo accept; }
}
NFT
	t0=$(ms)
	wait_until 8 grep -q "node $id (host$i .*) declared dead" "$tmp/head.err"
	echo $(($(grep -m1 "node $id (host$i .*) declared dead" "$tmp/head.err" | cut -d' ' -f1) - t0)) >>"$tmp/part.ms"
	echo $(($(grep -m1 "node $id (host$i .*) suspect" "$tmp/head.err" | cut -d' ' -f1) - t0)) >>"$tmp/suspect.ms"
	sleep 2 # the cut-off worker keeps trying to join the head again
	joined=$(grep -c "joined the head again" "$tmp/w$i.err")
	ip netns exec "$(host_ns $i)" nft delete table inet flowpart
	t0=$(ms)
	# healed: the same worker joins again by itself, as a new node
	wait_until 15 bash -c "[ \$(grep -c 'joined the head again' '$tmp/w$i.err') -gt $joined ]"
	settle
	echo $(($(ms) - t0)) >>"$tmp/rejoin.ms"
done
echo "  partition -> suspect (ms): $(tr '\n' ' ' <"$tmp/suspect.ms")"
echo "  partition -> dead (ms): $(tr '\n' ' ' <"$tmp/part.ms")(median $(median <"$tmp/part.ms"))"
echo "  healed -> the same worker alive again as a new node (ms, status polls): $(tr '\n' ' ' <"$tmp/rejoin.ms")"

echo "== recovery: a worker killed at 25% of a run (not replaced)"
rn=60000
args=(-p n=$rn -p work=600)
"$flow" run --serial "${args[@]}" "$tmp/survive.flow" >"$tmp/expected.out"
t0=$(ms)
frun "${args[@]}" survive.flow >"$tmp/base.out" 2>/dev/null
base=$(($(ms) - t0))
cmp -s "$tmp/base.out" "$tmp/expected.out" || echo "warning: the run without failures printed $(cat "$tmp/base.out")"
p=$(daemon_pid 2 worker)
t0=$(ms)
frun "${args[@]}" survive.flow >"$tmp/lost.out" 2> >(stamp >"$tmp/lost.err") &
client=$!
sleep "$(awk -v b=$base 'BEGIN { printf "%.2f", b / 4000 }')"
tk=$(ms)
kill -9 "$p"
wait $client
lost=$(($(ms) - t0))
sleep 0.2
again=$(($(grep -m1 "again (" "$tmp/lost.err" | cut -d' ' -f1) - tk))
ok_out=$(cmp -s "$tmp/lost.out" "$tmp/expected.out" && echo "same output" || echo "WRONG output")
echo "  $rn tasks, no failure: $base ms ($((rn * 1000 / base)) tasks/s)"
echo "  worker killed at 25%: $lost ms ($((rn * 1000 / lost)) tasks/s), $ok_out; kill -> first call sent again: $again ms; $(grep -c 'again (' "$tmp/lost.err") calls sent again"
start_worker 2
settle

echo "== chaos: $runs runs of ~$secs s, a random worker killed every 2 s and a fresh one started"
# size the run: tasks/s of the run above, times secs, then corrected by
# one run of that size (the rate grows with the run: batches fill)
n=$((rn * secs * 1000 / base / 100 * 100))
t0=$(ms)
frun -p n=$n -p work=600 survive.flow >/dev/null 2>&1
n=$((n * secs * 1000 / ($(ms) - t0) / 100 * 100))
"$flow" run --serial -p n=$n -p work=600 "$tmp/survive.flow" >"$tmp/chaos.expected"
passed=0 kills_total=0 again_total=0
: >"$tmp/chaos.ms"
for r in $(seq 1 "$runs"); do
	t0=$(ms)
	frun -p n=$n -p work=600 survive.flow >"$tmp/chaos.out" 2>"$tmp/chaos.err" &
	client=$!
	kills=0
	while kill -0 $client 2>/dev/null && [ $(($(ms) - t0)) -lt $((secs * 2000)) ]; do
		sleep 2
		kill -0 $client 2>/dev/null || break
		i=$(echo $workers | tr ' ' '\n' | shuf -n 1)
		p=$(daemon_pid $i worker)
		[ -n "$p" ] && kill -9 "$p" 2>/dev/null && kills=$((kills + 1))
		start_worker $i
	done
	wait $client
	rc=$?
	took=$(($(ms) - t0))
	echo $took >>"$tmp/chaos.ms"
	again=$(grep -c 'again (' "$tmp/chaos.err")
	if [ $rc = 0 ] && cmp -s "$tmp/chaos.out" "$tmp/chaos.expected"; then
		passed=$((passed + 1))
		verdict=pass
	else
		verdict="FAIL (exit $rc: $(grep -v 'again (' "$tmp/chaos.err" | head -2 | tr '\n' ' '))"
	fi
	kills_total=$((kills_total + kills))
	again_total=$((again_total + again))
	echo "  run $r: $n tasks, $took ms, $kills workers killed, $again calls sent again: $verdict"
	settle
done
echo "  chaos: $passed of $runs passed; $kills_total workers killed, $again_total calls sent again; run times $(minmax <"$tmp/chaos.ms") ms"
grep -c "declared dead" "$tmp/head.err" | sed 's/^/  nodes declared dead over the whole bench (killed ones included): /'

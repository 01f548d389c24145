#!/usr/bin/env bash
# run.sh - the cluster's figures, on demand (not a test): empty tasks
# through a head and two workers on namespace hosts (tasks/s at each size,
# median of 3, start-up included, and the marginal rate between the two
# largest sizes, which leaves start-up out), the same with Dask's
# LocalCluster when python3-distributed is installed (in the same run),
# and one remote no-op round trip (client -> head -> worker, µs). Needs root.
# Usage: bench/cluster/run.sh [BUILD_DIR] [N...]   (defaults: build, 10000 100000)
# DASK_N (default 10000): the size Dask runs (at ~300 tasks/s, 100000
# would take about 5 minutes a run).
set -u
here=$(cd "$(dirname "$0")" && pwd)
prog=cluster/run.sh
. "$here/../lib.sh"
build=${1:-$root/build}
shift
sizes=("$@")
[ ${#sizes[@]} = 0 ] && sizes=(10000 100000)
dask_n=${DASK_N:-10000}
bench_hosts "$build" 3
start_cluster() { # head cpus
	bench_start_head "$1"
	for i in 2 3; do
		run $i "$flow" start --address "$head_addr" --block --cpus 1 --token-file "$tmp/token" \
			>"$tmp/w$i.out" 2>&1 &
	done
	for _ in $(seq 50); do bench_alive 3 && break; sleep 0.1; done
}

start_cluster 1
declare -A med
for n in "${sizes[@]}"; do
	echo "== $n empty tasks (bench/cluster/empty.flow), head + 2 workers, median of 3"
	times=()
	for _ in 1 2 3; do
		t0=$(now)
		out=$(run 1 "$flow" run --address "$head_addr" --token-file "$tmp/token" -p n="$n" "$here/empty.flow")
		t1=$(now)
		[ "$out" = "$n" ] || { echo "wrong output: $out"; exit 1; }
		times+=("$(echo "$t1 - $t0" | bc -l)")
	done
	med[$n]=$(printf '%s\n' "${times[@]}" | bench_median)
	printf 'flow: %d tasks in %.3f s (runs: %s): %.0f tasks/s (start-up included)\n' "$n" "${med[$n]}" \
		"$(printf '%.2f ' "${times[@]}")" "$(echo "$n / ${med[$n]}" | bc -l)"
	t0=$(now)
	"$flow" run -q --cpus 2 -p n="$n" "$here/empty.flow" >/dev/null
	t1=$(now)
	printf 'flow, this machine (--cpus 2, no cluster): %.3f s\n' "$(echo "$t1 - $t0" | bc -l)"
done
if [ ${#sizes[@]} -ge 2 ]; then
	a=${sizes[-2]} b=${sizes[-1]}
	printf 'flow: marginal rate from %d to %d tasks: %.0f tasks/s\n' "$a" "$b" \
		"$(echo "($b - $a) / (${med[$b]} - ${med[$a]})" | bc -l)"
fi

echo "== one remote no-op round trip (client -> head -> worker), 2000 calls"
"$flow" compile "$root/tests/cluster/remote.flow" -o "$tmp/remote.plan" >/dev/null
# through the head to a worker: node 1 would take a share, so ask a
# head that runs no tasks itself
bench_kill_daemons
sleep 1
netns_cleanup
netns_setup 3 || exit 1
rm -rf "$tmp"/h*/.flow/run
start_cluster 0
run 1 env FLOW_REPEAT=2000 "$build/tests/cluster/remote_client" "$head_addr" "$tmp/token" \
	"$tmp/remote.plan" square 3 2>&1 >/dev/null | tail -1

# the Debian package's python (a python3 earlier on PATH may not see it)
py=
for p in /usr/bin/python3 python3; do
	"$p" -c 'import dask.distributed' 2>/dev/null && { py=$p; break; }
done
if [ -n "$py" ]; then
	echo "== Dask LocalCluster (2 worker processes, 1 thread each), loopback, 3 runs"
	for _ in 1 2 3; do "$py" "$here/dask_empty.py" "$dask_n" 2>/dev/null; done
else
	echo "== Dask: python3-distributed is not installed (apt-get install -y python3-distributed)"
fi

#!/usr/bin/env bash
# run.sh - the cluster's figures, on demand (not a test): empty tasks
# through a head and two workers on namespace hosts (tasks/s at each size,
# median of 3, start-up included, and the marginal rate between the two
# largest sizes, which leaves start-up out), the same with Dask's
# LocalCluster when python3-distributed is installed (in the same run),
# and one remote no-op round trip, µs: the raw wire through the head
# (tests/cluster/remote_client: client -> head -> worker) and a program's
# `v = get(noop(v + 1))` under `flow run --address` (par/roundtrip/task.flow:
# the run phase of --stats / N; its calls may go straight to a worker the
# head leased the client, docs/wire.md "Direct calls"), beside nng's own
# round trip between the same hosts (nng_pingpong.c, built with cc: the
# transport's floor under the same load). Needs root.
# Usage: bench/cluster/run.sh [-b BEFORE_BUILD] [BUILD_DIR] [N...]
#   (defaults: build, 10000 100000)
# -b: paired runs with another build dir (e.g. a copy of an older commit's
# build: cli/flow and tests/cluster/remote_client are used): each of the 3
# runs of the sizes and each round trip run (RT_RUNS, default 3) takes
# turns between the two builds, each on a cluster started afresh.
# DASK_N (default 10000): the size Dask runs (at ~300 tasks/s, 100000
# would take about 5 minutes a run). RT_CALLS (default 2000): calls per
# round trip run. RT_ONLY=1: only the round trips. RT_PERF=1 (with perf):
# the client's context switches and CPU time per call too, and the two
# workers' context switches per call (their threads' counts in /proc).
set -u
here=$(cd "$(dirname "$0")" && pwd)
prog=cluster/run.sh
. "$here/../lib.sh"
before=
if [ "${1:-}" = -b ]; then
	before=$(cd "$2" && pwd) || exit 2
	shift 2
fi
build=${1:-$root/build}
shift
sizes=("$@")
[ ${#sizes[@]} = 0 ] && sizes=(10000 100000)
dask_n=${DASK_N:-10000}
rt_runs=${RT_RUNS:-3}
rt_calls=${RT_CALLS:-2000}
bench_hosts "$build" 3
after_flow=$flow
builds=("$build")
[ -n "$before" ] && builds=("$before" "$build")
label() { [ -z "$before" ] && echo flow && return; [ "$1" = "$before" ] && echo BEFORE || echo after; }

start_cluster() { # head cpus
	bench_start_head "$1"
	for i in 2 3; do
		run $i "$flow" start --address "$head_addr" --block --cpus 1 --token-file "$tmp/token" \
			>"$tmp/w$i.out" 2>&1 &
	done
	for _ in $(seq 50); do bench_alive 3 && break; sleep 0.1; done
}

# the context switches of the two workers' threads so far (RT_PERF: the
# worker's side of a direct call; start-up and heartbeats included)
worker_switches() {
	local f t=0
	for f in "$tmp"/h2/.flow/run/*.pid "$tmp"/h3/.flow/run/*.pid; do
		[ -f "$f" ] || continue
		t=$((t + $(cat /proc/"$(cut -d' ' -f1 "$f")"/task/*/status 2>/dev/null |
			awk '/ctxt_switches/ { s += $2 } END { print s + 0 }')))
	done
	echo "$t"
}

# stops this build's daemons and makes the hosts afresh for the next
restart_hosts() {
	bench_kill_daemons
	sleep 1
	bench_kill_daemons KILL
	netns_cleanup
	netns_setup 3 || exit 1
	rm -rf "$tmp"/h*/.flow/run
}

# the sizes, 3 runs each; with -b the builds take turns, each run on a
# cluster of its own started afresh (paired under the same load)
declare -A med runs
[ -n "${RT_ONLY:-}" ] && sizes=()
for r in 1 2 3; do
	[ ${#sizes[@]} = 0 ] && break
	for b in "${builds[@]}"; do
		flow=$b/cli/flow
		l=$(label "$b")
		if [ -n "$before" ] || [ "$r" = 1 ]; then start_cluster 1; fi
		for n in "${sizes[@]}"; do
			t0=$(now)
			out=$(run 1 "$flow" run --address "$head_addr" --token-file "$tmp/token" -p n="$n" "$here/empty.flow")
			t1=$(now)
			[ "$out" = "$n" ] || { echo "wrong output: $out"; exit 1; }
			runs[$l,$n]="${runs[$l,$n]:-}$(echo "$t1 - $t0" | bc -l) "
		done
		if [ -n "$before" ]; then restart_hosts; fi
	done
done
[ -n "$before" ] || [ ${#sizes[@]} = 0 ] || restart_hosts
for b in "${builds[@]}"; do
	l=$(label "$b")
	for n in ${sizes[@]+"${sizes[@]}"}; do
		med[$l,$n]=$(printf '%s\n' ${runs[$l,$n]} | bench_median)
		printf '%s: %d empty tasks (bench/cluster/empty.flow), head + 2 workers, median of 3: %.3f s (runs: %s): %.0f tasks/s (start-up included)\n' \
			"$l" "$n" "${med[$l,$n]}" "$(printf '%.2f ' ${runs[$l,$n]})" "$(echo "$n / ${med[$l,$n]}" | bc -l)"
	done
	if [ ${#sizes[@]} -ge 2 ]; then
		a=${sizes[-2]} z=${sizes[-1]}
		printf '%s: marginal rate from %d to %d tasks: %.0f tasks/s\n' "$l" "$a" "$z" \
			"$(echo "($z - $a) / (${med[$l,$z]} - ${med[$l,$a]})" | bc -l)"
	fi
done
for n in ${sizes[@]+"${sizes[@]}"}; do
	t0=$(now)
	"$after_flow" run -q --cpus 2 -p n="$n" "$here/empty.flow" >/dev/null
	t1=$(now)
	printf 'flow, this machine (--cpus 2, no cluster), %d tasks: %.3f s\n' "$n" "$(echo "$t1 - $t0" | bc -l)"
done

echo "== one remote no-op round trip, $rt_calls calls, $rt_runs run(s) per build: raw (client -> head -> worker, remote_client); flow run --address (v = get(noop(v + 1)), run phase / N); nng's own (pair0 echo, host1 -> host2: the floor)"
"$after_flow" compile "$root/tests/cluster/remote.flow" -o "$tmp/remote.plan" >/dev/null
# the floor: nng's own round trip between the same two hosts (a 64-byte
# pair0 message echoed; nng_pingpong.c, public API only), once per run
pingpong=
cc -O2 "$here/nng_pingpong.c" -o "$tmp/nng_pingpong" -lnng 2>"$tmp/cc.err" && pingpong=$tmp/nng_pingpong
[ -n "$pingpong" ] || { echo "(no nng floor: cc failed)"; cat "$tmp/cc.err"; }
nng_floor() {
	[ -n "$pingpong" ] || return 0
	run 2 timeout 120 "$pingpong" echo "tcp://$(host_ip 2):6390" &
	local e=$!
	printf "nng's own round trip, host1 -> host2, %d messages: " "$rt_calls"
	run 1 timeout 60 "$pingpong" ping "tcp://$(host_ip 2):6390" "$rt_calls"
	kill "$e" 2>/dev/null
	wait "$e" 2>/dev/null
}
# through the head to a worker: node 1 would take a share, so ask a
# head that runs no tasks itself
for r in $(seq "$rt_runs"); do
	nng_floor
	for b in "${builds[@]}"; do
		flow=$b/cli/flow
		start_cluster 0
		printf '%s: raw through the head: ' "$(label "$b")"
		run 1 env FLOW_REPEAT="$rt_calls" "$b/tests/cluster/remote_client" "$head_addr" "$tmp/token" \
			"$tmp/remote.plan" square 3 2>&1 >/dev/null | tail -1
		printf '%s: flow run --address: ' "$(label "$b")"
		# RT_PERF=1: the client's context switches and CPU time per call
		# (perf stat; start-up included), where its time goes
		pst=()
		[ -n "${RT_PERF:-}" ] && command -v perf >/dev/null &&
			pst=(perf stat -x, -e context-switches,task-clock -o "$tmp/rt.perf")
		rm -f "$tmp/rt.perf"
		ws0=$(worker_switches)
		run 1 ${pst[@]+"${pst[@]}"} "$flow" run --address "$head_addr" --token-file "$tmp/token" \
			--stats -p n="$rt_calls" "$here/../par/roundtrip/task.flow" 2>"$tmp/rt.err" >/dev/null
		ws1=$(worker_switches)
		awk -v n="$rt_calls" '$1 == "run" { printf "%.1f us per round trip (run phase %s ms)", $2 * 1000 / n, $2 }' "$tmp/rt.err"
		[ -f "$tmp/rt.perf" ] && awk -F, -v n="$rt_calls" '$3 == "context-switches" { cs = $1 }
			$3 == "task-clock" { cpu = $1 } END { printf "; client: %.1f context switches, %.0f us CPU per call", cs / n, cpu * 1000 / n }' "$tmp/rt.perf"
		[ -n "${RT_PERF:-}" ] && awk -v a="$ws0" -v b="$ws1" -v n="$rt_calls" \
			'BEGIN { printf "; workers: %.1f context switches per call", (b - a) / n }'
		echo
		restart_hosts
	done
done

# the Debian package's python (a python3 earlier on PATH may not see it)
py=
for p in /usr/bin/python3 python3; do
	"$p" -c 'import dask.distributed' 2>/dev/null && { py=$p; break; }
done
if [ -n "${RT_ONLY:-}" ]; then
	:
elif [ -n "$py" ]; then
	echo "== Dask LocalCluster (2 worker processes, 1 thread each), loopback, 3 runs"
	for _ in 1 2 3; do "$py" "$here/dask_empty.py" "$dask_n" 2>/dev/null; done
else
	echo "== Dask: python3-distributed is not installed (apt-get install -y python3-distributed)"
fi

#!/usr/bin/env bash
# run.sh - how the compiler scales (issue 3): a driver that makes 1,000,000
# task calls, and a 1,000,000-element reduce, each compiled with --stats.
# Prints wall time and peak RSS (GNU time), and peak RSS per DAG node
# above the RSS of compiling a one-line program (the binary, the stdlib).
#
#   bench/scale/run.sh [-f FLOW] [-n RUNS] [-N CALLS]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
prog=scale/run.sh
. "$here/../lib.sh"
flow=build/cli/flow
runs=3
calls=1000000
while getopts f:n:N: o; do
	case $o in
	f) flow=$OPTARG ;;
	n) runs=$OPTARG ;;
	N) calls=$OPTARG ;;
	*) exit 2 ;;
	esac
done
bench_need_flow "$flow"
[ -x /usr/bin/time ] || { echo "needs GNU time: apt-get install -y time" >&2; exit 2; }
bench_tmp

printf 'print(1)\n' >"$tmp/base.flow"
cat >"$tmp/calls.flow" <<FLOW
task f(i: int) -> int { return i }
let xs = [f(i) for i in range($calls)]
FLOW
cat >"$tmp/reduce.flow" <<FLOW
@associative
task add(a: int, b: int) -> int { return a + b }
let total = reduce(add, list(range($calls)))
FLOW
cat >"$tmp/reduce_tasks.flow" <<FLOW
@associative
task add(a: int, b: int) -> int { return a + b }
task f(i: int) -> int { return i }
let total = reduce(add, [f(i) for i in range($calls)])
FLOW
cat >"$tmp/fold.flow" <<FLOW
@associative
task add(a: int, b: int) -> int { return a + b }
let acc = 0
for i in range($calls) {
    acc = add(acc, i)
}
FLOW

# median of the runs: "seconds kilobytes"; the last run's --stats in $tmp/stdout
measure() {
	: >"$tmp/runs"
	for ((r = 0; r < runs; r++)); do
		bench_timed "$tmp/runs" "$flow" compile --stats "$1"
	done
	echo "$(cut -d' ' -f1 "$tmp/runs" | bench_median) $(cut -d' ' -f3 "$tmp/runs" | bench_median)"
}

base_kb=$(measure "$tmp/base.flow" | awk '{print $2}')
printf '%-40s %9s %8s %10s %9s %7s %12s\n' program nodes depth wall_s peak_MB B/node rewrites
for name in calls reduce reduce_tasks fold; do
	read -r secs kb < <(measure "$tmp/$name.flow")
	nodes=$(sed -E 's/.*"nodes": ([0-9]+).*/\1/' "$tmp/stdout")
	depth=$(sed -E 's/.*"depth": ([0-9]+).*/\1/' "$tmp/stdout")
	rw=$(sed -E 's/.*"rewrites": ([0-9]+).*/\1/' "$tmp/stdout")
	per=$(( (kb - base_kb) * 1024 / nodes ))
	printf '%-40s %9s %8s %10s %9.1f %7s %12s\n' "$name ($calls)" "$nodes" "$depth" "$secs" \
		"$(echo "$kb / 1024" | bc -l)" "$per" "$rw"
done
echo "(baseline: compiling print(1) peaks at $((base_kb / 1024)) MB; B/node is peak RSS above it, per node)"

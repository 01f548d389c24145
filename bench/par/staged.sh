#!/usr/bin/env bash
# staged.sh - a driver that submits N calls at run time (staged: the driver
# continues at run time after an `if` on a task's result, LANGUAGE.md
# section 6) beside the same N calls in a fully static driver (lowered to
# the DAG ahead). Ray's published figure for the staged shape is its
# microbenchmark `single_client_tasks_async` (bench/README.md). Not a test:
# it prints figures.
#
#   bench/par/staged.sh [-f FLOW] [-n RUNS] [-N CALLS]
#
# Timed: the run phase of `flow run --stats` (compiling left out) and the
# whole process; each figure is the median of RUNS runs (default 5), the
# two programs alternating in each repetition (paired runs).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
prog=staged.sh
. "$here/../lib.sh"
flow=$root/build/cli/flow
runs=5
n=100000
while getopts f:n:N: opt; do
	case $opt in
	f) flow=$OPTARG ;;
	n) runs=$OPTARG ;;
	N) n=$OPTARG ;;
	*) echo "usage: staged.sh [-f FLOW] [-n RUNS] [-N CALLS]" >&2; exit 2 ;;
	esac
done
bench_need_flow "$flow"
bench_tmp

# one run: appends "run_ms wall_s" to file $1
one() {
	local out=$1 t0 t1 ms
	shift
	t0=$(date +%s.%N)
	ms=$(bench_run_ms "$@")
	t1=$(date +%s.%N)
	echo "$ms $(echo "$t1 - $t0" | bc -l)" >>"$out"
}

bench_machine
echo "flow:    $flow"
echo "calls:   $n; median of $runs runs"
printf '%-10s %-8s %12s %12s %14s\n' mode driver "run (ms)" "whole (s)" "calls/s (run)"
for mode in --serial "--cpus 1" "--cpus 2"; do
	: >"$tmp/static"
	: >"$tmp/staged"
	for ((k = 0; k < runs; k++)); do
		for p in static staged; do
			# shellcheck disable=SC2086
			one "$tmp/$p" "$flow" run --stats $mode -p n="$n" "$here/staged/$p.flow"
		done
	done
	for p in static staged; do
		r=$(cut -d' ' -f1 "$tmp/$p" | bench_median)
		w=$(cut -d' ' -f2 "$tmp/$p" | bench_median)
		printf '%-10s %-8s %12.1f %12.2f %14.0f\n' "$mode" "$p" "$r" "$w" "$(echo "$n * 1000 / $r" | bc -l)"
	done
done

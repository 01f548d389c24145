#!/usr/bin/env bash
# roundtrip.sh - the driver's synchronous round trip (issue 14): the driver
# calls a task and waits for its result, N times in a row
# (roundtrip/task.flow: `v = get(noop(v + 1))`), and the same through an
# actor's method (roundtrip/actor.flow: `v = get(e.echo(v + 1))`), under
# --serial, --cpus 1 and --cpus 2. Not a test: it prints figures.
#
#   bench/par/roundtrip.sh [-f FLOW] [-b OTHER_FLOW] [-n RUNS] [-N CALLS]
#
# What is timed is the run phase of `flow run --stats` (compiling and
# lowering the driver left out), divided by N: the cost of one round trip
# as the driver sees it (its three DAG nodes: v + 1, the call, the get).
# -b runs a second binary in the same repetition (paired runs); each
# figure is the median of RUNS runs (default 5).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
prog=roundtrip.sh
. "$here/../lib.sh"
flow=$root/build/cli/flow
other=
runs=5
n=100000
while getopts f:b:n:N: opt; do
	case $opt in
	f) flow=$OPTARG ;;
	b) other=$OPTARG ;;
	n) runs=$OPTARG ;;
	N) n=$OPTARG ;;
	*) echo "usage: roundtrip.sh [-f FLOW] [-b OTHER] [-n RUNS] [-N CALLS]" >&2; exit 2 ;;
	esac
done
bench_need_flow "$flow" ${other:+"$other"}
bench_tmp

bench_machine
echo "flow:    $flow${other:+ (before: $other)}"
echo "calls:   $n; median of $runs runs; microseconds per round trip"
printf '%-8s %-10s %10s %10s\n' workload mode after "${other:+before}"
for w in task actor; do
	for mode in --serial "--cpus 1" "--cpus 2"; do
		: >"$tmp/a"
		: >"$tmp/b"
		for ((k = 0; k < runs; k++)); do
			# shellcheck disable=SC2086
			bench_run_ms "$flow" run --stats $mode -p n="$n" "$here/roundtrip/$w.flow" >>"$tmp/a"
			if [ -n "$other" ]; then
				# shellcheck disable=SC2086
				bench_run_ms "$other" run --stats $mode -p n="$n" "$here/roundtrip/$w.flow" >>"$tmp/b"
			fi
		done
		a=$(bench_median <"$tmp/a")
		b=
		[ -n "$other" ] && b=$(bench_median <"$tmp/b")
		printf '%-8s %-10s %10.2f' "$w" "$mode" "$(echo "$a * 1000 / $n" | bc -l)"
		[ -n "$b" ] && printf ' %10.2f' "$(echo "$b * 1000 / $n" | bc -l)"
		echo
	done
done

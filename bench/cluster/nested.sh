#!/usr/bin/env bash
# nested.sh - calls made in task bodies on a cluster worker (figures, not a
# test): a head offering no CPUs and one worker with --cpus 2 (namespace
# hosts); nested_fan.flow (a body fanning out 8 CPU-bound calls) and
# nested_tiny.flow (a body making 20,000 tiny calls, each waited for at
# once); then nested_spill: nested_fan.flow again on a head offering no
# CPUs and two workers with --cpus 1 (a fan-out from a busy node: its
# calls spill to the other worker); and nested_spill_head: the same
# fan-out on the head's own node 1 (a head with --cpus 1 and two 1-CPU
# workers; its calls spill from node 1). Prints each program's `flow run
# --address --stats` run phase, ms, median of RUNS (default 3). -b BEFORE_BUILD: paired runs, taking turns
# with another build (each on a cluster started afresh). Needs root.
# Usage: bench/cluster/nested.sh [-b BEFORE_BUILD] [BUILD_DIR]
set -u
here=$(cd "$(dirname "$0")" && pwd)
prog=cluster/nested.sh
. "$here/../lib.sh"
before=
if [ "${1:-}" = -b ]; then
	before=$(cd "$2" && pwd) || exit 2
	shift 2
fi
build=${1:-$root/build}
runs=${RUNS:-3}
bench_hosts "$build" 3
builds=("$build")
[ -n "$before" ] && builds=("$before" "$build")
cp "$here/nested_fan.flow" "$here/nested_tiny.flow" "$tmp/"
sed 's/^task fan(/@resources(headonly=1)\ntask fan(/' "$here/nested_fan.flow" >"$tmp/nested_fan_head.flow"
bench_machine
for r in $(seq "$runs"); do
	for b in "${builds[@]}"; do
		flow=$b/cli/flow
		bench_start_head 0
		bench_start_worker 2 2 2
		for p in nested_fan nested_tiny; do
			ms=$(cd "$tmp" && bench_run_ms run 1 "$flow" run --stats --address "$head_addr" \
				--token-file "$tmp/token" "$p.flow") || exit 1
			echo "$ms" >>"$tmp/$p.$(basename "$(dirname "$b")")_$(basename "$b")"
		done
		bench_stop_daemons
		# the spill: two 1-CPU workers, the fan-out's caller on one of them
		bench_start_head 0
		bench_start_worker 2 1 2
		bench_start_worker 3 1 3
		ms=$(cd "$tmp" && bench_run_ms run 1 "$flow" run --stats --address "$head_addr" \
			--token-file "$tmp/token" nested_fan.flow) || exit 1
		echo "$ms" >>"$tmp/nested_spill.$(basename "$(dirname "$b")")_$(basename "$b")"
		bench_stop_daemons
		# from the head's own node: a head with 1 CPU and two 1-CPU
		# workers, the fan-out's caller on node 1 (a resource only it offers)
		bench_start_head 1 --resources headonly=1
		bench_start_worker 2 1 2
		bench_start_worker 3 1 3
		ms=$(cd "$tmp" && bench_run_ms run 1 "$flow" run --stats --address "$head_addr" \
			--token-file "$tmp/token" nested_fan_head.flow) || exit 1
		echo "$ms" >>"$tmp/nested_spill_head.$(basename "$(dirname "$b")")_$(basename "$b")"
		bench_stop_daemons
	done
done
for p in nested_fan nested_tiny nested_spill nested_spill_head; do
	for b in "${builds[@]}"; do
		echo "$p $b: $(bench_median <"$tmp/$p.$(basename "$(dirname "$b")")_$(basename "$b")") ms"
	done
done

#!/bin/sh
# bench/store/programs.sh: Flow programs that spill and restore (restore.flow)
# through a 64 MiB object store, timed whole, each under --serial and
# --cpus 2: 1,024 tensors of 1 MiB summed (t1m), the same put through four
# tensor operations each (t1h), 256 of 8 MiB summed (t8m). With BEFORE,
# each run of FLOW is paired with one of BEFORE, alternated. Prints each
# run's wall seconds and their median (bench/README.md, the spill store's
# eighth pass).
# Usage: bench/store/programs.sh [-n RUNS] [-b BEFORE] [FLOW]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
prog=store/programs.sh
. "$here/../lib.sh"
runs=3
before=
while getopts n:b: o; do
	case $o in
	n) runs=$OPTARG ;;
	b) before=$OPTARG ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
flow=${1:-build/cli/flow}
bench_need_flow "$flow" ${before:+"$before"}
bench_tmp
bench_machine
# one NAME MODE BINARY PARAMS...: a timed run, its wall seconds appended
# to $tmp/NAME (bench_timed: fails loudly if the program fails)
one() {
	out=$1 mode=$2 bin=$3
	shift 3
	# shellcheck disable=SC2086 # MODE is one or two words
	bench_timed "$tmp/$out" "$bin" run $mode --no-cache --object-store-memory 64MiB "$@" "$here/restore.flow" ||
		{ echo "$prog: failed: $bin run $mode $*" >&2; exit 1; }
}
# "wall_s ..." lines of FILE: each wall time, then their median
walls() { echo "$(cut -d' ' -f1 "$1" | tr '\n' ' ')(median $(cut -d' ' -f1 "$1" | bench_median)) s"; }
for cfg in "t1m -p n=1024" "t1h -p n=1024 -p work=1" "t8m -p n=256 -p rows=1024"; do
	# shellcheck disable=SC2086 # words: the name, then its params
	set -- $cfg
	name=$1
	shift
	for mode in --serial "--cpus 2"; do
		: >"$tmp/after"
		: >"$tmp/before"
		r=0
		while [ "$r" -lt "$runs" ]; do
			r=$((r + 1))
			[ -z "$before" ] || one before "$mode" "$before" "$@"
			one after "$mode" "$flow" "$@"
		done
		if [ -n "$before" ]; then
			echo "$name $mode: before $(walls "$tmp/before"); after $(walls "$tmp/after")"
		else
			echo "$name $mode: $(walls "$tmp/after")"
		fi
	done
done

#!/bin/sh
# bench/store/programs.sh: Flow programs that spill and restore (restore.flow)
# through a 64 MiB object store, timed whole (wall seconds, /usr/bin/time),
# each under --serial and --cpus 2: 1,024 tensors of 1 MiB summed (t1m),
# the same put through four tensor operations each (t1h), 256 of 8 MiB
# summed (t8m). With BEFORE, each run of FLOW is paired with one of BEFORE,
# alternated (bench/README.md, the spill store's eighth pass).
# Usage: bench/store/programs.sh [-n RUNS] [-b BEFORE] FLOW
set -eu
runs=3
before=
while getopts n:b: o; do
	case $o in
	n) runs=$OPTARG ;;
	b) before=$OPTARG ;;
	*) echo "usage: bench/store/programs.sh [-n RUNS] [-b BEFORE] FLOW" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
flow=${1:-build/cli/flow}
prog=$(dirname "$0")/restore.flow
one() { # mode binary params...
	mode=$1 bin=$2
	shift 2
	# shellcheck disable=SC2086
	/usr/bin/time -f "%e" "$bin" run $mode --no-cache --object-store-memory 64MiB "$@" "$prog" 2>&1 >/dev/null | tail -n 1
}
for cfg in "t1m -p n=1024" "t1h -p n=1024 -p work=1" "t8m -p n=256 -p rows=1024"; do
	# shellcheck disable=SC2086 # words: the name, then its params
	set -- $cfg
	name=$1
	shift
	for mode in --serial "--cpus 2"; do
		after_t='' before_t=''
		r=0
		while [ "$r" -lt "$runs" ]; do
			r=$((r + 1))
			[ -n "$before" ] && before_t="$before_t $(one "$mode" "$before" "$@")"
			after_t="$after_t $(one "$mode" "$flow" "$@")"
		done
		if [ -n "$before" ]; then
			echo "$name $mode: before$before_t s; after$after_t s"
		else
			echo "$name $mode:$after_t s"
		fi
	done
done

#!/bin/sh
# bench/par/matrices.sh - seed 000's matrices (samples/000_matrices.flow:
# four 1000x1000 normal matrices, two products, a sum) against numpy in
# the same repetitions (issue 14): paired runs, medians.
#
# Work only: Flow's "Finished in" (the driver's clock around the whole
# DAG) against numpy's first, cold round in its process (peers.py
# matrices-blas: new pages, OpenBLAS's threads starting, as in a fresh
# `flow run`). Whole process: wall and CPU (user + sys) from GNU time,
# for `flow run` and for `python3 peers.py matrices-blas` (its four
# rounds and its import of numpy included, so the Flow/numpy CPU ratio
# of whole processes is only an upper bound for numpy).
#
#   bench/par/matrices.sh [-n RUNS] [-b BEFORE_FLOW] [FLOW]
# Needs: /usr/bin/python3 with numpy (python3-numpy), GNU time.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
prog=par/matrices.sh
. "$here/../lib.sh"
runs=5
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
bins="after=$flow"
[ -n "$before" ] && bins="before=$before $bins"
i=0
while [ "$i" -lt "$runs" ]; do
	for b in $bins; do
		tag=${b%%=*}
		f=${b#*=}
		/usr/bin/time -f '%e %U %S' -o "$tmp/t" "$f" run "$root/samples/000_matrices.flow" >"$tmp/out"
		work=$(sed -n 's/^Finished in \([0-9.]*\)$/\1/p' "$tmp/out")
		awk -v w="$work" '{ printf "%s %s %.3f\n", w, $1, $2 + $3 }' "$tmp/t" >>"$tmp/$tag"
	done
	/usr/bin/time -f '%e %U %S' -o "$tmp/t" /usr/bin/python3 "$root/bench/par/peers.py" matrices-blas 1000 >"$tmp/out"
	work=$(sed -n 's/^seconds=\([0-9.]*\) .*/\1/p' "$tmp/out")
	awk -v w="$work" '{ printf "%s %s %.3f\n", w, $1, $2 + $3 }' "$tmp/t" >>"$tmp/numpy"
	i=$((i + 1))
done
echo "seed 000 matrices, median of $runs paired runs"
printf '%-8s %10s %10s %10s\n' what work wall cpu
for tag in ${before:+before} after numpy; do
	w=$(cut -d' ' -f1 "$tmp/$tag" | bench_median)
	wa=$(cut -d' ' -f2 "$tmp/$tag" | bench_median)
	c=$(cut -d' ' -f3 "$tmp/$tag" | bench_median)
	printf '%-8s %9.3fs %9.3fs %9.3fs\n' "$tag" "$w" "$wa" "$c"
	eval "w_$tag=$w"
done
for tag in ${before:+before} after; do
	eval "w=\$w_$tag"
	echo "$tag: work $(awk -v a="$w" -v b="$w_numpy" 'BEGIN { printf "%.2f", a / b }')x numpy's cold round (goal <= 1.05x)"
done

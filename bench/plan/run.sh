#!/bin/sh
# bench/plan/run.sh - loading a plan against compiling its source (issue 14).
#
# Generates N independent no-op task calls (default 1,000,000), compiles
# them to a plan once, then times, in each repetition and in this order,
# `flow compile --stats SRC` (parse, check, lower: what a plan saves) and
# `flow compile --stats PLAN` (read, verify, rebuild the DAG), for each
# binary given: paired runs, medians. Reports wall time, CPU time (user +
# sys, less disturbed by a shared machine) and peak RSS, from GNU time.
# GNU time counts in 10 ms ticks, coarse beside a small plan's load: each
# timed sample runs its command K times in a row (one shell, whose
# children's CPU time GNU time sums) and reports the mean of one run.
# K defaults to 1,000,000 / TASKS (1 to 20).
#
#   bench/plan/run.sh [-n RUNS] [-N TASKS] [-k K] [-b BEFORE_FLOW] [FLOW]
# Needs: GNU time (/usr/bin/time), awk.
# For CPU exact to the microsecond (from wait4), paired: bench/plan/wait4.py.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
prog=plan/run.sh
. "$here/../lib.sh"
runs=5
ntasks=1000000
before=
k=
while getopts n:N:k:b: o; do
	case $o in
	n) runs=$OPTARG ;;
	N) ntasks=$OPTARG ;;
	k) k=$OPTARG ;;
	b) before=$OPTARG ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
flow=${1:-build/cli/flow}
bench_need_flow "$flow" ${before:+"$before"}
[ -n "$k" ] || k=$(awk -v n="$ntasks" 'BEGIN { k = int(1000000 / n); print (k < 1 ? 1 : (k > 20 ? 20 : k)) }')
bench_tmp

# timed FILE CMD...: CMD run K times under one GNU time; appends the mean
# "wall_s cpu_s" and the peak RSS of one run to FILE
timed() {
	out=$1
	shift
	bench_time_k "$k" "$@"
	awk -v k="$k" '{ printf "%.4f %.4f %s\n", $1 / k, ($2 + $3) / k, $4 }' "$tmp/time" >>"$out"
}
cat >"$tmp/empty.flow" <<FLOW
task noop(i: int) -> int {
    return i
}

let xs = [noop(i) for i in range($ntasks)]
FLOW
"$flow" compile -o "$tmp/empty.plan" "$tmp/empty.flow"
bins="after=$flow"
[ -n "$before" ] && bins="before=$before $bins"

i=0
while [ "$i" -lt "$runs" ]; do
	for b in $bins; do
		tag=${b%%=*}
		f=${b#*=}
		timed "$tmp/$tag.src" "$f" compile --stats "$tmp/empty.flow"
		timed "$tmp/$tag.plan" "$f" compile --stats "$tmp/empty.plan"
	done
	i=$((i + 1))
done
echo "plan of $ntasks tasks: $(wc -c <"$tmp/empty.plan") bytes; median of $runs paired runs (each the mean of $k)"
printf '%-8s %-22s %8s %8s %10s\n' binary what wall cpu peak_rss
for b in $bins; do
	tag=${b%%=*}
	for w in src plan; do
		wall=$(cut -d' ' -f1 "$tmp/$tag.$w" | bench_median)
		cpu=$(cut -d' ' -f2 "$tmp/$tag.$w" | bench_median)
		rss=$(cut -d' ' -f3 "$tmp/$tag.$w" | bench_median)
		[ "$w" = src ] && what="compile --stats SRC" || what="compile --stats PLAN"
		printf '%-8s %-22s %7.4fs %7.4fs %8d KB\n' "$tag" "$what" "$wall" "$cpu" "$rss"
		eval "${tag}_$w=$cpu"
	done
	eval "s=\$${tag}_src p=\$${tag}_plan"
	echo "$tag: compile/load CPU ratio $(awk -v s="$s" -v p="$p" 'BEGIN { printf "%.2f", s / p }')x (goal >= 3x)"
done

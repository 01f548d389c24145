#!/bin/sh
# bench/plan/startup.sh - what a `flow` process costs before it does any
# work (issue 14: at 10k tasks a plan's load is mostly start-up).
#
# Times, in each repetition and in this order, /bin/true (the floor: an
# exec and an exit), `flow --version` (the dynamic loader, the libraries'
# constructors), `flow compile --stats TINY.plan` (plus reading and
# checking a 3-task plan) and `flow run TINY.plan` (plus the executor's
# threads and the object store), for each binary given: paired runs,
# medians of CPU time (user + sys, GNU time) per process. GNU time counts
# in 10 ms ticks: each sample runs its command K times in a row (default
# 50) and reports the mean of one run.
#
#   bench/plan/startup.sh [-n RUNS] [-k K] [-b BEFORE_FLOW] [FLOW]
# Needs: GNU time (/usr/bin/time), awk.
# For CPU exact to the microsecond (from wait4), paired: bench/plan/wait4.py.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
prog=plan/startup.sh
. "$here/../lib.sh"
runs=7
k=50
before=
while getopts n:k:b: o; do
	case $o in
	n) runs=$OPTARG ;;
	k) k=$OPTARG ;;
	b) before=$OPTARG ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
flow=${1:-build/cli/flow}
bench_need_flow "$flow" ${before:+"$before"}
bench_tmp

# timed FILE CMD...: CMD run K times under one GNU time; appends the mean
# CPU ms of one run to FILE
timed() {
	out=$1
	shift
	bench_time_k "$k" "$@"
	awk -v k="$k" '{ printf "%.3f\n", ($2 + $3) * 1000 / k }' "$tmp/time" >>"$out"
}
cat >"$tmp/tiny.flow" <<FLOW
task noop(i: int) -> int {
    return i
}

let xs = [noop(i) for i in range(3)]
FLOW
"$flow" compile -o "$tmp/tiny.plan" "$tmp/tiny.flow"
bins="after=$flow"
[ -n "$before" ] && bins="before=$before $bins"

i=0
while [ "$i" -lt "$runs" ]; do
	timed "$tmp/true" /bin/true
	for b in $bins; do
		tag=${b%%=*}
		f=${b#*=}
		timed "$tmp/$tag.version" "$f" --version
		timed "$tmp/$tag.load" "$f" compile --stats "$tmp/tiny.plan"
		timed "$tmp/$tag.run" "$f" run "$tmp/tiny.plan"
	done
	i=$((i + 1))
done
bench_machine
echo "CPU ms per process, median of $runs paired runs (each the mean of $k)"
printf '%-8s %10s %10s %14s %10s\n' binary true --version 'compile PLAN' 'run PLAN'
t=$(bench_median <"$tmp/true")
for b in $bins; do
	tag=${b%%=*}
	printf '%-8s %10.2f %10.2f %14.2f %10.2f\n' "$tag" "$t" "$(bench_median <"$tmp/$tag.version")" \
		"$(bench_median <"$tmp/$tag.load")" "$(bench_median <"$tmp/$tag.run")"
done

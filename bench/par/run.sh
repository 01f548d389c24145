#!/usr/bin/env bash
# run.sh - the parallel executor against the serial one, on two workloads
# of issue 4 (not a test: it prints figures, asserts nothing):
#
#   sleeps  seed 000's sixteen sleeps (samples/000_sleep_tasks.flow with
#           -p scale=S, default 1.0: 10.9 s of sleeping, the longest 1.5 s)
#   empty   N empty tasks (default 1,000,000), compiled to a plan first;
#           what is timed is `flow run PLAN`, the whole process
#   nested  the merge-sort sample (samples/004_merge_sort.flow, nested
#           tasks submitted at run time) on 400,000 numbers, and a tree of
#           nested calls with 1,024 leaves of CPU work; beside them, the
#           same merge sort in python3 (one process) for scale
#
#   bench/par/run.sh [-f FLOW] [-n RUNS] [-s SCALE] [-N TASKS]
# Prints the median wall time of RUNS runs (default 3) of each.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
flow=$root/build/cli/flow
runs=3
scale=1.0
ntasks=1000000
while getopts f:n:s:N: opt; do
	case $opt in
	f) flow=$OPTARG ;;
	n) runs=$OPTARG ;;
	s) scale=$OPTARG ;;
	N) ntasks=$OPTARG ;;
	*) echo "usage: run.sh [-f FLOW] [-n RUNS] [-s SCALE] [-N TASKS]" >&2; exit 2 ;;
	esac
done
[ -x "$flow" ] || { echo "run.sh: no flow binary at $flow (use -f)" >&2; exit 2; }
case $flow in /*) ;; *) flow=$(cd "$(dirname "$flow")" && pwd)/$(basename "$flow") ;; esac
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# median wall time (seconds) of $runs runs of the command; stdout discarded
median() {
	local t=() s e
	for ((k = 0; k < runs; k++)); do
		s=$(date +%s.%N)
		"$@" >/dev/null 2>"$tmp/err" || { echo "run.sh: failed: $*" >&2; cat "$tmp/err" >&2; return 1; }
		e=$(date +%s.%N)
		t+=("$(echo "$e - $s" | bc)")
	done
	printf '%s\n' "${t[@]}" | sort -n | sed -n "$(((runs + 1) / 2))p"
}

row() { # label seconds [tasks]
	if [ -n "${3:-}" ]; then
		printf '%-28s %8.3fs %12.0f tasks/s\n' "$1" "$2" "$(echo "$3 / $2" | bc -l)"
	else
		printf '%-28s %8.3fs\n' "$1" "$2"
	fi
}

echo "machine: $(nproc) CPUs, $(uname -sr)"
echo "flow:    $flow"
echo

echo "sleeps (samples/000_sleep_tasks.flow -p scale=$scale; longest sleep $(echo "1.5 * $scale" | bc -l | sed 's/0*$//') s)"
cd "$root/samples"
for a in --serial "--cpus 2" "--cpus 16"; do
	# shellcheck disable=SC2086
	t=$(median "$flow" run $a -p scale="$scale" 000_sleep_tasks.flow) || exit 1
	row "  flow run $a" "$t"
done
echo

echo "empty tasks ($ntasks independent no-op tasks, from a plan)"
cat >"$tmp/empty.flow" <<FLOW
task noop(i: int) -> int {
    return i
}

let xs = [noop(i) for i in range($ntasks)]
FLOW
s=$(date +%s.%N)
"$flow" compile -o "$tmp/empty.plan" "$tmp/empty.flow"
e=$(date +%s.%N)
row "  flow compile (once)" "$(echo "$e - $s" | bc)"
for a in --serial "--cpus 1" "--cpus 2"; do
	# shellcheck disable=SC2086
	t=$(median "$flow" run $a "$tmp/empty.plan") || exit 1
	row "  flow run $a PLAN" "$t" "$ntasks"
done
echo

echo "nested tasks (submitted from task bodies at run time)"
cd "$root/samples"
for a in --serial "--cpus 2"; do
	# shellcheck disable=SC2086
	t=$(median "$flow" run $a -p n=400000 004_merge_sort.flow) || exit 1
	row "  merge sort 400k, $a" "$t"
done
cat >"$tmp/msort.py" <<'PY'
import random
def merge(a, b):
    out, i, j = [], 0, 0
    while i < len(a) and j < len(b):
        if a[i] <= b[j]:
            out.append(a[i]); i += 1
        else:
            out.append(b[j]); j += 1
    out.extend(a[i:]); out.extend(b[j:])
    return out
def msort(xs):
    if len(xs) <= 1:
        return xs
    m = len(xs) // 2
    return merge(msort(xs[:m]), msort(xs[m:]))
xs = list(range(400000)); random.seed(0); random.shuffle(xs)
r = msort(xs)
print(r[:5], r == sorted(xs))
PY
t=$(median python3 "$tmp/msort.py") || exit 1
row "  merge sort 400k, python3" "$t"
cat >"$tmp/tree.flow" <<'FLOW'
task leaf(i: int) -> int {
    let s = 0
    for k in range(200000) { s += k % 7 }
    return s + i
}
task tree(lo: int, hi: int) -> int {
    if hi - lo == 1 { return leaf(lo) }
    let mid = (lo + hi) // 2
    let a = tree(lo, mid)
    let b = tree(mid, hi)
    return get(a) + get(b)
}
print(get(tree(0, 1024)))
FLOW
for a in --serial "--cpus 1" "--cpus 2"; do
	# shellcheck disable=SC2086
	t=$(median "$flow" run $a "$tmp/tree.flow") || exit 1
	row "  tree of 1024 leaves, $a" "$t"
done

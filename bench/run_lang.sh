#!/usr/bin/env bash
# run_lang.sh - the language benchmark: the same CPU-bound programs
# (bench/lang/NAME.flow, NAME.py, NAME.lua) run with `flow run --serial`,
# python3 and lua5.4, side by side, N times each; prints the median wall
# time of each and the ratios flow/python3 and flow/lua.
#
#   bench/run_lang.sh [-n N] [-f FLOW] [NAME...]
#
#   -n N      repetitions per program and language (default 3)
#   -f FLOW   the flow binary (default: build/cli/flow beside this folder)
#   NAME      programs to run (default: every bench/lang/*.flow)
#
# Needs python3 and lua5.4 (Debian: apt-get install -y lua5.4 python3).
# Each run's output is checked against the others: a program that prints
# something different in one language is reported, not timed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
reps=3
flow="$root/build/cli/flow"

while getopts "n:f:h" opt; do
	case $opt in
	n) reps=$OPTARG ;;
	f) flow=$OPTARG ;;
	h)
		sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))

for tool in python3 lua5.4; do
	if ! command -v "$tool" >/dev/null; then
		echo "run_lang.sh: $tool not found (apt-get install -y lua5.4 python3)" >&2
		exit 2
	fi
done
if [ ! -x "$flow" ]; then
	echo "run_lang.sh: no flow binary at $flow (build it: meson setup build && ninja -C build, or pass -f)" >&2
	exit 2
fi

names=("$@")
if [ ${#names[@]} = 0 ]; then
	for f in "$here"/lang/*.flow; do names+=("$(basename "$f" .flow)"); done
fi

# now: wall clock in seconds with nanoseconds
now() { date +%s.%N; }

# median of the numbers on stdin
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# timeit OUTFILE CMD...: runs CMD once, prints its wall time, output to OUTFILE
timeit() {
	local out=$1
	shift
	local t0 t1
	t0=$(now)
	"$@" >"$out" || return 1
	t1=$(now)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }'
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

printf "%-8s %10s %10s %10s %12s %10s\n" program flow python3 lua5.4 flow/python3 flow/lua
status=0
for name in "${names[@]}"; do
	declare -A times=()
	ok=1
	for lang in flow py lua; do
		case $lang in
		flow) cmd=("$flow" run --serial "$here/lang/$name.flow") ;;
		py) cmd=(python3 "$here/lang/$name.py") ;;
		lua) cmd=(lua5.4 "$here/lang/$name.lua") ;;
		esac
		ts=()
		for ((r = 0; r < reps; r++)); do
			if ! t=$(timeit "$tmp/$lang.out" "${cmd[@]}"); then
				echo "$name: ${cmd[*]} failed" >&2
				ok=0
				break
			fi
			ts+=("$t")
		done
		[ $ok = 1 ] || break
		times[$lang]=$(printf "%s\n" "${ts[@]}" | median)
	done
	if [ $ok = 1 ]; then
		for lang in py lua; do
			if ! cmp -s "$tmp/flow.out" "$tmp/$lang.out"; then
				echo "$name: flow printed '$(head -c 80 "$tmp/flow.out")', $lang printed '$(head -c 80 "$tmp/$lang.out")'" >&2
				ok=0
			fi
		done
	fi
	if [ $ok = 1 ]; then
		awk -v n="$name" -v f="${times[flow]}" -v p="${times[py]}" -v l="${times[lua]}" 'BEGIN {
			printf "%-8s %9.3fs %9.3fs %9.3fs %11.2fx %9.2fx\n", n, f, p, l, (p > 0 ? f / p : 0), (l > 0 ? f / l : 0) }'
	else
		printf "%-8s %10s\n" "$name" "FAILED"
		status=1
	fi
	unset times
done
echo "(median of $reps runs each; wall time including start-up)"
exit $status

#!/usr/bin/env bash
# run_lang.sh - the language benchmark: the same CPU-bound programs
# (bench/lang/NAME.flow, NAME.py, NAME.lua) run with `flow run --serial`,
# python3 and lua5.4, side by side, N times each; prints the median time of
# each and the ratios flow/python3 and flow/lua.
#
#   bench/run_lang.sh [-n N] [-c] [-f FLOW] [-b BEFORE] [NAME[:ARG]...]
#
#   -n N       repetitions per program and language (default 3)
#   -c         time CPU (user + system) instead of wall time
#   -f FLOW    the flow binary (default: build/cli/flow beside this folder)
#   -b BEFORE  a second flow binary (e.g. the main branch's), run paired with
#              FLOW in every repetition: adds a column and FLOW/BEFORE
#   -p PYTHON  the python3 to run (default: python3 on PATH, except that a
#              pyenv shim, a script that costs ~0.4 s of CPU per start, is
#              replaced by /usr/bin/python3 when that exists)
#   NAME       programs to run (default: every bench/lang/*.flow); a program
#              with a NAME.args file runs once per line of it, the line
#              passed as `-p n=ARG` to Flow and as argv[1] to the others
#
# Needs python3 and lua5.4 (Debian: apt-get install -y lua5.4 python3).
# Each repetition runs every language once, one after the other (paired
# runs: a busy moment of a shared machine hits all of them). Each run's
# output is checked against the others: a program that prints something
# different in one language is reported, not timed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
reps=3
cpu=0
flow="$root/build/cli/flow"
before=""
python=""

while getopts "n:cf:b:p:h" opt; do
	case $opt in
	n) reps=$OPTARG ;;
	c) cpu=1 ;;
	f) flow=$OPTARG ;;
	b) before=$OPTARG ;;
	p) python=$OPTARG ;;
	h)
		sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'
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
if [ -z "$python" ]; then
	python=$(command -v python3)
	if [[ $python == */shims/* ]] && [ -x /usr/bin/python3 ]; then
		python=/usr/bin/python3
	fi
fi
for bin in "$flow" ${before:+"$before"}; do
	if [ ! -x "$bin" ]; then
		echo "run_lang.sh: no flow binary at $bin (build it: meson setup build && ninja -C build, or pass -f)" >&2
		exit 2
	fi
done
if [ $cpu = 1 ] && [ ! -x /usr/bin/time ]; then
	echo "run_lang.sh: -c needs /usr/bin/time (apt-get install -y time)" >&2
	exit 2
fi

names=("$@")
if [ ${#names[@]} = 0 ]; then
	for f in "$here"/lang/*.flow; do names+=("$(basename "$f" .flow)"); done
fi
# expand NAME into NAME:ARG for each line of NAME.args
runs=()
for name in "${names[@]}"; do
	if [[ $name != *:* && -f "$here/lang/$name.args" ]]; then
		while read -r a; do [ -n "$a" ] && runs+=("$name:$a"); done <"$here/lang/$name.args"
	else
		runs+=("$name")
	fi
done

# now: wall clock in seconds with nanoseconds
now() { date +%s.%N; }

# median of the numbers on stdin
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# timeit OUTFILE CMD...: runs CMD once, prints its time (wall, or CPU with
# -c), output to OUTFILE
timeit() {
	local out=$1
	shift
	if [ $cpu = 1 ]; then
		/usr/bin/time -f "%U %S" -o "$tmp/time" "$@" >"$out" || return 1
		awk '{ printf "%.3f\n", $1 + $2 }' "$tmp/time"
		return 0
	fi
	local t0 t1
	t0=$(now)
	"$@" >"$out" || return 1
	t1=$(now)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }'
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

langs=(flow py lua)
[ -n "$before" ] && langs=(before flow py lua)
if [ -n "$before" ]; then
	printf "%-18s %10s %10s %10s %10s %12s %12s %10s\n" program before flow python3 lua5.4 flow/before flow/python3 flow/lua
else
	printf "%-18s %10s %10s %10s %12s %10s\n" program flow python3 lua5.4 flow/python3 flow/lua
fi
status=0
for run in "${runs[@]}"; do
	name=${run%%:*}
	arg=""
	[[ $run == *:* ]] && arg=${run#*:}
	declare -A ts=()
	ok=1
	for ((r = 0; r < reps && ok; r++)); do
		for lang in "${langs[@]}"; do
			case $lang in
			flow) cmd=("$flow" run --serial "$here/lang/$name.flow" ${arg:+-p} ${arg:+"n=$arg"}) ;;
			before) cmd=("$before" run --serial "$here/lang/$name.flow" ${arg:+-p} ${arg:+"n=$arg"}) ;;
			py) cmd=("$python" "$here/lang/$name.py" ${arg:+"$arg"}) ;;
			lua) cmd=(lua5.4 "$here/lang/$name.lua" ${arg:+"$arg"}) ;;
			esac
			if ! t=$(timeit "$tmp/$lang.out" "${cmd[@]}"); then
				echo "$run: ${cmd[*]} failed" >&2
				ok=0
				break
			fi
			ts[$lang]="${ts[$lang]:-} $t"
		done
	done
	if [ $ok = 1 ]; then
		for lang in "${langs[@]}"; do
			[ $lang = flow ] && continue
			if ! cmp -s "$tmp/flow.out" "$tmp/$lang.out"; then
				echo "$run: flow printed '$(head -c 80 "$tmp/flow.out")', $lang printed '$(head -c 80 "$tmp/$lang.out")'" >&2
				ok=0
			fi
		done
	fi
	if [ $ok = 1 ]; then
		declare -A med=()
		for lang in "${langs[@]}"; do med[$lang]=$(printf "%s\n" ${ts[$lang]} | median); done
		awk -v n="$run" -v b="${med[before]:-}" -v f="${med[flow]}" -v p="${med[py]}" -v l="${med[lua]}" 'BEGIN {
			if (b != "")
				printf "%-18s %9.3fs %9.3fs %9.3fs %9.3fs %11.2fx %11.2fx %9.2fx\n", n, b, f, p, l, (b > 0 ? f / b : 0), (p > 0 ? f / p : 0), (l > 0 ? f / l : 0)
			else
				printf "%-18s %9.3fs %9.3fs %9.3fs %11.2fx %9.2fx\n", n, f, p, l, (p > 0 ? f / p : 0), (l > 0 ? f / l : 0) }'
		unset med
	else
		printf "%-18s %10s\n" "$run" "FAILED"
		status=1
	fi
	unset ts
done
echo "(python3: $python; median of $reps paired runs each; $([ $cpu = 1 ] && echo "CPU time, user + system" || echo "wall time") including start-up)"
exit $status

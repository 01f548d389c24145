#!/usr/bin/env bash
# repeat.sh - races show up as a different output now and then: runs every
# sample (samples/NAME.flow with a NAME.out) N times under the parallel
# executor and compares stdout and the exit status with the expected ones
# (lines starting with "~ " are regular expressions, as in golden/run.sh).
#
#   repeat.sh FLOW [N] [CPUS]      N defaults to 20, CPUS to 4 (more
#                                  threads than cores: more interleavings)
set -u
flow=$1
n=${2:-20}
cpus=${3:-4}
case $flow in /*) ;; */*) flow=$(cd "$(dirname "$flow")" && pwd)/$(basename "$flow") ;; esac
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# matches EXPECTED ACTUAL: same line count, each line equal or matching "~ regex"
matches() {
	[ "$(wc -l <"$1")" = "$(wc -l <"$2")" ] || return 1
	local e a
	while IFS= read -r e <&3 && IFS= read -r a <&4; do
		if [ "${e:0:2}" = "~ " ]; then
			[[ "$a" =~ ^${e:2}$ ]] || return 1
		else
			[ "$e" = "$a" ] || return 1
		fi
	done 3<"$1" 4<"$2"
}

runs=0
fail=0
for src in "$root"/samples/*.flow; do
	name=$(basename "$src" .flow)
	exp=${src%.flow}.out
	[ -f "$exp" ] || continue
	extra=""
	[ -f "${src%.flow}.args" ] && extra=$(cat "${src%.flow}.args")
	want=0
	[ -f "${src%.flow}.code" ] && want=$(cat "${src%.flow}.code")
	for ((k = 1; k <= n; k++)); do
		# shellcheck disable=SC2086
		(cd "$root/samples" && timeout 120 "$flow" run --cpus "$cpus" $extra "$name.flow" \
			>"$out" 2>/dev/null </dev/null)
		code=$?
		runs=$((runs + 1))
		if [ "$code" != "$want" ]; then
			echo "FAIL $name (run $k): exit status $code, expected $want"
			fail=$((fail + 1))
			break
		fi
		if ! matches "$exp" "$out"; then
			echo "FAIL $name (run $k): output differs"
			diff "$exp" "$out" | head -n 6 | sed 's/^/  /'
			fail=$((fail + 1))
			break
		fi
	done
done
echo "parallel repeat: $runs runs, $fail samples failed"
[ $fail = 0 ] && [ $runs -gt 0 ]

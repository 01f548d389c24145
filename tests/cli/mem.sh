#!/usr/bin/env bash
# mem.sh - issue 14's memory report: `flow run --stats` splits memory into
# anonymous memory and mapped file pages (docs/cli.md, "--stats"), run on
# tensors of 8 MiB through a 64 MiB object store, under both executors.
#
#   tests/cli/mem.sh FLOW line   the line is there, its figures plausible
#                                (64 tensors: 512 MiB)
#   tests/cli/mem.sh FLOW goal   (128 tensors: 1 GiB) issue 14's goal: the
#                                anonymous peak within
#                                1.5 x the cap plus what running tasks hold
#                                (2 threads x 2 tensors of 8 MiB, bounded
#                                here by 256 MiB): 352 MiB
set -u
flow=$1
mode=${2:-line}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=64
[ "$mode" = goal ] && n=128
cat >"$tmp/spill.flow" <<FLOW
import tensor
task make(i: int) -> tensor { return tensor.ones([1024, 1024]) * i }
task total(t: tensor) -> float { return tensor.sum(t) }
let ts = [make(i) for i in range($n)]
print(sum(get([total(t) for t in ts])))
FLOW
fail=0
for ex in --serial "--cpus 2"; do
	# shellcheck disable=SC2086
	"$flow" run $ex --no-cache --stats --object-store-memory 64MiB --spill-dir "$tmp" "$tmp/spill.flow" \
		>"$tmp/out" 2>"$tmp/err"
	rc=$?
	want=$((n * (n - 1) / 2 * 1048576)).0 # sum of i * 2^20 for i < n
	line=$(grep -E '^  memory +anonymous [0-9.]+ MiB, mapped files [0-9.]+ MiB at their sampled peaks; [0-9.]+ MiB, [0-9.]+ MiB at the end$' "$tmp/err")
	rss=$(sed -nE 's/^  peak RSS +([0-9.]+) MiB$/\1/p' "$tmp/err")
	if [ $rc != 0 ] || [ "$(cat "$tmp/out")" != "$want" ] || [ -z "$line" ] || [ -z "$rss" ]; then
		echo "FAIL: flow run $ex: status $rc, stdout $(cat "$tmp/out"), no memory or peak RSS line:"
		sed 's/^/  /' "$tmp/err" | tail -6
		fail=$((fail + 1))
		continue
	fi
	read -r anon file anon_end file_end < <(sed -E 's/[^0-9.]+/ /g' <<<"$line")
	echo "$ex: peak RSS $rss MiB; anonymous $anon MiB, mapped files $file MiB at their peaks; $anon_end, $file_end at the end"
	case $mode in
	line)
		# the store keeps up to its cap (64 MiB) of tensors in memory: the
		# anonymous peak is at least that; mapped files (the program, its
		# libraries, LMDB's map) are some; no sampled peak exceeds the
		# kernel's high-water mark of the total (the two peaks may fall at
		# different times: their sum may); the end is not above the peak
		# (sampled just before it: 1 MiB of slack)
		awk -v a="$anon" -v f="$file" -v ae="$anon_end" -v fe="$file_end" -v r="$rss" \
			'BEGIN { exit !(a >= 64 && f > 0 && a <= r && f <= r && ae <= a + 1 && fe <= f + 1) }' || {
			echo "FAIL: flow run $ex: implausible figures: $line (peak RSS $rss MiB)"
			fail=$((fail + 1))
		}
		;;
	goal)
		awk -v a="$anon" 'BEGIN { exit !(a <= 1.5 * 64 + 256) }' || {
			echo "FAIL: flow run $ex: anonymous memory peaked at $anon MiB, over issue 14's goal (352 MiB)"
			fail=$((fail + 1))
		}
		;;
	esac
done
echo "mem $mode: $fail failed"
[ "$fail" = 0 ]

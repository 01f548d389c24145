#!/usr/bin/env bash
# bench/cache/run.sh FLOW [ARGS...] - a full run of pipeline.flow (1,000
# task calls of a few ms each and a total) beside resumed runs: nothing
# changed, the total's body changed, refine's body changed (its 500 calls
# and the total re-run; work's 500 come from the cache). ARGS go to every
# flow run (default --cpus 2). Prints one line per run: seconds, calls
# that ran, calls from the cache.
set -u
flow=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
shift
args=${*:---cpus 2}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$here/pipeline.flow" "$tmp/p.flow"
cd "$tmp" || exit 1

# timed LABEL FLOWARGS...: wall seconds of one flow run, and what ran
timed() {
	local label=$1
	shift
	local t0 t1
	t0=$(date +%s.%N)
	"$flow" run $args --trace t.json "$@" p.flow >out 2>err || { cat err; exit 1; }
	t1=$(date +%s.%N)
	local ran cached
	ran=$(grep -cE '"cat":"(task|nested task)".*"outcome":"done"' t.json)
	cached=$(grep -c '"outcome":"cached"' t.json)
	printf '%-34s %7.3f s  %4d ran  %4d cached  (output %s)\n' "$label" \
		"$(echo "$t1 - $t0" | bc -l)" "$ran" "$cached" "$(cat out)"
}

timed "full run, --no-cache" --no-cache
rm -rf .flow
timed "full run, --resume (records)" --resume
timed "--resume, nothing changed" --resume
sed -i 's/for x in xs { s = s + x }/for x in xs { s = s + 2 * x }/' p.flow
timed "--resume, total changed" --resume
sed -i 's/s = (s \* 17 + k)/s = (s * 19 + k)/' p.flow
timed "--resume, refine changed" --resume
printf '%-34s %s\n' "cache size" "$("$flow" cache list p.flow | tail -n 1)"

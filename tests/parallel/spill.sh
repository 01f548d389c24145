#!/usr/bin/env bash
# spill.sh - issue 4's spill test: a pipeline that makes 1 GiB of tensors
# (128 of 8 MiB) runs through a 64 MiB object store, under both
# executors: the result is right and --stats shows bytes spilled to LMDB
# and read back. Then a spill directory that cannot be made is refused.
#
#   tests/parallel/spill.sh FLOW
set -u
flow=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
cat >"$tmp/spill.flow" <<'FLOW'
import tensor
task make(i: int) -> tensor { return tensor.ones([1024, 1024]) * i }
task total(t: tensor) -> float { return tensor.sum(t) }
let ts = [make(i) for i in range(128)]
print(sum(get([total(t) for t in ts])))
FLOW
for ex in --serial "--cpus 2"; do
	# shellcheck disable=SC2086
	# --no-cache: the results are not the point here, and the run leaves
	# nothing in $tmp (docs/cache.md: a run writes .flow/cache beside FILE)
	"$flow" run $ex --no-cache --stats --object-store-memory 64MiB --spill-dir "$tmp" "$tmp/spill.flow" \
		>"$tmp/out" 2>"$tmp/err"
	rc=$?
	# sum of i * 2^20 for i < 128
	if [ $rc = 0 ] && [ "$(cat "$tmp/out")" = "8522825728.0" ] &&
		grep -qE 'object store: peak [0-9.]+ MiB in memory \(cap 64\.0 MiB\); spilled [1-9][0-9]* objects, [1-9][0-9.]* MiB; restored [1-9][0-9]* objects, [1-9][0-9.]* MiB \([0-9]+ read ahead\)' "$tmp/err"; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "FAIL: flow run $ex --object-store-memory 64MiB: status $rc, stdout $(cat "$tmp/out")"
		sed 's/^/  /' "$tmp/err" | tail -5
	fi
	# the private spill directory is gone at exit
	if [ -z "$(ls -A "$tmp" | grep -v -e '^spill.flow$' -e '^out$' -e '^err$')" ]; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "FAIL: a spill directory was left behind: $(ls "$tmp")"
	fi
done
: >"$tmp/file"
"$flow" run --no-cache --spill-dir "$tmp/file/sub" "$tmp/spill.flow" >/dev/null 2>"$tmp/err"
rc=$?
if [ $rc = 1 ] && grep -q "object store: .*$tmp/file/sub" "$tmp/err"; then
	pass=$((pass + 1))
else
	fail=$((fail + 1))
	echo "FAIL: an unwritable spill dir: status $rc"; cat "$tmp/err"
fi
echo "spill: $pass passed, $fail failed"
[ "$fail" = 0 ]

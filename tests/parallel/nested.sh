#!/usr/bin/env bash
# nested.sh - nested task calls under the parallel executor (the cases in
# tests/parallel/nested/): deep recursion blocked in get finishes on one
# CPU; a caller that holds no CPU gets its calls run elsewhere; sleeping
# nested calls spread over threads (seen in the trace); wait() returns the
# call that ends first and honours its timeout; a nested call that can
# never fit fails clearly; a caller blocked on a nested call still times
# out; tasks holding one actor's handle run at the same time; the driver
# signals tasks that poll an actor (also under --serial). Every run
# has a time limit: a deadlock fails the test, not CI.
#
#   tests/parallel/nested.sh FLOW
set -u
flow=$1
here=$(cd "$(dirname "$0")/nested" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0

ok() { pass=$((pass + 1)); }
bad() {
	echo "FAIL nested: $1"
	sed 's/^/  stderr: /' "$tmp/err" | head -n 10
	fail=$((fail + 1))
}
run() { # args...: runs flow with a time limit; $tmp/out, $tmp/err, $rc
	timeout 60 "$flow" run "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
}

for cpus in 1 2; do
	run --cpus "$cpus" --stats "$here/deep.flow"
	if [ $rc = 0 ] && [ "$(cat "$tmp/out")" = 523776 ] && grep -q '^  nested tasks *2046$' "$tmp/err"; then
		ok
	else
		bad "deep recursion with --cpus $cpus: exit $rc, output '$(cat "$tmp/out")'"
	fi
done

run --cpus 1 "$here/zero_cpu.flow"
if [ $rc = 0 ] && [ "$(cat "$tmp/out")" = 2470 ]; then ok; else bad "@cpus(0) caller: exit $rc"; fi

run --cpus 2 --trace "$tmp/trace.json" "$here/spread.flow"
# lanes (tids) of the nested calls in the trace
lanes=$(grep -o '"cat":"nested task","ph":"X","ts":[0-9.]*,"dur":[0-9.]*,"pid":1,"tid":[0-9]*' "$tmp/trace.json" |
	sed 's/.*"tid"://' | sort -u | wc -l)
naps=$(grep -c '"name":"nap","cat":"nested task"' "$tmp/trace.json")
if [ $rc = 0 ] && [ "$(cat "$tmp/out")" = 6 ] && [ "$naps" = 4 ] && [ "$lanes" -ge 2 ]; then
	ok
else
	bad "spread: exit $rc, $naps nested events on $lanes lanes"
fi

# tasks sharing an actor's handle are not chained: at --cpus 4 the four
# run at once (each one's span overlaps every other's in the trace)
run --cpus 4 --trace "$tmp/shared.json" "$here/shared_handle.flow"
overlap=$(python3 -c 'import json,sys
t = json.load(open(sys.argv[1]))
ev = t["traceEvents"] if isinstance(t, dict) else t
w = [e for e in ev if e.get("name") == "work" and e.get("ph") == "X"]
print(len(w) == 4 and max(e["ts"] for e in w) < min(e["ts"] + e["dur"] for e in w))' "$tmp/shared.json" 2>/dev/null)
if [ $rc = 0 ] && [ "$(cat "$tmp/out")" = "6 40" ] && [ "$overlap" = True ]; then
	ok
else
	bad "tasks sharing a handle: exit $rc, output '$(cat "$tmp/out")', all four at once: $overlap"
fi

# the driver signals tasks that poll an actor (they would hang if the
# driver's call waited for them; --serial defers them until their result
# is needed, from the source and from a plan)
"$flow" compile -o "$tmp/signal.plan" "$here/signal.flow" 2>"$tmp/err" || bad "signal: no plan"
for how in "--serial" "--cpus 1" "--cpus 4" "--serial $tmp/signal.plan"; do
	src=$here/signal.flow
	case $how in *.plan) src= ;; esac
	# shellcheck disable=SC2086 # $how is two words on purpose
	run $how $src
	if [ $rc = 0 ] && [ "$(tr '\n' '|' <"$tmp/out")" = 'ready...|set..|["go 0!", "go 1!", "go 2!", "go 3!"]|' ]; then
		ok
	else
		bad "tasks polling a signal the driver sets, $how: exit $rc, output '$(cat "$tmp/out")'"
	fi
done

run --cpus 2 "$here/wait_any.flow"
if [ $rc = 0 ] && [ "$(cat "$tmp/out")" = "$(printf '[[0.01], 1]\n[0, 1]')" ]; then
	ok
else
	bad "wait: exit $rc, output '$(cat "$tmp/out")'"
fi

run --cpus 2 "$here/never_fits.flow"
if [ $rc = 1 ] && grep -q "never_fits.flow:4:46: error: task 'train' needs 1 of resource 'gpu' (@resources) but this node offers 0 (--resources gpu=N), so it can never run" "$tmp/err" &&
	grep -q '^flow: 1 task failed, 1 driver error, 1 skipped$' "$tmp/err"; then
	ok
else
	bad "never fits: exit $rc"
fi

run --cpus 1 "$here/timeout_waiting.flow"
if [ $rc = 1 ] && grep -q "task 'impatient' timed out after 0.2 s (@timeout)" "$tmp/err"; then
	ok
else
	bad "timeout while waiting: exit $rc"
fi

echo "nested: $pass passed, $fail failed"
[ $fail = 0 ]

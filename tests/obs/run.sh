#!/usr/bin/env bash
# run.sh - watching a run through the `flow` command: --trace (valid JSON,
# checked with python3 -m json.tool when there is one; one "X" event per
# node), --dot-out (colours), --stats (the block), unwritable outputs (a
# clear error naming the file, exit 1), and no progress line when stderr
# is not a terminal. Both executors. Usage: run.sh FLOW
set -u
flow=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0

check() { # check DESCRIPTION COMMAND...: the command succeeds
	local what=$1
	shift
	if "$@"; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "FAIL: $what"
	fi
}

cat >"$tmp/p.flow" <<'FLOW'
task sq(x: int) -> int { return x * x }
@retries(1)
task boom(x: int) -> int { return x / 0 }
task add(a: int, b: int) -> int { return a + b }
let xs = [sq(i) for i in range(4)]
let b = boom(1)
let c = add(xs[0], b)
print(get(add(xs[1], xs[2])))
FLOW

json_ok() {
	if command -v python3 >/dev/null 2>&1; then
		python3 -m json.tool "$1" >/dev/null
	else
		grep -q '^{"traceEvents":\[' "$1"
	fi
}

for mode in "" "--serial" "--cpus 3"; do
	rm -f "$tmp"/t.json "$tmp"/o.dot
	# shellcheck disable=SC2086
	"$flow" run $mode --trace "$tmp/t.json" --dot-out "$tmp/o.dot" --stats "$tmp/p.flow" \
		>"$tmp/out" 2>"$tmp/err"
	st=$?
	check "[$mode] exit status 1 (boom fails), got $st" test "$st" = 1
	check "[$mode] driver output" grep -qx 5 "$tmp/out"
	check "[$mode] trace is valid JSON" json_ok "$tmp/t.json"
	nodes=$(grep -c '"ph":"X"' "$tmp/t.json")
	check "[$mode] 9 X events, got $nodes" test "$nodes" = 9
	check "[$mode] trace: failed boom" grep -q '"name":"boom","cat":"task".*"outcome":"failed"' "$tmp/t.json"
	check "[$mode] trace: call site" grep -q '"call site":"[^"]*p.flow:6:9"' "$tmp/t.json"
	check "[$mode] dot: failed red" grep -q 'label="boom.*fillcolor="#fb6a4a"' "$tmp/o.dot"
	check "[$mode] dot: skipped grey" grep -q 'label="add.*skipped".*fillcolor="#d9d9d9"' "$tmp/o.dot"
	check "[$mode] dot: done green" grep -q 'label="sq.*total .*fillcolor="#c7e9c0"' "$tmp/o.dot"
	check "[$mode] stats block" grep -q '^flow: run stats$' "$tmp/err"
	check "[$mode] stats: tasks run" grep -qE '^  tasks run +6$' "$tmp/err"
	check "[$mode] stats: retries" grep -qE '^  retries +1$' "$tmp/err"
	check "[$mode] stats: failed" grep -qE '^  failed +1$' "$tmp/err"
	check "[$mode] stats: skipped" grep -qE '^  skipped +1$' "$tmp/err"
	check "[$mode] stats: phases" grep -qE '^  (load/compile|lower|run) +[0-9.]+ ms$' "$tmp/err"
	check "[$mode] stats: peak RSS" grep -qE '^  peak RSS +[0-9.]+ MiB$' "$tmp/err"
	check "[$mode] no store text" bash -c "! grep -qi 'not built' '$tmp/err'"
	check "[$mode] no progress line off a terminal" bash -c "! grep -q $'\r' '$tmp/err'"
done

# the staged driver's run-time calls: in the trace ("driver call") and in
# the drawing (dashed, from the "driver continues" node), both executors
cat >"$tmp/s.flow" <<'FLOW'
task sq(x: int) -> int { return x * x }
let a = sq(3)
if get(a) > 5 {
    for i in range(3) { print(get(sq(i + get(a)))) }
    print(get(sq(1)))
}
FLOW
for mode in "--serial" "--cpus 2"; do
	rm -f "$tmp"/s.json "$tmp"/s.dot
	# shellcheck disable=SC2086
	"$flow" run $mode --trace "$tmp/s.json" --dot-out "$tmp/s.dot" "$tmp/s.flow" >"$tmp/out" 2>"$tmp/err"
	check "[$mode] staged: runs" grep -qx 1 "$tmp/out"
	check "[$mode] staged: trace is valid JSON" json_ok "$tmp/s.json"
	calls=$(grep -c '"cat":"driver call"' "$tmp/s.json")
	check "[$mode] staged: 4 driver calls in the trace, got $calls" test "$calls" = 4
	check "[$mode] staged: call site" grep -q '"name":"sq","cat":"driver call".*"call site":"[^"]*s.flow:5:15"' "$tmp/s.json"
	check "[$mode] staged: dot, the loop's calls" grep -qE 'label="sq [^0-9 ]+3\\n[^"]*s\.flow:4\\nat run time' "$tmp/s.dot"
	check "[$mode] staged: dot, edges from the driver" test "$(grep -c -- '-> r[0-9]* \[style=dashed\]' "$tmp/s.dot")" = 2
	if command -v dot >/dev/null 2>&1; then
		check "[$mode] staged: dot reads it" dot -Tsvg -o /dev/null "$tmp/s.dot"
	fi
done

# a stream's producer: one "stream" event from its first step to its end
cat >"$tmp/g.flow" <<'FLOW'
task gen(n: int) {
    for i in range(n) { yield i }
}
for x in gen(3) { print(x) }
FLOW
for mode in "--serial" "--cpus 2"; do
	rm -f "$tmp"/g.json "$tmp"/g.dot
	# shellcheck disable=SC2086
	"$flow" run $mode --trace "$tmp/g.json" --dot-out "$tmp/g.dot" "$tmp/g.flow" >"$tmp/out" 2>"$tmp/err"
	check "[$mode] stream: runs" test "$(tr '\n' ' ' <"$tmp/out")" = "0 1 2 "
	check "[$mode] stream: trace is valid JSON" json_ok "$tmp/g.json"
	check "[$mode] stream: one event" test "$(grep -c '"name":"gen","cat":"stream"' "$tmp/g.json")" = 1
	check "[$mode] stream: dot" grep -q 'label="gen\\n[^"]*g.flow:4\\nat run time' "$tmp/g.dot"
done

# a plan runs watched too
"$flow" compile -o "$tmp/p.plan" "$tmp/p.flow" >/dev/null 2>&1
"$flow" run --trace "$tmp/pt.json" "$tmp/p.plan" >/dev/null 2>&1
check "plan: trace written" json_ok "$tmp/pt.json"

# outputs that cannot be written: exit 1, the file named, nothing run
out=$("$flow" run --trace "$tmp/no/such/t.json" "$tmp/p.flow" 2>&1)
st=$?
check "unwritable --trace: status 1, got $st" test "$st" = 1
check "unwritable --trace: message" grep -q "cannot write --trace file '$tmp/no/such/t.json'" <<<"$out"
check "unwritable --trace: nothing ran" bash -c "! grep -qx 5 <<<'$out'"
out=$("$flow" run --dot-out /dev/full "$tmp/p.flow" 2>&1)
st=$?
check "full --dot-out: status 1, got $st" test "$st" = 1
check "full --dot-out: message" grep -q "cannot write --dot-out file '/dev/full'" <<<"$out"
check "--stats is silent without the option" bash -c "! '$flow' run '$tmp/p.flow' 2>&1 | grep -q 'run stats'"

echo "obs: $pass passed, $fail failed"
[ "$fail" = 0 ]

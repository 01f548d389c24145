#!/usr/bin/env bash
# run.sh - the `flow` command's contract: help texts and exit statuses
# (0 success, 1 an error in the program or its data, 2 bad usage).
set -u
flow=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0

# expect STATUS PATTERN CMD...: exit status STATUS, and PATTERN (an ERE)
# somewhere in stdout+stderr.
expect() {
	local want=$1 pat=$2
	shift 2
	local out
	out=$("$@" 2>&1 </dev/null)
	local got=$?
	if [ "$got" = "$want" ] && grep -qE -- "$pat" <<<"$out"; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "FAIL: flow ${*:2}: status $got (want $want), output:"
		sed 's/^/  /' <<<"$out" | head -n 8
		echo "  (wanted /$pat/)"
	fi
}

printf 'print(1 + 2)\n' >"$tmp/ok.flow"
printf 'print(sqaure(2))\ntask square(x) { return x * x }\n' >"$tmp/bad.flow"
printf 'param n: int = 1\nprint(n)\n' >"$tmp/param.flow"

expect 0 'usage: flow COMMAND' "$flow" --help
expect 2 'usage: flow COMMAND' "$flow"
expect 2 "unknown command 'bogus'" "$flow" bogus
for c in check compile run; do
	expect 0 "usage: flow $c" "$flow" $c --help
	expect 2 "expects exactly one FILE" "$flow" $c
done
expect 0 '^3$' "$flow" run "$tmp/ok.flow"
expect 0 '^3$' "$flow" run "$tmp/ok.flow" --seed 7
expect 2 "seed expects" "$flow" run --seed x "$tmp/ok.flow"
expect 2 "name=value" "$flow" run -p oops "$tmp/param.flow"
expect 0 '^5$' "$flow" run "$tmp/param.flow" -p n=5
expect 1 "param 'n' expects int" "$flow" run -p n=abc "$tmp/param.flow"
expect 1 "unknown param 'm'" "$flow" check -p m=1 "$tmp/param.flow"
expect 1 "cannot read" "$flow" check "$tmp/missing.flow"
expect 1 "did you mean 'square'" "$flow" check "$tmp/bad.flow"
expect 0 "" "$flow" check "$tmp/ok.flow"
expect 0 "RETURN" "$flow" compile --dump-bytecode "$tmp/ok.flow"

echo "cli: $pass passed, $fail failed"
[ "$fail" = 0 ]

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
	out=$("$@" 2>&1 <"${expect_stdin:-/dev/null}")
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

# ok DESCRIPTION COMMAND...: the command succeeds
ok() {
	local what=$1
	shift
	"$@" && pass=$((pass + 1)) && return
	fail=$((fail + 1))
	echo "FAIL: $what"
}

printf 'print(1 + 2)\n' >"$tmp/ok.flow"
printf 'print(sqaure(2))\ntask square(x) { return x * x }\n' >"$tmp/bad.flow"
printf 'param n: int = 1\nprint(n)\n' >"$tmp/param.flow"

expect 0 'usage: flow COMMAND' "$flow" --help
expect 2 'usage: flow COMMAND' "$flow"
expect 2 "unknown command 'bogus'" "$flow" bogus
for c in check compile dot run; do
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
# list and dict params take a Flow literal; --params-file a JSON object
printf 'param files: list = []\nparam opts: dict = {}\nparam n: int = 1\nparam anyl = [0]\nprint(files, opts, n, anyl)\n' >"$tmp/pl.flow"
expect 0 '^\["a.txt", "b.txt"\] \{"k": \[1, -2.5, true, none\]\} 1 \[0\]$' \
	"$flow" run -p 'files=["a.txt","b.txt"]' -p 'opts={"k": [1, -2.5, true, none]}' "$tmp/pl.flow"
expect 0 '^\[\] \{\} 1 \[3, 4\]$' "$flow" run -p 'anyl=[3, 4]' "$tmp/pl.flow"
expect 1 "param 'files' expects list, got '\{\"a\": 1\}'" "$flow" run -p 'files={"a": 1}' "$tmp/pl.flow"
expect 1 "param 'opts' expects dict, got '\[1\]'" "$flow" run -p 'opts=[1]' "$tmp/pl.flow"
expect 1 "-p files:1:15: note: this '\[' is not closed" "$flow" run -p 'files=[1,' "$tmp/pl.flow"
expect 1 "param 'files' expects a literal" "$flow" run -p 'files=[len("x")]' "$tmp/pl.flow"
expect 1 "param 'files' expects a literal" "$flow" run -p 'files=a.txt' "$tmp/pl.flow"
printf '{"files": ["a.txt", "b\\"q.txt", "\\u00e9"], "opts": {"k": [1, 2.5, null, false]}, "n": 7}\n' >"$tmp/p.json"
expect 0 '^\["a.txt", "b\\"q.txt", "é"\] \{"k": \[1, 2.5, none, false\]\} 7 \[0\]$' \
	"$flow" run --params-file "$tmp/p.json" "$tmp/pl.flow"
expect 0 ' 9 \[0\]$' "$flow" run -p n=9 --params-file "$tmp/p.json" "$tmp/pl.flow"
expect 0 "" "$flow" check --params-file "$tmp/p.json" "$tmp/pl.flow"
printf '{"n": "abc"}' >"$tmp/b1.json"
expect 1 "param 'n' expects int, got 'abc'" "$flow" run --params-file "$tmp/b1.json" "$tmp/pl.flow"
printf '{"files": 5}' >"$tmp/b2.json"
expect 1 "param 'files' expects list, got '5'" "$flow" run --params-file "$tmp/b2.json" "$tmp/pl.flow"
printf '{"n": [1]}' >"$tmp/b3.json"
expect 1 "param 'n' expects int, got '\[1\]'" "$flow" compile --params-file "$tmp/b3.json" "$tmp/pl.flow"
printf '{"m": 1}' >"$tmp/b4.json"
expect 1 "unknown param 'm'" "$flow" run --params-file "$tmp/b4.json" "$tmp/pl.flow"
printf '{"files": [1,' >"$tmp/b5.json"
expect 2 "is not valid JSON: line 1, column" "$flow" run --params-file "$tmp/b5.json" "$tmp/pl.flow"
printf '[1, 2]' >"$tmp/b6.json"
expect 2 "must hold one JSON object" "$flow" run --params-file "$tmp/b6.json" "$tmp/pl.flow"
printf '{"n": 1, "n": 2}' >"$tmp/b7.json"
expect 2 "duplicate object key" "$flow" run --params-file "$tmp/b7.json" "$tmp/pl.flow"
expect 2 "params-file '.*missing.json': unable to open" "$flow" run --params-file "$tmp/missing.json" "$tmp/pl.flow"
expect 1 "cannot read" "$flow" check "$tmp/missing.flow"
expect 1 "did you mean 'square'" "$flow" check "$tmp/bad.flow"
expect 0 "" "$flow" check "$tmp/ok.flow"
expect 0 "RETURN" "$flow" compile --dump-bytecode "$tmp/ok.flow"

expect 2 "cpus" "$flow" run --cpus 0 "$tmp/ok.flow"

# flow dot: options, rendering
printf 'task sq(x: int) -> int { return x * x }\nprint(get([sq(i) for i in range(100)]))\n' >"$tmp/fan.flow"
expect 0 '×100' "$flow" dot "$tmp/fan.flow"
expect 0 'n99 ' "$flow" dot --full "$tmp/fan.flow"
expect 0 'rankdir=LR' "$flow" dot --rankdir LR "$tmp/fan.flow"
expect 2 "rankdir expects" "$flow" dot --rankdir XX "$tmp/fan.flow"
expect 2 "-T expects" "$flow" dot -T gif -o "$tmp/x.gif" "$tmp/fan.flow"
expect 2 "needs -o" "$flow" dot -T svg "$tmp/fan.flow"
expect 0 "" "$flow" dot -T svg -o "$tmp/fan.svg" "$tmp/fan.flow"
expect 0 "<svg" cat "$tmp/fan.svg"
expect 1 "cannot write" "$flow" dot -o "$tmp/no/such/dir.dot" "$tmp/fan.flow"
# the format from -o's extension; an unknown one, or one -T contradicts, refused
expect 0 "" "$flow" dot -o "$tmp/fan.png" "$tmp/fan.flow"
ok "dot -o x.png writes a PNG" bash -c "head -c 8 '$tmp/fan.png' | grep -qa PNG"
expect 0 "" "$flow" dot -o "$tmp/fan.gv" "$tmp/fan.flow"
expect 0 "^digraph flow" cat "$tmp/fan.gv"
expect 2 "cannot tell the picture's format from its extension" "$flow" dot -o "$tmp/fan.jpg" "$tmp/fan.flow"
expect 2 "-T svg does not match -o .*fan.png" "$flow" dot -T svg -o "$tmp/fan.png" "$tmp/fan.flow"
# a picture Graphviz cannot draw readably: refused before Graphviz runs,
# saying what to do; nothing left behind
printf 'task sq(x: int) -> int { return x * x }\nprint(get([sq(i) for i in range(1200)]))\n' >"$tmp/big.flow"
expect 1 "1202 nodes, more than Graphviz can draw readably.*without --full it has 3" \
	"$flow" dot --full -o "$tmp/big.svg" "$tmp/big.flow"
ok "no picture left" test ! -e "$tmp/big.svg"
expect 0 "" "$flow" dot -o "$tmp/big.svg" "$tmp/big.flow"
# 900 calls side by side: too wide for a PNG (Graphviz would scale it to a blank strip)
printf 'task sq(x: int) -> int { return x * x }\nprint(get([sq(i) for i in range(900)]))\n' >"$tmp/wide.flow"
expect 1 "more than a PNG can hold" "$flow" dot --full -o "$tmp/wide.png" "$tmp/wide.flow"
ok "no blank PNG left" test ! -e "$tmp/wide.png"
# flow run --dot-out: the same formats, --full
expect 0 "" "$flow" run -q --dot-out "$tmp/run.svg" "$tmp/fan.flow"
expect 0 "<svg" cat "$tmp/run.svg"
expect 0 "" "$flow" run -q --full --dot-out "$tmp/run.dot" "$tmp/fan.flow"
expect 0 "n99 " cat "$tmp/run.dot"
expect 2 "cannot tell the picture's format" "$flow" run --dot-out "$tmp/run.jpeg" "$tmp/fan.flow"
expect 2 "--full .* goes with --dot-out" "$flow" run --full "$tmp/fan.flow"
expect 1 "more than Graphviz can draw readably.*drop --full" \
	"$flow" run -q --full --dot-out "$tmp/big.png" "$tmp/big.flow"
ok "run: no picture left" test ! -e "$tmp/big.png"
"$flow" compile -o "$tmp/fan.plan" "$tmp/fan.flow"
expect 0 '×100' "$flow" dot "$tmp/fan.plan"
# a plan whose source changed since: a warning, and the plan as compiled
cp "$tmp/ok.flow" "$tmp/st.flow"
"$flow" compile -o "$tmp/st.plan" "$tmp/st.flow"
printf 'print(4)\n' >"$tmp/st.flow"
expect 0 "st.flow' has changed since" "$flow" run "$tmp/st.plan"
expect 0 '^3$' "$flow" run "$tmp/st.plan"

# flow compile --stats/--explain: a fold of 4096 task results is rewritten
# into 12 levels of calls above its leaves (depth 13 in nodes); as written
# it is a chain of 4095 calls
cat >"$tmp/fold.flow" <<'FLOW'
@associative
task add(a: int, b: int) -> int { return a + b }
task leaf(i: int) -> int { return i }
let acc = leaf(0)
for i in range(1, 4096) {
    acc = add(acc, leaf(i))
}
FLOW
expect 0 '"nodes": 8191, "edges": 8190, "depth": 13, .*"rewrites": 1' "$flow" compile --stats "$tmp/fold.flow"
expect 0 '"depth": 4096, .*"rewrites": 0' "$flow" compile --stats --no-rewrite "$tmp/fold.flow"
expect 0 'fold.flow:6:11: rewrite: 4095 calls of .add. rebalanced into a tree: depth 4095 -> 12' \
	"$flow" compile --explain "$tmp/fold.flow"
expect 0 '^no rewrites$' "$flow" compile --explain "$tmp/ok.flow"
# seed 002: the slow loop and the queue loop compile to the same depth
for kind in slow fast; do
	{
		printf '@associative\ntask add(a: int, b: int) -> int { return a + b }\n'
		printf 'let v = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]\nwhile len(v) > 1 {\n'
		if [ $kind = slow ]; then
			printf '    v = [add(v[0], v[1])] + v[2:]\n}\n'
		else
			printf '    v = v[2:] + [add(v[0], v[1])]\n}\n'
		fi
		printf 'print(get(v[0]))\n'
	} >"$tmp/$kind.flow"
done
fast_depth=$("$flow" compile --stats "$tmp/fast.flow" | sed -E 's/.*"depth": ([0-9]+).*/\1/')
expect 0 "\"depth\": $fast_depth, " "$flow" compile --stats "$tmp/slow.flow"
expect 0 '^91$' "$flow" run "$tmp/slow.flow"
expect 0 '^91$' "$flow" run "$tmp/fast.flow"

# the object store's pipeline and spill directory: tests/parallel/spill.sh
expect 2 "object-store-memory expects" "$flow" run --object-store-memory 12XB "$tmp/ok.flow"

# resources: a task that can never fit is an error before anything runs
cat >"$tmp/res.flow" <<'FLOW'
@resources(gpu=1)
task train(i: int) -> int { return i * 2 }
@cpus(0.5)
task half(i: int) -> int { return i }
@cpus(0)
task idle(i: int) -> int { return i }
print("start")
print(get([train(i) for i in range(4)]), get([half(i) for i in range(6)]), get([idle(i) for i in range(3)]))
FLOW
expect 1 "task 'train' needs 1 of resource 'gpu' .* so it can never run" "$flow" run "$tmp/res.flow"
if [ -z "$("$flow" run "$tmp/res.flow" 2>/dev/null)" ]; then # nothing ran: no "start"
	pass=$((pass + 1))
else
	fail=$((fail + 1))
	echo "FAIL: flow run res.flow printed something before refusing to run"
fi
expect 0 '^\[0, 2, 4, 6\] \[0, 1, 2, 3, 4, 5\] \[0, 1, 2\]$' "$flow" run --resources gpu=2 "$tmp/res.flow"
expect 0 '^\[0, 2, 4, 6\]' "$flow" run --resources gpu=1,disk=3 --cpus 1 "$tmp/res.flow"
printf '@cpus(4)\ntask big() -> int { return 1 }\nprint(get(big()))\n' >"$tmp/big.flow"
expect 1 "needs 4 CPUs .* has 2 \(--cpus\)" "$flow" run --cpus 2 "$tmp/big.flow"
expect 0 '^1$' "$flow" run --cpus 4 "$tmp/big.flow"
expect 2 "resources expects" "$flow" run --resources gpu=-1 "$tmp/res.flow"

# actors hold their @cpus/@resources for the whole run: what they take is
# gone for the tasks, and more than the node has is an error at start
cat >"$tmp/actor_res.flow" <<'FLOW'
@resources(gpu=1)
actor Model {
    fn init() { self.calls = 0 }
    fn infer(x: int) -> int {
        self.calls += 1
        return x + self.calls
    }
}
@resources(gpu=1)
task train(i: int) -> int { return i }
@cpus(1)
actor Pinned {
    fn init() { self.n = 0 }
    fn bump() -> int {
        self.n += 1
        return self.n
    }
}
task work(i: int) -> int { return i * i }
let m = Model()
let p = Pinned()
print(get(m.infer(1)), get(p.bump()), get([work(i) for i in range(4)]))
print(get(train(1)))
FLOW
expect 1 "actor_res.flow:23:11: error: task 'train' needs 1 of resource 'gpu' \(@resources\) but this node offers 1 \(--resources gpu=N\) and its actors hold 1 of it for the whole run, so it can never run" \
	"$flow" run --cpus 2 --resources gpu=1 "$tmp/actor_res.flow"
expect 0 '^2 1 \[0, 1, 4, 9\]$' "$flow" run --cpus 2 --resources gpu=2 "$tmp/actor_res.flow"
expect 1 "error: actor 'Model' needs 1 of resource 'gpu' \(@resources\) but this node offers 0 \(--resources gpu=N\), so it can never be created" \
	"$flow" run --cpus 2 "$tmp/actor_res.flow"
expect 1 "error: task 'work' needs 1 CPUs \(@cpus\) but this node has 1 \(--cpus\) and its actors hold 1 of them for the whole run, so it can never run" \
	"$flow" run --cpus 1 --resources gpu=2 "$tmp/actor_res.flow"

# the staged driver (LANGUAGE.md section 6): a note from check and
# --explain, the node in dot, --static's error, a plan that carries it
printf 'task f(x: int) -> int { return x }\nlet a = f(1)\nif get(a) > 0 {\n    print("yes")\n}\n' >"$tmp/staged.flow"
expect 0 'staged.flow:3:4: note: the driver continues at run time from line 3: this condition depends on a run-time value' \
	"$flow" check "$tmp/staged.flow"
expect 0 'note: the driver continues at run time from line 3' "$flow" compile --explain "$tmp/staged.flow"
expect 0 'driver continues at line 3' "$flow" dot "$tmp/staged.flow"
expect 1 'staged.flow:3:4: error: this condition depends on a run-time value' "$flow" check --static "$tmp/staged.flow"
expect 1 'error: this condition depends' "$flow" compile --static "$tmp/staged.flow"
expect 1 'error: this condition depends' "$flow" run --static "$tmp/staged.flow"
expect 0 '^yes$' "$flow" run "$tmp/staged.flow"
"$flow" compile -o "$tmp/staged.plan" "$tmp/staged.flow"
expect 0 '^yes$' "$flow" run "$tmp/staged.plan"
expect 0 '^yes$' "$flow" run --serial "$tmp/staged.plan"
expect 1 'continues at run time \(--static\)' "$flow" run --static "$tmp/staged.plan"
for c in check compile run; do
	expect 0 '\[--static\]' "$flow" $c --help
done

# ---- issue 9: help, usage lines, bad options, stdin, --stats-json ----------

# expect_in INPUT STATUS PATTERN CMD...: as expect, with stdin from INPUT
expect_in() {
	local in=$1
	shift
	expect_stdin=$in expect "$@"
}

expect 0 '^  --version ' "$flow" --help
expect 0 'usage: flow COMMAND' "$flow" help
expect 2 "unknown command 'bogus'" "$flow" help bogus
# every command flow --help lists (a new one is checked without an edit here)
commands=$("$flow" --help | sed -n '/^commands:$/,/^$/p' | awk 'NF > 1 && $1 != "help" { print $1 }' | tr '\n' ' ')
ok "flow --help lists check compile dot run (got: $commands)" grep -q 'check compile dot run' <<<"$commands"
for c in $commands; do
	expect 0 "^usage: flow $c " "$flow" help $c
	ok "flow help $c is flow $c --help" cmp -s <("$flow" help $c) <("$flow" $c --help)
	# every option the help lists (but --help) is in the usage line, in
	# its short form when it has one
	"$flow" $c --help >"$tmp/help"
	sed -n '1,/^$/p' "$tmp/help" >"$tmp/usage"
	n=0
	while read -r first second _; do
		case $first in
		-h, | --help) continue ;;
		-?,) form=${first%,} ;;
		--*) form=$first ;;
		*) continue ;;
		esac
		n=$((n + 1))
		ok "flow $c: usage line lists $form ($first $second)" grep -qE -- "\[$form[] ]" "$tmp/usage"
	done < <(grep -E '^  -' "$tmp/help")
	ok "flow $c --help lists options (found $n)" test "$n" -ge 1
	# a bad option: one message and a hint, exit 2
	"$flow" $c --no-such-option 10.0.0.1 "$tmp/ok.flow" >"$tmp/out" 2>"$tmp/err"
	st=$?
	ok "flow $c --no-such-option: exit 2, got $st" test "$st" = 2
	ok "flow $c --no-such-option: one message" diff <(printf "flow %s: unrecognized option '--no-such-option'\nTry 'flow %s --help'.\n" $c $c) "$tmp/err"
	ok "flow $c --no-such-option: nothing on stdout" test ! -s "$tmp/out"
done
expect 0 '^ +\[.*\[--resources name=amount\[,\.\.\.\]\]' "$flow" run --help
expect 2 "^flow run: option '--cpus' needs an argument$" "$flow" run "$tmp/ok.flow" --cpus
expect 2 "^flow run: option '--serial' takes no argument$" "$flow" run --serial=1 "$tmp/ok.flow"
expect 2 "^flow dot: unrecognized option '-x'$" "$flow" dot -x "$tmp/ok.flow"

# '-': the program (or a plan) on stdin, named <stdin> in diagnostics
expect_in "$tmp/ok.flow" 0 '^3$' "$flow" run -
expect_in "$tmp/ok.flow" 0 '^3$' "$flow" run --serial -
expect_in "$tmp/param.flow" 0 '^7$' "$flow" run -p n=7 -
expect_in "$tmp/ok.flow" 0 '' "$flow" check -
expect_in "$tmp/bad.flow" 1 "^<stdin>:1:7: error: .*did you mean 'square'" "$flow" check -
expect_in "$tmp/fan.flow" 0 '"tasks": 100' "$flow" compile --stats -
expect_in "$tmp/fan.flow" 0 '×100' "$flow" dot -
expect_in "$tmp/fan.plan" 0 '×100' "$flow" dot -
expect_in "$tmp/st.plan" 0 '^3$' "$flow" run -
expect_in "$tmp/fan.flow" 0 '' "$flow" compile -o "$tmp/stdin.plan" -
expect 0 '×100' "$flow" dot "$tmp/stdin.plan"

# --stats-json: one JSON object; compile's is the "dag" part of run's
# json_has FILE PYTHON-EXPRESSION: j (the object) makes it true
json_has() {
	python3 -c 'import json, sys
j = json.load(open(sys.argv[1]))
sys.exit(0 if eval(sys.argv[2]) else 1)' "$1" "$2"
}
if command -v python3 >/dev/null 2>&1; then
	cat >"$tmp/js.flow" <<'FLOW'
task sq(x: int) -> int { return x * x }
task boom(x: int) -> int { return x / 0 }
task add(a: int, b: int) -> int { return a + b }
let xs = [sq(i) for i in range(4)]
let c = add(xs[0], boom(1))
print(get(add(xs[1], xs[2])))
FLOW
	for mode in "--serial" "--cpus 2"; do
		rm -f "$tmp/run.json"
		# shellcheck disable=SC2086
		"$flow" run $mode --stats-json "$tmp/run.json" "$tmp/js.flow" >"$tmp/out" 2>/dev/null
		st=$?
		ok "[$mode] --stats-json: exit 1 (boom fails), got $st" test "$st" = 1
		ok "[$mode] --stats-json: program output" grep -qx 5 "$tmp/out"
		ok "[$mode] --stats-json: header" json_has "$tmp/run.json" \
			'j["schema"] == 1 and j["command"] == "run" and j["status"] == 1'
		ok "[$mode] --stats-json: dag" json_has "$tmp/run.json" \
			'j["dag"]["tasks"] == 7 and j["dag"]["nodes"] == j["run"]["nodes"]'
		ok "[$mode] --stats-json: run counts" json_has "$tmp/run.json" \
			'(j["run"]["tasks"], j["run"]["tasks_run"], j["run"]["failed"], j["run"]["skipped"]) == (7, 6, 1, 1)'
		ok "[$mode] --stats-json: times" json_has "$tmp/run.json" \
			'all(j["run"]["time_ms"][k] >= 0 for k in ("load", "lower", "run", "wall")) and j["run"]["time_ms"]["wall"] >= j["run"]["time_ms"]["run"]'
		ok "[$mode] --stats-json: store" json_has "$tmp/run.json" \
			'j["store"]["memory_cap_bytes"] > 0 and j["store"]["spilled_objects"] == 0 and j["store"]["spilled_direct"] == 0'
	done
	ok "--serial: no nested count" json_has <("$flow" run --serial --stats-json - "$tmp/ok.flow" | tail -n 1) \
		'j["run"]["serial"] is True and j["run"]["nested_tasks"] is None and j["run"]["worker_threads"] == 0'
	ok "--cpus 3: worker threads" json_has <("$flow" run --cpus 3 --stats-json - "$tmp/ok.flow" | tail -n 1) \
		'j["run"]["serial"] is False and j["run"]["nested_tasks"] == 0 and j["run"]["worker_threads"] == 3'
	expect 0 '^3$' "$flow" run --stats-json - "$tmp/ok.flow" # the program's output first
	"$flow" compile --stats-json "$tmp/c.json" "$tmp/fold.flow"
	ok "compile --stats-json" json_has "$tmp/c.json" \
		'j["schema"] == 1 and j["command"] == "compile" and (j["dag"]["nodes"], j["dag"]["depth"], j["dag"]["rewrites"]) == (8191, 13, 1)'
	ok "compile --stats-json's dag is --stats" json_has "$tmp/c.json" \
		"j['dag'] == $("$flow" compile --stats "$tmp/fold.flow")"
	ok "compile --stats-json -" json_has <("$flow" compile --stats-json - "$tmp/fan.flow") \
		'j["dag"]["tasks"] == 100'
else
	echo "cli: no python3: --stats-json's contents not checked"
fi
expect 1 "cannot write --stats-json file '$tmp/no/such/s.json'" "$flow" run --stats-json "$tmp/no/such/s.json" "$tmp/ok.flow"
expect 1 "cannot write --stats-json file" "$flow" compile --stats-json "$tmp/no/such/s.json" "$tmp/ok.flow"
rm -f "$tmp/none.json"
"$flow" run --stats-json "$tmp/none.json" "$tmp/bad.flow" 2>/dev/null
ok "--stats-json: no file when the program does not compile" test ! -e "$tmp/none.json"

echo "cli: $pass passed, $fail failed"
[ "$fail" = 0 ]

#!/usr/bin/env bash
# progress.sh - the progress line on a terminal (through a pseudo-terminal
# made by script(1)): it counts task calls (DAG calls and nested calls),
# shows percent and an ETA, ends with a one-line summary, and a task's
# print is never glued to its text. Exit 77 (skipped) without script.
set -u
flow=$1
command -v script >/dev/null || { echo "progress: no script(1): skipped"; exit 77; }
command -v perl >/dev/null || { echo "progress: no perl: skipped"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
ok() { # name cmd...
	local name=$1
	shift
	if "$@"; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "FAIL: $name"
	fi
}

# 40 DAG calls, each making 2 nested calls: 120 task calls in all (each
# busy for a few ms, so that the run lasts long enough to draw the line)
cat >"$tmp/p.flow" <<'FLOW'
task leaf(i: int) -> int {
	let s = 0
	for j in range(1500000) { s = s + j }
	return i
}
task work(i: int) -> int {
	let a = leaf(i)
	let b = leaf(i + 1)
	let s = 0
	for j in range(1500000) { s = s + j }
	print(f"work {i}")
	return get(a) + get(b)
}
print(sum(get([work(i) for i in range(40)])))
FLOW

for mode in "--cpus 2" "--serial"; do
	# script runs the command on a pseudo-terminal: stdout and stderr are
	# both the terminal, as for a user
	TERM=dumb timeout 60 script -qec "'$flow' run $mode '$tmp/p.flow'" /dev/null >"$tmp/tty" </dev/null
	ok "[$mode] exit 0" test $? = 0
	ok "[$mode] the driver's output" grep -qaE $'(^|\e\[K)1600\r?$' "$tmp/tty"
	ok "[$mode] percent and ETA" grep -qaE '\[[0-9]+/[0-9]+\] [0-9]+% running [0-9]+, failed 0, .* ETA ([0-9]+ s|\?)' "$tmp/tty"
	if [ "$mode" = "--serial" ]; then
		# nested calls run inline there: the 40 DAG calls
		ok "[$mode] summary counts the calls" grep -qaE $'(^|\e\\[K)flow: 40 tasks in [0-9.]+ s, 0 failed, [0-9]+ tasks/s' "$tmp/tty"
	else
		ok "[$mode] summary counts nested calls" grep -qaE $'(^|\e\\[K)flow: 120 tasks in [0-9.]+ s, 0 failed, [0-9]+ tasks/s' "$tmp/tty"
		ok "[$mode] the total counts tasks, not DAG nodes" grep -qaE '\[[0-9]+/(4[0-9]|[5-9][0-9]|1[01][0-9]|120)\]' "$tmp/tty"
	fi
	# every task print starts a line or follows the line's clearing
	# ("\r\e[K"; a drawn line ends "text\e[K", which does not count)
	ok "[$mode] 40 task prints" test "$(grep -ao 'work [0-9]*' "$tmp/tty" | wc -l)" = 40
	ok "[$mode] no print glued to the progress text" perl -0777 -ne \
		'my $n = () = /\((work)[^)]*\) work/g; my $c = () = /(?:^|(?<=\n)|(?<=\r\e\[K))\((work)[^)]*\) work/g;
		 exit($n == 40 && $c == 40 ? 0 : 1)' "$tmp/tty"
	ok "[$mode] the summary is the last word" perl -0777 -ne 'exit(/flow: \d+ tasks in [^\n]*\n\z/ ? 0 : 1)' \
		<(tr -d '\r' <"$tmp/tty")
done

# a driver that prints while tasks print: every driver line starts a
# line too (stdout is the same terminal; it clears the line first)
cat >"$tmp/d.flow" <<'FLOW'
task work(i: int) -> int {
	let s = 0
	for j in range(1500000) { s = s + j }
	print(f"work {i}")
	return i
}
let rs = [work(i) for i in range(30)]
for i in range(30) { print(f"driver {get(rs[i])}") }
FLOW
TERM=dumb timeout 60 script -qec "'$flow' run --cpus 2 '$tmp/d.flow'" /dev/null >"$tmp/dtty" </dev/null
ok "driver prints: exit 0" test $? = 0
ok "driver prints: each on a line of its own" perl -0777 -ne \
	'my $n = () = /driver \d+/g; my $c = () = /(?:^|(?<=\n)|(?<=\r\e\[K))driver \d+(?=\r?\n)/g;
	 exit($n == 30 && $c == 30 ? 0 : 1)' "$tmp/dtty"

# -q, or stderr not a terminal: no progress line, no summary
TERM=dumb timeout 60 script -qec "'$flow' run -q --cpus 2 '$tmp/p.flow'" /dev/null >"$tmp/q" </dev/null
ok "-q: no progress line" bash -c "! grep -qa 'ETA' '$tmp/q' && ! grep -qa '^flow: .* tasks in' '$tmp/q'"

echo "progress: $pass passed, $fail failed"
[ "$fail" = 0 ]

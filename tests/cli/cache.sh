#!/usr/bin/env bash
# cache.sh - flow run --resume and flow cache (docs/cache.md): each
# invalidation rule, counting the task calls that ran and the ones the
# cache answered through the --trace JSON (args.outcome "done"/"cached").
# Each case runs under --serial and with two threads (FLOW_CACHE_MODES).
set -u
flow=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0

ok() { # ok MESSAGE CMD...
	local msg=$1
	shift
	if "$@"; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "FAIL: $msg"
	fi
}

# n OUTCOME NAME: trace events of task NAME (DAG nodes and nested calls)
# with that outcome in $tmp/t.json
n() {
	grep -cE "\"name\":\"$2\",\"cat\":\"(task|nested task)\".*\"outcome\":\"$1\"" "$tmp/t.json"
}

# is WHAT EXPECTED ACTUAL
is() {
	if [ "$2" = "$3" ]; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "FAIL: $1: expected $2, got $3 ($mode)"
		[ -n "$mode" ] && [ -s "$tmp/err" ] && sed 's/^/  stderr: /' "$tmp/err" | head -5
	fi
}

# run ARGS...: flow run with a trace, in $tmp/w; stdout in $tmp/out
run() {
	(cd "$tmp/w" && "$flow" run $mode --trace "$tmp/t.json" "$@" >"$tmp/out" 2>"$tmp/err")
	echo $?
}

for mode in --serial "--cpus 2"; do
	rm -rf "$tmp/w"
	mkdir -p "$tmp/w"
	cd "$tmp/w" || exit 1

	# ---- a pipeline: a -> b -> c, d reads a param, t totals ----------------
	cat >p.flow <<'EOF'
param scale: int = 1
task a(i: int) -> int { return i + 1 }
task b(x: int) -> int { return x * 2 }
task c(x: int) -> int { return x + 100 }
task d(x: int) -> int { return x * scale }
task t(xs: list) -> int {
    let s = 0
    for x in xs { s = s + x }
    return s
}
let cs = []
for i in range(4) {
    cs.append(c(b(a(i))))
}
let ds = [d(i) for i in range(3)]
print(get(t(cs)), get(t(ds)))
EOF
	rm -rf .flow
	is "plain run: status" 0 "$(run p.flow)"
	[ ! -e .flow ]
	is "a run without --resume or --cache-dir neither reads nor writes the cache" 0 $?
	is "first run: status" 0 "$(run --resume p.flow)"
	is "first run: output" "420 3" "$(cat "$tmp/out")"
	is "first run: a ran" 4 "$(n done a)"
	is "first run: nothing cached" 0 "$(grep -c '"outcome":"cached"' "$tmp/t.json")"
	[ -f .flow/cache/data.mdb ]
	is "a first run with --resume records the cache" 0 $?

	is "resume: status" 0 "$(run --resume p.flow)"
	is "resume: output" "420 3" "$(cat "$tmp/out")"
	is "resume: every task call cached" 0 "$(grep -cE '"cat":"(task|nested task)".*"outcome":"done"' "$tmp/t.json")"
	is "resume: 17 cached" 17 "$(grep -c '"outcome":"cached"' "$tmp/t.json")"
	is "resume: the summary" 1 "$(grep -c 'resumed: 17 of 17 task calls from the cache, 0 run' "$tmp/err")"

	# b's body changes: b and what depends on it (c, the total of cs) re-run
	sed -i 's/return x \* 2 }/return x * 3 }/' p.flow
	is "b changed: status" 0 "$(run --resume p.flow)"
	is "b changed: output" "430 3" "$(cat "$tmp/out")"
	is "b changed: a cached" 4 "$(n cached a)"
	is "b changed: b re-ran" 4 "$(n done b)"
	# c(6) is in the cache already (the old b(3)): arguments count by content
	is "b changed: c re-ran for new arguments" "3 1" "$(n done c) $(n cached c)"
	is "b changed: d cached" 3 "$(n cached d)"
	is "b changed: t(cs) re-ran, t(ds) cached" "1 1" "$(n done t) $(n cached t)"
	# moving code and adding comments keeps the entries (positions are not hashed)
	printf '# a comment\n\n' | cat - p.flow >p2.flow && mv p2.flow p.flow
	run --resume p.flow >/dev/null
	is "comment added: all cached" 17 "$(grep -c '"outcome":"cached"' "$tmp/t.json")"

	# an unrelated task and param declared first (every proto and global
	# index moves): references count by name, so every entry holds
	printf 'param unrelated: int = 7\ntask other(x: int) -> int { return x - unrelated }\n' | cat - p.flow >p2.flow && mv p2.flow p.flow
	run --resume p.flow >/dev/null
	is "unrelated declarations added: all cached" 17 "$(grep -c '"outcome":"cached"' "$tmp/t.json")"
	# a fn a task calls: the task re-runs
	sed -i 's|^task d(x: int) -> int { return x \* scale }|fn mul(x: int) -> int { return x * scale }\ntask d(x: int) -> int { return mul(x) }|' p.flow
	run --resume p.flow >/dev/null
	is "d now calls a fn: d re-ran" 3 "$(n done d)"
	sed -i 's|return x \* scale }|return scale * x }|' p.flow
	run --resume p.flow >/dev/null
	is "the fn changed: d re-ran" "3 4" "$(n done d) $(n cached a)"

	# a param: only the task that reads it re-runs (and the total of its results)
	is "param: status" 0 "$(run --resume -p scale=2 p.flow)"
	is "param: output" "430 6" "$(cat "$tmp/out")"
	is "param: d re-ran" 3 "$(n done d)"
	is "param: c cached" 4 "$(n cached c)"
	is "param: only t(ds) re-ran" "1 1" "$(n done t) $(n cached t)"

	# --no-cache neither reads nor writes
	rm -rf .flow
	is "--no-cache: status" 0 "$(run --no-cache p.flow)"
	[ ! -e .flow ]
	is "--no-cache writes nothing" 0 $?

	# ---- a failing call, fixed through its input: only it and its dependents
	cat >f.flow <<'EOF'
import io
@cache
task load(i: int) -> int { return int(io.read_text(f"in{i}.txt")) }
task double(x: int) -> int { return 2 * x }
let xs = [double(load(i)) for i in range(5)]
print([get(x) for x in xs])
EOF
	for i in 0 1 3 4; do echo $i >in$i.txt; done
	is "failing: status 1" 1 "$(run --resume f.flow)"
	is "failing: 4 loads done" 4 "$(n done load)"
	echo 2 >in2.txt
	is "fixed: status" 0 "$(run --resume f.flow)"
	is "fixed: output" "[0, 2, 4, 6, 8]" "$(cat "$tmp/out")"
	is "fixed: only load(2) re-ran" "1 4" "$(n done load) $(n cached load)"
	is "fixed: only double(load(2)) re-ran" "1 4" "$(n done double) $(n cached double)"
	# a file read by a @cache task changed: size, then only its mtime
	echo 33 >in3.txt
	run --resume f.flow >/dev/null
	is "file size changed: output" "[0, 2, 4, 66, 8]" "$(cat "$tmp/out")"
	is "file size changed: load(3) re-ran" "1 4" "$(n done load) $(n cached load)"
	echo 34 >in3.txt
	touch -d '2001-01-01' in3.txt
	run --resume f.flow >/dev/null
	is "mtime changed (same size): load(3) re-ran" "1 4" "$(n done load) $(n cached load)"
	is "mtime changed: output" "[0, 2, 4, 68, 8]" "$(cat "$tmp/out")"
	rm in4.txt
	is "file gone: status 1" 1 "$(run --resume f.flow)"
	is "file gone: load(4) re-ran and failed" 1 "$(n failed load)"

	# a task fixed in code: its calls and their dependents re-run, not its inputs'
	cat >g.flow <<'EOF'
task src(i: int) -> int { return i }
task bad(x: int) -> int { return 10 // (x - 1) }
task after(x: int) -> int { return x + 1 }
let rs = [after(bad(src(i))) for i in range(3)]
print([get(r) for r in rs])
EOF
	is "bad: status 1" 1 "$(run --resume g.flow)"
	sed -i 's|10 // (x - 1)|10 * x + 1000|' g.flow
	is "bad fixed: status" 0 "$(run --resume g.flow)"
	is "bad fixed: output" "[1001, 1011, 1021]" "$(cat "$tmp/out")"
	is "bad fixed: src cached" 3 "$(n cached src)"
	is "bad fixed: bad re-ran" 3 "$(n done bad)"
	is "bad fixed: after re-ran" 3 "$(n done after)"

	# ---- effects: re-run unless @cache -------------------------------------
	cat >e.flow <<'EOF'
task noisy(x: int) -> int {
    print(f"noisy {x}")
    return x
}
@cache
task quiet(x: int) -> int {
    print(f"quiet {x}")
    return x
}
print(get(noisy(1)) + get(quiet(2)))
EOF
	run --resume e.flow >/dev/null
	run --resume e.flow >/dev/null
	is "effect: noisy re-ran" 1 "$(n done noisy)"
	is "effect: @cache quiet cached" 1 "$(n cached quiet)"
	is "effect: a cached call does not print" "1 0" "$(grep -c 'noisy 1' "$tmp/err") $(grep -c 'quiet 2' "$tmp/err")"

	# ---- large arguments: by the producing call's key, or hashed once ------
	cat >big.flow <<'EOF'
import tensor
param k: int = 2
task make(n: int) -> tensor { return tensor.ones([n, n]) * float(k) }
task total(x: tensor) -> float { return tensor.sum(x) }
task twice(x: tensor) -> tensor { return x + x }
task blen(s: str) -> int { return len(s) }
let m = make(600)
let big = "y" * 1500000
print(get(total(m)), get(total(twice(m))), get(blen(big)), get(blen(big + "z")))
EOF
	run --resume big.flow >/dev/null
	is "large: output" "720000.0 1440000.0 1500000 1500001" "$(cat "$tmp/out")"
	run --resume big.flow >/dev/null
	is "large: resumed, all cached" "1 2 1 2" "$(n cached make) $(n cached total) $(n cached twice) $(n cached blen)"
	is "large: resumed output" "720000.0 1440000.0 1500000 1500001" "$(cat "$tmp/out")"
	run --resume -p k=3 big.flow >/dev/null
	is "large: the producer's param changed: it and its consumers re-ran" "1 2 1 2" \
		"$(n done make) $(n done total) $(n done twice) $(n cached blen)"
	is "large: new output" "1080000.0 2160000.0 1500000 1500001" "$(cat "$tmp/out")"
	sed -i 's/let big = "y" \* 1500000/let big = "w" * 1500000/' big.flow
	run --resume -p k=3 big.flow >/dev/null
	is "large: a driver value's content changed (same length): its consumers re-ran" "2 1" \
		"$(n done blen) $(n cached make)"

	# ---- io.glob and io.exists: their answers are checked on lookup -------
	mkdir -p d
	rm -f d/*
	touch d/a.txt d/b.txt
	cat >gl.flow <<'EOF'
import io
@cache
task ls(pat: str) -> list { return io.glob(pat) }
@cache
task has(p: str) -> bool { return io.exists(p) }
@cache
task outer(pat: str) -> int { return len(get(ls(pat))) }
print(get(ls("d/*.txt")), get(has("d/flag")), get(outer("d/*.txt")))
EOF
	run --resume gl.flow >/dev/null
	is "glob: output" '["d/a.txt", "d/b.txt"] false 2' "$(cat "$tmp/out")"
	run --resume gl.flow >/dev/null
	is "glob: unchanged, all cached" "1 1 0" "$(n cached ls) $(n cached has) $(n done outer)"
	touch d/c.txt
	run --resume gl.flow >/dev/null
	is "glob: a new match re-runs the globbing calls" '["d/a.txt", "d/b.txt", "d/c.txt"] false 3' "$(cat "$tmp/out")"
	is "glob: a new match: ls and outer re-ran, has cached" "1 1 1" "$(n done ls) $(n done outer) $(n cached has)"
	touch d/other.dat
	run --resume gl.flow >/dev/null
	is "glob: a file the pattern does not match changes nothing" "1 1 1" "$(n cached ls) $(n cached has) $(n cached outer)"
	mv d/c.txt d/z.txt
	run --resume gl.flow >/dev/null
	is "glob: a renamed match (same count) re-runs" '["d/a.txt", "d/b.txt", "d/z.txt"] false 3' "$(cat "$tmp/out")"
	is "glob: renamed: ls and outer re-ran" "1 1" "$(n done ls) $(n done outer)"
	touch d/flag
	run --resume gl.flow >/dev/null
	is "exists: a path that appeared re-runs" '["d/a.txt", "d/b.txt", "d/z.txt"] true 3' "$(cat "$tmp/out")"
	is "exists: has re-ran, ls cached" "1 1" "$(n done has) $(n cached ls)"
	echo changed >d/flag
	run --resume gl.flow >/dev/null
	is "exists: the file's content is not its answer" 1 "$(n cached has)"
	rm d/flag
	run --resume gl.flow >/dev/null
	is "exists: a path that went re-runs" "1 false" "$(n done has) $(awk '{print $(NF-1)}' "$tmp/out")"

	# ---- proc: an effect, re-run unless @cache; what it reads is not tracked
	echo one >pin.txt
	cat >pr.flow <<'EOF'
import proc
task live(x: int) -> str { return proc.sh("cat pin.txt") }
@cache
task kept(x: int) -> str { return proc.sh("cat pin.txt") }
print(get(live(1)).strip(), get(kept(1)).strip())
EOF
	run --resume pr.flow >/dev/null
	run --resume pr.flow >/dev/null
	is "proc: the task without @cache re-ran" "1 0" "$(n done live) $(n cached live)"
	is "proc: the @cache task cached" 1 "$(n cached kept)"
	echo two >pin.txt
	run --resume pr.flow >/dev/null
	is "proc: a file the command reads is not tracked (docs/cache.md)" "two one" "$(cat "$tmp/out")"

	# ---- random streams: --seed is part of the key of a task that draws --
	cat >r.flow <<'EOF'
import random
task roll(i: int) -> int { return random.randint(0, 1000000) }
task plain(i: int) -> int { return i }
print([get(roll(i)) for i in range(3)], [get(plain(i)) for i in range(2)])
EOF
	run --resume --seed 1 r.flow >/dev/null
	first=$(cat "$tmp/out")
	run --resume --seed 1 r.flow >/dev/null
	is "random: same seed, cached" "3 $first" "$(n cached roll) $(cat "$tmp/out")"
	run --resume --seed 2 r.flow >/dev/null
	is "random: another seed re-runs what draws" "3 2" "$(n done roll) $(n cached plain)"

	# ---- nested calls (a recursion): cached as calls too -------------------
	cat >nest.flow <<'EOF'
task tree(lo: int, hi: int) -> int {
    if hi - lo == 1 { return lo }
    let mid = (lo + hi) // 2
    let a = tree(lo, mid)
    let b = tree(mid, hi)
    return get(a) + get(b)
}
print(get(tree(0, 16)), get(tree(0, 8)))
EOF
	run --resume nest.flow >/dev/null
	is "nested: output" "120 28" "$(cat "$tmp/out")"
	run --resume nest.flow >/dev/null
	is "nested: resumed output" "120 28" "$(cat "$tmp/out")"
	is "nested: both DAG calls cached" 2 "$(grep -c '"cat":"task".*"outcome":"cached"' "$tmp/t.json")"
done

mode=""
cd "$tmp/w" || exit 1
# ---- a damaged cache: a warning and a new cache, never a crash ---------------
"$flow" run --resume p.flow >/dev/null 2>&1
head -c 65536 /dev/urandom >.flow/cache/data.mdb
is "garbage data.mdb: status" 0 "$(run --resume p.flow)"
is "garbage data.mdb: output" "430 3" "$(cat "$tmp/out")"
is "garbage data.mdb: a warning" 1 "$(grep -c 'warning: the cache in .* is damaged' "$tmp/err")"
is "garbage data.mdb: rebuilt" 17 "$(run --resume p.flow >/dev/null; grep -c '"outcome":"cached"' "$tmp/t.json")"
: >.flow/cache/data.mdb
is "empty data.mdb: status" 0 "$(run --resume p.flow)"
# (a damaged record, its checksum failing, is tested in tests/unit/test_cache.c)
chmod 000 .flow/cache
if [ "$(id -u)" != 0 ]; then
	is "unreadable cache: --resume is an error" 1 "$(run --resume p.flow)"
	is "unreadable cache: a clear message" 1 "$(grep -c 'flow run: cannot open the cache' "$tmp/err")"
	is "unreadable cache: a plain run goes on" 0 "$(run p.flow)"
fi
chmod 755 .flow/cache

# ---- bytes flipped inside LMDB's pages: checked in a child process first ------
# (LMDB does not checksum its pages: a flipped node pointer made it crash
# with SIGSEGV or SIGBUS in a lookup or a put; see docs/cache.md)
cat >fl.flow <<'EOF'
task a(i: int) -> int { return i + 1 }
task b(x: int) -> str { return str(x) * 300 }
print(sum([len(get(b(get(a(i))))) for i in range(200)]))
EOF
fc="$tmp/fc"
run --serial --resume --cache-dir "$fc" fl.flow >/dev/null
cp "$fc/data.mdb" "$tmp/good.mdb"
pages=$(($(stat -c %s "$tmp/good.mdb") / 4096))
u8() { od -An -t u8 -j "$2" -N 8 "$1" | tr -d ' '; }
meta=0 # the newer meta page (larger txn id) names the tree's root
[ "$(u8 "$tmp/good.mdb" $((4096 + 144)))" -gt "$(u8 "$tmp/good.mdb" 144)" ] && meta=4096
root=$(u8 "$tmp/good.mdb" $((meta + 128)))
flips=0 bad=0 warned=0 root_warned=0
# the root, then every third page (about 25 runs); 16: a page's first node pointer
for pg in "$root" $(seq 2 3 $((pages - 1))); do
	rm -rf "$fc"
	mkdir -p "$fc"
	cp "$tmp/good.mdb" "$fc/data.mdb"
	printf '\377\377\377\377\377\377\377\377' |
		dd of="$fc/data.mdb" bs=1 seek=$((pg * 4096 + 16)) conv=notrunc 2>/dev/null
	st=$(run --resume --cache-dir "$fc" fl.flow)
	flips=$((flips + 1))
	if [ "$st" != 0 ] || [ "$(cat "$tmp/out")" != 147600 ]; then
		bad=$((bad + 1))
		echo "  flipped at $((pg * 4096 + 16)): status $st, output $(cat "$tmp/out")"
	fi
	if grep -q 'warning: the cache in .* is damaged' "$tmp/err"; then
		warned=$((warned + 1))
		[ "$pg" = "$root" ] && root_warned=1
	fi
done
is "flipped bytes at $flips offsets: every run exits 0 with the right output" 0 "$bad"
is "flipped bytes in the root page: a warning" 1 "$root_warned"
ok "flipped bytes: most flips (pages of the tree) warned ($warned of $flips)" [ $((warned * 2)) -gt "$flips" ]
rm -rf "$fc"
run --resume --cache-dir "$fc" fl.flow >/dev/null
run --resume --cache-dir "$fc" fl.flow >/dev/null
is "after a damaged cache: a new one works" 400 "$(grep -c '"outcome":"cached"' "$tmp/t.json")"

# ---- --dot-out, --stats, --stats-json --------------------------------------------
(cd "$tmp/w" && "$flow" run --resume --dot-out "$tmp/d.dot" --stats --stats-json "$tmp/s.json" \
	p.flow >/dev/null 2>"$tmp/err")
is "dot: cached colour" 1 "$(grep -c '#9ecae1' "$tmp/d.dot" | awk '{print ($1 > 0)}')"
is "stats: cached line" 1 "$(grep -cE '^  cached +17 \(0 nested\)' "$tmp/err")"
is "stats-json: cached" 1 "$(grep -c '"cached": 17' "$tmp/s.json")"

# ---- options --------------------------------------------------------------------
printf 'task one() -> int { return 1 }\nprint(get(one()))\n' >"$tmp/s.flow"
expect_err() { # STATUS PATTERN CMD...
	local want=$1 pat=$2
	shift 2
	local out got
	out=$("$@" 2>&1 </dev/null)
	got=$?
	is "$* -> $want" "$want" "$got"
	ok "$*: /$pat/ (got: $out)" grep -qE -- "$pat" <<<"$out"
}
expect_err 1 'needs --cache-dir' sh -c "'$flow' run --resume - <'$tmp/s.flow'"
expect_err 0 '^1$' sh -c "'$flow' run --resume --cache-dir '$tmp/cd' - <'$tmp/s.flow'"
expect_err 2 '--no-cache cannot go with --resume' "$flow" run --no-cache --resume "$tmp/s.flow"
expect_err 2 '--cache-size expects a size' "$flow" run --cache-size 12x "$tmp/s.flow"
expect_err 1 'cannot create the cache directory' "$flow" run --cache-dir /proc/nope/c "$tmp/s.flow"
expect_err 1 'error.*@cache. takes no arguments' sh -c "printf '@cache(1)\ntask f() -> int { return 1 }\n' | '$flow' check -"
expect_err 1 "'@cache' applies to tasks, not to actors" sh -c "printf '@cache\nactor A { }\n' | '$flow' check -"

# ---- flow cache list | clean -------------------------------------------------------
expect_err 0 " a$" "$flow" cache list "$tmp/w/p.flow"
expect_err 0 '^17 entries, .* in .*/w/.flow/cache' "$flow" cache list "$tmp/w/p.flow"
expect_err 0 '^1 entry' "$flow" cache list --cache-dir "$tmp/cd"
expect_err 0 'no cache in' "$flow" cache list --cache-dir "$tmp/none"
expect_err 0 'removed 1 entry from' "$flow" cache clean --cache-dir "$tmp/cd"
expect_err 0 '^0 entries' "$flow" cache list --cache-dir "$tmp/cd"
expect_err 0 'removed [0-9]+ entries' sh -c "cd '$tmp/w' && '$flow' cache clean p.flow"
(cd "$tmp/w" && run --resume p.flow >/dev/null)
is "after clean: nothing cached" 0 "$(grep -c '"outcome":"cached"' "$tmp/t.json")"
expect_err 2 "expects 'list' or 'clean'" "$flow" cache bogus
expect_err 0 'usage: flow cache' "$flow" cache --help
# the size cap: a small cap keeps the newest entries only
printf 'task big(i: int) -> str { return str(i) * 20000 }\nprint(len([big(i) for i in range(40)]))\n' >"$tmp/w/big.flow"
(cd "$tmp/w" && "$flow" run --resume --cache-size 200KiB big.flow >/dev/null 2>&1)
kept=$("$flow" cache list "$tmp/w/big.flow" | grep -c ' big$')
ok "--cache-size 200KiB keeps fewer than 40 entries of ~20 KiB (kept $kept)" [ "$kept" -gt 0 ] && [ "$kept" -lt 11 ]

echo "cache: $pass passed, $fail failed"
[ "$fail" = 0 ]

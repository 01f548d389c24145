#!/usr/bin/env bash
# cache.sh - flow run --address --resume (docs/cache.md): the client looks
# a DAG node's call up before sending it to the cluster, and stores what
# comes back. A head (no task slots) and a worker on two namespace hosts;
# calls that ran and calls the cache answered are counted in the --trace.
# Usage: cache.sh FLOW. Exit 77 (skipped) without root or netns.
set -u
flow=$1
here=$(cd "$(dirname "$0")" && pwd)
. "$here/netns.sh"
. "$here/harness.sh"
cluster_harness 2

run 1 "$flow" start --head --block --cpus 0 --token-file "$tmp/token" >"$tmp/head.out" 2>"$tmp/head.err" &
wait_until 10 grep -q "Flow head started" "$tmp/head.out" || bad "the head did not start"
run 2 "$flow" start --address "$head_addr" --block --cpus 1 --token-file "$tmp/token" \
	>"$tmp/w2.out" 2>"$tmp/w2.err" &
wait_until 10 count_is 2 && ok || bad "the worker did not join"

cat >"$tmp/c.flow" <<'EOF'
import sys
param k: int = 1
task sq(i: int) -> int { return i * i * k }
@cache
task where(i: int) -> str { return sys.hostname() }
task total(xs: list) -> int {
    let s = 0
    for x in xs { s = s + x }
    return s
}
let xs = [sq(i) for i in range(6)]
print(get(total(xs)), get(where(0)))
EOF
# n OUTCOME NAME: DAG task events of NAME with that outcome
n() { grep -cE "\"name\":\"$2\",\"cat\":\"task\".*\"outcome\":\"$1\"" "$tmp/t.json"; }
crun() {
	(cd "$tmp" && run 1 timeout 60 "$flow" run --address "$head_addr" --token-file "$tmp/token" \
		--resume --cache-dir "$tmp/cache" --trace "$tmp/t.json" "$@" c.flow >"$tmp/out" 2>"$tmp/err")
}
check() { # MESSAGE EXPECTED ACTUAL
	[ "$2" = "$3" ] && ok || bad "$1: expected '$2', got '$3' ($(tail -3 "$tmp/err" | tr '\n' ' '))"
}
crun
check "first run: status" 0 $?
check "first run: output (ran on the worker)" "55 host2" "$(cat "$tmp/out")"
check "first run: every call ran" "6 1 1" "$(n done sq) $(n done total) $(n done where)"
crun
check "resumed: status" 0 $?
check "resumed: output" "55 host2" "$(cat "$tmp/out")"
check "resumed: the pure calls came from the cache" "6 1" "$(n cached sq) $(n cached total)"
# a @cache task with effects: what it reads on a node is not seen here
check "resumed: a @cache task with effects is sent again" 1 "$(n done where)"
check "resumed: the summary" 1 "$(grep -c 'resumed: 7 of 8 task calls from the cache, 1 run' "$tmp/err")"
crun -p k=2
check "param changed: output" "110 host2" "$(cat "$tmp/out")"
check "param changed: sq and total re-ran" "6 1" "$(n done sq) $(n done total)"
# entries recorded by a run here are found by a cluster run (same keys)
rm -rf "$tmp/cache"
(cd "$tmp" && "$flow" run --resume --cache-dir "$tmp/cache" c.flow >/dev/null 2>&1)
crun
check "recorded here, resumed on the cluster" "6 1" "$(n cached sq) $(n cached total)"

for pid in "$(daemon_pid 2 worker)" "$(daemon_pid 1 head)"; do
	[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null
done
wait
echo "cluster cache: $pass passed, $fail failed"
[ "$fail" = 0 ] || { echo "--- head log"; cat "$tmp/head.err"; echo "--- worker log"; cat "$tmp/w2.err"; }
[ "$fail" = 0 ]

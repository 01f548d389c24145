#!/usr/bin/env bash
# starts.sh - what start reports cost (docs/wire.md, "Start reports"), on
# demand (not a test; root): two clusters side by side on namespace hosts,
# each a head (--cpus 0) and two workers (1 cpu each), one of this build
# and one of PEER_BUILD (a build without start reports); ROUNDS rounds,
# each runs starts.flow with N calls with effects (each reported) and
# without (none reported) on both clusters, in turn. Prints each time and
# the medians, and the paired ratios.
# Usage: bench/cluster/starts.sh PEER_BUILD [BUILD] [ROUNDS] [N]
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
peer=$(cd "$1" && pwd)/cli/flow
build=$(cd "${2:-$root/build}" && pwd)
rounds=${3:-7}
n=${4:-3000}
flow=$build/cli/flow
. "$root/tests/cluster/netns.sh"
. "$root/tests/cluster/harness.sh"
netns_available || { echo "needs root and network namespaces"; exit 1; }
cluster_harness 6
cp "$here/starts.flow" "$tmp/"
ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }
# cluster A (this build): hosts 1-3; B (the peer): hosts 4-6
addr_a="$(host_ip 1):6379"
addr_b="$(host_ip 4):6379"
start_cluster() { # FLOW FIRST_HOST ADDRESS
	local f=$1 h=$2 a=$3
	run "$h" "$f" start --head --block --cpus 0 --token-file "$tmp/token" >"$tmp/head$h.out" 2>"$tmp/head$h.err" &
	wait_until 10 grep -q "Flow head started" "$tmp/head$h.out" || { echo "no head on host$h"; exit 1; }
	for i in $((h + 1)) $((h + 2)); do
		run "$i" "$f" start --address "$a" --block --cpus 1 --token-file "$tmp/token" >/dev/null 2>>"$tmp/w$i.err" &
	done
	sleep 2
}
start_cluster "$flow" 1 "$addr_a"
start_cluster "$peer" 4 "$addr_b"
one() { # FLOW HOST ADDRESS FX: prints ms
	local t0 out
	t0=$(ms)
	out=$(cd "$tmp" && run "$2" timeout 300 "$1" run --address "$3" --token-file "$tmp/token" -p n=$n -p fx=$4 starts.flow 2>/dev/null)
	[ "$out" = $((n * (n + 1) / 2)) ] || { echo "wrong output: $out" >&2; }
	echo $(($(ms) - t0))
}
med() { tr ' ' '\n' | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
A1="" A0="" B1="" B0=""
for r in $(seq 1 "$rounds"); do
	a1=$(one "$flow" 1 "$addr_a" true); b1=$(one "$peer" 4 "$addr_b" true)
	a0=$(one "$flow" 1 "$addr_a" false); b0=$(one "$peer" 4 "$addr_b" false)
	echo "round $r: with effects: this $a1 ms, peer $b1 ms; without: this $a0 ms, peer $b0 ms"
	A1="$A1 $a1"; B1="$B1 $b1"; A0="$A0 $a0"; B0="$B0 $b0"
done
ma1=$(echo $A1 | med); mb1=$(echo $B1 | med); ma0=$(echo $A0 | med); mb0=$(echo $B0 | med)
echo "medians ($n calls): with effects this $ma1 ms, peer $mb1 ms (ratio $(awk -v a=$ma1 -v b=$mb1 'BEGIN { printf "%.2f", a / b }')); without effects this $ma0 ms, peer $mb0 ms (ratio $(awk -v a=$ma0 -v b=$mb0 'BEGIN { printf "%.2f", a / b }'))"
for f in "$tmp"/h*/.flow/run/*.pid; do [ -f "$f" ] && kill -TERM "$(cut -d' ' -f1 "$f")" 2>/dev/null; done
sleep 2

#!/usr/bin/env bash
# tls.sh - what TLS costs a large transfer: bench/cluster/transfer.flow's
# tensor (256 MiB by default) moved between two namespace hosts on a plain
# cluster and on a TLS one (--tls-* through $FLOW_TLS_*; certificates made
# here with openssl), in the same run. Host 1 holds the head (--cpus 0)
# and the client, host 2 a worker. The pull's own rate (FLOW_OBJECT_LOG=1)
# of a result (host2 -> host1) and of an argument (host1 -> host2), median
# of 3 each, and TLS's rate as a fraction of plain's.
# Usage: bench/cluster/tls.sh [BUILD_DIR]   (N=... changes the float64 count)
set -u
here=$(cd "$(dirname "$0")" && pwd)
prog=cluster/tls.sh
. "$here/../lib.sh"
n=${N:-33554432} # 256 MiB of float64
command -v openssl >/dev/null || { echo "needs openssl"; exit 1; }
bench_hosts "${1:-$root/build}" 2
bench_machine

pki="$tmp/pki"
mkdir -p "$pki"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
	-keyout "$pki/ca.key" -out "$pki/ca.crt" -subj "/CN=bench CA" 2>/dev/null &&
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$pki/node.key" \
		-out "$pki/node.csr" -subj "/CN=node" 2>/dev/null &&
	openssl x509 -req -in "$pki/node.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
		-days 1 -out "$pki/node.crt" 2>/dev/null || { echo "openssl failed"; exit 1; }

move() { # dir log: one run; prints the pull's MB/s
	local out
	out=$(run 1 env FLOW_OBJECT_LOG=1 "$flow" run --address "$head_addr" --token-file "$tmp/token" \
		-p n="$n" -p dir="$1" "$root/bench/cluster/transfer.flow" 2>"$tmp/client.err")
	[ "$out" = "$n" ] || { echo "wrong output: $out $(cat "$tmp/client.err")" >&2; echo 0; return; }
	grep -h "pulled object" "$2" | tail -1 | sed -E 's/.*\(([0-9.]+) MB\/s\).*/\1/'
}
cluster() { # mode: prints "result_MB/s argument_MB/s"
	bench_start_head 0
	run 2 env FLOW_OBJECT_LOG=1 "$flow" start --address "$head_addr" --block --cpus 1 \
		--token-file "$tmp/token" >"$tmp/w2.out" 2>"$tmp/w2.err" &
	for _ in $(seq 50); do bench_alive 2 && break; sleep 0.1; done
	local r a
	r=$(for _ in 1 2 3; do move 0 "$tmp/client.err"; done | bench_median)
	a=$(for _ in 1 2 3; do move 1 "$tmp/w2.err"; done | bench_median)
	grep -q "tls+tcp" "$tmp/head.out" && echo "  ($1: the head says tls+tcp)" >&2
	bench_kill_daemons TERM
	for _ in $(seq 100); do [ -z "$(ls "$tmp"/h*/.flow/run/ 2>/dev/null)" ] && break; sleep 0.1; done
	echo "$r $a"
}
echo "== $((8 * n / 1048576)) MiB tensor between host1 and host2, pull rate, median of 3"
plain=$(cluster plain)
export FLOW_TLS_CERT="$pki/node.crt" FLOW_TLS_KEY="$pki/node.key" FLOW_TLS_CA="$pki/ca.crt"
tls=$(cluster tls)
read -r pr pa <<<"$plain"
read -r tr ta <<<"$tls"
printf 'result (host2 -> host1): plain %s MB/s, TLS %s MB/s = %.2fx\n' "$pr" "$tr" "$(echo "$tr / $pr" | bc -l)"
printf 'argument (host1 -> host2): plain %s MB/s, TLS %s MB/s = %.2fx\n' "$pa" "$ta" "$(echo "$ta / $pa" | bc -l)"

#!/usr/bin/env bash
# tls.sh - a cluster over TLS (--tls-cert/--tls-key/--tls-ca, docs/wire.md):
# certificates made here with openssl (a CA, one for the nodes, one signed
# by another CA); a TLS head (host1) and a TLS worker (host2) run tls.flow
# (a task on each node, a 5.6 MB tensor pulled from the head's node by the
# worker, a result pulled back by the client) with --serial's output; flow
# status works with TLS; a plain worker, a plain status (which is how we
# know the head speaks TLS: a tcp:// client cannot talk to it), a worker
# and a client whose certificate another CA signed, and a client that does
# not trust the head's CA are all refused with exit 1 and a clear
# message; partial options are a usage error (exit 2).
# Usage: tls.sh FLOW. Exit 77 (skipped) without root, netns or openssl.
set -u
flow=$1
here=$(cd "$(dirname "$0")" && pwd)
command -v openssl >/dev/null || { echo "skipped: needs openssl"; exit 77; }
. "$here/netns.sh"
. "$here/harness.sh"
cluster_harness 3
prog="$here/tls.flow"

# ---- certificates: a CA and a node certificate, and the same from another CA ----
pki="$tmp/pki"
mkdir -p "$pki"
ca() { openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
	-keyout "$pki/$1.key" -out "$pki/$1.crt" -subj "/CN=$1" 2>>"$tmp/openssl.err"; }
cert() { openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	-keyout "$pki/$1.key" -out "$pki/$1.csr" -subj "/CN=$1" 2>>"$tmp/openssl.err" &&
	openssl x509 -req -in "$pki/$1.csr" -CA "$pki/$2.crt" -CAkey "$pki/$2.key" -CAcreateserial \
		-days 2 -out "$pki/$1.crt" 2>>"$tmp/openssl.err"; }
ca ca && ca other && cert node ca && cert stranger other ||
	{ echo "FAIL: openssl could not make the certificates: $(cat "$tmp/openssl.err")"; exit 1; }
chmod 600 "$pki"/*.key
tls=(--tls-cert "$pki/node.crt" --tls-key "$pki/node.key" --tls-ca "$pki/ca.crt")
stranger=(--tls-cert "$pki/stranger.crt" --tls-key "$pki/stranger.key" --tls-ca "$pki/ca.crt")
tstatus() { run 1 timeout 10 "$flow" status --address "$head_addr" --token-file "$tmp/token" "${tls[@]}" "$@"; }
tcount_is() { [ "$(tstatus --json 2>/dev/null | grep -o '"alive": true' | wc -l)" = "$1" ]; }

run 1 timeout 60 "$flow" run --serial "$prog" >"$tmp/serial.out" 2>/dev/null || bad "--serial failed"

# ---- a TLS head and a TLS worker ----
run 1 "$flow" start --head --block --cpus 1 --resources here=1 --token-file "$tmp/token" "${tls[@]}" \
	>"$tmp/head.out" 2>"$tmp/head.err" &
wait_until 20 grep -q "Flow head started" "$tmp/head.out" && ok || bad "the head did not start: $(cat "$tmp/head.err")"
grep -q "head listening on .*tls+tcp" "$tmp/head.err" && ok || bad "the head does not say it uses TLS: $(cat "$tmp/head.err")"
# (the worker pulls by stream over TLS, FLOW_OBJECT_STREAM=1; the client,
# without it, in chunks: the faster way over TLS)
run 2 env FLOW_OBJECT_LOG=1 FLOW_OBJECT_STREAM=1 "$flow" start --address "$head_addr" --block --cpus 1 --resources side=1 \
	--token-file "$tmp/token" "${tls[@]}" >"$tmp/w2.out" 2>"$tmp/w2.err" &
wait_until 20 tcount_is 2 && ok || bad "the TLS worker did not join: $(cat "$tmp/w2.err")"
tstatus >"$tmp/status.txt" 2>&1 && grep -q host2 "$tmp/status.txt" && ok ||
	bad "flow status with TLS: $(cat "$tmp/status.txt")"
# the same through the environment
run 1 env FLOW_TLS_CERT="$pki/node.crt" FLOW_TLS_KEY="$pki/node.key" FLOW_TLS_CA="$pki/ca.crt" \
	timeout 10 "$flow" status --address "$head_addr" --token-file "$tmp/token" >"$tmp/envstatus.txt" 2>&1 &&
	grep -q host2 "$tmp/envstatus.txt" && ok || bad "flow status with \$FLOW_TLS_*: $(cat "$tmp/envstatus.txt")"

# ---- a program over TLS: tasks on both nodes, a large value between them ----
run 1 env FLOW_OBJECT_LOG=1 timeout 120 "$flow" run --address "$head_addr" --token-file "$tmp/token" \
	"${tls[@]}" "$prog" >"$tmp/cluster.out" 2>"$tmp/cluster.err"
rc=$?
[ $rc = 0 ] && ok || bad "flow run --address with TLS: exit $rc: $(cat "$tmp/cluster.err")"
cmp -s "$tmp/serial.out" "$tmp/cluster.out" && ok ||
	bad "the TLS cluster printed something else than --serial: $(diff "$tmp/serial.out" "$tmp/cluster.out")"
grep -q '(make#[0-9]*) make on host1$' "$tmp/cluster.err" && grep -q '(total#[0-9]*) total on host2$' "$tmp/cluster.err" &&
	ok || bad "make should run on host1, total on host2: $(grep ' on host' "$tmp/cluster.err")"
grep -q "pulled object .* from 10\.77\.0\.1:.*by stream over TLS" "$tmp/w2.err" && ok ||
	bad "the worker should pull from host1 by stream over TLS: $(cat "$tmp/w2.err")"
grep "pulled object .* from 10\.77\.0\.2:" "$tmp/cluster.err" | grep -qv "by stream" && ok ||
	bad "the client should pull from the worker in chunks over TLS: $(cat "$tmp/cluster.err")"

# ---- refused: a node without TLS, a certificate from another CA, another CA trusted ----
refused() { # WHAT PATTERN FILE RC
	[ "$4" = 1 ] && grep -q "$2" "$3" && ok || bad "$1: exit $4, $(cat "$3")"
}
run 3 timeout 20 "$flow" start --address "$head_addr" --block --cpus 1 --rejoin-timeout 0 \
	--token-file "$tmp/token" >/dev/null 2>"$tmp/plain.err"
refused "a worker without TLS" "if the cluster uses TLS" "$tmp/plain.err" $?
run 3 timeout 10 "$flow" status --address "$head_addr" --token-file "$tmp/token" >/dev/null 2>"$tmp/plainst.err"
refused "flow status without TLS" "cannot connect to tcp://" "$tmp/plainst.err" $?
run 3 timeout 20 "$flow" start --address "$head_addr" --block --cpus 1 --rejoin-timeout 0 \
	--token-file "$tmp/token" "${stranger[@]}" >/dev/null 2>"$tmp/stranger.err"
refused "a worker with another CA's certificate" "TLS handshake failed" "$tmp/stranger.err" $?
run 3 timeout 60 "$flow" run --address "$head_addr" --token-file "$tmp/token" "${stranger[@]}" \
	"$prog" >/dev/null 2>"$tmp/strangerrun.err"
refused "a client with another CA's certificate" "TLS handshake failed" "$tmp/strangerrun.err" $?
run 3 timeout 10 "$flow" status --address "$head_addr" --token-file "$tmp/token" \
	--tls-cert "$pki/node.crt" --tls-key "$pki/node.key" --tls-ca "$pki/other.crt" >/dev/null 2>"$tmp/otherca.err"
refused "a client that trusts another CA" "TLS handshake failed" "$tmp/otherca.err" $?
tcount_is 2 && ok || bad "a refused worker joined: $(tstatus 2>&1)"

# ---- partial options and unreadable files ----
run 3 "$flow" status --address "$head_addr" --tls-cert "$pki/node.crt" >/dev/null 2>"$tmp/partial.err"
rc=$?
[ $rc = 2 ] && grep -q "tls-key is missing" "$tmp/partial.err" && ok || bad "partial options: exit $rc, $(cat "$tmp/partial.err")"
run 3 "$flow" start --head --block --tls-cert "$pki/node.crt" --tls-key "$pki/node.key" >/dev/null 2>"$tmp/partial.err"
rc=$?
[ $rc = 2 ] && grep -q "tls-ca is missing" "$tmp/partial.err" && ok || bad "partial start options: exit $rc, $(cat "$tmp/partial.err")"
run 3 "$flow" run --tls-ca "$pki/ca.crt" "$prog" >/dev/null 2>"$tmp/partial.err"
rc=$?
[ $rc = 2 ] && grep -q "go with --address" "$tmp/partial.err" && ok || bad "run --tls-ca without --address: exit $rc, $(cat "$tmp/partial.err")"
run 3 timeout 10 "$flow" status --address "$head_addr" --token-file "$tmp/token" --tls-cert "$pki/none.crt" \
	--tls-key "$pki/node.key" --tls-ca "$pki/ca.crt" >/dev/null 2>"$tmp/nofile.err"
rc=$?
[ $rc = 1 ] && grep -q "cannot read the TLS certificate" "$tmp/nofile.err" && ok || bad "a missing file: exit $rc, $(cat "$tmp/nofile.err")"
run 3 timeout 10 "$flow" status --address "$head_addr" --token-file "$tmp/token" --tls-cert "$pki/node.key" \
	--tls-key "$pki/node.key" --tls-ca "$pki/ca.crt" >/dev/null 2>"$tmp/badcert.err"
rc=$?
[ $rc = 1 ] && grep -q "is not usable" "$tmp/badcert.err" && ok || bad "a key given as the certificate: exit $rc, $(cat "$tmp/badcert.err")"

# ---- the head still serves its TLS cluster; then everything stops ----
tcount_is 2 && ok || bad "the TLS cluster lost a node: $(tstatus 2>&1)"
stop_all

echo "cluster tls: $pass passed, $fail failed"
[ $fail = 0 ] || { echo "--- head log"; cat "$tmp/head.err"; echo "--- worker log"; cat "$tmp/w2.err"; }
[ $fail = 0 ]

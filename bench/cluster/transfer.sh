#!/usr/bin/env bash
# transfer.sh - 1 GiB moved between two namespace hosts by Flow, beside
# iperf3 on the same pair (issue 11's goal: Flow at least 0.8x iperf3).
# Host 1 holds the head (--cpus 0) and the client, host 2 a worker
# (--cpus 1). Flow moves a 1 GiB tensor (transfer.flow) both ways: a
# task's result made on host 2 and pulled by the client on host 1, and a
# client-made argument pulled by the task's node. The pull's own rate is
# what the holder and the consumer log (FLOW_OBJECT_LOG=1: "pulled object
# ...: N bytes from ADDR in T s"); the whole run (making the tensor,
# encoding, decoding, start-up) is given beside it, and the consumer's
# CPU time during the pull. iperf3 moves 1 GiB (-n 1G) over TCP in each
# direction; making the same tensor on one host (fresh memory, which the
# pull must fill too) is the other reference. Median of 3 each. Needs root and
# iperf3 (installed here from Debian's package if missing).
# Usage: bench/cluster/transfer.sh [BUILD_DIR [BUILD_DIR2]]   (N=... changes the
# float64 count). With two builds (before and after a change), each moves
# the tensor in turn on the same hosts, in the order given, each beside
# iperf3 measured just before it (ratios are to that); the "making the
# tensor" reference uses the first. The load average is printed with each.
set -u
here=$(cd "$(dirname "$0")" && pwd)
prog=cluster/transfer.sh
. "$here/../lib.sh"
n=${N:-134217728} # 1 GiB of float64
if ! command -v iperf3 >/dev/null; then
	[ "$(id -u)" = 0 ] || { echo "needs iperf3 (apt-get install iperf3)"; exit 1; }
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends iperf3 >/dev/null ||
		{ echo "could not install iperf3"; exit 1; }
fi
bench_hosts "${1:-$root/build}" 2
builds=("$build")
[ -n "${2:-}" ] && builds+=("$(cd "$2" && pwd)")

iperf() { # extra iperf3 args; prints MB/s received
	run 1 iperf3 -c "$(host_ip 2)" -n 1G -J "$@" |
		/usr/bin/python3 -c 'import json,sys; print("%.1f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 8e6))'
}
stop_daemons() {
	bench_kill_daemons TERM
	for _ in $(seq 100); do
		alive=0
		for f in "$tmp"/h*/.flow/run/*.pid; do
			[ -f "$f" ] && kill -0 "$(cut -d' ' -f1 "$f" 2>/dev/null)" 2>/dev/null && alive=1
		done
		[ "$alive" = 0 ] && break
		sleep 0.1
	done
	bench_kill_daemons KILL
	wait
	rm -f "$tmp"/h*/.flow/run/*.pid
}
iperf_pair() { # sets ip12 ip21: iperf3 medians of 3 each way, now
	echo "== iperf3, 1 GiB over TCP between host1 and host2 (median of 3); load average $(cut -d' ' -f1-3 /proc/loadavg)"
	run 2 iperf3 -s -D -I "$tmp/iperf.pid" >/dev/null 2>&1
	sleep 0.5
	ip12=$(for _ in 1 2 3; do iperf; done | bench_median)
	ip21=$(for _ in 1 2 3; do iperf -R; done | bench_median)
	kill "$(cat "$tmp/iperf.pid")" 2>/dev/null
	echo "iperf3 host1 -> host2: $ip12 MB/s; host2 -> host1: $ip21 MB/s"
}

flow_move() { # dir log: one run; prints "pull_MB/s whole_s"
	local t0 t1 out
	t0=$(now)
	out=$(run 1 env FLOW_OBJECT_LOG=1 "$flow" run --address "$head_addr" --token-file "$tmp/token" \
		-p n="$n" -p dir="$1" "$here/transfer.flow" 2>"$tmp/client.err")
	t1=$(now)
	[ "$out" = "$n" ] || {
		echo "wrong output: $out $(cat "$tmp/client.err")"; echo "--- worker:"; tail -5 "$tmp/w2.err"
		echo "--- head:"; tail -5 "$tmp/head.out"
	} >&2
	local rate
	rate=$(grep -h "pulled object" "$2" | tail -1 | sed -E 's/.*\(([0-9.]+) MB\/s\).*/\1/')
	cpu=$(grep -h "pulled object" "$2" | tail -1 | grep -oE 'cpu [0-9.]+' | cut -d' ' -f2)
	echo "  dir $1: pull ${rate:-failed} MB/s (consumer CPU ${cpu:-?} s), whole run $(echo "$t1 - $t0" | bc -l) s" >&2
	echo "${rate:-0} $(echo "$t1 - $t0" | bc -l) ${cpu:-99}"
}
warm_median() { # "rate whole cpu" lines: "K of N warm, median R MB/s"
	# warm: the consumer's CPU under 1.5 s per GiB (cold runs take 2-4 s:
	# the memory it maps had gone back to the host; bench/README.md)
	local w
	w=$(awk -v n="$n" '$3 * 1073741824 / (8 * n) < 1.5 { print $1 }' <<<"$1")
	printf '%s of %s warm, median %s MB/s' "$(grep -c . <<<"$w")" "$(grep -c . <<<"$1")" \
		"$(bench_median <<<"$w")"
}
paired() { # K rounds, the client alternating between builds[0] and builds[1]
	build=${builds[0]}
	flow=$build/cli/flow
	iperf_pair
	bench_start_head 0
	run 2 env FLOW_OBJECT_LOG=1 "$flow" start --address "$head_addr" --block --cpus 1 \
		--token-file "$tmp/token" >"$tmp/w2.out" 2>"$tmp/w2.err" &
	for _ in $(seq 50); do bench_alive 2 && break; sleep 0.1; done
	echo "== result pulls, daemons of ${builds[0]}, the client alternating (A: ${builds[0]}, B: ${builds[1]}); load average $(cut -d' ' -f1-3 /proc/loadavg)"
	local a b ra=() rb=() ratios=() ca cb wa=() wb=()
	for k in $(seq "$PAIRED"); do
		flow=${builds[0]}/cli/flow
		a=$(flow_move 0 "$tmp/client.err" 2>"$tmp/move.err")
		ca=$(awk '{print $3}' <<<"$a") a=$(awk '{print $1}' <<<"$a")
		grep -v '^  dir' "$tmp/move.err" >&2
		flow=${builds[1]}/cli/flow
		b=$(flow_move 0 "$tmp/client.err" 2>"$tmp/move.err")
		cb=$(awk '{print $3}' <<<"$b") b=$(awk '{print $1}' <<<"$b")
		grep -v '^  dir' "$tmp/move.err" >&2
		echo "  round $k: A $a MB/s (CPU $ca s), B $b MB/s (CPU $cb s); load $(cut -d' ' -f1 /proc/loadavg)"
		ra+=("$a") rb+=("$b") ratios+=("$(echo "$b / $a" | bc -l)")
		# warm: the client's CPU under 1.5 s per GiB (cold runs take 2-4 s)
		[ -n "$ca" ] && [ "$(echo "$ca * 1073741824 / (8 * $n) < 1.5" | bc -l)" = 1 ] && wa+=("$a")
		[ -n "$cb" ] && [ "$(echo "$cb * 1073741824 / (8 * $n) < 1.5" | bc -l)" = 1 ] && wb+=("$b")
	done
	printf 'result pull medians: A %s MB/s (%.2fx iperf3), B %s MB/s (%.2fx iperf3); median B/A %.2f\n' \
		"$(printf '%s\n' "${ra[@]}" | bench_median)" "$(echo "$(printf '%s\n' "${ra[@]}" | bench_median) / $ip21" | bc -l)" \
		"$(printf '%s\n' "${rb[@]}" | bench_median)" "$(echo "$(printf '%s\n' "${rb[@]}" | bench_median) / $ip21" | bc -l)" \
		"$(printf '%s\n' "${ratios[@]}" | bench_median)"
	printf 'warm runs only (the destination memory still backed: client CPU under 1.5 s per GiB): A %s of %s, median %s MB/s; B %s of %s, median %s MB/s\n' \
		"${#wa[@]}" "$PAIRED" "$( ((${#wa[@]})) && printf '%s\n' "${wa[@]}" | bench_median)" \
		"${#wb[@]}" "$PAIRED" "$( ((${#wb[@]})) && printf '%s\n' "${wb[@]}" | bench_median)"
	flow=${builds[0]}/cli/flow
	stop_daemons
}

if [ -n "${PAIRED:-}" ] && [ "${#builds[@]}" = 2 ]; then
	paired
	exit 0
fi
# What bounds a pull here: the consumer lands the object in a tensor of
# fresh memory, and on a paravirtualised machine mapping fresh pages (the
# kernel zeroing them, the host backing them again once the guest gave
# them back) can cost more than the network. The reference: a task
# making a 1 GiB tensor of ones on one host, alone (flow run --stats: the
# run phase), back to back ("warm": the pages the last run freed are
# still backed) and after 3 s idle ("cold").
echo "== making the same tensor on one host (fresh memory; median of 3)"
cat >"$tmp/make.flow" <<'FLOW'
import tensor
param n: int = 1
task make(k: int) -> int {
    return tensor.shape(tensor.ones([k]))[0]
}
print(get(make(n)))
FLOW
make_ms() { run 1 "$flow" run --stats -p n="$n" "$tmp/make.flow" 2>&1 >/dev/null | awk '$1 == "run" { print $2 }'; }
make_ms >/dev/null
mkw=$(for _ in 1 2 3; do make_ms; done | bench_median)
mkc=$(for _ in 1 2 3; do sleep 3; make_ms; done | bench_median)
mkwr=$(echo "8 * $n / ($mkw / 1000) / 1000000" | bc -l)
mkcr=$(echo "8 * $n / ($mkc / 1000) / 1000000" | bc -l)
printf 'tensor.ones of %s float64: warm %.0f ms (%.1f MB/s), cold %.0f ms (%.1f MB/s)\n' \
	"$n" "$mkw" "$mkwr" "$mkc" "$mkcr"

flow_block() { # one build: iperf3 beside it, head and worker started, both directions, stopped
iperf_pair
bench_start_head 0
run 2 env FLOW_OBJECT_LOG=1 "$flow" start --address "$head_addr" --block --cpus 1 \
	--token-file "$tmp/token" >"$tmp/w2.out" 2>"$tmp/w2.err" &
for _ in $(seq 50); do bench_alive 2 && break; sleep 0.1; done

echo "== Flow ($build): a 1 GiB tensor ($n float64), median of 3; load average $(cut -d' ' -f1-3 /proc/loadavg)"
res=$(for _ in 1 2 3; do flow_move 0 "$tmp/client.err"; done)
r21=$(awk '{print $1}' <<<"$res" | bench_median)
w21=$(awk '{print $2}' <<<"$res" | bench_median)
arg=$(for _ in 1 2 3; do flow_move 1 "$tmp/w2.err"; done)
r12=$(awk '{print $1}' <<<"$arg" | bench_median)
w12=$(awk '{print $2}' <<<"$arg" | bench_median)
printf 'result, host2 -> host1 (pulled by the client): %s MB/s = %.2fx iperf3; whole run %.2f s\n' \
	"$r21" "$(echo "$r21 / $ip21" | bc -l)" "$w21"
printf 'argument, host1 -> host2 (pulled by the worker): %s MB/s = %.2fx iperf3; whole run %.2f s\n' \
	"$r12" "$(echo "$r12 / $ip12" | bc -l)" "$w12"
echo "warm runs only: result $(warm_median "$res"); argument $(warm_median "$arg")"
printf 'against making the tensor on one host, cold (%.1f MB/s): result %.2fx, argument %.2fx\n' \
	"$mkcr" "$(echo "$r21 / $mkcr" | bc -l)" "$(echo "$r12 / $mkcr" | bc -l)"
stop_daemons
}

for b in "${builds[@]}"; do
	build=$b
	flow=$b/cli/flow
	flow_block
done

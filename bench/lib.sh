# bench/lib.sh - what the bench scripts share (sourced, not run). A script
# in bench/DIR/ sets `here` (its folder) and `prog` (its name, for
# messages), then sources this file:
#
#   here=$(cd "$(dirname "$0")" && pwd)
#   prog=staged.sh
#   . "$here/../lib.sh"
#
# which sets `root` (the source tree). Plain sh (bench/plan/run.sh is run
# by /bin/sh), but for the namespace part, which needs bash (netns.sh).
#
# Runs and medians:
#   bench_tmp                 makes $tmp, removed at exit (an EXIT trap)
#   bench_need_flow FLOW...   exits 2 unless each is an executable
#   bench_machine             prints the machine line (CPUs, kernel, load)
#   bench_median              the median of the numbers on stdin, one a
#                             line (an even count: the mean of the middle two)
#   bench_run_ms CMD...       runs a `flow run --stats` (stdout dropped),
#                             prints its run phase in ms; fails loudly
#   bench_timed FILE CMD...   runs CMD under GNU time (its stdout in
#                             $tmp/stdout) and appends "wall_s cpu_s
#                             peak_rss_kb" to FILE (cpu: user + sys)
#
# Hosts made of network namespaces (bench/cluster/; needs root):
#   bench_hosts BUILD N       sources tests/cluster/netns.sh, sets `build`,
#                             `flow`, `tmp` (with a token and a home per
#                             host: $tmp/hI), `head_addr`, makes hosts 1..N;
#                             at exit: the daemons killed, the namespaces and
#                             $tmp removed. Exits 1 when it cannot.
#   run I CMD...              CMD on host I, in its home
#   now                       seconds since the epoch, with fractions
#   bench_alive N             0 when the head lists N live nodes
#   bench_start_head CPUS     starts the head on host 1 (--cpus CPUS)
#   bench_kill_daemons [SIG]  signals every daemon started here

root=$(cd "$here/../.." && pwd)

bench_tmp() {
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
}

bench_need_flow() {
	for f in "$@"; do
		[ -x "$f" ] || { echo "$prog: no flow binary at $f" >&2; exit 2; }
	done
}

bench_machine() {
	echo "machine: $(nproc) CPUs, $(uname -sr); load: $(cut -d' ' -f1-3 /proc/loadavg)"
}

bench_median() {
	sort -n | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

bench_run_ms() {
	"$@" >/dev/null 2>"$tmp/err" || { echo "$prog: failed: $*" >&2; cat "$tmp/err" >&2; return 1; }
	awk '$1 == "run" { print $2 }' "$tmp/err"
}

# bench_time_k K CMD...: CMD run K times in a row under one GNU time
# (a process's start-up is too short for one reading); the totals go to
# $tmp/time as "wall user sys maxrss" (divide by K for one run)
bench_time_k() {
	local k=$1
	shift
	/usr/bin/time -f '%e %U %S %M' -o "$tmp/time" \
		sh -c 'k=$1; shift; i=0; while [ "$i" -lt "$k" ]; do "$@" >/dev/null || exit 1; i=$((i + 1)); done' \
		sh "$k" "$@" || { echo "$prog: failed: $*" >&2; exit 1; }
}

bench_timed() {
	local out=$1
	shift
	/usr/bin/time -f '%e %U %S %M' -o "$tmp/time" "$@" >"$tmp/stdout" || return 1
	awk '{ printf "%s %.3f %s\n", $1, $2 + $3, $4 }' "$tmp/time" >>"$out"
}

# ---- hosts made of network namespaces (bash) ---------------------------------

bench_hosts() {
	build=$(cd "$1" && pwd)
	flow=$build/cli/flow
	. "$root/tests/cluster/netns.sh"
	netns_available || { echo "needs root and network namespaces"; exit 1; }
	tmp=$(mktemp -d)
	trap bench_hosts_cleanup EXIT
	netns_setup "$2" || exit 1
	head_addr="$(host_ip 1):6379"
	head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$tmp/token"
	chmod 600 "$tmp/token"
	local i=1
	while [ "$i" -le "$2" ]; do mkdir -p "$tmp/h$i"; i=$((i + 1)); done
}

bench_kill_daemons() {
	local f
	for f in "$tmp"/h*/.flow/run/*.pid; do
		[ -f "$f" ] && kill "-${1:-TERM}" "$(cut -d' ' -f1 "$f")" 2>/dev/null
	done
}

bench_hosts_cleanup() {
	bench_kill_daemons KILL
	netns_cleanup
	rm -rf "$tmp"
}

run() { local i=$1; shift; HOME="$tmp/h$i" exec_in_host "$i" "$@"; }
now() { date +%s.%N; }

bench_alive() {
	[ "$(run 1 "$flow" status --address "$head_addr" --token-file "$tmp/token" --json |
		grep -o '"alive": true' | wc -l)" = "$1" ]
}

# bench_start_head CPUS [OPTION...]: the head on host 1, waited for
bench_start_head() {
	local cpus=$1
	shift
	run 1 "$flow" start --head --block --cpus "$cpus" "$@" --token-file "$tmp/token" >"$tmp/head.out" 2>&1 &
	for _ in $(seq 50); do grep -q "Flow head started" "$tmp/head.out" && break; sleep 0.1; done
}

# bench_start_worker I CPUS ALIVE: a worker on host I joins; waits (5 s at
# most) until ALIVE nodes are alive
bench_start_worker() {
	run "$1" "$flow" start --address "$head_addr" --block --cpus "$2" --token-file "$tmp/token" \
		>"$tmp/w$1.out" 2>&1 &
	for _ in $(seq 50); do bench_alive "$3" && break; sleep 0.1; done
}

# bench_stop_daemons: SIGTERM to every daemon, then SIGKILL to any left
bench_stop_daemons() {
	bench_kill_daemons TERM
	sleep 1
	bench_kill_daemons KILL
}

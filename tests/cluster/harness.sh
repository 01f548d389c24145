# harness.sh - what every cluster test script starts with (sourced after
# netns.sh): skip (exit 77) without root or namespaces, make N namespace
# hosts, a temporary folder with a home per host ($tmp/hI, its TMPDIR
# $tmp/hI/tmp: spill directories go there) and a cluster token
# ($tmp/token; $tmp/wrong is another), the head's address, counters (ok,
# bad), run/wait_until and nothing_left. The EXIT trap kills every daemon
# the test started (their pid files) and removes the namespaces and the
# folder (CLUSTER_KEEP_LOGS=DIR keeps its *.err and *.out files there).
# Usage: cluster_harness N
cluster_cleanup() {
	for f in "$tmp"/h*/.flow/run/*.pid; do
		[ -f "$f" ] && kill -9 "$(cut -d' ' -f1 "$f")" 2>/dev/null
	done
	netns_cleanup
	# CLUSTER_KEEP_LOGS=DIR: the daemons' and clients' output is kept there
	if [ -n "${CLUSTER_KEEP_LOGS:-}" ]; then
		mkdir -p "$CLUSTER_KEEP_LOGS" && cp "$tmp"/*.err "$tmp"/*.out "$CLUSTER_KEEP_LOGS"/ 2>/dev/null
	fi
	rm -rf "$tmp"
}

cluster_harness() {
	local n=$1 i
	netns_available || { echo "skipped: needs root and network namespaces"; exit 77; }
	tmp=$(mktemp -d)
	trap cluster_cleanup EXIT
	netns_setup "$n" || { echo "FAIL: could not make the namespace hosts"; exit 1; }
	pass=0
	fail=0
	head_addr="$(host_ip 1):6379"
	head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$tmp/token"
	head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$tmp/wrong"
	chmod 600 "$tmp/token" "$tmp/wrong"
	for i in $(seq 1 "$n"); do mkdir -p "$tmp/h$i/tmp"; done
}

ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
# on host I with its own HOME (pid files, logs)
run() { local i=$1; shift; HOME="$tmp/h$i" TMPDIR="$tmp/h$i/tmp" exec_in_host "$i" "$@"; }
# wait_until SECONDS COMMAND...: until COMMAND succeeds, at most SECONDS
wait_until() {
	local end=$((SECONDS + $1))
	shift
	until "$@"; do
		[ $SECONDS -ge $end ] && return 1
		sleep 0.1
	done
}
# the head's status as JSON, asked from host 1
status_json() { run 1 timeout 10 "$flow" status --address "$head_addr" --token-file "$tmp/token" --json; }
alive_count() { status_json 2>/dev/null | grep -o '"alive": true' | wc -l; }
count_is() { [ "$(alive_count)" = "$1" ]; }
# the pid of the daemon ROLE on host I, from its pid file
# (the newest: a daemon killed with -9 leaves its pid file behind)
daemon_pid() { local f; f=$(ls -t "$tmp/h$1"/.flow/run/"$2"-*.pid 2>/dev/null | head -1); [ -n "$f" ] && cut -d' ' -f1 "$f"; }
# spill directories (flow-spill-PID-*) in host I's TMPDIR
spill_dirs() { ls -d "$tmp/h$1"/tmp/flow-spill-* 2>/dev/null; }
# Once every daemon has stopped: no process left in the test's hosts and
# no spill directory left in their TMPDIRs.
nothing_left() {
	local left spills ns
	wait 2>/dev/null
	left=$(for ns in "${NETNS_HOSTS[@]}"; do ip netns pids "$ns"; done)
	[ -z "$left" ] && ok || bad "processes left: $(ps -o pid=,args= -p "$(echo $left | tr ' ' ,)")"
	spills=$(ls -d "$tmp"/h*/tmp/flow-spill-* 2>/dev/null)
	[ -z "$spills" ] && ok || bad "spill directories left: $spills"
}

# ---- workers that come and go (survive.sh, actors.sh) ----
# (a script may define its own frun after sourcing this: place.sh, run.sh)
# frun ARGS...: flow run --address on host 1, in $tmp
frun() { (cd "$tmp" && run 1 timeout 120 "$flow" run --address "$head_addr" --token-file "$tmp/token" "$@"); }
# start_worker I [OPTIONS...]: a worker on host I (1 CPU), in the
# background, its output appended to $tmp/wI.out and $tmp/wI.err
start_worker() {
	local i=$1
	shift
	run "$i" "$flow" start --address "$head_addr" --block --cpus 1 --token-file "$tmp/token" "$@" \
		>>"$tmp/w$i.out" 2>>"$tmp/w$i.err" &
}
# gone PID: the process has ended (or is a zombie nobody reaped yet)
gone() { ! kill -0 "$1" 2>/dev/null || grep -q '^Z' <(ps -o stat= -p "$1" 2>/dev/null); }
# kill_worker I: kill -9 the newest worker daemon on host I
kill_worker() { local p; p=$(daemon_pid "$1" worker) && [ -n "$p" ] && kill -9 "$p"; }
# restart_worker I N [OPTIONS...]: a fresh worker on host I (where one was
# killed), then until N nodes are alive (at most 30 s); 1 if they are not
restart_worker() { local i=$1 n=$2; shift 2; start_worker "$i" "$@"; wait_until 30 count_is "$n"; }
# stop_all: SIGTERM to every daemon still running (hosts N..1: workers
# before the head), each must stop within 10 s; then nothing_left
stop_all() {
	local i f p
	for i in $(seq "${#NETNS_HOSTS[@]}" -1 1); do
		for f in "$tmp/h$i"/.flow/run/*.pid; do
			[ -f "$f" ] || continue
			p=$(cut -d' ' -f1 "$f")
			kill -0 "$p" 2>/dev/null || { rm -f "$f"; continue; } # killed with -9 before
			kill -TERM "$p"
			wait_until 10 gone "$p" || bad "pid $p (${f##*/}) did not stop on SIGTERM"
		done
	done
	nothing_left
}
# sanitizer_clean: no daemon log (head.err, wI.err, ...) holds a sanitizer
# report or a crash (an ASan build: meson setup -Db_sanitize=address,undefined)
sanitizer_clean() {
	local hits
	hits=$(grep -lE "ERROR: AddressSanitizer|runtime error:|SEGV" "$tmp"/*.err 2>/dev/null)
	[ -z "$hits" ] && ok || bad "a sanitizer report or a crash in $hits: $(grep -hE -A12 'ERROR: AddressSanitizer|runtime error:|SEGV' $hits | head -40)"
}

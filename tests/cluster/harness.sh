# harness.sh - what every cluster test script starts with (sourced after
# netns.sh): skip (exit 77) without root or namespaces, make N namespace
# hosts, a temporary folder with a home per host ($tmp/hI, its TMPDIR
# $tmp/hI/tmp: spill directories go there) and a cluster token
# ($tmp/token; $tmp/wrong is another), the head's address, counters (ok,
# bad), run/wait_until and nothing_left. The EXIT trap kills every daemon
# the test started (their pid files) and removes the namespaces and the
# folder.
# Usage: cluster_harness N
cluster_cleanup() {
	for f in "$tmp"/h*/.flow/run/*.pid; do
		[ -f "$f" ] && kill -9 "$(cut -d' ' -f1 "$f")" 2>/dev/null
	done
	netns_cleanup
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

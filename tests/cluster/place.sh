#!/usr/bin/env bash
# place.sh - placement by resources, jobs and traces on a head and two
# workers (namespace hosts): every @resources(gpu=1) task runs on the one
# worker started with --resources gpu=1; a task that needs more than any
# node offers is refused before anything runs (exit 1, naming the task
# and what it needs); `flow status` lists a run as a job while it goes
# and not after; `flow run --address --trace` writes one process per node
# and a lane per thread. An actor with @resources(gpu=1) lives on the gpu
# worker and holds its gpu while it lives; one that needs more than any
# node offers is refused before anything runs. Calls of fractional @cpus
# run side by side on a node (fracs.flow).
# Usage: place.sh FLOW. Exit 77 (skipped) without root or netns.
set -u
flow=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
here=$(cd "$(dirname "$0")" && pwd)
. "$here/netns.sh"
. "$here/harness.sh"
cluster_harness 3
cp "$here/place.flow" "$here/toobig.flow" "$here/sleepy.flow" "$here/fanout.flow" \
	"$here/actorplace.flow" "$here/actorbig.flow" "$here/gputask.flow" "$here/fracs.flow" "$tmp/"
# frun I ARGS...: flow run --address on host I, in $tmp
frun() {
	local i=$1
	shift
	(cd "$tmp" && run "$i" timeout 120 "$flow" run --address "$head_addr" --token-file "$tmp/token" "$@")
}

run 1 "$flow" start --head --block --cpus 1 --token-file "$tmp/token" >"$tmp/head.out" 2>"$tmp/head.err" &
wait_until 10 grep -q "Flow head started" "$tmp/head.out" || bad "the head did not start"
# one after the other: node ids follow the joins (host2 is node 2)
run 2 "$flow" start --address "$head_addr" --block --cpus 2 --resources gpu=1 --token-file "$tmp/token" \
	>"$tmp/w2.out" 2>"$tmp/w2.err" &
wait_until 10 count_is 2 || bad "host2 did not join"
run 3 "$flow" start --address "$head_addr" --block --cpus 1 --token-file "$tmp/token" \
	>"$tmp/w3.out" 2>"$tmp/w3.err" &
wait_until 10 count_is 3 && ok || bad "the workers did not join"

# ---- every gpu task on node 2 (the only one with gpu), the others spread ----
frun 1 place.flow >"$tmp/place.out" 2>"$tmp/place.err"
rc=$?
[ $rc = 0 ] && ok || bad "place.flow: exit $rc: $(head -5 "$tmp/place.err")"
grep -qx 'node 2: 20 gpu tasks, [0-9]* plain' "$tmp/place.out" && ok ||
	bad "the gpu tasks should all run on node 2: $(cat "$tmp/place.out")"
spread=$(grep -cE '^node [123]: [0-9]+ gpu tasks, [1-9][0-9]* plain' "$tmp/place.out")
[ "$spread" -ge 2 ] && ok || bad "the plain tasks should spread over the nodes: $(cat "$tmp/place.out")"

# ---- a task no node can hold: refused at start, nothing run ----
frun 1 toobig.flow >"$tmp/big.out" 2>"$tmp/big.err"
rc=$?
[ $rc = 1 ] && ok || bad "toobig.flow: exit $rc, expected 1"
[ ! -s "$tmp/big.out" ] && ok || bad "toobig.flow printed before failing: $(cat "$tmp/big.out")"
grep -q "toobig.flow:[0-9]*:[0-9]*: error: task 'huge' needs 2 of resource 'gpu' (@resources), so it can never run on this cluster: node 1 ([^)]*) offers 0" "$tmp/big.err" &&
	grep -q "node 2 ([^)]*) offers 1" "$tmp/big.err" && ok ||
	bad "toobig.flow's message should name the task, its need and each node's offer: $(cat "$tmp/big.err")"
grep -q "error: task 'wide' needs 64 CPUs (@cpus), so it can never run on this cluster" "$tmp/big.err" && ok ||
	bad "toobig.flow's message for @cpus(64): $(cat "$tmp/big.err")"

# ---- an actor's @resources: it lives on the gpu node and holds the gpu ----
# run A makes an actor with @resources(gpu=1) and keeps it 4 s; run B's
# @resources(gpu=1) task can only run once A ended and gave the gpu back
(frun 1 -p hold=4 actorplace.flow >"$tmp/ap.out" 2>"$tmp/ap.err"; echo $? >"$tmp/ap.rc"
	date +%s%N >"$tmp/ap.end") &
wait_until 30 grep -q "gpu actor on node" "$tmp/ap.out" && ok ||
	bad "the gpu actor did not start: $(cat "$tmp/ap.out" "$tmp/ap.err")"
grep -qx "gpu actor on node 2" "$tmp/ap.out" && ok ||
	bad "the @resources(gpu=1) actor should live on node 2: $(cat "$tmp/ap.out")"
(frun 3 gputask.flow >"$tmp/gt.out" 2>"$tmp/gt.err"; echo $? >"$tmp/gt.rc"; date +%s%N >"$tmp/gt.end") &
wait_until 60 test -s "$tmp/ap.end" -a -s "$tmp/gt.end" || bad "the actor's run or the gpu task's did not end"
[ "$(cat "$tmp/ap.rc")" = 0 ] && grep -qx "gpu actor done" "$tmp/ap.out" && ok ||
	bad "actorplace.flow: exit $(cat "$tmp/ap.rc"): $(head -5 "$tmp/ap.err")"
[ "$(cat "$tmp/gt.rc")" = 0 ] && grep -qx "gpu task on node 2" "$tmp/gt.out" && ok ||
	bad "gputask.flow: exit $(cat "$tmp/gt.rc"): $(cat "$tmp/gt.out") $(head -5 "$tmp/gt.err")"
# the task's start (on node 2) against the actor run's last moment: not
# the two clients' exits, which may end in either order
gt_start=$(sed -n 's/^gpu task started //p' "$tmp/gt.out")
ap_last=$(sed -n 's/^gpu actor released after //p' "$tmp/ap.out")
python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) > float(sys.argv[2]) else 1)' "${gt_start:-0}" "${ap_last:-9e18}" && ok ||
	bad "the gpu task ran while the actor held the only gpu (started $gt_start, the actor's run went on until $ap_last)"

# ---- an actor no node can hold: refused at start, nothing run ----
frun 1 actorbig.flow >"$tmp/ab.out" 2>"$tmp/ab.err"
rc=$?
[ $rc = 1 ] && ok || bad "actorbig.flow: exit $rc, expected 1"
[ ! -s "$tmp/ab.out" ] && ok || bad "actorbig.flow printed before failing: $(cat "$tmp/ab.out")"
grep -q "actorbig.flow:[0-9]*:[0-9]*: error: actor 'TwoGpus' needs 2 of resource 'gpu' (@resources), so it can never run on this cluster: node 1 ([^)]*) offers 0" "$tmp/ab.err" &&
	grep -q "node 2 ([^)]*) offers 1" "$tmp/ab.err" && ok ||
	bad "actorbig.flow's message should name the actor, its need and each node's offer: $(cat "$tmp/ab.err")"

# ---- a job while a run goes, none after ----
frun 3 sleepy.flow >"$tmp/sleepy.out" 2>"$tmp/sleepy.err" &
client=$!
# the job is listed as soon as the client registers, its tasks a moment later
# (once the driver submits them): wait for both
job_seen() {
	status_json 2>/dev/null >"$tmp/st.json" && grep -q '"program": "sleepy.flow"' "$tmp/st.json" &&
		grep -qE '"tasks_(queued|running|done)": [1-9]' "$tmp/st.json"
}
wait_until 20 job_seen && ok || bad "no job for the running client: $(cat "$tmp/st.json")"
/usr/bin/python3 - "$tmp/st.json" "$(host_ip 3)" <<'PY' && ok || bad "the job's fields: $(cat "$tmp/st.json")"
import json, sys
st = json.load(open(sys.argv[1]))
jobs = st["jobs"]
assert len(jobs) == 1, jobs
j = jobs[0]
assert j["state"] == "running" and j["client"].startswith(sys.argv[2] + ":"), j
assert j["start_unix_ms"] > 0 and j["tasks_failed"] == 0, j
assert j["tasks_queued"] + j["tasks_running"] + j["tasks_done"] >= 1, j
PY
run 1 timeout 10 "$flow" status --address "$head_addr" --token-file "$tmp/token" >"$tmp/st.txt" 2>&1
grep -qE '^[0-9]+ +[0-9.]+:[0-9]+ +sleepy\.flow +[0-9-]+ [0-9:]+ +[0-9]+ +[0-9]+ +[0-9]+ +0 +[0-9]+$' "$tmp/st.txt" && ok ||
	bad "flow status's text should list the job: $(cat "$tmp/st.txt")"
wait $client
rc=$?
[ $rc = 0 ] && ok || bad "sleepy.flow: exit $rc: $(head -5 "$tmp/sleepy.err")"
no_jobs() { status_json 2>/dev/null | grep -q '"jobs": \[\]'; }
wait_until 10 no_jobs && ok || bad "the job should be gone after its run: $(status_json 2>&1)"
run 1 timeout 10 "$flow" status --address "$head_addr" --token-file "$tmp/token" | grep -q '^jobs: none running$' &&
	ok || bad "flow status's text should say no job runs"

# ---- --trace: a process per node (named), a lane per thread ----
frun 1 -p n=2000 --trace "$tmp/trace.json" --stats --stats-json "$tmp/stats.json" fanout.flow \
	>"$tmp/fan.out" 2>"$tmp/fan.err"
rc=$?
[ $rc = 0 ] && ok || bad "fanout.flow --trace: exit $rc: $(head -5 "$tmp/fan.err")"
/usr/bin/python3 - "$tmp/trace.json" <<'PY' && ok || bad "the trace's node lanes"
import json, sys
t = json.load(open(sys.argv[1]))["traceEvents"]
names = {e["pid"]: e["args"]["name"] for e in t if e["ph"] == "M" and e["name"] == "process_name"}
lanes = {(e["pid"], e["tid"]) for e in t if e["ph"] == "X" and e["pid"] != 0}
nodes = {p for p, _ in lanes}
assert names.get(0) == "flow run (client)", names
assert len(nodes) >= 2, lanes
for p in nodes:
    assert names[p].startswith("node %d (host" % p), names
assert all(tid >= 1 for _, tid in lanes), lanes
# node 2 has two CPUs: two threads ran its calls
assert len({tid for p, tid in lanes if p == 2}) == 2, lanes
x = [e for e in t if e["ph"] == "X" and e["pid"] != 0]
assert all(e["dur"] >= 0 and e["ts"] >= 0 for e in x)
assert all(e["args"]["cluster node"] == e["pid"] for e in x if "cluster node" in e["args"]), x[:3]
# each call's time on its node is placed inside the client's wait for it:
# the reduction starts after every input ended
sq_end = max(e["ts"] + e["dur"] for e in x if e["name"].startswith("sq"))
total = [e for e in x if e["name"].startswith("total")]
assert len(total) == 1 and total[0]["ts"] >= sq_end - 0.001, (total, sq_end)
PY
grep -qE '^  node 2 \(host2\) +[1-9][0-9]* task calls' "$tmp/fan.err" && ok ||
	bad "--stats should count the calls per node: $(cat "$tmp/fan.err")"
/usr/bin/python3 - "$tmp/stats.json" <<'PY' && ok || bad "--stats-json's cluster_nodes: $(cat "$tmp/stats.json")"
import json, sys
nodes = json.load(open(sys.argv[1]))["run"]["cluster_nodes"]
assert len(nodes) >= 2 and sum(n["calls"] for n in nodes) == 2001, nodes
assert all(n["name"].startswith("node %d (host" % n["id"]) for n in nodes), nodes
PY

# ---- fractional @cpus: four calls of @cpus(0.5) run at once on 2 CPUs ----
mkdir -p "$tmp/fracs"
frun 1 -p dir="$tmp/fracs" fracs.flow >"$tmp/fracs.out" 2>"$tmp/fracs.err"
rc=$?
[ $rc = 0 ] && [ "$(cat "$tmp/fracs.out")" = "[4, 4, 4, 4]" ] && ok ||
	bad "four calls of @cpus(0.5) on a 2-CPU node should run at once: exit $rc: $(cat "$tmp/fracs.out") $(head -3 "$tmp/fracs.err")"

run 1 "$flow" stop >/dev/null 2>&1
run 2 "$flow" stop >/dev/null 2>&1
run 3 "$flow" stop >/dev/null 2>&1
nothing_left
echo "cluster place: $pass passed, $fail failed"
[ $fail = 0 ]

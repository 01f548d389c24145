#!/usr/bin/env bash
# peers.sh - issue 4's performance workloads on Flow and, side by side in
# one run, on its peers: Dask's threaded scheduler, a Dask LocalCluster
# (2 worker processes, 1 thread each), Python's ProcessPoolExecutor(2) and
# numpy alone. Not a test: it prints figures and ratios, asserts nothing.
# The Python side is peers.py (one subcommand per workload and peer).
#
#   bench/par/peers.sh [-f FLOW] [-n RUNS] [-q]
#
#   -f FLOW  the flow binary (default build/cli/flow)
#   -n RUNS  runs of each command; the median is shown (default 3)
#   -q       quick: every task count divided by 10, sleeps scaled by 0.1
#
# Flow's figures are whole `flow run` processes (plan loading and start-up
# included), timed with date +%s.%N. The peers' figures are what peers.py
# measures inside its process around the work (graph building and running;
# the pools' start and shutdown; not the cluster's start-up, nor Python's
# start-up and imports, shown apart in the last column as "process").
# The peers run smaller N where they would take minutes; rates and
# per-task latencies make the rows comparable.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
flow=$root/build/cli/flow
py=/usr/bin/python3     # Debian's python3-distributed and numpy are for it
runs=3
div=1
scale=1.0
while getopts f:n:q opt; do
	case $opt in
	f) flow=$OPTARG ;;
	n) runs=$OPTARG ;;
	q) div=10 scale=0.1 ;;
	*) echo "usage: peers.sh [-f FLOW] [-n RUNS] [-q]" >&2; exit 2 ;;
	esac
done
[ -x "$flow" ] || { echo "peers.sh: no flow binary at $flow (use -f)" >&2; exit 2; }
case $flow in /*) ;; *) flow=$(cd "$(dirname "$flow")" && pwd)/$(basename "$flow") ;; esac
"$py" -c 'import dask, distributed, numpy' 2>/dev/null ||
	{ echo "peers.sh: $py lacks dask/distributed/numpy (apt-get install python3-distributed python3-numpy)" >&2; exit 2; }
command -v bc >/dev/null || { echo "peers.sh: needs bc" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Task counts: Flow's, then the peers' (scaled down to stay under ~30 s).
n_empty=$((1000000 / div)) n_empty_thr=$((100000 / div)) n_empty_cl=$((10000 / div)) n_empty_pool=$((100000 / div))
n_chain=$((100000 / div)) n_chain_thr=$((100000 / div)) n_chain_cl=$((2000 / div)) n_chain_pool=$((20000 / div))
n_act=$((1000000 / div)) n_act_cl=$((5000 / div))

med() { sort -g | sed -n "$(((runs + 1) / 2))p"; }
calc() { echo "$1" | bc -l; }

# flow_time CMD...: median whole-process wall time of $runs runs; stdout of
# the last run kept in $tmp/out
flow_time() {
	local k s e
	for ((k = 0; k < runs; k++)); do
		s=$(date +%s.%N)
		"$@" >"$tmp/out" 2>"$tmp/err" || { echo "peers.sh: failed: $*" >&2; cat "$tmp/err" >&2; return 1; }
		e=$(date +%s.%N)
		calc "$e - $s"
	done | med
}

# peer WORKLOAD ARG: runs peers.py $runs times; sets pt (median in-process
# seconds), pw (median whole-process seconds), pwarm (median warm=, if any)
peer() {
	local k s e line ins=() whole=() warm=()
	for ((k = 0; k < runs; k++)); do
		s=$(date +%s.%N)
		line=$("$py" "$here/peers.py" "$1" "$2" 2>"$tmp/err" | tail -1) ||
			{ echo "peers.sh: failed: peers.py $1 $2" >&2; cat "$tmp/err" >&2; return 1; }
		e=$(date +%s.%N)
		case $line in seconds=*) ;; *) echo "peers.sh: peers.py $1 $2 printed '$line'" >&2; cat "$tmp/err" >&2; return 1 ;; esac
		ins+=("$(sed 's/.*seconds=\([0-9.]*\).*/\1/' <<<"$line")")
		whole+=("$(calc "$e - $s")")
		case $line in *warm=*) warm+=("$(sed 's/.*warm=\([0-9.]*\).*/\1/' <<<"$line")") ;; esac
	done
	pt=$(printf '%s\n' "${ins[@]}" | med)
	pw=$(printf '%s\n' "${whole[@]}" | med)
	pwarm=
	[ ${#warm[@]} -eq 0 ] || pwarm=$(printf '%s\n' "${warm[@]}" | med)
}

hdr() { printf '\n%s\n%-38s %9s %9s %14s %10s %9s\n' "$1" "" N time "$2" "$3" process; }
# row LABEL N SECONDS FIGURE RATIO [PROCESS]
row() { printf '  %-36s %9s %8.3fs %14s %10s %9s\n' "$1" "$2" "$3" "$4" "$5" "${6:+$(printf '%.2fs' "$6")}"; }
rate() { printf '%.0f/s' "$(calc "($1) / ($2)")"; }
usper() { printf '%.1f us' "$(calc "($2) / ($1) * 1000000")"; }
x() { printf '%.2fx' "$(calc "($1) / ($2)")"; }

echo "machine: $(nproc) CPUs, $(uname -sr), $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
echo "date:    $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "flow:    $flow"
echo "peers:   $("$py" -c 'import sys, dask, distributed, numpy; print(f"python {sys.version.split()[0]}, dask {dask.__version__}, distributed {distributed.__version__}, numpy {numpy.__version__}")')"
echo "runs:    median of $runs; 'process' = the peer's whole process, Python start-up and imports included"

# --- 1. empty tasks --------------------------------------------------------
cat >"$tmp/empty.flow" <<FLOW
task noop(i: int) -> int {
    return i
}

let xs = [noop(i) for i in range($n_empty)]
FLOW
"$flow" compile -o "$tmp/empty.plan" "$tmp/empty.flow"
hdr "1. empty tasks (independent no-op tasks; Flow from a compiled plan)" rate "Flow/peer"
t=$(flow_time "$flow" run "$tmp/empty.plan") || exit 1
flow_rate=$(calc "$n_empty / $t")
row "flow run PLAN" "$n_empty" "$t" "$(rate "$n_empty" "$t")" ""
peer empty-threaded "$n_empty_thr" || exit 1
row "dask threaded" "$n_empty_thr" "$pt" "$(rate "$n_empty_thr" "$pt")" "$(x "$flow_rate" "$n_empty_thr / $pt")" "$pw"
peer empty-cluster "$n_empty_cl" || exit 1
row "dask LocalCluster(2x1)" "$n_empty_cl" "$pt" "$(rate "$n_empty_cl" "$pt")" "$(x "$flow_rate" "$n_empty_cl / $pt")" "$pw"
peer empty-pool "$n_empty_pool" || exit 1
row "ProcessPoolExecutor(2) map" "$n_empty_pool" "$pt" "$(rate "$n_empty_pool" "$pt")" "$(x "$flow_rate" "$n_empty_pool / $pt")" "$pw"

# --- 2. a chain of dependent tasks -----------------------------------------
cat >"$tmp/chain.flow" <<FLOW
task step(x: int) -> int {
    return x + 1
}

let acc = 0
for i in range($n_chain) {
    acc = step(acc)
}
print(get(acc))
FLOW
"$flow" compile -o "$tmp/chain.plan" "$tmp/chain.flow"
hdr "2. a chain of dependent tasks (each takes the previous result)" "per task" "peer/Flow"
t=$(flow_time "$flow" run "$tmp/chain.plan") || exit 1
[ "$(cat "$tmp/out")" = "$n_chain" ] || { echo "peers.sh: chain printed '$(cat "$tmp/out")', not $n_chain" >&2; exit 1; }
flow_lat=$(calc "$t / $n_chain")
row "flow run PLAN" "$n_chain" "$t" "$(usper "$n_chain" "$t")" ""
peer chain-threaded "$n_chain_thr" || exit 1
row "dask threaded (raw graph)" "$n_chain_thr" "$pt" "$(usper "$n_chain_thr" "$pt")" "$(x "$pt / $n_chain_thr" "$flow_lat")" "$pw"
peer chain-cluster "$n_chain_cl" || exit 1
row "dask LocalCluster(2x1) submit" "$n_chain_cl" "$pt" "$(usper "$n_chain_cl" "$pt")" "$(x "$pt / $n_chain_cl" "$flow_lat")" "$pw"
peer chain-pool "$n_chain_pool" || exit 1
row "ProcessPoolExecutor(2) submit" "$n_chain_pool" "$pt" "$(usper "$n_chain_pool" "$pt")" "$(x "$pt / $n_chain_pool" "$flow_lat")" "$pw"

# --- 3. actor calls ---------------------------------------------------------
cat >"$tmp/actors.flow" <<FLOW
param k: int = 1

actor Counter {
    fn init() { self.n = 0 }
    fn call() { self.n += 1 }
    fn read() -> int { return self.n }
}

let actors = [Counter() for i in range(k)]
for i in range($n_act) {
    actors[i % k].call()
}
print(sum(get([a.read() for a in actors])))
FLOW
hdr "3. actor calls (n calls, then one read per actor)" rate "Flow/peer"
for k in 1 8; do
	"$flow" compile -p k=$k -o "$tmp/actors$k.plan" "$tmp/actors.flow"
	t=$(flow_time "$flow" run "$tmp/actors$k.plan") || exit 1
	[ "$(cat "$tmp/out")" = "$n_act" ] || { echo "peers.sh: actors printed '$(cat "$tmp/out")', not $n_act" >&2; exit 1; }
	flow_rate=$(calc "$n_act / $t")
	row "flow run PLAN, $k actor(s)" "$n_act" "$t" "$(rate "$n_act" "$t")" ""
	peer actors$k-cluster "$n_act_cl" || exit 1
	row "dask LocalCluster actors, $k" "$n_act_cl" "$pt" "$(rate "$n_act_cl" "$pt")" "$(x "$flow_rate" "$n_act_cl / $pt")" "$pw"
done

# --- 4. seed 000's sixteen sleeps ------------------------------------------
longest=$(calc "1.5 * $scale")
hdr "4. seed 000's sixteen sleeps (-p scale=$scale: longest sleep $(printf '%.2f' "$longest") s)" "" "/longest"
cd "$root/samples"
for a in "" "--cpus 16"; do
	# shellcheck disable=SC2086
	t=$(flow_time "$flow" run $a -p scale="$scale" 000_sleep_tasks.flow) || exit 1
	row "flow run ${a:-(default cpus)}" 16 "$t" "" "$(x "$t" "$longest")"
done
peer sleeps-threaded "$scale" || exit 1
row "dask threaded, 16 threads" 16 "$pt" "" "$(x "$pt" "$longest")" "$pw"

# --- 5. seed 000's matrices --------------------------------------------------
hdr "5. matrices: four 1000x1000 normal matrices, two products, a sum" "" "/BLAS cold"
t=$(flow_time "$flow" run 000_matrices.flow) || exit 1
peer matrices-blas 1000 || exit 1
blas=$pt blas_warm=$pwarm blas_w=$pw
row "flow run samples/000_matrices.flow" 1 "$t" "" "$(x "$t" "$blas")"
row "numpy alone, cold (BLAS work)" 1 "$blas" "" "1.00x" "$blas_w"
row "numpy alone, warm" 1 "$blas_warm" "" "$(x "$blas_warm" "$blas")"
peer matrices-threaded 1000 || exit 1
row "dask threaded" 1 "$pt" "" "$(x "$pt" "$blas")" "$pw"
echo
echo "Flow vs BLAS alone: $(x "$t" "$blas") of the cold figure, $(x "$t" "$blas_warm") of the warm one (goal <= 1.2x)"

#!/usr/bin/env bash
# run.sh - golden tests as data.
#
#   run.sh run FLOW       tests/golden/run/NAME.flow      -> NAME.out (stdout)
#   run.sh errors FLOW    tests/golden/errors/NAME.flow   -> NAME.diag (flow check output,
#                         stdout and stderr together; run from that folder)
#   run.sh samples FLOW   samples/NAME.flow               -> samples/NAME.out
#   run.sh plans FLOW     every run/ case and sample, compiled to a plan
#                         (flow compile -o, with the case's -p values) and
#                         run from the plan: same expectations as above
#   run.sh dot FLOW [--update]
#                         tests/golden/dot/NAME.flow      -> NAME.dot (flow dot
#                         output, run from that folder); --update rewrites
#                         each NAME.dot from the current output instead
#
# Beside a case, optional files: NAME.args (extra arguments for flow run,
# one line), NAME.code (expected exit status, default 0 for run/samples,
# 1 for errors), NAME.stderr (lines that must appear in stderr),
# NAME.noplan (skipped by plans mode; says why its plan cannot be written),
# NAME.nocluster (skipped when FLOW_RUN_ARGS has --address; says why).
# In errors mode NAME.args holds extra arguments for flow check (--static).
# In .out files a line starting with "~ " is an extended regular
# expression the output line must match (for times, hostnames, pids).
# FLOW_RUN_ARGS overrides the executor flags (default: --serial).
set -u
mode=${1:-}
flow=${2:-}
update=${3:-}
case $flow in /*) ;; */*) flow=$(cd "$(dirname "$flow")" && pwd)/$(basename "$flow") ;; esac
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
run_args=${FLOW_RUN_ARGS:---serial}
pass=0
fail=0
failed=()

# compare EXPECTED ACTUAL: exact lines, or "~ regex" lines.
compare() {
	local exp=$1 act=$2
	local ne na
	ne=$(wc -l <"$exp")
	na=$(wc -l <"$act")
	if [ "$ne" != "$na" ]; then
		echo "  expected $ne lines, got $na"
		return 1
	fi
	local i=0
	while IFS= read -r e <&3 && IFS= read -r a <&4; do
		i=$((i + 1))
		if [ "${e:0:2}" = "~ " ]; then
			if ! [[ "$a" =~ ^${e:2}$ ]]; then
				echo "  line $i: '$a' does not match /${e:2}/"
				return 1
			fi
		elif [ "$e" != "$a" ]; then
			echo "  line $i: expected '$e'"
			echo "  line $i:      got '$a'"
			return 1
		fi
	done 3<"$exp" 4<"$act"
	return 0
}

one() { # name dir flowfile expectedfile default_code cmd...
	local name=$1 dir=$2 src=$3 exp=$4 want_code=$5
	shift 5
	local base=${src%.flow}
	[ -f "$base.code" ] && want_code=$(cat "$base.code")
	local out err
	out=$(mktemp) err=$(mktemp)
	if [ "$mode" = errors ]; then
		# diagnostics are compared whole: stdout and stderr together
		(cd "$dir" && timeout 120 "$@" >"$out" 2>&1 </dev/null)
	else
		(cd "$dir" && timeout 120 "$@" >"$out" 2>"$err" </dev/null)
	fi
	local code=$?
	local ok=1
	if [ "$code" != "$want_code" ]; then
		echo "FAIL $name: exit status $code, expected $want_code"
		sed 's/^/  stderr: /' "$err" | head -n 20
		ok=0
	elif ! msg=$(compare "$exp" "$out"); then
		echo "FAIL $name:"
		echo "$msg"
		sed 's/^/  stderr: /' "$err" | head -n 10
		ok=0
	elif [ "$mode" != errors ] && [ "$code" = 0 ] && grep -q '^flow: error' "$err"; then
		# a run that succeeds says no error (an object store problem, say)
		echo "FAIL $name: exit status 0 but stderr has an error"
		grep '^flow: error' "$err" | sed 's/^/  stderr: /' | head -n 5
		ok=0
	elif [ -f "$base.stderr" ]; then
		while IFS= read -r line; do
			if ! grep -qF -- "$line" "$err"; then
				echo "FAIL $name: stderr lacks '$line'"
				sed 's/^/  stderr: /' "$err" | head -n 10
				ok=0
				break
			fi
		done <"$base.stderr"
	fi
	if [ $ok = 1 ]; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		failed+=("$name")
	fi
	rm -f "$out" "$err"
}

case $mode in
run)
	for src in "$here"/run/*.flow; do
		name=$(basename "$src" .flow)
		# NAME.nocluster: a case known not to run on a cluster (says why)
		case " $run_args " in *" --address "*) [ -f "${src%.flow}.nocluster" ] && continue ;; esac
		extra=""
		[ -f "${src%.flow}.args" ] && extra=$(cat "${src%.flow}.args")
		# shellcheck disable=SC2086
		one "run/$name" "$here/run" "$src" "${src%.flow}.out" 0 \
			"$flow" run $run_args $extra "$src"
	done
	;;
errors)
	for src in "$here"/errors/*.flow; do
		name=$(basename "$src" .flow)
		# Diagnostics name the file as given: run from its folder.
		extra=""
		[ -f "${src%.flow}.args" ] && extra=$(cat "${src%.flow}.args")
		# shellcheck disable=SC2086
		one "errors/$name" "$here/errors" "$src" "${src%.flow}.diag" 1 \
			"$flow" check $extra "$name.flow"
	done
	;;
samples)
	for src in "$root"/samples/*.flow; do
		name=$(basename "$src" .flow)
		[ -f "${src%.flow}.out" ] || continue
		extra=""
		[ -f "${src%.flow}.args" ] && extra=$(cat "${src%.flow}.args")
		# shellcheck disable=SC2086
		one "samples/$name" "$root/samples" "$src" "${src%.flow}.out" 0 \
			"$flow" run $run_args $extra "$name.flow"
	done
	;;
plans)
	plandir=$(mktemp -d)
	trap 'rm -rf "$plandir"' EXIT
	for src in "$here"/run/*.flow "$root"/samples/*.flow; do
		name=$(basename "$src" .flow)
		dir=$(dirname "$src")
		[ -f "${src%.flow}.out" ] || continue
		# NAME.noplan: a case whose plan cannot be written (says why)
		[ -f "${src%.flow}.noplan" ] && continue
		extra=""
		[ -f "${src%.flow}.args" ] && extra=$(cat "${src%.flow}.args")
		# -p values are fixed at compile time; the rest go to run
		pargs=() rargs=()
		set -f
		# shellcheck disable=SC2206
		words=($extra)
		set +f
		for ((k = 0; k < ${#words[@]}; k++)); do
			if [ "${words[k]}" = -p ]; then
				pargs+=(-p "${words[k + 1]}")
				k=$((k + 1))
			else
				rargs+=("${words[k]}")
			fi
		done
		plan="$plandir/$name.plan"
		label="plans/$(basename "$dir")/$name"
		if ! (cd "$dir" && "$flow" compile "${pargs[@]+"${pargs[@]}"}" -o "$plan" "$name.flow" \
			>/dev/null 2>&1 </dev/null); then
			# a program that fails to compile must fail the same way in run
			# shellcheck disable=SC2086
			one "$label" "$dir" "$src" "${src%.flow}.out" 0 \
				"$flow" compile "${pargs[@]+"${pargs[@]}"}" -o "$plan" "$name.flow"
			continue
		fi
		# shellcheck disable=SC2086
		one "$label" "$dir" "$src" "${src%.flow}.out" 0 \
			"$flow" run $run_args "${rargs[@]+"${rargs[@]}"}" "$plan"
	done
	;;
dot)
	for src in "$here"/dot/*.flow; do
		name=$(basename "$src" .flow)
		extra=""
		[ -f "${src%.flow}.args" ] && extra=$(cat "${src%.flow}.args")
		if [ "$update" = --update ]; then
			# shellcheck disable=SC2086
			if (cd "$here/dot" && timeout 120 "$flow" dot $extra "$name.flow" \
				>"${src%.flow}.dot.new" </dev/null); then
				mv "${src%.flow}.dot.new" "${src%.flow}.dot"
				echo "updated dot/$name.dot"
				pass=$((pass + 1))
			else
				rm -f "${src%.flow}.dot.new"
				echo "FAIL dot/$name: flow dot failed; $name.dot left as it was"
				fail=$((fail + 1))
				failed+=("dot/$name")
			fi
			continue
		fi
		if [ ! -f "${src%.flow}.dot" ]; then
			echo "FAIL dot/$name: no $name.dot (generate it: run.sh dot FLOW --update)"
			fail=$((fail + 1))
			failed+=("dot/$name")
			continue
		fi
		# DOT names the file as given: run from its folder
		# shellcheck disable=SC2086
		one "dot/$name" "$here/dot" "$src" "${src%.flow}.dot" 0 \
			"$flow" dot $extra "$name.flow"
	done
	;;
*)
	echo "usage: run.sh run|errors|samples|plans|dot FLOW [--update]" >&2
	exit 2
	;;
esac

echo "golden $mode: $pass passed, $fail failed"
for f in "${failed[@]+"${failed[@]}"}"; do echo "  failed: $f"; done
[ $fail = 0 ] && [ $pass -gt 0 ]

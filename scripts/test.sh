#!/usr/bin/env bash
# test.sh - runs the whole test suite twice: a normal build, then a build
# with AddressSanitizer and UndefinedBehaviorSanitizer; then the parallel
# executor's suites (every golden program and sample with several threads,
# nested calls) a third time under ThreadSanitizer; then a short libFuzzer
# run (scripts/fuzz.sh). Run setup.sh first (it installs the packages);
# this script builds what it tests.
set -euo pipefail
cd "$(dirname "$0")/.."

status=0
passed=0
failed=0
run_suite() { # build-dir [meson setup options...]; $ONLY: test names (default all)
	local dir=$1
	shift
	if [ ! -f "$dir/build.ninja" ]; then
		meson setup "$dir" "$@" >/dev/null
	fi
	ninja -C "$dir" >/dev/null
	echo "== tests in $dir"
	# shellcheck disable=SC2086
	if ! meson test -C "$dir" --print-errorlogs --num-processes 2 ${ONLY:-}; then
		status=1
	fi
	# Count every test case, not just every suite: cmocka's and the golden
	# runners' own "NAME: N passed, N failed" lines in the test log.
	local log=$dir/meson-logs/testlog.txt
	local p f
	p=$(awk '/^\[  PASSED  \] [0-9]+ test/ {s+=$4}
		/^[a-z ]+: [0-9]+ passed, [0-9]+ failed$/ {s+=$(NF-3)} END {print s+0}' "$log")
	f=$(awk '/^\[  FAILED  \] [0-9]+ test/ {s+=$4}
		/^[a-z ]+: [0-9]+ passed, [0-9]+ failed$/ {s+=$(NF-1)} END {print s+0}' "$log")
	passed=$((passed + p))
	failed=$((failed + f))
}

run_suite build
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	run_suite build-asan -Db_sanitize=address,undefined -Db_lundef=false
# halt_on_error: a data race fails the test it happens in. The
# suppressions cover only OpenBLAS's and Graphviz's own threads.
TSAN_OPTIONS="suppressions=$PWD/tests/parallel/tsan.supp halt_on_error=1 second_deadlock_stack=1" \
ONLY="golden-run-parallel samples-parallel nested" \
	run_suite build-tsan -Db_sanitize=thread
# a short libFuzzer run of the wire decoder and handshake (skips, saying
# so, where clang has no libFuzzer); FLOW_FUZZ_SECONDS=0 leaves it out
if [ "${FLOW_FUZZ_SECONDS:-30}" != 0 ] && ! bash scripts/fuzz.sh; then
	status=1
fi
echo "tests: $passed passed, $failed failed"
exit $status

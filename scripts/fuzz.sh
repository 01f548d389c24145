#!/usr/bin/env bash
# fuzz.sh - a short libFuzzer run of the wire decoder and the handshake
# state machine (tests/fuzz/fuzz_wire.c) and of the value decoder
# (fuzz_decode), from their stored seeds, for CI: FLOW_FUZZ_SECONDS each
# (default 30). Builds build-fuzz/ with clang (-Dfuzz=true, ASan+UBSan).
# On Debian 12 as root it installs clang and libclang-rt-dev (libFuzzer)
# when missing; where clang has no libFuzzer it says so and skips (exit 0).
# A finding fails (exit 1); its input is left in build-fuzz/findings/.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${FLOW_FUZZ_SECONDS:-30}
dir=${FLOW_FUZZ_BUILD:-build-fuzz}

has_libfuzzer() {
	local t
	t=$(mktemp -d)
	printf '#include <stdint.h>\n#include <stddef.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' >"$t/p.c"
	clang -fsanitize=fuzzer,address "$t/p.c" -o "$t/p" >/dev/null 2>&1 && "$t/p" -runs=1 >/dev/null 2>&1
	local rc=$?
	rm -rf "$t"
	return $rc
}

if ! command -v clang >/dev/null || ! has_libfuzzer; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		echo "fuzz.sh: installing clang and libclang-rt-dev (libFuzzer)"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends clang libclang-rt-dev >/dev/null || true
	fi
fi
if ! command -v clang >/dev/null; then
	echo "fuzz.sh: skipped: clang is not installed (apt-get install clang libclang-rt-dev)"
	exit 0
fi
if ! has_libfuzzer; then
	echo "fuzz.sh: skipped: $(clang --version | head -1) cannot link -fsanitize=fuzzer (libFuzzer: apt-get install libclang-rt-dev)"
	exit 0
fi

if [ ! -f "$dir/build.ninja" ]; then
	CC=clang meson setup "$dir" -Dfuzz=true -Dtests=false \
		-Db_sanitize=address,undefined -Db_lundef=false >/dev/null 2>&1
fi
ninja -C "$dir" tests/fuzz/fuzz_wire tests/fuzz/fuzz_decode >/dev/null

export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
status=0
mkdir -p "$dir/findings"
for h in wire decode; do
	# libFuzzer adds new inputs to the first folder: a scratch one
	work=$(mktemp -d)
	log="$dir/findings/fuzz_$h.log"
	if (cd "$dir/findings" && "../tests/fuzz/fuzz_$h" -max_total_time="$secs" -max_len=4096 \
		-print_final_stats=1 "$work" "$OLDPWD/tests/fuzz/corpus/$h") >"$log" 2>&1; then
		echo "fuzz.sh: fuzz_$h: $secs s, $(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$') inputs, nothing found"
	else
		echo "fuzz.sh: fuzz_$h FOUND something (see $log and $dir/findings/):"
		grep -E "ERROR|SUMMARY|Test unit written" "$log" | head -5
		status=1
	fi
	rm -rf "$work"
done
exit $status

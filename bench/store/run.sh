#!/bin/sh
# bench/store/run.sh: spill throughput of the object store beside dd on the
# same disk. Writes SIZE of 1 MiB tensors through a 64 MiB store (every
# byte past the cap goes to LMDB), reads them all back, and compares MB/s
# with dd writing and reading SIZE with direct I/O.
# Usage: bench/store/run.sh [STORE_BENCH [SIZE_MIB [DIR]]]
#   STORE_BENCH: the driver (default build/tests/store_bench; built with -Dtests=true)
#   SIZE_MIB: default 1024; DIR: where to spill (default $TMPDIR or /tmp)
# The store does not use O_DIRECT: its write time includes a final sync, and
# before reading back it drops its file from the page cache
# (posix_fadvise DONTNEED), so both sides read from the disk.
set -eu
bench=${1:-build/tests/store_bench}
mib=${2:-1024}
dir=${3:-${TMPDIR:-/tmp}}
tmp=$(mktemp -d "$dir/store-bench-XXXXXX")
trap 'rm -rf "$tmp"' EXIT

line=$("$bench" "${mib}MiB" 64MiB 1MiB "$tmp")
echo "$line"
sw=$(echo "$line" | sed 's/.*write_MBps=\([0-9.]*\).*/\1/')
sr=$(echo "$line" | sed 's/.*read_MBps=\([0-9.]*\).*/\1/')

# dd's last line: "N bytes (...) copied, T s, R MB/s"
ddrate() { tail -n 1 | awk '{ for (i = 1; i <= NF; i++) if ($i == "s,") t = $(i-1); printf "%.0f", $1 / t / 1e6 }'; }
dw=$(dd if=/dev/zero of="$tmp/f" bs=1M count="$mib" oflag=direct 2>&1 | ddrate)
dr=$(dd if="$tmp/f" of=/dev/null bs=1M iflag=direct 2>&1 | ddrate)
echo "dd write_MBps=$dw read_MBps=$dr"
awk -v sw="$sw" -v sr="$sr" -v dw="$dw" -v dr="$dr" -v mib="$mib" 'BEGIN {
	printf "spill %d MiB through 64 MiB: write %.0f MB/s (%.2f x dd), read back %.0f MB/s (%.2f x dd)\n",
		mib, sw, sw / dw, sr, sr / dr }'

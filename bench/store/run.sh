#!/bin/sh
# bench/store/run.sh: spill throughput of the object store beside dd on the
# same disk. Writes SIZE of 1 MiB tensors through a 64 MiB store (every
# byte past the cap goes to the spill files), reads them all back, and
# compares MB/s with dd writing and reading SIZE on the same disk:
#   dd direct:   oflag=direct / iflag=direct (the peer: no page cache)
#   dd buffered: through the page cache, conv=fdatasync (data on disk at the
#                end, as the store's final sync), read after dropping the
#                file's pages (iflag=nocache)
# The store's write figures: "loop" is the whole put loop, making each
# tensor included (zeroing fresh pages: dd's /dev/zero costs nothing);
# "in store" is the time spent inside store_put and the final store_sync.
# Both end with the data on the disk (store_sync: fdatasync), and the read
# back starts with the store's files dropped from the page cache.
# Usage: bench/store/run.sh [STORE_BENCH [SIZE_MIB [DIR]]]
#   STORE_BENCH: the driver (default build/tests/store_bench; built with -Dtests=true)
#   SIZE_MIB: default 1024; DIR: where to spill (default $TMPDIR or /tmp)
set -eu
bench=${1:-build/tests/store_bench}
mib=${2:-1024}
dir=${3:-${TMPDIR:-/tmp}}
tmp=$(mktemp -d "$dir/store-bench-XXXXXX")
trap 'rm -rf "$tmp"' EXIT

line=$("$bench" "${mib}MiB" 64MiB 1MiB "$tmp")
echo "$line"
field() { echo "$line" | tr ' ' '\n' | sed -n "s/^$1=\([0-9.]*\).*/\1/p"; }
sw=$(field write_MBps)
si=$(field instore_MBps)
sr=$(field read_MBps)

# dd's last line: "N bytes (...) copied, T s, R MB/s"
ddrate() { tail -n 1 | awk '{ for (i = 1; i <= NF; i++) if ($i == "s,") t = $(i-1); printf "%.0f", $1 / t / 1e6 }'; }
dw=$(dd if=/dev/zero of="$tmp/f" bs=1M count="$mib" oflag=direct 2>&1 | ddrate)
dr=$(dd if="$tmp/f" of=/dev/null bs=1M iflag=direct 2>&1 | ddrate)
rm -f "$tmp/f"
bw=$(dd if=/dev/zero of="$tmp/f" bs=1M count="$mib" conv=fdatasync 2>&1 | ddrate)
dd if="$tmp/f" iflag=nocache count=0 2>/dev/null
br=$(dd if="$tmp/f" of=/dev/null bs=1M 2>&1 | ddrate)
echo "dd direct write_MBps=$dw read_MBps=$dr buffered write_MBps=$bw read_MBps=$br"
awk -v sw="$sw" -v si="$si" -v sr="$sr" -v dw="$dw" -v dr="$dr" -v bw="$bw" -v br="$br" -v mib="$mib" 'BEGIN {
	printf "spill %d MiB through 64 MiB, x dd direct (x dd buffered):\n", mib
	printf "  write in store %.0f MB/s %.2f x (%.2f x); whole loop %.0f MB/s %.2f x (%.2f x)\n",
		si, si / dw, si / bw, sw, sw / dw, sw / bw
	printf "  read back %.0f MB/s %.2f x (%.2f x)\n", sr, sr / dr, sr / br }'

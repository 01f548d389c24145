#!/bin/sh
# bench/store/run.sh: spill throughput of the object store beside dd on the
# same disk. Writes SIZE of tensors (1 MiB each, or OBJ_MIB) through a 64 MiB store (every
# byte past the cap goes to the spill files), reads them all back, and
# compares MB/s with dd writing and reading SIZE on the same disk:
#   dd direct:   oflag=direct / iflag=direct (the peer: no page cache)
#   dd direct+sync: oflag=direct conv=fdatasync, the like-for-like peer of
#                the store's write figures, which end with store_sync's
#                fdatasync: on a VM whose host caches the disk, a direct
#                write returns once the host has the data, and only the
#                flush puts it on the disk (dd direct's figure leaves it out)
#   dd buffered: through the page cache, conv=fdatasync (data on disk at the
#                end, as the store's final sync), read after dropping the
#                file's pages (iflag=nocache)
# The store's write figures: "loop" is the whole put loop, making each
# tensor included (zeroing fresh pages: dd's /dev/zero costs nothing);
# "in store" is the time spent inside store_put and the final store_sync.
# Both end with the data on the disk (store_sync: fdatasync), and the read
# back starts with the store's files dropped from the page cache.
# Usage: [RUNS=N] [OBJ_MIB=M] bench/store/run.sh [STORE_BENCH [SIZE_MIB [DIR]]]
#   STORE_BENCH: the driver (default build/tests/store_bench; built with -Dtests=true)
#   SIZE_MIB: default 1024; DIR: where to spill (default $TMPDIR or /tmp)
#   OBJ_MIB: the tensors' size (default 1; 2 and more: tensors on huge
#         pages, written with O_DIRECT by the store)
#   RUNS: rounds (default 1), each the store then dd; the disk's speed moves
#         between rounds (a VM's disk, cached by its host), so each ratio is
#         taken within its round, and with RUNS > 1 their medians are printed
set -eu
bench=${1:-build/tests/store_bench}
mib=${2:-1024}
dir=${3:-${TMPDIR:-/tmp}}
runs=${RUNS:-1}
obj=${OBJ_MIB:-1}
tmp=$(mktemp -d "$dir/store-bench-XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# dd's last line: "N bytes (...) copied, T s, R MB/s"
ddrate() { tail -n 1 | awk '{ for (i = 1; i <= NF; i++) if ($i == "s,") t = $(i-1); printf "%.0f", $1 / t / 1e6 }'; }
ratios=$tmp/ratios
: > "$ratios"
r=0
while [ "$r" -lt "$runs" ]; do
	r=$((r + 1))
	line=$("$bench" "${mib}MiB" 64MiB "${obj}MiB" "$tmp")
	echo "$line"
	field() { echo "$line" | tr ' ' '\n' | sed -n "s/^$1=\([0-9.]*\).*/\1/p"; }
	sw=$(field write_MBps)
	si=$(field instore_MBps)
	sr=$(field read_MBps)
	dw=$(dd if=/dev/zero of="$tmp/f" bs=1M count="$mib" oflag=direct 2>&1 | ddrate)
	dr=$(dd if="$tmp/f" of=/dev/null bs=1M iflag=direct 2>&1 | ddrate)
	rm -f "$tmp/f"
	ds=$(dd if=/dev/zero of="$tmp/f" bs=1M count="$mib" oflag=direct conv=fdatasync 2>&1 | ddrate)
	rm -f "$tmp/f"
	bw=$(dd if=/dev/zero of="$tmp/f" bs=1M count="$mib" conv=fdatasync 2>&1 | ddrate)
	dd if="$tmp/f" iflag=nocache count=0 2>/dev/null
	br=$(dd if="$tmp/f" of=/dev/null bs=1M 2>&1 | ddrate)
	rm -f "$tmp/f"
	echo "dd direct write_MBps=$dw read_MBps=$dr direct+sync write_MBps=$ds buffered write_MBps=$bw read_MBps=$br"
	awk -v obj="$obj" -v sw="$sw" -v si="$si" -v sr="$sr" -v dw="$dw" -v dr="$dr" -v ds="$ds" -v bw="$bw" -v br="$br" -v mib="$mib" 'BEGIN {
		printf "spill %d MiB of %d MiB tensors through 64 MiB, x dd direct (x dd direct+sync) (x dd buffered):\n", mib, obj
		printf "  write in store %.0f MB/s %.2f x (%.2f x) (%.2f x); whole loop %.0f MB/s %.2f x (%.2f x) (%.2f x)\n",
			si, si / dw, si / ds, si / bw, sw, sw / dw, sw / ds, sw / bw
		printf "  read back %.0f MB/s %.2f x (%.2f x)\n", sr, sr / dr, sr / br }'
	echo "$si $dw $sw $sr $dr $ds" | awk '{ printf "%.3f %.3f %.3f %.3f %.3f\n", $1 / $2, $3 / $2, $4 / $5, $1 / $6, $3 / $6 }' >> "$ratios"
done
if [ "$runs" -gt 1 ]; then
	med() { cut -d' ' -f"$1" "$ratios" | sort -n | awk '{ v[NR] = $1 } END { printf "%.2f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
	each() { cut -d' ' -f"$1" "$ratios" | awk '{ printf "%s%.2f", (NR > 1 ? " " : ""), $1 }'; }
	echo "medians of $runs rounds, x dd direct in the same round:"
	echo "  write in store $(med 1) x ($(each 1)); whole loop $(med 2) x ($(each 2))"
	echo "  read back $(med 3) x ($(each 3))"
	echo "x dd direct+sync in the same round:"
	echo "  write in store $(med 4) x ($(each 4)); whole loop $(med 5) x ($(each 5))"
fi

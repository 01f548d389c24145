#!/usr/bin/env bash
# make_corpus.sh - regenerates the fuzzers' seed corpora in tests/fuzz/corpus/
# from real programs, so that every harness starts from them:
#   parse/  (and run/, the same files)  the samples and the golden programs
#   decode/ a few hand-written value encodings (lang/encode.h)
#   plan/   plans compiled from a few small golden programs and samples
# Usage: tests/fuzz/make_corpus.sh [FLOW]   (FLOW defaults to build/cli/flow)
# Run it again when the plan format changes (PLAN_VERSION): the unit test
# `corpus` loads every plan here and fails on one this flow cannot read.
set -euo pipefail
cd "$(dirname "$0")/../.."
flow=${1:-build/cli/flow}
out=tests/fuzz/corpus
[ -x "$flow" ] || { echo "make_corpus.sh: no $flow (build first)" >&2; exit 1; }

rm -rf "$out/parse" "$out/decode" "$out/plan"
mkdir -p "$out/parse" "$out/decode" "$out/plan"
for f in samples/*.flow; do cp "$f" "$out/parse/samples_$(basename "$f")"; done
for d in run errors; do
	for f in tests/golden/$d/*.flow; do cp "$f" "$out/parse/${d}_$(basename "$f")"; done
done
ln -sfn parse "$out/run"

# value encodings: version byte 0xf1, then tag and payload
seed() { printf "$2" > "$out/decode/$1"; }
seed none   '\xf1\x00'
seed true   '\xf1\x02'
seed int    '\xf1\x03\x0a'                       # 5
seed negint '\xf1\x03\x01'                       # -1
seed float  '\xf1\x04\x00\x00\x00\x00\x00\x00\xf8\x3f'   # 1.5
seed str    '\xf1\x05\x02hi'
seed list   '\xf1\x06\x02\x05\x01a\x03\x02'      # ["a", 1]
seed dict   '\xf1\x07\x01\x05\x01k\x06\x02\x00\x02'      # {"k": [none, true]}
seed tensor '\xf1\x08\x01\x02\x00\x00\x00\x00\x00\x00\xf0\x3f\x00\x00\x00\x00\x00\x00\x00\x40'
seed shared '\xf1\x06\x02\x06\x01\x03\x02\x0a\x00'       # x = [1]; [x, x]

# plans: small programs that between them use most instructions (calls of
# every kind, actors, loops, comprehensions, f-strings, dicts, tensors)
plans="samples/002_tasks samples/004_merge_sort samples/000_matrices
	tests/golden/run/control_flow tests/golden/run/comprehensions tests/golden/run/dicts
	tests/golden/run/fstrings tests/golden/run/actors tests/golden/run/lists
	tests/golden/run/strings tests/golden/run/recursion tests/golden/run/int_arith
	tests/golden/run/reduce tests/golden/run/tasks_futures tests/golden/run/sorting
	tests/golden/run/container_cycles tests/golden/run/shared_structures
	tests/golden/run/fn_defaults tests/golden/run/tensors tests/golden/run/params
	tests/golden/run/actor_handles tests/golden/run/put_wait
	tests/golden/run/try_except_task tests/golden/run/staged_patterns tests/golden/run/streams"
for p in $plans; do
	"$flow" compile -o "$out/plan/$(basename "$p").plan" "$p.flow" >/dev/null
done
du -sb --apparent-size "$out"

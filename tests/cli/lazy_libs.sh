#!/usr/bin/env bash
# lazy_libs.sh - OpenBLAS and Graphviz are opened on first use
# (lang/blas_load.c, compiler/graphviz_load.c): commands that multiply no
# matrices and draw nothing never load them; those that do get the same
# results; a missing library gives a clear error (root only: the library
# hidden inside unshare -m). Exit 77 (skipped) without LD_DEBUG support.
set -u
flow=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
ok() { # name cmd...
	local name=$1
	shift
	if "$@"; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "FAIL: $name"
	fi
}
# the libraries the dynamic loader opened for one command
loaded() { # cmd...
	LD_DEBUG=libs "$@" 2>&1 >/dev/null | grep -o 'calling init: [^ ]*' || true
}

cat >"$tmp/small.flow" <<'FLOW'
let x = 1 + 2
print(x)
FLOW
cat >"$tmp/mat.flow" <<'FLOW'
import tensor
let a = tensor.ones([3, 4])
let b = tensor.ones([4, 2])
print(a @ b)
let v = tensor.ones([5])
print(v @ v)
FLOW
loaded "$flow" --version | grep -q 'calling init' || { echo "lazy_libs: no LD_DEBUG: skipped"; exit 77; }

no_lib() { # pattern cmd...
	local pat=$1
	shift
	! loaded "$@" | grep -Eq "$pat"
}
has_lib() {
	local pat=$1
	shift
	loaded "$@" | grep -Eq "$pat"
}
BLAS='blas|gfortran'
GV='libgvc|libcgraph'
ok "--version loads no BLAS" no_lib "$BLAS" "$flow" --version
ok "--version loads no Graphviz" no_lib "$GV" "$flow" --version
ok "check loads no BLAS" no_lib "$BLAS" "$flow" check "$tmp/small.flow"
ok "run without matrices loads no BLAS" no_lib "$BLAS" "$flow" run "$tmp/small.flow"
ok "run without matrices loads no Graphviz" no_lib "$GV" "$flow" run "$tmp/small.flow"
ok "flow dot (DOT text) loads no Graphviz" no_lib "$GV" "$flow" dot "$tmp/small.flow"
ok "a matrix product loads BLAS" has_lib "$BLAS" "$flow" run "$tmp/mat.flow"
# the libraries meson linked from their archives (FLOW_STATIC_LIBS, set by
# tests/meson.build: -Dstatic_libs) are never opened: each shared one was
# start-up that every process paid (bench/README.md, "Plan loading")
for name in ${FLOW_STATIC_LIBS:-}; do
	ok "lib$name linked from its archive: --version does not open it" \
		no_lib "/lib$name\.so" "$flow" --version
	ok "lib$name linked from its archive: run does not open it" \
		no_lib "/lib$name\.so" "$flow" run "$tmp/small.flow"
done
ok "-T svg loads Graphviz" has_lib "$GV" "$flow" dot -T svg -o "$tmp/a.svg" "$tmp/small.flow"
# libcrypto's SHA-256 linked in (FLOW_SHA_LINKED, compiler/meson.build):
# a plan of 1 MiB or more (it was opened for those) is checked without it
if [ -n "${FLOW_SHA_LINKED:-}" ]; then
	awk 'BEGIN { print "task noop(i: int) -> int {\n    return i\n}\nlet xs = [noop(i) for i in range(100000)]" }' >"$tmp/big.flow"
	"$flow" compile -o "$tmp/big.plan" "$tmp/big.flow"
	ok "a big plan is 1 MiB or more" test "$(wc -c <"$tmp/big.plan")" -ge 1048576
	ok "SHA-256 linked in: a big plan's load opens no libcrypto" \
		no_lib 'libcrypto' "$flow" compile --stats "$tmp/big.plan"
fi

"$flow" run "$tmp/mat.flow" >"$tmp/mat.out" 2>&1
ok "matrix products" grep -qxF 'tensor(shape=[3, 2]) [[4.0, 4.0], [4.0, 4.0], [4.0, 4.0]]' "$tmp/mat.out"
ok "matrix products: dot" grep -qx '5.0' "$tmp/mat.out"
ok "svg drawn in-process" env PATH=/nonexistent "$flow" dot -T svg -o "$tmp/b.svg" "$tmp/small.flow"
ok "svg is an svg" grep -q '</svg>' "$tmp/b.svg"

# hide a library: /dev/null over every file the loader's cache names
hide() { # regex cmd... (run inside a private mount namespace)
	local re=$1
	shift
	local mounts=""
	for f in $(ldconfig -p | grep -E "$re" | sed 's/.* => //'); do
		mounts+="mount --bind /dev/null $(readlink -f "$f") && "
	done
	unshare -m sh -c "${mounts}exec \"\$@\"" sh "$@"
}
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null && unshare -m true 2>/dev/null; then
	hide 'lib(open|c)?blas\.so' "$flow" run "$tmp/mat.flow" >"$tmp/nb.out" 2>"$tmp/nb.err"
	ok "no BLAS: exit 1" test $? = 1
	ok "no BLAS: says so" grep -q '^flow: matrix operations need OpenBLAS (libopenblas0 / libblas3): ' "$tmp/nb.err"
	hide 'lib(open|c)?blas\.so' "$flow" run "$tmp/small.flow" >"$tmp/nb2.out" 2>&1
	ok "no BLAS: other programs still run" grep -qx 3 "$tmp/nb2.out"
	hide 'libgvc\.so' env PATH=/nonexistent "$flow" dot -T svg -o "$tmp/c.svg" "$tmp/small.flow" 2>"$tmp/ng.err"
	ok "no Graphviz, no dot program: exit 1" test $? = 1
	ok "no Graphviz, no dot program: says what is missing" grep -q \
		'^flow: error: drawing svg needs Graphviz: its library (package libgvc6) or its dot program (package graphviz), and neither is here: .*libgvc\.so\.6' \
		"$tmp/ng.err"
	ok "no Graphviz, no dot program: no file left" test ! -e "$tmp/c.svg"
	# (the dot program links the same library: no fallback to test here)
	hide 'libgvc\.so' "$flow" dot "$tmp/small.flow" >"$tmp/e.dot"
	ok "no Graphviz: DOT text still written" grep -q '^digraph' "$tmp/e.dot"
else
	echo "lazy_libs: not root or no unshare -m: missing-library cases skipped"
fi

echo "lazy_libs: $pass passed, $fail failed"
[ "$fail" = 0 ]

#!/usr/bin/env bash
# setup.sh - installs Flow's build dependencies from Debian's packages (as
# root, on Debian 12) and builds `flow` into ./build. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(gcc libc6-dev pkg-config meson ninja-build flex bison
	libnng-dev libmbedtls-dev liblmdb-dev libcmocka-dev libopenblas-dev
	zlib1g-dev graphviz libgraphviz-dev libjansson-dev iproute2 nftables iperf3
	openssl libssl-dev) # openssl: tests/cluster/tls.sh makes its certificates with it;
	# libssl-dev: libcrypto.a, whose SHA-256 checks plans (compiler/meson.build)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "setup.sh: missing packages: ${missing[*]}; run as root or install them" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

build=${FLOW_BUILD:-build}
if [ ! -f "$build/build.ninja" ]; then
	meson setup "$build" >/dev/null
fi
ninja -C "$build" >/dev/null
echo "setup.sh: built $build/cli/flow"

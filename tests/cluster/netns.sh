# netns.sh - hosts made of network namespaces on this machine (sourced).
#
# A switch namespace holds a bridge; each host is a namespace with one veth
# link to the bridge, its own address on 10.77.0.0/24 (host i is 10.77.0.i)
# and, through on_host, its own host name (a UTS namespace per command).
# The veth pairs are created inside the switch namespace and their host
# ends moved straight into the host namespaces: nothing is added to the
# root namespace. netns_cleanup (put it in an EXIT trap) removes every
# namespace made here. Needs root and iproute2.
#
#   netns_available            0 if namespaces can be made here
#   netns_setup N              makes hosts 1..N
#   on_host I CMD...           runs CMD on host I (hostname hostI)
#   host_ip I                  prints host I's address
#   netns_cleanup

NETNS_TAG="flow$$"
NETNS_SW="${NETNS_TAG}sw"
NETNS_HOSTS=()

netns_available() {
	[ "$(id -u)" = 0 ] || return 1
	command -v ip >/dev/null && command -v unshare >/dev/null || return 1
	local probe="${NETNS_TAG}probe"
	ip netns add "$probe" 2>/dev/null || return 1
	ip netns exec "$probe" unshare --uts true 2>/dev/null
	local rc=$?
	ip netns del "$probe" 2>/dev/null
	return $rc
}

host_ns() { echo "${NETNS_TAG}h$1"; }
host_ip() { echo "10.77.0.$1"; }

netns_setup() {
	local n=$1 i ns
	ip netns add "$NETNS_SW" || return 1
	ip netns exec "$NETNS_SW" ip link add br0 type bridge || return 1
	ip netns exec "$NETNS_SW" ip link set br0 up || return 1
	for ((i = 1; i <= n; i++)); do
		ns=$(host_ns "$i")
		ip netns add "$ns" || return 1
		NETNS_HOSTS+=("$ns")
		ip netns exec "$NETNS_SW" ip link add "veth$i" type veth peer name eth0 netns "$ns" || return 1
		ip netns exec "$NETNS_SW" ip link set "veth$i" master br0 up || return 1
		ip netns exec "$ns" ip link set lo up || return 1
		ip netns exec "$ns" ip addr add "$(host_ip "$i")/24" dev eth0 || return 1
		ip netns exec "$ns" ip link set eth0 up || return 1
	done
}

# The command replaces the shell (exec), so $! of `on_host ... &` is its pid.
on_host() {
	local i=$1
	shift
	exec_in_host "$i" "$@"
}
exec_in_host() {
	local i=$1
	shift
	ip netns exec "$(host_ns "$i")" unshare --uts sh -c 'hostname "$0" && exec "$@"' "host$i" "$@"
}

netns_cleanup() {
	local ns
	for ns in "${NETNS_HOSTS[@]}" "$NETNS_SW"; do
		# anything still running in it dies with it
		for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
		ip netns del "$ns" 2>/dev/null
	done
	NETNS_HOSTS=()
}

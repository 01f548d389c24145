/* node.h - what a daemon says about the machine it runs on, for JOIN and
 * status: host name, address, cpus, resources and store figures.
 *
 * Ownership: plain values with fixed buffers; nothing to free.
 */
#ifndef FLOW_CLUSTER_NODE_H
#define FLOW_CLUSTER_NODE_H

#include <signal.h>
#include <stdint.h>

struct node_opts {
	const char *address;   /* worker: the head's HOST:PORT */
	int port;              /* head: the port to listen on (6379) */
	const char *node_ip;   /* the address to advertise, or NULL */
	int cpus;              /* CPUs this node offers */
	const char *resources; /* "name=amount,..." (already checked), or "" */
	uint64_t store_cap;    /* --object-store-memory, bytes */
	const char *spill_dir; /* --spill-dir, or "" */
	const struct auth_token *token;
	volatile sig_atomic_t *stop; /* set by SIGTERM/SIGINT: leave cleanly */
	/* worker: how long to try to join again after losing a head that is
	 * not known to be gone (silence, fenced), in ms; 0: never */
	int rejoin_ms;
	/* the node's object store (daemon.h): a worker that joins again as a
	 * new node replaces it (the old spill directory is removed); NULL: none */
	struct store **store;
	/* Called once the daemon serves (head) or has joined (worker), with a
	 * human-readable text of how to use or join it. */
	void (*ready)(void *arg, const char *text);
	void *ready_arg;
};

/* Whether *stop was set: read as an atomic, for the flag is written by a
 * signal handler on one thread and read by the daemon's others (a plain
 * volatile read is a data race between threads). NULL: never. */
static inline int node_stop_requested(volatile sig_atomic_t *stop)
{
	return stop && __atomic_load_n(stop, __ATOMIC_RELAXED);
}

/* This machine's host name (gethostname). */
void node_hostname(char *buf, size_t n);
/* The first non-loopback IPv4 address that is up, else "127.0.0.1". */
void node_default_ip(char *buf, size_t n);

#endif

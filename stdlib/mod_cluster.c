/* mod_cluster.c - the `cluster` module: the nodes a run has and what they
 * offer (LANGUAGE.md section 9). Until the cluster exists there is one
 * node, this machine, offering what `flow run` gave it (--cpus, the
 * machine's memory, --resources); the executor says so once, before the
 * run, with stdlib_set_local_node. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stdlib_impl.h"

/* Set once before any task runs; read-only afterwards (no lock needed). */
static struct {
	double cpus;
	double memory;
	int nres;
	char *names[STDLIB_MAX_RESOURCES];
	double amounts[STDLIB_MAX_RESOURCES];
} node = { 0, 0, 0, {NULL}, {0} };

void stdlib_set_local_node(double cpus, double memory, int nres, const char *const *names,
                           const double *amounts)
{
	for (int k = 0; k < node.nres; k++)
		free(node.names[k]);
	node.cpus = cpus;
	node.memory = memory;
	node.nres = 0;
	for (int k = 0; k < nres && k < STDLIB_MAX_RESOURCES; k++) {
		node.names[k] = strdup(names[k]);
		node.amounts[k] = amounts[k];
		node.nres++;
	}
}

/* Defaults when no executor said anything (flow check, unit tests). */
static double node_cpus(void)
{
	if (node.cpus > 0)
		return node.cpus;
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (double)n : 1;
}

static double node_memory(void)
{
	if (node.memory > 0)
		return node.memory;
	long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGE_SIZE);
	return pages > 0 && size > 0 ? (double)pages * (double)size : 0;
}

static value number(double x)
{
	return x == (double)(int64_t)x ? v_int((int64_t)x) : v_float(x);
}

static void put(value d, const char *k, value v)
{
	verr e;
	value key = str_from_c(k);
	dict_set(d, key, v, &e);
	val_rele(key);
	val_rele(v);
}

/* {"cpus": N, "memory": bytes, name: amount...} */
static value totals(void)
{
	value d = dict_new(4);
	put(d, "cpus", number(node_cpus()));
	put(d, "memory", number(node_memory()));
	for (int k = 0; k < node.nres; k++)
		put(d, node.names[k], number(node.amounts[k]));
	return d;
}

static int c_resources(flow_vm *vm, value *argv, int argc, value *out)
{
	*out = totals();
	return 0;
}

static int c_nodes(flow_vm *vm, value *argv, int argc, value *out)
{
	char h[256];
	if (gethostname(h, sizeof h) < 0)
		strcpy(h, "localhost");
	h[sizeof h - 1] = 0;
	value n = dict_new(6);
	put(n, "id", str_from_c("local"));
	put(n, "address", str_from_c("127.0.0.1"));
	put(n, "hostname", sl_str_lossy(h, strlen(h)));
	put(n, "cpus", number(node_cpus()));
	put(n, "alive", v_bool(true));
	put(n, "resources", totals());
	value l = list_new(1);
	list_append_take(l, n);
	*out = l;
	return 0;
}

static const native_def fns[] = {
	{ "nodes", c_nodes, "", NATIVE_ENV },
	{ "resources", c_resources, "", NATIVE_ENV },
	{ NULL, NULL, NULL, 0 },
};

const module_def stdlib_mod_cluster = { "cluster", fns, NULL };

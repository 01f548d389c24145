/* mod_cluster.c - the `cluster` module: the nodes a run has and what they
 * offer (LANGUAGE.md section 9). Each task reads them from its own VM's
 * node view (lang/node_view.h), which the executor running it supplies:
 * the in-process node offers what `flow run` gave it (--cpus, the
 * machine's memory, --resources). No view (flow check, unit tests): this
 * machine's cores and memory. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lang/node_view.h"
#include "stdlib_impl.h"

static double machine_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (double)n : 1;
}

static double machine_memory(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGE_SIZE);
	return pages > 0 && size > 0 ? (double)pages * (double)size : 0;
}

/* The node vm runs on, or this machine's defaults (zeros: see above). */
static const flow_node_view *view_of(flow_vm *vm)
{
	static const flow_node_view none = { "local", "127.0.0.1", NULL, 0, 0, 0, NULL, NULL, true,
	                                     NULL, 0 };
	const flow_node_view *n = vm_ctx(vm)->node;
	return n ? n : &none;
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

/* Adds x to d[k] (a number, 0 when absent). */
static void add(value d, const char *k, double x)
{
	value key = str_from_c(k), old;
	double have = 0;
	if (dict_get(d, key, &old))
		have = old.t == V_INT ? (double)old.as.i : old.as.f;
	val_rele(key);
	put(d, k, number(have + x));
}

/* Adds what node n offers to d (the cluster's totals). */
static void add_totals(value d, const flow_node_view *n)
{
	add(d, "cpus", n->cpus > 0 ? n->cpus : machine_cpus());
	add(d, "memory", n->memory > 0 ? n->memory : machine_memory());
	for (int k = 0; k < n->nres; k++)
		add(d, n->res_names[k], n->res_amounts[k]);
}

/* What node n offers alone: {"cpus": N, "memory": bytes, name: amount...} */
static value totals(const flow_node_view *n)
{
	value d = dict_new(4);
	put(d, "cpus", number(n->cpus > 0 ? n->cpus : machine_cpus()));
	put(d, "memory", number(n->memory > 0 ? n->memory : machine_memory()));
	for (int k = 0; k < n->nres; k++)
		put(d, n->res_names[k], number(n->res_amounts[k]));
	return d;
}

/* The cluster's nodes as n knows them (itself alone when it has no peers). */
static int peers(const flow_node_view *n, const flow_node_view *const **all)
{
	if (n->npeers > 0) {
		*all = n->peers;
		return n->npeers;
	}
	return -1;
}

/* What the whole cluster offers. */
static int c_resources(flow_vm *vm, value *argv, int argc, value *out)
{
	const flow_node_view *self = view_of(vm), *const *all = NULL;
	int np = peers(self, &all);
	if (np < 0) {
		*out = totals(self);
		return 0;
	}
	value d = dict_new(4);
	for (int j = 0; j < np; j++)
		add_totals(d, all[j]);
	*out = d;
	return 0;
}

static value describe(const flow_node_view *n)
{
	char h[256];
	if (n->hostname) {
		snprintf(h, sizeof h, "%s", n->hostname);
	} else if (gethostname(h, sizeof h) < 0) {
		strcpy(h, "localhost");
	}
	h[sizeof h - 1] = 0;
	value d = dict_new(6);
	put(d, "id", str_from_c(n->id));
	put(d, "address", str_from_c(n->address));
	put(d, "hostname", sl_str_lossy(h, strlen(h)));
	put(d, "cpus", number(n->cpus > 0 ? n->cpus : machine_cpus()));
	put(d, "alive", v_bool(n->alive));
	put(d, "resources", totals(n));
	return d;
}

static int c_nodes(flow_vm *vm, value *argv, int argc, value *out)
{
	const flow_node_view *self = view_of(vm), *const *all = NULL;
	int np = peers(self, &all);
	value l = list_new(np < 0 ? 1 : (size_t)np);
	for (int j = 0; j < (np < 0 ? 1 : np); j++)
		list_append_take(l, describe(np < 0 ? self : all[j]));
	*out = l;
	return 0;
}

static const native_def fns[] = {
	{ "nodes", c_nodes, "", NATIVE_ENV },
	{ "resources", c_resources, "", NATIVE_ENV },
	{ NULL, NULL, NULL, 0 },
};

const module_def stdlib_mod_cluster = { "cluster", fns, NULL };

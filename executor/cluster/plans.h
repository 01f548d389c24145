/* plans.h - the plans a node holds, by SHA-256, assembled from PLAN_PUT
 * chunks (in order, each checked against the announced total).
 *
 * A plan travels once per node: a node that already holds a hash answers
 * its PLAN_PUT at once. With `load` set (workers), a complete plan whose
 * bytes hash to its name is validated and loaded (task_exec.h), so a bad
 * plan is refused at its last chunk, never at a RUN_TASKS.
 *
 * Ownership: the store owns every entry; plan_store_find returns a
 * borrowed entry valid until plan_store_free.
 */
#ifndef FLOW_PLANS_H
#define FLOW_PLANS_H

#include <stdint.h>

#include "task_exec.h"
#include "transport.h"
#include "wire.h"

#define PLAN_MAX_BYTES (1ull << 30)
#define PLAN_CHUNK (1u << 20)

struct plan_entry {
	uint8_t hash[32];
	uint8_t *buf;
	uint64_t total, got;
	int complete;
	cl_plan *loaded; /* with load: the validated program */
};

struct plan_store {
	struct plan_entry *v;
	size_t n, cap;
	int load;
};

/* Sends the plan named hash (len bytes) to c in PLAN_PUT chunks, each
 * acknowledged within ms: 0, or -1 with e (the peer's or the transport's
 * reason). The sender's side of the store below (client to head, head to
 * worker, client to a leased worker). */
int plan_send(wire_client *c, const uint8_t hash[32], const uint8_t *plan, uint64_t len, int ms,
              verr *e);

/* WIRE_OK, or a code with why. */
int plan_store_put(struct plan_store *s, const struct wire_plan_put *m, verr *why);
/* The complete plan named hash, or NULL. */
struct plan_entry *plan_store_find(struct plan_store *s, const uint8_t hash[32]);
void plan_store_free(struct plan_store *s);

/* SHA-256 of buf. */
void plan_hash(const void *buf, size_t len, uint8_t out[32]);

#endif

/* plan_int.h - constants shared by plan_write.c and plan_read.c. */
#ifndef FLOW_PLAN_INT_H
#define FLOW_PLAN_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lang/bytecode.h"
#include "lang/diag.h"
#include "dag.h"
#include "lang/small_limits.h"

/* magic, version, flags, source hash, section count */
#define PLAN_HEADER_LEN (8 + 4 + 4 + 32 + 4)
/* id, flags, offset, length */
#define PLAN_SECENT_LEN (4 + 4 + 8 + 8)
#define PLAN_SUM_LEN 32

/* constant tags; node inputs (NODES section) may also use the last four */
enum { PLAN_K_VALUE, PLAN_K_PROTO, PLAN_K_NATIVE, PLAN_K_ABSENT,
       PLAN_K_FUTURE, PLAN_K_ACTOR, PLAN_K_LIST, PLAN_K_DICT, PLAN_K_SAME };
/* PLAN_K_SAME k: the k-th list or dict written item by item (counting
 * from 0 in the order they were finished, over all nodes): a shared
 * part of a value is written once, so x = [x, x] repeated stays small */
/* node inputs: nesting of lists/dicts that hold references, and items per input */
#define PLAN_IN_MAX_DEPTH FLOW_LIMIT(1000, 100)
#define PLAN_IN_MAX_ITEMS FLOW_LIMIT(1u << 24, 1u << 16)

/* The proto a node's `proto` names for IMPLICIT/EFFECT nodes: one of the
 * program's protos, or the driver as DAG_PROTO_DRIVER. */
static inline const bc_proto *plan_node_proto(const bc_program *p, uint32_t i)
{
	return i < (uint32_t)p->nprotos ? p->protos[i] : i == DAG_PROTO_DRIVER ? p->driver : NULL;
}
/* native reference kinds */
enum { PLAN_NAT_BUILTIN, PLAN_NAT_MODULE };

/* SHA-256 of every source: path NUL text NUL, in file-id order. */
void plan_source_hash(const diag_ctx *d, uint8_t out[32]);

/* SHA-256 of buf[0..len) (plan_sha.c), the fastest way this machine has. */
void plan_sha256(const void *buf, size_t len, uint8_t out[32]);
/* The same with mbedtls alone. For tests that compare them. */
void plan_sha256_mbed(const void *buf, size_t len, uint8_t out[32]);

/* Rewrites the checksum at the end of plan bytes b[0..len) to match the
 * rest (when b is long enough to have one), so that a mutated plan is
 * read past the checksum: for the fuzzer and the regression corpus,
 * which test what lies behind it (the unit test checks the sum itself). */
static inline void plan_fix_checksum(uint8_t *b, size_t len)
{
	if (len >= PLAN_HEADER_LEN + PLAN_SUM_LEN)
		plan_sha256(b, len - PLAN_SUM_LEN, b + len - PLAN_SUM_LEN);
}

#endif

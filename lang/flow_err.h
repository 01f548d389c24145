/* flow_err.h - Flow's one list of error codes and flow_strerror, in the
 * style of LMDB's mdb_strerror and nng's nng_strerror.
 *
 * Convention: a call that fails for a reason a program (or a peer) may act
 * on reports one of these codes; the detail for a human (which byte, which
 * file) travels beside it as text (verr.msg, or a malloc'd message). Errors
 * tied to a place in a Flow source file are diagnostics (diag.h) instead.
 *
 * Codes are negative and start at -1001, so they never collide with the
 * -1 that older conventions return nor with errno values; FLOW_OK is 0.
 * THE CLUSTER'S WIRE PROTOCOL CARRIES THESE CODES (as signed varints):
 * never renumber or reuse one; add new codes at the end of the list.
 */
#ifndef FLOW_ERR_H
#define FLOW_ERR_H

/* X(NAME, value, message) */
#define FLOW_ERR_LIST(X) \
	X(FLOW_OK,        0,     "no error") \
	X(FLOW_ENOMEM,    -1001, "out of memory") \
	X(FLOW_EINVAL,    -1002, "invalid argument") \
	X(FLOW_ECORRUPT,  -1003, "malformed or corrupt data") \
	X(FLOW_ETRUNC,    -1004, "data ends too early") \
	X(FLOW_EVERSION,  -1005, "unsupported format version") \
	X(FLOW_ETOOBIG,   -1006, "beyond a size or depth limit") \
	X(FLOW_ENOTSUP,   -1007, "not supported for this kind of value") \
	X(FLOW_ENOTFOUND, -1008, "no such object") \
	X(FLOW_EEXIST,    -1009, "object already exists") \
	X(FLOW_EIO,       -1010, "input/output error") \
	X(FLOW_ENOSPC,    -1011, "no space left (disk or map full)") \
	X(FLOW_EAUTH,     -1012, "authentication failed") \
	X(FLOW_EPROTO,    -1013, "protocol error") \
	X(FLOW_ETIMEDOUT, -1014, "timed out") \
	X(FLOW_ECANCELED, -1015, "canceled") \
	X(FLOW_ECLOSED,   -1016, "connection closed") \
	X(FLOW_EINTERNAL, -1017, "internal error")

enum flow_err {
#define FLOW_ERR_ENUM(name, value, msg) name = value,
	FLOW_ERR_LIST(FLOW_ERR_ENUM)
#undef FLOW_ERR_ENUM
};

/* The message of a code: a static string, never NULL; for a number that is
 * not a code, "unknown error" (static too). Thread-safe. */
const char *flow_strerror(int code);

#endif

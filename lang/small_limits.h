/* small_limits.h - FLOW_LIMIT(normal, small): an internal limit's value,
 * and the much smaller one a test build uses (meson -Dsmall_limits=true
 * defines FLOW_SMALL_LIMITS), so that the paths past each limit (errors,
 * spilling, growing) run in the test suites, as Lua's ltests does.
 * `grep -rn FLOW_LIMIT` lists them. A limit whose exact value a test
 * asserts (VAL_MAX_DEPTH, VM_MAX_FRAMES, MAX_EXPR_DEPTH, the store's
 * default memory) is not shrunk: the unit and golden suites pass in both
 * builds. */
#ifndef FLOW_SMALL_LIMITS_H
#define FLOW_SMALL_LIMITS_H

#ifdef FLOW_SMALL_LIMITS
#define FLOW_LIMIT(normal, small) (small)
#else
#define FLOW_LIMIT(normal, small) (normal)
#endif

#endif

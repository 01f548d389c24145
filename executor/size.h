/* size.h - parsing a size as users write it on the command line. */
#ifndef FLOW_SIZE_H
#define FLOW_SIZE_H

#include <stdint.h>

/* Parses a size: plain bytes ("1048576"), or a number with a unit: KiB,
 * MiB, GiB, TiB (powers of 1024; K, M, G, T too), KB, MB, GB, TB (powers
 * of 1000), B. Case-insensitive units. -1 for anything else or overflow. */
int size_parse(const char *s, uint64_t *out);

#endif

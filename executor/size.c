/* size.c - sizes as users write them ("64MiB", "2GiB", "1GB"), for the
 * options that take one (--object-store-memory) and the store benchmark. */
#include <stdint.h>
#include <strings.h>

#include "executor/size.h"

int size_parse(const char *s, uint64_t *out)
{
	if (!s || *s < '0' || *s > '9')
		return -1;
	uint64_t n = 0;
	const char *p = s;
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');
		if (n > (UINT64_MAX - d) / 10)
			return -1;
		n = n * 10 + d;
	}
	static const struct { const char *unit; uint64_t mul; } units[] = {
		{"", 1}, {"b", 1},
		{"k", 1ull << 10}, {"kib", 1ull << 10}, {"kb", 1000ull},
		{"m", 1ull << 20}, {"mib", 1ull << 20}, {"mb", 1000000ull},
		{"g", 1ull << 30}, {"gib", 1ull << 30}, {"gb", 1000000000ull},
		{"t", 1ull << 40}, {"tib", 1ull << 40}, {"tb", 1000000000000ull},
	};
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
		if (strcasecmp(p, units[i].unit) != 0)
			continue;
		if (n > UINT64_MAX / units[i].mul)
			return -1;
		*out = n * units[i].mul;
		return 0;
	}
	return -1;
}

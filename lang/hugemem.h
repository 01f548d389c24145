/* hugemem.h - large arrays on huge pages (header only).
 *
 * Each 4 KiB page fault costs microseconds on a paravirtualised machine;
 * big arrays (tensors, the scheduler's per-node arrays, a DAG's arrays,
 * a plan's buffer) ask the kernel for 2 MiB pages instead. Advice only:
 * where it is refused, the memory works as usual.
 *
 * Ownership: mem_huge_alloc's block is the caller's, freed with free();
 * mem_advise_huge changes nothing about who owns p. */
#ifndef FLOW_HUGEMEM_H
#define FLOW_HUGEMEM_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define MEM_HUGE_PAGE ((size_t)2 << 20)

/* Advises the whole 4 KiB pages inside [p, p + n) to be huge pages. */
static inline void mem_advise_huge(void *p, size_t n)
{
#ifdef MADV_HUGEPAGE
	uintptr_t a = ((uintptr_t)p + 4095) & ~(uintptr_t)4095;
	uintptr_t e = ((uintptr_t)p + n) & ~(uintptr_t)4095;
	if (e > a)
		(void)madvise((void *)a, e - a, MADV_HUGEPAGE);
#else
	(void)p;
	(void)n;
#endif
}

/* Lists' item arrays and strings this big or bigger are mappings of their
 * own on huge pages (vlist.c, vstr.c): the last huge page of one is
 * resident whole once touched, so at most 2 MiB, half of the smallest
 * such block, is memory asked for and not used. */
#define MEM_HUGE_MIN ((size_t)4 << 20)

/* Blocks at least this big that will be written soon are prefaulted
 * (lists: vlist.c). */
#define MEM_PREFAULT_MIN ((size_t)1 << 20)

/* Maps the whole 4 KiB pages inside [p, p + n) writable in one call, so
 * the writes that follow take no page fault each (one trap per page costs
 * microseconds here). For memory about to be filled: it becomes resident
 * now. Advice only: an older kernel refuses it and faults as usual. */
static inline void mem_prefault(void *p, size_t n)
{
#ifdef MADV_POPULATE_WRITE
	uintptr_t a = ((uintptr_t)p + 4095) & ~(uintptr_t)4095;
	uintptr_t e = ((uintptr_t)p + n) & ~(uintptr_t)4095;
	if (e > a)
		(void)madvise((void *)a, e - a, MADV_POPULATE_WRITE);
#else
	(void)p;
	(void)n;
#endif
}

/* *n bytes on whole huge pages: *n is rounded up to a multiple of 2 MiB,
 * the block aligned to one; NULL when out of memory. */
static inline void *mem_huge_alloc(size_t *n)
{
	*n = (*n + MEM_HUGE_PAGE - 1) & ~(MEM_HUGE_PAGE - 1);
	void *p = aligned_alloc(MEM_HUGE_PAGE, *n);
	if (p)
		mem_advise_huge(p, *n);
	return p;
}

/* A block of n bytes (n a multiple of MEM_HUGE_PAGE) mapped on its own,
 * aligned to a huge page and advised: freed with mem_huge_unmap(p, n),
 * which gives it back to the system at once (a malloc'd block of this
 * size could stay in glibc's arenas after free). NULL: out of memory. */
static inline void *mem_huge_map(size_t n)
{
	size_t len = n + MEM_HUGE_PAGE;
	char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return NULL;
	uintptr_t a = ((uintptr_t)m + MEM_HUGE_PAGE - 1) & ~(uintptr_t)(MEM_HUGE_PAGE - 1);
	char *p = (char *)a;
	if (p > m)
		munmap(m, (size_t)(p - m));
	if (p + n < m + len)
		munmap(p + n, (size_t)(m + len - (p + n)));
	mem_advise_huge(p, n);
	return p;
}

static inline void mem_huge_unmap(void *p, size_t n)
{
	munmap(p, n);
}

/* Grows a block of mem_huge_map from n to m bytes (both multiples of
 * MEM_HUGE_PAGE), keeping its bytes: in place when the addresses after it
 * are free, else moved (page tables, not bytes) to a new huge-page-aligned
 * place: mremap's own choice of address would be 4 KiB aligned and the
 * moved pages would lose their huge pages. NULL: out of memory (p is
 * unchanged). */
static inline void *mem_huge_remap(void *p, size_t n, size_t m)
{
#ifdef MREMAP_FIXED
	void *q = mremap(p, n, m, 0);
	if (q != MAP_FAILED)
		return q;
	size_t len = m + MEM_HUGE_PAGE;
	char *r = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (r == MAP_FAILED)
		return NULL;
	uintptr_t a = ((uintptr_t)r + MEM_HUGE_PAGE - 1) & ~(uintptr_t)(MEM_HUGE_PAGE - 1);
	char *t = (char *)a;
	/* the reservation's head and tail go; its middle is replaced by p */
	if (t > r)
		munmap(r, (size_t)(t - r));
	if (t + m < r + len)
		munmap(t + m, (size_t)(r + len - (t + m)));
	q = mremap(p, n, m, MREMAP_MAYMOVE | MREMAP_FIXED, t);
	if (q == MAP_FAILED) {
		munmap(t, m);
		return NULL;
	}
	mem_advise_huge(q, m);
	return q;
#else
	void *q = mem_huge_map(m);
	if (q) {
		memcpy(q, p, n);
		munmap(p, n);
	}
	return q;
#endif
}

#endif

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

#endif

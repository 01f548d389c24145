/* blas_load.c - opens a CBLAS library on first use (see blas_load.h). */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "lang/blas_load.h"

static blas_table table;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void open_blas(void)
{
	/* OpenBLAS by its own soname first (what the build used to link),
	 * then the BLAS that Debian's alternatives point at, which carries
	 * CBLAS when it is OpenBLAS or the reference libblas3 */
	static const char *const names[] = { "libopenblas.so.0", "libcblas.so.3", "libblas.so.3" };
	char why[512] = "";
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		void *h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
		if (!h) {
			if (!why[0])
				snprintf(why, sizeof why, "%s", dlerror());
			continue;
		}
		/* the thread count stays OpenBLAS's own choice, read from
		 * OPENBLAS_NUM_THREADS / OMP_NUM_THREADS when it loads, as
		 * it was when the library was linked */
		table.ddot = (__typeof__(table.ddot))dlsym(h, "cblas_ddot");
		table.dgemm = (__typeof__(table.dgemm))dlsym(h, "cblas_dgemm");
		if (table.ddot && table.dgemm)
			return;
		snprintf(why, sizeof why, "%s has no cblas_ddot/cblas_dgemm", names[i]);
		dlclose(h);
	}
	fprintf(stderr, "flow: matrix operations need OpenBLAS (libopenblas0 / libblas3): %s\n", why);
	fflush(stderr);
	exit(1);
}

const blas_table *blas_load(void)
{
	pthread_once(&once, open_blas);
	return &table;
}

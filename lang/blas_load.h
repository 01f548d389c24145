/* blas_load.h - CBLAS opened on first use (dlopen), so that a process
 * which never multiplies matrices never loads OpenBLAS (its constructor
 * starts threads that spin, and it maps libgfortran and libquadmath).
 * Ownership: the table is process-wide, filled once, never freed. */
#ifndef FLOW_LANG_BLAS_LOAD_H
#define FLOW_LANG_BLAS_LOAD_H

#include <cblas.h>

/* The CBLAS entry points Flow calls; the types come from <cblas.h>. */
typedef struct blas_table {
	__typeof__(cblas_ddot) *ddot;
	__typeof__(cblas_dgemm) *dgemm;
} blas_table;

/* The table, loading the library on the first call (thread-safe). If no
 * CBLAS library can be opened, prints "flow: matrix operations need
 * OpenBLAS ..." on stderr and exits with status 1. */
const blas_table *blas_load(void);

#endif

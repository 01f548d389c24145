/* nng_pingpong.c - the transport's own round trip, the floor under Flow's
 * remote call (bench/cluster/run.sh builds it with cc and runs it beside
 * Flow's round trip, same hosts, same run): a pair0 socket echoes every
 * message back; the other side sends a 64-byte message and waits for it,
 * N times, and prints the median in µs. No Flow code: nng's public API.
 *   nng_pingpong echo URL        (runs until killed)
 *   nng_pingpong ping URL N      (prints "mean M us, median X us (p10 Y,
 *                                 p90 Z)"; the mean compares with a run
 *                                 phase divided by its calls) */
#include <nng/nng.h>
#include <nng/protocol/pair0/pair.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double now_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

int main(int argc, char **argv)
{
	nng_socket s;
	if (argc < 3 || nng_pair0_open(&s) != 0) {
		fprintf(stderr, "usage: nng_pingpong echo URL | ping URL N\n");
		return 2;
	}
	if (strcmp(argv[1], "echo") == 0) {
		if (nng_listen(s, argv[2], NULL, 0) != 0)
			return 1;
		for (;;) {
			nng_msg *m;
			if (nng_recvmsg(s, &m, 0) != 0 || nng_sendmsg(s, m, 0) != 0)
				return 1;
		}
	}
	int n = argc > 3 ? atoi(argv[3]) : 2000, warm = 100;
	if (n < 10 || n > 10000000)
		return 2;
	nng_setopt_ms(s, NNG_OPT_RECVTIMEO, 5000);
	/* the echo side may still be starting: a bounded retry */
	int rv = NNG_ECONNREFUSED;
	for (int k = 0; k < 50 && rv != 0; k++) {
		rv = nng_dial(s, argv[2], NULL, 0);
		if (rv != 0)
			nanosleep(&(struct timespec){ 0, 100000000 }, NULL);
	}
	if (rv != 0) {
		fprintf(stderr, "nng_pingpong: cannot dial %s: %s\n", argv[2], nng_strerror(rv));
		return 1;
	}
	double *v = malloc(sizeof *v * (size_t)n);
	if (!v)
		return 1;
	for (int i = 0; i < n + warm; i++) {
		nng_msg *m;
		double t0 = now_us();
		if (nng_msg_alloc(&m, 64) != 0 || nng_sendmsg(s, m, 0) != 0 || nng_recvmsg(s, &m, 0) != 0) {
			fprintf(stderr, "nng_pingpong: the echo stopped answering\n");
			return 1;
		}
		nng_msg_free(m);
		if (i >= warm)
			v[i - warm] = now_us() - t0;
	}
	double sum = 0;
	for (int i = 0; i < n; i++)
		sum += v[i];
	qsort(v, (size_t)n, sizeof *v, by_value);
	printf("mean %.1f us, median %.1f us (p10 %.1f, p90 %.1f)\n", sum / n, v[n / 2], v[n / 10],
	       v[n * 9 / 10]);
	free(v);
	nng_close(s);
	return 0;
}

/* store_io.h - whole reads and writes of a run of iovecs, for the spill
 * store's big file (store.c writes and reads records, store_readahead.c
 * reads them ahead). Static inline: small loops, no state. */
#ifndef FLOW_STORE_IO_H
#define FLOW_STORE_IO_H

#include <errno.h>
#include <stdint.h>
#include <sys/uio.h>

/* Moves *iov / *n past done bytes (a short read or write). */
static inline void iov_advance(struct iovec **iov, int *n, size_t done)
{
	while (*n > 0 && done >= (*iov)->iov_len) {
		done -= (*iov)->iov_len;
		(*iov)++;
		(*n)--;
	}
	if (*n > 0) {
		(*iov)->iov_base = (char *)(*iov)->iov_base + done;
		(*iov)->iov_len -= done;
	}
}

/* Writes the run of iovecs whole at pos. 0, or an errno value: ENOSPC
 * for a write that stops short (the disk is full), or, when block is not
 * 0, one that ends inside a block of that size (O_DIRECT cannot go on
 * from there). iov is consumed. */
static inline int pwritev_all(int fd, struct iovec *iov, int n, uint64_t pos, size_t block)
{
	while (n > 0) {
		ssize_t w = pwritev(fd, iov, n, (off_t)pos);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? errno : ENOSPC;
		if (block && (size_t)w % block != 0)
			return ENOSPC;
		pos += (uint64_t)w;
		iov_advance(&iov, &n, (size_t)w);
	}
	return 0;
}

/* Reads until need bytes are in (the iovecs may ask for more: a last
 * block past the end of the file). 0, or -1 with errno (0: the file ends
 * first). iov is consumed. */
static inline int preadv_need(int fd, struct iovec *iov, int n, uint64_t pos, size_t need)
{
	size_t got = 0;
	while (got < need && n > 0) {
		ssize_t r = preadv(fd, iov, n, (off_t)(pos + got));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = 0;
			return -1;
		}
		got += (size_t)r;
		iov_advance(&iov, &n, (size_t)r);
	}
	if (got < need) {
		errno = 0;
		return -1;
	}
	return 0;
}

#endif

/*
 * A large output file written with O_DIRECT through io_uring: bytes are
 * copied into aligned blocks, each full block goes to the device in
 * the background while the next one fills, and the page cache is left
 * alone. The last partial block is padded to the alignment and the file
 * cut back to its true length.
 *
 * A buffered write is no cheaper than a memcpy plus a DMA anywhere, and
 * much dearer on a VM whose host takes back free guest memory: every new
 * page-cache page is then a fault in the host. rated.csv (770 MB for the
 * 5M benchmark) and the invoices (184 MB) went this way; dd wrote 184 MB
 * buffered in 0.48 s of system time after 5 s idle, 0.02 s with O_DIRECT.
 *
 * The owner holds the ring: it submits, reaps and hands each completion
 * of a write this module prepared to sr__direct_done().
 */
#ifndef SR_DIRECT_H
#define SR_DIRECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SR_DIRECT_ALIGN 4096
#define SR_DIRECT_BUFS  4

struct io_uring;

struct sr_direct {
	int fd;       /* O_DIRECT descriptor; -1: not in use */
	int plain_fd; /* a buffered descriptor of the same file */
	uint8_t tag;  /* low byte of the user data of its writes */
	size_t block; /* bytes of a block, a multiple of SR_DIRECT_ALIGN */
	char *bufs[SR_DIRECT_BUFS];
	bool busy[SR_DIRECT_BUFS];
	size_t wlen[SR_DIRECT_BUFS]; /* bytes of the write in flight */
	uint64_t woff[SR_DIRECT_BUFS];
	unsigned cur;      /* buffer being filled */
	size_t len;        /* bytes in it */
	uint64_t off;      /* file offset of its first byte (aligned) */
	unsigned inflight; /* writes submitted, not yet done */
};

/*
 * Open path again with O_DIRECT beside plain_fd, which stays open for
 * the rare unaligned write, with SR_DIRECT_BUFS blocks of block bytes
 * (a multiple of SR_DIRECT_ALIGN). The file must be empty. Where the file system
 * refuses O_DIRECT, d->fd stays -1 and the caller writes buffered.
 * Returns 0 or SR_ENOMEM.
 */
int sr__direct_open(struct sr_direct *d, const char *path, int plain_fd,
                    uint8_t tag, size_t block);
void sr__direct_close(struct sr_direct *d);

/* Copy as much of data[0..n) as free blocks take, preparing (not
 * submitting) a write on ring for each block filled; returns how much. */
size_t sr__direct_append(struct sr_direct *d, struct io_uring *ring,
                         const void *data, size_t n);

/* Whether user data is that of one of d's writes. */
static inline bool sr__direct_owns(const struct sr_direct *d, uint64_t data)
{
	return (uint8_t)data == d->tag;
}

/* A completion of one of d's writes: 0 or a negative errno. A short
 * write is finished through plain_fd, so that the error is the one the
 * file system gives (a full disk or a file size limit). */
int sr__direct_done(struct sr_direct *d, uint64_t data, int res);

/* Once no write is in flight: write the padded last block and cut the
 * file to its length. 0 or a negative errno. */
int sr__direct_tail(struct sr_direct *d);

#endif

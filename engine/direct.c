#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "direct.h"
#include "streamrate/error.h"

int sr__direct_open(struct sr_direct *d, const char *path, int plain_fd,
                    uint8_t tag, size_t block)
{
	*d = (struct sr_direct){
	    .fd = -1, .plain_fd = plain_fd, .tag = tag, .block = block};
	int fd = open(path, O_WRONLY | O_DIRECT | O_CLOEXEC);
	if (fd < 0)
		return 0; /* no direct I/O here: buffered writes */
	for (unsigned i = 0; i < SR_DIRECT_BUFS; i++) {
		if (posix_memalign((void **)&d->bufs[i], SR_DIRECT_ALIGN,
		                   block)) {
			close(fd);
			sr__direct_close(d);
			return SR_ENOMEM;
		}
	}
	d->fd = fd;
	return 0;
}

void sr__direct_close(struct sr_direct *d)
{
	if (d->fd >= 0)
		close(d->fd);
	d->fd = -1;
	for (unsigned i = 0; i < SR_DIRECT_BUFS; i++) {
		free(d->bufs[i]);
		d->bufs[i] = NULL;
	}
}

static void submit(struct sr_direct *d, struct io_uring *ring, unsigned b,
                   size_t len)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	io_uring_prep_write(sqe, d->fd, d->bufs[b], (unsigned)len, d->off);
	io_uring_sqe_set_data64(sqe, (uint64_t)b << 8 | d->tag);
	d->busy[b] = true;
	d->wlen[b] = len;
	d->woff[b] = d->off;
	d->inflight++;
}

size_t sr__direct_append(struct sr_direct *d, struct io_uring *ring,
                         const void *data, size_t n)
{
	size_t done = 0;
	while (done < n) {
		if (d->len == d->block) {
			unsigned next = (d->cur + 1) % SR_DIRECT_BUFS;
			if (d->busy[next])
				break; /* wait for the device */
			submit(d, ring, d->cur, d->block);
			d->off += d->block;
			d->cur = next;
			d->len = 0;
		}
		size_t k = d->block - d->len;
		if (k > n - done)
			k = n - done;
		memcpy(d->bufs[d->cur] + d->len, (const char *)data + done, k);
		d->len += k;
		done += k;
	}
	return done;
}

/* The rest of buf[0..len) at off after done bytes, through plain_fd,
 * which needs no alignment. */
static int rest(struct sr_direct *d, const char *buf, size_t done, size_t len,
                uint64_t off)
{
	while (done < len) {
		ssize_t n = pwrite(d->plain_fd, buf + done, len - done,
		                   (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : SR_EIO;
		done += (size_t)n;
	}
	return 0;
}

int sr__direct_done(struct sr_direct *d, uint64_t data, int res)
{
	unsigned b = (unsigned)(data >> 8) % SR_DIRECT_BUFS;
	d->busy[b] = false;
	d->inflight--;
	if (res < 0)
		return res;
	return rest(d, d->bufs[b], (size_t)res, d->wlen[b], d->woff[b]);
}

int sr__direct_tail(struct sr_direct *d)
{
	size_t padded =
	    (d->len + SR_DIRECT_ALIGN - 1) / SR_DIRECT_ALIGN * SR_DIRECT_ALIGN;
	memset(d->bufs[d->cur] + d->len, 0, padded - d->len);
	ssize_t n;
	do
		n = pwrite(d->fd, d->bufs[d->cur], padded, (off_t)d->off);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	int err = rest(d, d->bufs[d->cur], (size_t)n, padded, d->off);
	if (err)
		return err;
	if (ftruncate(d->fd, (off_t)(d->off + d->len)) < 0)
		return -errno;
	return 0;
}

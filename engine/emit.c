/*
 * Output formats of SPEC section 5 and the atomic output file. Formatting
 * appends to byte buffers with memcpy and hand-rolled number formatting:
 * no stdio per field. Output files are written under a temporary name in
 * the output directory and renamed into place once complete, so a run that
 * dies leaves the previous file or the complete new one, never a torn one.
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "civil.h"
#include "emit.h"
#include "money.h"
#include "swar.h"
#include "streamrate/error.h"

#define SR_OUT_FLUSH (4u << 20)
/* Direct blocks of an output. The invoices are written after rating,
 * alone, at the device's pace: with 4 blocks in flight, 1 MiB blocks took
 * the 5M bench's invoice phase 0.17-0.23 s, 4 MiB 0.13-0.15 s (dd: 1.4
 * GB/s in 1 MiB writes, 1.6 in 4 MiB). The blocks are touched only as the
 * file grows, after the duplicate set is freed: peak RSS is unchanged. */
#define SR_OUT_BLOCK (4u << 20)

int sr__out_open(struct sr_out *o, const char *dir, const char *name)
{
	*o = (struct sr_out){.fd = -1};
	size_t n = strlen(dir) + strlen(name) + 64;
	o->path = malloc(n);
	o->tmp = malloc(n);
	if (!o->path || !o->tmp)
		return SR_ENOMEM;
	snprintf(o->path, n, "%s/%s", dir, name);
	snprintf(o->tmp, n, "%s/.%s.tmp.%ld", dir, name, (long)getpid());
	o->fd = open(o->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (o->fd < 0)
		return -errno;
	return sr__buf_reserve(&o->buf, SR_OUT_FLUSH + 65536);
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * Write bytes out, and start the write-back of what has piled up since
 * the last start, without waiting for it: the fsync at the end then finds
 * little left to do (a 180 MB invoice file took 90 ms to fsync at once).
 */
static int out_put(struct sr_out *o, const char *p, size_t n)
{
	int err = write_all(o->fd, p, n);
	if (err)
		return err;
	o->written += n;
	if (o->written - o->kicked >= SR_OUT_FLUSH) {
		/* Only a hint: an error here shows again at fsync. */
		(void)sync_file_range(o->fd, (off_t)o->kicked,
		                      (off_t)(o->written - o->kicked),
		                      SYNC_FILE_RANGE_WRITE);
		o->kicked = o->written;
	}
	return 0;
}

int sr__out_direct(struct sr_out *o)
{
	int err = sr__direct_open(&o->dio, o->tmp, o->fd, 0, SR_OUT_BLOCK);
	if (err || o->dio.fd < 0)
		return err;
	struct io_uring *ring = malloc(sizeof(*ring));
	if (ring && !io_uring_queue_init(2 * SR_DIRECT_BUFS, ring, 0)) {
		o->ring = ring;
		return 0;
	}
	/* No ring: stay buffered. */
	free(ring);
	sr__direct_close(&o->dio);
	return 0;
}

/* Take the completions of direct writes, waiting for one if asked. */
static int direct_reap(struct sr_out *o, bool wait)
{
	struct io_uring_cqe *cqe;
	int err = 0;
	for (;;) {
		int r = wait ? io_uring_wait_cqe(o->ring, &cqe)
		             : io_uring_peek_cqe(o->ring, &cqe);
		if (r == -EINTR)
			continue;
		if (r == -EAGAIN)
			return err;
		if (r < 0)
			return r;
		int e = sr__direct_done(&o->dio, cqe->user_data, cqe->res);
		io_uring_cqe_seen(o->ring, cqe);
		err = err ? err : e;
		wait = false;
	}
}

static int direct_put(struct sr_out *o, const char *p, size_t n)
{
	for (;;) {
		size_t k = sr__direct_append(&o->dio, o->ring, p, n);
		p += k;
		n -= k;
		int r = io_uring_submit(o->ring);
		if (r < 0)
			return r;
		int err = direct_reap(o, n > 0);
		if (err || !n)
			return err;
	}
}

/* Every write done, then the last block. */
static int direct_finish(struct sr_out *o)
{
	while (o->dio.inflight) {
		int err = direct_reap(o, true);
		if (err)
			return err;
	}
	return sr__direct_tail(&o->dio);
}

int sr__out_write(struct sr_out *o, const void *p, size_t n)
{
	if (o->ring)
		return direct_put(o, p, n);
	if (o->buf.len + n > SR_OUT_FLUSH) {
		int err = out_put(o, o->buf.data, o->buf.len);
		o->buf.len = 0;
		if (err)
			return err;
		if (n > SR_OUT_FLUSH)
			return out_put(o, p, n);
	}
	int err = sr__buf_reserve(&o->buf, n);
	if (err)
		return err;
	sr__buf_put(&o->buf, p, n);
	return 0;
}

int sr__out_drain(struct sr_out *o)
{
	if (o->ring)
		return 0;
	int err = out_put(o, o->buf.data, o->buf.len);
	o->buf.len = 0;
	return err;
}

int sr__out_flush(struct sr_out *o)
{
	int err = o->ring ? direct_finish(o) : sr__out_drain(o);
	if (!err && fsync(o->fd) < 0)
		err = -errno;
	return err;
}

/* End direct I/O, once the writes in flight (into our blocks) are
 * done. */
static void direct_end(struct sr_out *o)
{
	if (!o->ring)
		return;
	while (o->dio.inflight) {
		struct io_uring_cqe *cqe;
		int r = io_uring_wait_cqe(o->ring, &cqe);
		if (r == -EINTR)
			continue;
		if (r < 0)
			break;
		io_uring_cqe_seen(o->ring, cqe);
		o->dio.inflight--;
	}
	io_uring_queue_exit(o->ring);
	free(o->ring);
	o->ring = NULL;
	sr__direct_close(&o->dio);
}

int sr__out_commit(struct sr_out *o)
{
	direct_end(o);
	if (close(o->fd) < 0) {
		o->fd = -1;
		return -errno;
	}
	o->fd = -1;
	if (rename(o->tmp, o->path) < 0)
		return -errno;
	free(o->tmp);
	o->tmp = NULL;
	return 0;
}

void sr__out_discard(struct sr_out *o)
{
	direct_end(o);
	if (o->fd >= 0)
		close(o->fd);
	if (o->tmp)
		unlink(o->tmp);
	free(o->tmp);
	free(o->path);
	sr__buf_finish(&o->buf);
	*o = (struct sr_out){.fd = -1};
}

void sr__csv_field(struct sr_buf *b, const char *p, size_t n)
{
	/* A field needs quotes when it holds , " CR or LF. */
	if (!sr__has_any4(p, n, ',', '"', '\r', '\n')) {
		sr__buf_put(b, p, n);
		return;
	}
	char *o = b->data + b->len;
	*o++ = '"';
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '"')
			*o++ = '"';
		*o++ = p[i];
	}
	*o++ = '"';
	b->len = (size_t)(o - b->data);
}

static void put_str(struct sr_buf *b, struct sr_str s)
{
	sr__csv_field(b, s.ptr, s.len);
}

static void put_u64(struct sr_buf *b, uint64_t v)
{
	b->len += sr__format_i128((sr_i128)v, b->data + b->len);
}

/* Encode n ids from get(cat, i) into f->text; views fixed up later. */
static int encode_ids(struct sr_rowfmt *f, struct sr_str **out, uint32_t n,
                      struct sr_str (*get)(const struct sr_catalog *, uint32_t),
                      size_t *longest)
{
	*out = calloc(n + 1, sizeof(**out));
	if (!*out)
		return SR_ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		struct sr_str id = get(f->cat, i);
		int err = sr__buf_reserve(&f->text, SR_CSV_FIELD_MAX(id.len));
		if (err)
			return err;
		size_t at = f->text.len;
		sr__csv_field(&f->text, id.ptr, id.len);
		/* Offsets for now: the buffer may still move. */
		(*out)[i] = (struct sr_str){(const char *)(uintptr_t)at,
		                            (uint32_t)(f->text.len - at)};
		if ((*out)[i].len > *longest)
			*longest = (*out)[i].len;
	}
	return 0;
}

static struct sr_str plan_id(const struct sr_catalog *c, uint32_t i)
{
	return sr_catalog_plan(c, i)->id;
}

static struct sr_str region_id(const struct sr_catalog *c, uint32_t i)
{
	return sr_catalog_region(c, i)->id;
}

static struct sr_str rate_id(const struct sr_catalog *c, uint32_t i)
{
	return sr_catalog_rate(c, i)->id;
}

static struct sr_str currency_code(const struct sr_catalog *c, uint32_t i)
{
	return sr_catalog_currency(c, i)->code;
}

static void fix_views(struct sr_rowfmt *f, struct sr_str *v, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		v[i].ptr = f->text.data + (uintptr_t)v[i].ptr;
}

int sr__rowfmt_init(struct sr_rowfmt *f, const struct sr_catalog *cat,
                    const struct sr_period *p)
{
	uint32_t np = sr_catalog_nplans(cat), nr = sr_catalog_nregions(cat),
	         nk = sr_catalog_nclasses(cat), nb = sr_catalog_nbands(cat),
	         nt = sr_catalog_nrates(cat), nc = sr_catalog_ncurrencies(cat);
	size_t lp = 0, lr = 0, lk = 0, lb = 0, lt = 0, lc = 0;
	*f = (struct sr_rowfmt){.cat = cat, .period = p};
	int err = encode_ids(f, &f->plan, np, plan_id, &lp);
	if (!err)
		err = encode_ids(f, &f->region, nr, region_id, &lr);
	if (!err)
		err = encode_ids(f, &f->klass, nk, sr_catalog_class_id, &lk);
	if (!err)
		err = encode_ids(f, &f->band, nb, sr_catalog_band_id, &lb);
	if (!err)
		err = encode_ids(f, &f->rate, nt, rate_id, &lt);
	if (!err)
		err = encode_ids(f, &f->currency, nc, currency_code, &lc);
	if (err)
		return err;
	/* Room to copy any encoded id as one 32-byte block (put_enc). */
	err = sr__buf_reserve(&f->text, 32);
	if (err)
		return err;
	memset(f->text.data + f->text.len, 0, 32);
	f->days = calloc(p->days, sizeof(*f->days));
	if (!f->days)
		return SR_ENOMEM;
	for (unsigned d = 0; d < p->days; d++) {
		sr__format_date(p->start + (int64_t)d * SR_DAY, f->days[d]);
		f->days[d][10] = 'T';
	}
	fix_views(f, f->plan, np);
	fix_views(f, f->region, nr);
	fix_views(f, f->klass, nk);
	fix_views(f, f->band, nb);
	fix_views(f, f->rate, nt);
	fix_views(f, f->currency, nc);
	f->max_catalog_bytes = lp + lr + lk + lb + lt + lc;
	return 0;
}

void sr__rowfmt_finish(struct sr_rowfmt *f)
{
	sr__buf_finish(&f->text);
	free(f->plan);
	free(f->region);
	free(f->klass);
	free(f->band);
	free(f->rate);
	free(f->currency);
	free(f->days);
	*f = (struct sr_rowfmt){0};
}

static const char *const quality_text[] = {"SD", "HD", "UHD", "*"};

/* An encoded catalog id and a comma. Ids of up to 32 bytes are copied as
 * one fixed block: the source is padded, the row has room reserved. */
static void put_enc(struct sr_buf *b, struct sr_str s)
{
	if (s.len <= 32)
		memcpy(b->data + b->len, s.ptr, 32);
	else
		memcpy(b->data + b->len, s.ptr, s.len);
	b->data[b->len + s.len] = ',';
	b->len += s.len + 1;
}

static const char pairs[] =
    "00010203040506070809101112131415161718192021222324252627282930313233"
    "34353637383940414243444546474849505152535455565758596061626364656667"
    "6869707172737475767778798081828384858687888990919293949596979899";

/* An id from the input and a comma; plain ids need no look. */
static void put_id(struct sr_buf *b, struct sr_str s, int plain)
{
	if (plain)
		sr__buf_put(b, s.ptr, s.len);
	else
		sr__csv_field(b, s.ptr, s.len);
	b->data[b->len++] = ',';
}

/* "YYYY-MM-DDTHH:MM:SSZ," of an instant of the period: the day from the
 * period's table, the time by digit pairs. */
static void put_start(struct sr_buf *b, const struct sr_rowfmt *f,
                      int64_t start)
{
	int64_t t = start - f->period->start;
	unsigned day = (unsigned)(t / SR_DAY), sod = (unsigned)(t % SR_DAY);
	char *o = b->data + b->len;
	memcpy(o, f->days[day], 11);
	memcpy(o + 11, pairs + sod / 3600 * 2, 2);
	o[13] = ':';
	memcpy(o + 14, pairs + sod / 60 % 60 * 2, 2);
	o[16] = ':';
	memcpy(o + 17, pairs + sod % 60 * 2, 2);
	memcpy(o + 19, "Z,", 2);
	b->len += 21;
}

int sr__emit_rated(struct sr_buf *b, const struct sr_rowfmt *f,
                   const struct sr_session *s, const struct sr_rated *r)
{
	/* Room for put_enc's 32-byte blocks beyond the ids themselves. */
	size_t need =
	    SR_CSV_FIELD_MAX(s->session_id.len + s->subscriber_id.len +
	                     s->content_id.len) +
	    f->max_catalog_bytes + 6 * 32 + 160;
	int err = sr__buf_reserve(b, need);
	if (err)
		return err;

	put_id(b, s->session_id, s->plain & 1);
	put_id(b, s->subscriber_id, s->plain & 2);
	put_id(b, s->content_id, s->plain & 4);
	put_start(b, f, s->start);
	sr__buf_put(b, f->period->text, 7);
	sr__buf_put(b, ",", 1);
	put_enc(b, f->plan[r->subscription->plan]);
	put_enc(b, f->region[r->subscription->region]);
	put_enc(b, f->klass[r->content->klass]);
	sr__buf_put(b, quality_text[s->quality], s->quality == SR_UHD ? 3 : 2);
	sr__buf_put(b, ",", 1);
	if (r->band != SR_NONE)
		put_enc(b, f->band[r->band]);
	else
		sr__buf_put(b, ",", 1);
	if (r->rate) {
		put_enc(b, f->rate[r->rate->index]);
		if (r->rate->meter == SR_METER_TIME)
			sr__buf_put(b, "time,", 5);
		else
			sr__buf_put(b, "bytes,", 6);
	} else if (r->content->ppv) {
		sr__buf_put(b, "ppv,,", 5);
	} else {
		sr__buf_put(b, ",,", 2);
	}
	put_u64(b, r->units);
	sr__buf_put(b, ",", 1);
	b->len += sr__format_fixed(r->charge, 6, b->data + b->len);
	sr__buf_put(b, ",", 1);
	struct sr_str cur = f->currency[r->plan->currency];
	memcpy(b->data + b->len, cur.ptr, cur.len);
	b->len += cur.len;
	sr__buf_put(b, "\n", 1);
	return 0;
}

int sr__emit_reject(struct sr_buf *b, const char *file_field, size_t file_len,
                    uint64_t line, enum sr_reason reason, const char *raw,
                    size_t raw_len)
{
	struct sr_str why = sr_reason_text(reason);
	int err = sr__buf_reserve(b, file_len + why.len + 2 * raw_len + 48);
	if (err)
		return err;
	sr__buf_put(b, file_field, file_len);
	sr__buf_put(b, ",", 1);
	put_u64(b, line);
	sr__buf_put(b, ",", 1);
	sr__buf_put(b, why.ptr, why.len);
	sr__buf_put(b, ",\"", 2);
	/* The record is always quoted, inner quotes doubled. */
	char *o = b->data + b->len;
	for (size_t i = 0; i < raw_len; i++) {
		if (raw[i] == '"')
			*o++ = '"';
		*o++ = raw[i];
	}
	b->len = (size_t)(o - b->data);
	sr__buf_put(b, "\"\n", 2);
	return 0;
}

/* JSON string: only " and \ are escaped (ids hold no control bytes). */
static void json_str(struct sr_buf *b, struct sr_str s)
{
	char *o = b->data + b->len;
	*o++ = '"';
	if (!sr__has_any4(s.ptr, s.len, '"', '\\', '"', '\\')) {
		memcpy(o, s.ptr, s.len);
		o[s.len] = '"';
		b->len += s.len + 2;
		return;
	}
	for (uint32_t i = 0; i < s.len; i++) {
		if (s.ptr[i] == '"' || s.ptr[i] == '\\')
			*o++ = '\\';
		*o++ = s.ptr[i];
	}
	*o++ = '"';
	b->len = (size_t)(o - b->data);
}

static void json_key(struct sr_buf *b, const char *key)
{
	sr__buf_put(b, key, strlen(key));
}

static void json_amount(struct sr_buf *b, int64_t v, int exponent)
{
	sr__buf_put(b, "\"", 1);
	b->len += sr__format_fixed(v, exponent, b->data + b->len);
	sr__buf_put(b, "\"", 1);
}

static void json_u128(struct sr_buf *b, unsigned __int128 v)
{
	/* Unit sums past 64 bits are rare; below, no 128-bit divisions. */
	if (v <= UINT64_MAX) {
		put_u64(b, (uint64_t)v);
		return;
	}
	char tmp[48];
	size_t n = 0;
	do {
		tmp[n++] = (char)('0' + (int)(v % 10));
		v /= 10;
	} while (v);
	while (n)
		b->data[b->len++] = tmp[--n];
}

static void json_line(struct sr_buf *b, const struct sr_invoice_line *l,
                      int exponent)
{
	switch (l->type) {
	case SR_LINE_RECURRING:
		json_key(b, "{\"type\":\"recurring\",\"plan\":");
		json_str(b, l->plan->id);
		json_key(b, ",\"days\":");
		put_u64(b, l->days);
		break;
	case SR_LINE_USAGE:
		json_key(b, "{\"type\":\"usage\",\"rate\":");
		json_str(b, l->rate->id);
		json_key(b, ",\"units\":");
		json_u128(b, l->units);
		json_key(b, ",\"allowance\":");
		put_u64(b, l->allowance);
		json_key(b, ",\"billable\":");
		json_u128(b, l->billable);
		break;
	case SR_LINE_PPV:
		json_key(b, "{\"type\":\"ppv\",\"content\":");
		json_str(b, l->content->id);
		break;
	}
	json_key(b, ",\"amount\":");
	json_amount(b, l->amount, exponent);
	sr__buf_put(b, "}", 1);
}

static size_t line_bytes(const struct sr_invoice_line *l)
{
	size_t id = l->plan   ? l->plan->id.len
	            : l->rate ? l->rate->id.len
	                      : l->content->id.len;
	return 2 * id + 256;
}

int sr__emit_invoice_json(struct sr_buf *b, const struct sr_period *p,
                          const struct sr_invoice *inv)
{
	int e = inv->currency->exponent;
	size_t need = 2 * (inv->subscriber->id.len + inv->region->id.len) + 512;
	for (uint32_t i = 0; i < inv->nlines; i++)
		need += line_bytes(&inv->lines[i]);
	int err = sr__buf_reserve(b, need);
	if (err)
		return err;

	json_key(b, "{\"subscriber\":");
	json_str(b, inv->subscriber->id);
	json_key(b, ",\"period\":\"");
	sr__buf_put(b, p->text, 7);
	json_key(b, "\",\"currency\":");
	json_str(b, inv->currency->code);
	json_key(b, ",\"region\":");
	json_str(b, inv->region->id);
	json_key(b, ",\"lines\":[");
	for (uint32_t i = 0; i < inv->nlines; i++) {
		if (i)
			sr__buf_put(b, ",", 1);
		json_line(b, &inv->lines[i], e);
	}
	json_key(b, "],\"subtotal\":");
	json_amount(b, inv->subtotal, e);
	json_key(b, ",\"tax_rate\":\"");
	b->len += sr__format_percent(inv->tax_rate, b->data + b->len);
	json_key(b, "\",\"tax\":");
	json_amount(b, inv->tax, e);
	json_key(b, ",\"total\":");
	json_amount(b, inv->total, e);
	json_key(b, "}\n");
	return 0;
}

int sr__emit_invoice_csv(struct sr_buf *b, const struct sr_invoice *inv)
{
	int e = inv->currency->exponent;
	int err = sr__buf_reserve(b, SR_CSV_FIELD_MAX(inv->subscriber->id.len +
	                                              inv->currency->code.len) +
	                                 128);
	if (err)
		return err;
	put_str(b, inv->subscriber->id);
	sr__buf_put(b, ",", 1);
	put_str(b, inv->currency->code);
	sr__buf_put(b, ",", 1);
	b->len += sr__format_fixed(inv->subtotal, e, b->data + b->len);
	sr__buf_put(b, ",", 1);
	b->len += sr__format_fixed(inv->tax, e, b->data + b->len);
	sr__buf_put(b, ",", 1);
	b->len += sr__format_fixed(inv->total, e, b->data + b->len);
	sr__buf_put(b, "\n", 1);
	return 0;
}

/*
 * fuzz_split: the session CSV splitter (sr__csv_split) and the session
 * parser, on a whole file made of a fixed header and the fuzzer's bytes.
 *
 * The first input byte picks the header, how windows grow and whether
 * the body is stretched (both top bits set); the next two seed the
 * chunkings; the rest is the file's body. Stretching inserts a run of
 * 65440 to 65695 copies of one byte, so that small inputs reach the
 * 65536-byte record limit. Properties:
 *  - the splitter agrees, record by record, with a plain character-by-
 *    character reading of SPEC section 1 written here (ref_split);
 *  - every byte is consumed, each record advances, line counts add up to
 *    the LFs, and a record whose first line holds no quote ends at that
 *    line's LF (the pipeline's boundary finder relies on it);
 *  - growing windows with eof=false decide nothing the whole buffer would
 *    decide differently, and never ask for more once eof is set;
 *  - cutting the file into reads as the pipeline does (boundaries decided
 *    with eof=false over the tail and the new bytes, then each chunk of
 *    whole records split again with eof=true by a "worker") gives the same
 *    records, fields and parse outcomes as the whole buffer;
 *  - every record is either parsed or rejected with a malformed reason.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "csv.h"
#include "fuzz.h"
#include "streamrate/session.h"

static const char *const headers[] = {
    "session_id,subscriber_id,content_id,start,duration_s,bytes,quality\n",
    "quality,bytes,duration_s,start,content_id,subscriber_id,session_id,"
    "device_id,ip,country\r\n",
    "x,session_id,\"subscriber_id\",content_id,start,duration_s,\"by\"\"\","
    "bytes,quality,\"\"\n",
};
#define NHEADERS (sizeof(headers) / sizeof(headers[0]))

#define FIELD_CAP 1024

/* What one split decided, comparable across chunkings. */
struct rec {
	uint64_t off; /* in the body */
	uint32_t consumed, raw_len, lines, nfields;
	uint8_t kind;   /* enum sr_split */
	uint8_t reason; /* enum sr_reason, for SR_SPLIT_RECORD */
	uint64_t fields_hash;
};

struct run {
	const char *body; /* exact heap copy */
	size_t n;
	struct sr_header header;
	struct rec *recs;
	size_t nrecs, cap;
	struct sr_str *fields;
	char *scratch;
	struct fuzz_rng rng;
	unsigned mode;
};

static uint64_t hash_bytes(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001B3ull;
	return h;
}

static uint64_t hash_fields(const struct sr_str *f, uint32_t n)
{
	uint64_t h = 0xCBF29CE484222325ull;
	for (uint32_t i = 0; i < n; i++) {
		h = hash_bytes(h, &f[i].len, sizeof(f[i].len));
		h = hash_bytes(h, f[i].ptr, f[i].len);
	}
	return h;
}

static size_t count_lf(const char *p, size_t n)
{
	size_t k = 0;
	for (const char *e = p + n; (p = memchr(p, '\n', (size_t)(e - p))); p++)
		k++;
	return k;
}

/* Split at p[0..n) and describe the outcome; SR_SPLIT_MORE leaves *r. */
static enum sr_split split(struct run *x, const char *p, size_t n, bool eof,
                           uint64_t off, struct rec *r)
{
	struct sr_csv_record cr;
	uint32_t expect = x->header.nfields;
	enum sr_split k = sr__csv_split(p, n, eof, x->fields, expect, expect,
	                                x->scratch, &cr);
	if (k == SR_SPLIT_MORE) {
		FUZZ_CHECK(!eof, "more asked at eof, offset %llu",
		           (unsigned long long)off);
		return k;
	}
	FUZZ_CHECK(cr.raw == p, "record does not start at the window");
	FUZZ_CHECK(cr.consumed > 0 && cr.consumed <= n, "consumed %u of %zu",
	           cr.consumed, n);
	FUZZ_CHECK(cr.raw_len <= cr.consumed, "raw %u > consumed %u",
	           cr.raw_len, cr.consumed);
	*r = (struct rec){.off = off,
	                  .consumed = cr.consumed,
	                  .raw_len = cr.raw_len,
	                  .lines = cr.lines,
	                  .nfields = k == SR_SPLIT_RECORD ? cr.nfields : 0,
	                  .kind = (uint8_t)k};
	if (k == SR_SPLIT_RECORD) {
		struct sr_session s;
		FUZZ_CHECK(cr.nfields == expect, "%u fields, want %u",
		           cr.nfields, expect);
		FUZZ_CHECK(cr.raw_len <= SR_RECORD_MAX, "record of %u bytes",
		           cr.raw_len);
		r->fields_hash = hash_fields(x->fields, cr.nfields);
		r->reason =
		    (uint8_t)sr_session_parse(&x->header, x->fields, &s);
		FUZZ_CHECK(r->reason == SR_REASON_NONE ||
		               (r->reason >= SR_REASON_MALFORMED_SESSION_ID &&
		                r->reason <= SR_REASON_MALFORMED_QUALITY),
		           "parse reason %u", r->reason);
	}
	return k;
}

static bool same(const struct rec *a, const struct rec *b)
{
	return a->off == b->off && a->consumed == b->consumed &&
	       a->raw_len == b->raw_len && a->lines == b->lines &&
	       a->nfields == b->nfields && a->kind == b->kind &&
	       a->reason == b->reason && a->fields_hash == b->fields_hash;
}

static void expect_same(const struct rec *got, const struct rec *want,
                        const char *how)
{
	FUZZ_CHECK(same(got, want),
	           "%s: at %llu got kind %u consumed %u raw %u lines %u "
	           "fields %u reason %u, whole buffer gave kind %u consumed "
	           "%u raw %u lines %u fields %u reason %u",
	           how, (unsigned long long)got->off, got->kind, got->consumed,
	           got->raw_len, got->lines, got->nfields, got->reason,
	           want->kind, want->consumed, want->raw_len, want->lines,
	           want->nfields, want->reason);
}

/* ---- an independent reading of SPEC section 1 ---------------------------- */

/*
 * One record at body[off..n), read character by character as the contract
 * words it, with no look-ahead tricks: fields, then the line-end, length
 * and field-count rules; a record that cannot be split is its first
 * physical line.
 */
static void ref_split(struct run *x, size_t off, struct rec *r, char *buf,
                      struct sr_str *f)
{
	const char *p = x->body + off;
	size_t n = x->n - off, i = 0, used = 0;
	uint32_t nf = 0;
	bool ok = true, lf = false;

	for (;;) {
		char *start = buf + used;
		if (nf == FIELD_CAP) {
			ok = false;
			break;
		}
		if (i < n && p[i] == '"') {
			bool closed = false;
			for (i++; i < n; i++) {
				if (p[i] != '"') {
					buf[used++] = p[i];
				} else if (i + 1 < n && p[i + 1] == '"') {
					buf[used++] = '"';
					i++;
				} else {
					closed = true;
					i++;
					break;
				}
			}
			f[nf++] = (struct sr_str){
			    start, (uint32_t)(buf + used - start)};
			if (!closed) {
				ok = false;
				break;
			}
			if (i == n)
				break;
			if (p[i] == ',') {
				i++;
				continue;
			}
			if (p[i] == '\r' && i + 1 < n && p[i + 1] == '\n')
				i++;
			if (p[i] == '\n') {
				lf = true;
				break;
			}
			ok = false;
			break;
		}
		while (i < n && p[i] != ',' && p[i] != '\n' && p[i] != '"')
			buf[used++] = p[i++];
		if (i < n && p[i] == '"') {
			ok = false;
			break;
		}
		size_t len = (size_t)(buf + used - start);
		if (i < n && p[i] == '\n') {
			if (len && start[len - 1] == '\r')
				len--;
			f[nf++] = (struct sr_str){start, (uint32_t)len};
			lf = true;
			break;
		}
		f[nf++] = (struct sr_str){start, (uint32_t)len};
		if (i == n)
			break;
		i++; /* the comma */
	}
	/* i is at the record's LF, or at the end of the input. */
	size_t raw = i;
	if (ok && lf && raw > 0 && p[raw - 1] == '\r')
		raw--;
	uint32_t expect = x->header.nfields;
	if (ok && raw > SR_RECORD_MAX)
		ok = false;
	*r = (struct rec){.off = off};
	if (ok && raw == 0) {
		r->kind = SR_SPLIT_EMPTY;
		r->consumed = (uint32_t)(i + lf);
		r->lines = (uint32_t)count_lf(p, i + lf);
		return;
	}
	if (ok && nf == expect) {
		struct sr_session s;
		r->kind = SR_SPLIT_RECORD;
		r->consumed = (uint32_t)(i + lf);
		r->raw_len = (uint32_t)raw;
		r->lines = (uint32_t)count_lf(p, i + lf);
		r->nfields = nf;
		r->fields_hash = hash_fields(f, nf);
		r->reason = (uint8_t)sr_session_parse(&x->header, f, &s);
		return;
	}
	/* Cannot be split: the first physical line, without LF and one CR. */
	const char *nl = memchr(p, '\n', n);
	size_t line = nl ? (size_t)(nl - p) : n;
	r->kind = SR_SPLIT_MALFORMED;
	r->consumed = (uint32_t)(line + (nl != NULL));
	r->raw_len = (uint32_t)(line - (nl && line && p[line - 1] == '\r'));
	r->lines = 1;
}

/* ---- the passes -------------------------------------------------------- */

static void push(struct run *x, const struct rec *r)
{
	if (x->nrecs == x->cap) {
		x->cap = x->cap ? x->cap * 2 : 64;
		x->recs = realloc(x->recs, x->cap * sizeof(*x->recs));
		if (!x->recs)
			abort();
	}
	x->recs[x->nrecs++] = *r;
}

/* The whole body at once, with eof: the records every other pass must
 * find, checked against ref_split. */
static void whole(struct run *x)
{
	char *buf = malloc(x->n + 1);
	struct sr_str *f = malloc(FIELD_CAP * sizeof(*f));
	size_t off = 0, lfs = 0, nrec = 0, nok = 0, nrej = 0;
	if (!buf || !f)
		abort();
	while (off < x->n) {
		struct rec r, want;
		enum sr_split k =
		    split(x, x->body + off, x->n - off, true, off, &r);
		ref_split(x, off, &want, buf, f);
		expect_same(&r, &want, "against the reading of the contract");
		size_t l = count_lf(x->body + off, r.consumed);
		FUZZ_CHECK(r.lines == l + (k == SR_SPLIT_MALFORMED && !l),
		           "%u lines for %zu LFs", r.lines, l);
		/* No quote on the first line: the record ends at its LF. */
		const char *nl = memchr(x->body + off, '\n', x->n - off);
		size_t first =
		    nl ? (size_t)(nl - x->body) - off + 1 : x->n - off;
		if (!memchr(x->body + off, '"', first))
			FUZZ_CHECK(r.consumed == first,
			           "quote-free line of %zu bytes, consumed %u",
			           first, r.consumed);
		lfs += l;
		nrec += k != SR_SPLIT_EMPTY;
		nok += k == SR_SPLIT_RECORD && r.reason == SR_REASON_NONE;
		nrej += k == SR_SPLIT_MALFORMED ||
		        (k == SR_SPLIT_RECORD && r.reason != SR_REASON_NONE);
		push(x, &r);
		off += r.consumed;
	}
	FUZZ_CHECK(off == x->n, "consumed %zu of %zu", off, x->n);
	FUZZ_CHECK(lfs == count_lf(x->body, x->n), "lines do not add up");
	FUZZ_CHECK(nrec == nok + nrej, "%zu records, %zu parsed + %zu rejected",
	           nrec, nok, nrej);
	free(buf);
	free(f);
}

/* The next window size after w. */
static size_t grow(struct run *x, size_t w)
{
	size_t step = fuzz_rng_range(&x->rng, 1, (x->mode & 1) ? 3 : 61);
	return w < 2048 ? w + step : w + w / 2 + step;
}

/* Each record again, from windows that grow from a few bytes. */
static void windows(struct run *x)
{
	for (size_t i = 0; i < x->nrecs; i++) {
		const struct rec *want = &x->recs[i];
		size_t left = x->n - want->off, w = grow(x, 0);
		for (;;) {
			bool eof = w >= left;
			size_t len = eof ? left : w;
			/* Exact copies while small: reads past the window
			 * are then AddressSanitizer reports. */
			char *c = len <= 16384
			              ? fuzz_copy(x->body + want->off, len)
			              : NULL;
			struct rec r;
			enum sr_split k = split(x, c ? c : x->body + want->off,
			                        len, eof, want->off, &r);
			free(c);
			if (k != SR_SPLIT_MORE) {
				expect_same(&r, want, "growing window");
				break;
			}
			w = grow(x, w);
		}
	}
}

/*
 * Reads of random sizes, as the pipeline does them: the tail of the last
 * read plus the new bytes; records decided with eof only on the last
 * read; then the chunk of whole records split again, with eof, by the
 * "worker", from an exact copy.
 */
static void chunks(struct run *x)
{
	/* Reads of a few bytes over a stretched body would cost a scan of
	 * its long record per read. */
	size_t max = (x->mode & 2) ? 70000 : x->n > 16384 ? 4097 : 97;
	size_t read_off = 0, done = 0, next = 0;

	while (done < x->n) {
		size_t got = fuzz_rng_range(&x->rng, 1, max);
		if (got > x->n - read_off)
			got = x->n - read_off;
		read_off += got;
		bool eof = read_off == x->n;
		/* The undispatched bytes start at done. */
		const char *data = x->body + done;
		size_t n = read_off - done, b = 0;
		/* Exact copies while small, as in windows(). */
		char *c = n <= 16384 ? fuzz_copy(data, n) : NULL;
		const char *d = c ? c : data;
		while (b < n) {
			struct rec r;
			if (split(x, d + b, n - b, eof, done + b, &r) ==
			    SR_SPLIT_MORE)
				break;
			FUZZ_CHECK(next < x->nrecs, "more records than whole");
			expect_same(&r, &x->recs[next], "dispatcher");
			b += r.consumed;
			next++;
		}
		free(c);
		FUZZ_CHECK(!eof || b == n, "records left at eof");
		if (b == 0)
			continue;
		/* The worker's view: exactly the chunk, eof at its end. */
		c = fuzz_copy(data, b);
		size_t first = next, w = 0;
		while (first > 0 && x->recs[first - 1].off >= done)
			first--;
		for (size_t i = first; w < b; i++) {
			struct rec r;
			FUZZ_CHECK(i < next, "worker found more records");
			split(x, c + w, b - w, true, done + w, &r);
			expect_same(&r, &x->recs[i], "worker");
			w += r.consumed;
		}
		free(c);
		done += b;
	}
	FUZZ_CHECK(next == x->nrecs, "%zu records of %zu", next, x->nrecs);
}

/* The header as the run reads it: any field count, then mapped. */
static void read_header(struct run *x, const char *h)
{
	struct sr_csv_record cr;
	struct sr_str bad;
	enum sr_split k = sr__csv_split(h, strlen(h), true, x->fields,
	                                FIELD_CAP, 0, x->scratch, &cr);
	FUZZ_CHECK(k == SR_SPLIT_RECORD && cr.consumed == strlen(h),
	           "fixed header not split");
	FUZZ_CHECK(sr_header_init(&x->header, x->fields, cr.nfields, &bad) == 0,
	           "fixed header refused");
}

/* p[0..n) with count copies of byte c inserted at at % (n + 1). */
static const char *stretch(const uint8_t *p, size_t n, uint8_t c, size_t count,
                           size_t at, size_t *len)
{
	char *b = malloc(n + count);
	if (!b)
		abort();
	at %= n + 1;
	memcpy(b, p, at);
	memset(b + at, c, count);
	memcpy(b + at + count, p + at, n - at);
	*len = n + count;
	return b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sr_str fields[FIELD_CAP];
	static char scratch[SR_SCRATCH_SIZE];
	struct run x = {.fields = fields, .scratch = scratch};
	uint8_t ctl = size > 0 ? data[0] : 0;
	uint64_t seed = size > 2 ? (uint64_t)data[1] << 8 | data[2] : 0;
	size_t skip = size < 3 ? size : 3;

	x.mode = ctl >> 4;
	read_header(&x, headers[(ctl & 15) % NHEADERS]);
	if ((ctl & 0xC0) == 0xC0 && size >= 6)
		x.body = stretch(data + 6, size - 6, data[3], 65440 + data[4],
		                 data[5], &x.n);
	else
		x.body =
		    fuzz_copy((const char *)data + skip, x.n = size - skip);
	whole(&x);
	fuzz_rng_seed(&x.rng, seed);
	windows(&x);
	chunks(&x);
	/* A second chunking, unless the body is long enough to be slow. */
	fuzz_rng_seed(&x.rng, seed + 1);
	if (x.n <= 16384)
		chunks(&x);
	free(x.recs);
	free((void *)x.body);
	return 0;
}

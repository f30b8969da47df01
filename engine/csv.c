/*
 * One record at a time, by hand: the contract's resync rule (a record that
 * cannot be split is reported as its first physical line, and reading goes
 * on at the next line) makes record boundaries depend on the whole record's
 * shape, so boundary finding and field splitting are one pass.
 *
 * Unquoted fields are scanned with a 256-entry class table; quoted fields
 * jump from quote to quote with memchr. Fields point into the window except
 * quoted fields that held "" which are unescaped into the caller's scratch.
 */
#include <string.h>

#include "csv.h"

enum { C_DATA, C_COMMA, C_LF, C_QUOTE };

static const unsigned char cls[256] = {
    ['\n'] = C_LF,
    [','] = C_COMMA,
    ['"'] = C_QUOTE,
};

/* The first physical line as a malformed record, or SR_SPLIT_MORE. */
static enum sr_split malformed(const char *p, size_t n, bool eof,
                               struct sr_csv_record *rec)
{
	const char *lf = memchr(p, '\n', n);
	size_t len;

	if (lf) {
		len = (size_t)(lf - p);
		rec->consumed = (uint32_t)(len + 1);
	} else if (eof) {
		len = n;
		rec->consumed = (uint32_t)n;
	} else {
		return SR_SPLIT_MORE;
	}
	rec->raw = p;
	rec->raw_len = (uint32_t)(len - (lf && len > 0 && p[len - 1] == '\r'));
	rec->lines = 1;
	rec->nfields = 0;
	rec->clean = false;
	return SR_SPLIT_MALFORMED;
}

/*
 * The record ends at p[i] (an LF) or at the window's end with eof. Decide
 * between a record, an empty line and a record too long.
 */
static enum sr_split finish(const char *p, size_t n, bool eof, size_t i,
                            uint32_t nfields, uint32_t expect, uint32_t lines,
                            struct sr_csv_record *rec)
{
	size_t len = i;
	bool lf = i < n;

	if (lf && len > 0 && p[len - 1] == '\r')
		len--;
	if (len > SR_RECORD_MAX)
		return malformed(p, n, eof, rec);
	rec->raw = p;
	rec->raw_len = (uint32_t)len;
	rec->consumed = (uint32_t)(i + lf);
	rec->lines = lines + lf;
	rec->nfields = nfields;
	if (len == 0)
		return SR_SPLIT_EMPTY;
	if (expect && nfields != expect)
		return malformed(p, n, eof, rec);
	return SR_SPLIT_RECORD;
}

/* The record of a plain line ending at lf, whose first nf fields are
 * split and whose last field starts at f. */
static enum sr_split plain_end(const char *p, const char *lf, const char *f,
                               uint32_t nf, struct sr_str *fields,
                               uint32_t cap, uint32_t expect, bool clean,
                               struct sr_csv_record *rec)
{
	size_t len = (size_t)(lf - p);
	const char *end = p + len - (len > 0 && lf[-1] == '\r');
	if (end == p || (size_t)(end - p) > SR_RECORD_MAX || nf == cap)
		return SR_SPLIT_MORE; /* empty or too long: the general path */
	fields[nf++] = (struct sr_str){f, (uint32_t)(end - f)};
	if (expect && nf != expect)
		return SR_SPLIT_MORE;
	rec->raw = p;
	rec->raw_len = (uint32_t)(end - p);
	rec->consumed = (uint32_t)(len + 1);
	rec->lines = 1;
	rec->nfields = nf;
	rec->quoted = 0;
	rec->clean = clean;
	return SR_SPLIT_RECORD;
}

#if defined(__SSE2__)
#include <emmintrin.h>

/*
 * The common case: a whole line without any quote, split in one pass over
 * 16-byte blocks, each compared at once with LF, comma and quote into
 * three bit masks. The line's commas are then read off the mask, where a
 * memchr per field cost a call each. The same pass notes whether the line
 * holds a control byte, so that the id checks of the session's columns
 * need not look at every byte again. Returns SR_SPLIT_MORE when the case
 * does not apply, and the general splitter decides.
 */
static enum sr_split plain_line(const char *p, size_t n, struct sr_str *fields,
                                uint32_t cap, uint32_t expect,
                                struct sr_csv_record *rec)
{
	size_t window = n < SR_RECORD_MAX + 2 ? n : SR_RECORD_MAX + 2;
	const __m128i lf_v = _mm_set1_epi8('\n'), comma_v = _mm_set1_epi8(','),
	              quote_v = _mm_set1_epi8('"'), low_v = _mm_set1_epi8(0x1F),
	              del_v = _mm_set1_epi8(0x7F);
	const char *f = p;
	uint32_t nf = 0;
	bool dirty = false; /* a control byte before the line end */

	for (size_t i = 0; i < window; i += 16) {
		__m128i v;
		unsigned valid = 0xFFFF;
		if (i + 16 <= window) {
			v = _mm_loadu_si128((const __m128i *)(p + i));
		} else {
			/* The last block, never read past the window: its
			 * missing bytes are zeros, outside the valid bits. */
			char tail[16] = {0};
			memcpy(tail, p + i, window - i);
			v = _mm_loadu_si128((const __m128i *)tail);
			valid = (1u << (window - i)) - 1;
		}
		unsigned lfs = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, lf_v));
		unsigned commas =
		    (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, comma_v));
		unsigned quotes =
		    (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, quote_v));
		/* Control bytes: b <= 0x1F unsigned, or 0x7F. */
		unsigned ctl = valid & (unsigned)_mm_movemask_epi8(_mm_or_si128(
		    _mm_cmpeq_epi8(_mm_min_epu8(v, low_v), v),
		    _mm_cmpeq_epi8(v, del_v)));
		if (lfs) {
			unsigned before = (lfs & -lfs) - 1;
			commas &= before;
			quotes &= before;
			ctl &= before;
		}
		/* Rare: a control byte, allowed only as the CR of CR LF. */
		for (; ctl; ctl &= ctl - 1) {
			const char *q = p + i + __builtin_ctz(ctl);
			dirty |= !(*q == '\r' && q + 1 < p + window &&
			           q[1] == '\n');
		}
		if (quotes)
			return SR_SPLIT_MORE;
		for (; commas; commas &= commas - 1) {
			const char *comma = p + i + __builtin_ctz(commas);
			if (nf == cap)
				return SR_SPLIT_MORE;
			fields[nf++] = (struct sr_str){f, (uint32_t)(comma - f)};
			f = comma + 1;
		}
		if (lfs) {
			const char *lf = p + i + __builtin_ctz(lfs);
			return plain_end(p, lf, f, nf, fields, cap, expect,
			                 !dirty, rec);
		}
	}
	return SR_SPLIT_MORE;
}

#else

/* The same without SSE2: memchr for the line end, then for each comma. */
static enum sr_split plain_line(const char *p, size_t n, struct sr_str *fields,
                                uint32_t cap, uint32_t expect,
                                struct sr_csv_record *rec)
{
	size_t window = n < SR_RECORD_MAX + 2 ? n : SR_RECORD_MAX + 2;
	const char *lf = memchr(p, '\n', window);
	if (!lf || memchr(p, '"', (size_t)(lf - p)))
		return SR_SPLIT_MORE;
	const char *f = p;
	uint32_t nf = 0;
	for (const char *comma; (comma = memchr(f, ',', (size_t)(lf - f)));
	     f = comma + 1) {
		if (nf == cap)
			return SR_SPLIT_MORE;
		fields[nf++] = (struct sr_str){f, (uint32_t)(comma - f)};
	}
	return plain_end(p, lf, f, nf, fields, cap, expect, false, rec);
}

#endif

enum sr_split sr__csv_split(const char *p, size_t n, bool eof,
                            struct sr_str *fields, uint32_t cap,
                            uint32_t expect, char *scratch,
                            struct sr_csv_record *rec)
{
	size_t i = 0, used = 0;
	uint32_t nf = 0, inner_lf = 0;

	if (n && p[0] != '"' &&
	    plain_line(p, n, fields, cap, expect, rec) == SR_SPLIT_RECORD)
		return SR_SPLIT_RECORD;
	rec->quoted = 0;
	rec->clean = false;

	for (;;) {
		if (i > SR_RECORD_MAX + 1)
			return malformed(p, n, eof, rec);
		if (nf == cap)
			return malformed(p, n, eof, rec);
		size_t start = i;
		if (i < n && p[i] == '"') {
			/* Quoted: ends at the next lone quote. */
			bool copied = false;
			size_t from = ++i;
			for (;;) {
				const char *q = memchr(p + i, '"', n - i);
				/* An unclosed quote decides nothing until the
				 * record is too long or the input ends. */
				if (!q)
					return eof || n > SR_RECORD_MAX + 1
					           ? malformed(p, n, eof, rec)
					           : SR_SPLIT_MORE;
				if ((size_t)(q - p) > SR_RECORD_MAX + 1)
					return malformed(p, n, eof, rec);
				size_t k = (size_t)(q - p);
				if (k + 1 == n && !eof)
					return SR_SPLIT_MORE;
				for (size_t j = i; j < k; j++)
					inner_lf += p[j] == '\n';
				if (k + 1 < n && p[k + 1] == '"') {
					/* "" is one quote: unescape. */
					if (!copied) {
						copied = true;
						used = 0;
					}
					memcpy(scratch + used, p + from,
					       k + 1 - from);
					used += k + 1 - from;
					i = from = k + 2;
					continue;
				}
				if (copied) {
					memcpy(scratch + used, p + from,
					       k - from);
					used += k - from;
					fields[nf] = (struct sr_str){
					    scratch, (uint32_t)used};
					scratch += used;
					used = 0;
				} else {
					fields[nf] = (struct sr_str){
					    p + from, (uint32_t)(k - from)};
				}
				i = k + 1;
				break;
			}
			rec->quoted |= nf < 63 ? 1ULL << nf : 1ULL << 63;
			nf++;
			/* After the closing quote: comma, LF, CR LF or the end.
			 */
			if (i == n) {
				if (!eof)
					return SR_SPLIT_MORE;
				return finish(p, n, eof, i, nf, expect,
				              inner_lf, rec);
			}
			if (p[i] == ',') {
				i++;
				continue;
			}
			if (p[i] == '\r' && i + 1 == n && !eof)
				return SR_SPLIT_MORE;
			if (p[i] == '\r' && i + 1 < n && p[i + 1] == '\n')
				i++;
			if (p[i] == '\n')
				return finish(p, n, eof, i, nf, expect,
				              inner_lf, rec);
			return malformed(p, n, eof, rec);
		}
		/* Unquoted: up to a comma, an LF or the end; no quotes. */
		while (i < n && cls[(unsigned char)p[i]] == C_DATA)
			i++;
		if (i > SR_RECORD_MAX + 1)
			return malformed(p, n, eof, rec);
		if (i == n) {
			if (!eof)
				return SR_SPLIT_MORE;
			fields[nf++] =
			    (struct sr_str){p + start, (uint32_t)(i - start)};
			return finish(p, n, eof, i, nf, expect, inner_lf, rec);
		}
		switch (cls[(unsigned char)p[i]]) {
		case C_QUOTE:
			return malformed(p, n, eof, rec);
		case C_COMMA:
			fields[nf++] =
			    (struct sr_str){p + start, (uint32_t)(i - start)};
			i++;
			continue;
		default: { /* C_LF: drop one CR right before it. */
			size_t end = i;
			if (end > start && p[end - 1] == '\r')
				end--;
			fields[nf++] =
			    (struct sr_str){p + start, (uint32_t)(end - start)};
			return finish(p, n, eof, i, nf, expect, inner_lf, rec);
		}
		}
	}
}

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
                               uint32_t nf, struct sr_str *fields, uint32_t cap,
                               uint32_t expect, bool clean,
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

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

/* Bit i of each mask tells about byte i of a 64-byte block. */
struct block {
	uint64_t lf, comma, quote, ctl;
};

static uint64_t mask16(__m128i eq, int k)
{
	return (uint64_t)(uint16_t)_mm_movemask_epi8(eq) << (16 * k);
}

/* Control bytes: b <= 0x1F unsigned, or 0x7F. */
static inline __attribute__((always_inline)) void block_sse2(const char *s,
                                                             struct block *b)
{
	*b = (struct block){0};
	for (int k = 0; k < 4; k++) {
		__m128i v = _mm_loadu_si128((const __m128i *)(s + 16 * k));
		b->lf |= mask16(_mm_cmpeq_epi8(v, _mm_set1_epi8('\n')), k);
		b->comma |= mask16(_mm_cmpeq_epi8(v, _mm_set1_epi8(',')), k);
		b->quote |= mask16(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')), k);
		b->ctl |= mask16(
		    _mm_or_si128(
		        _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1F)), v),
		        _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7F))),
		    k);
	}
}

__attribute__((target("avx2"))) static inline uint64_t mask32(__m256i lo,
                                                              __m256i hi)
{
	return (uint64_t)(uint32_t)_mm256_movemask_epi8(lo) |
	       (uint64_t)(uint32_t)_mm256_movemask_epi8(hi) << 32;
}

__attribute__((target("avx2"))) static inline __m256i ctl32(__m256i v)
{
	return _mm256_or_si256(
	    _mm256_cmpeq_epi8(_mm256_min_epu8(v, _mm256_set1_epi8(0x1F)), v),
	    _mm256_cmpeq_epi8(v, _mm256_set1_epi8(0x7F)));
}

__attribute__((target("avx2"))) static inline void block_avx2(const char *s,
                                                              struct block *b)
{
	__m256i lo = _mm256_loadu_si256((const __m256i *)s),
	        hi = _mm256_loadu_si256((const __m256i *)(s + 32));
	__m256i lf = _mm256_set1_epi8('\n'), comma = _mm256_set1_epi8(','),
	        quote = _mm256_set1_epi8('"');
	b->lf = mask32(_mm256_cmpeq_epi8(lo, lf), _mm256_cmpeq_epi8(hi, lf));
	b->comma =
	    mask32(_mm256_cmpeq_epi8(lo, comma), _mm256_cmpeq_epi8(hi, comma));
	b->quote =
	    mask32(_mm256_cmpeq_epi8(lo, quote), _mm256_cmpeq_epi8(hi, quote));
	b->ctl = mask32(ctl32(lo), ctl32(hi));
}

/*
 * The common case: a whole line without any quote, split in one pass over
 * 64-byte blocks, each compared at once with LF, comma and quote into
 * three bit masks. The line's commas are then read off the mask, where a
 * memchr per field cost a call each. The same pass notes whether the line
 * holds a control byte, so that the id checks of the session's columns
 * need not look at every byte again. Returns SR_SPLIT_MORE when the case
 * does not apply, and the general splitter decides.
 *
 * The masks come from SSE2 (16 bytes a compare, every x86-64 has it) or
 * AVX2 (32 bytes), chosen once per call by the caller: the AVX2 build of
 * the scan takes about half the instructions on 100-byte lines.
 */
static inline __attribute__((always_inline)) enum sr_split
plain_scan(const char *p, size_t n, struct sr_str *fields, uint32_t cap,
           uint32_t expect, struct sr_csv_record *rec, bool avx2)
{
	size_t window = n < SR_RECORD_MAX + 2 ? n : SR_RECORD_MAX + 2;
	const char *f = p;
	uint32_t nf = 0;
	bool dirty = false; /* a control byte before the line end */

	for (size_t i = 0; i < window; i += 64) {
		const char *src = p + i;
		uint64_t valid = ~0ULL;
		char tail[64];
		if (i + 64 > window) {
			/* The last block, never read past the window: its
			 * missing bytes are zeros, outside the valid bits. */
			memset(tail, 0, sizeof(tail));
			memcpy(tail, p + i, window - i);
			src = tail;
			valid = (1ULL << (window - i)) - 1;
		}
		struct block b;
		if (avx2)
			block_avx2(src, &b);
		else
			block_sse2(src, &b);
		uint64_t commas = b.comma, ctl = b.ctl & valid;
		if (b.lf) {
			uint64_t before = (b.lf & -b.lf) - 1;
			commas &= before;
			b.quote &= before;
			ctl &= before;
		}
		/* Rare: a control byte, allowed only as the CR of CR LF. */
		for (; ctl; ctl &= ctl - 1) {
			const char *q = p + i + __builtin_ctzll(ctl);
			dirty |=
			    !(*q == '\r' && q + 1 < p + window && q[1] == '\n');
		}
		if (b.quote)
			return SR_SPLIT_MORE;
		for (; commas; commas &= commas - 1) {
			const char *comma = p + i + __builtin_ctzll(commas);
			if (nf == cap)
				return SR_SPLIT_MORE;
			fields[nf++] =
			    (struct sr_str){f, (uint32_t)(comma - f)};
			f = comma + 1;
		}
		if (b.lf) {
			const char *lf = p + i + __builtin_ctzll(b.lf);
			return plain_end(p, lf, f, nf, fields, cap, expect,
			                 !dirty, rec);
		}
	}
	return SR_SPLIT_MORE;
}

enum sr_split sr__csv_plain_sse2(const char *p, size_t n, struct sr_str *fields,
                                 uint32_t cap, uint32_t expect,
                                 struct sr_csv_record *rec)
{
	return plain_scan(p, n, fields, cap, expect, rec, false);
}

__attribute__((target("avx2"))) enum sr_split
sr__csv_plain_avx2(const char *p, size_t n, struct sr_str *fields, uint32_t cap,
                   uint32_t expect, struct sr_csv_record *rec)
{
	return plain_scan(p, n, fields, cap, expect, rec, true);
}

bool sr__csv_have_avx2(void)
{
	return __builtin_cpu_supports("avx2");
}

static enum sr_split plain_line(const char *p, size_t n, struct sr_str *fields,
                                uint32_t cap, uint32_t expect,
                                struct sr_csv_record *rec)
{
	return sr__csv_have_avx2()
	           ? sr__csv_plain_avx2(p, n, fields, cap, expect, rec)
	           : sr__csv_plain_sse2(p, n, fields, cap, expect, rec);
}

#else

/* The same without x86 vectors: memchr for the line end, then for each comma.
 */
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

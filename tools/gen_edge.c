/*
 * Edge cases of the CSV dialect, one maker per --mix kind: malformed
 * values in every required column, lines that cannot be split, duplicates
 * of earlier (subscriber, session) pairs, quoted fields, CRLF line ends and
 * empty lines. Each starts from a realistic record and bends one thing, so
 * a reject names exactly the rule it tests. The kinds that aim at rating
 * outcomes and boundaries live in gen_aim.c.
 *
 * The makers know where each record should land but do not write it down:
 * the engine and the Python oracle must agree on it, and a generator that
 * predicted outcomes would only repeat one reading of the contract.
 */
#include <string.h>

#include "gen.h"

/* ---- field: every column, many ways ------------------------------------*/

static void bad_id(struct gen_ses *s, struct gen_rec *r, enum gen_col col)
{
	static const char controls[] = {'\x01', '\t', '\x1f',
	                                '\x7f', '\0', '\x1b'};
	char v[512];
	size_t n = value_of(s, r, col, v);

	switch (rng_below(&s->rng, 5)) {
	case 0:
		raw_str(r, col, rng_chance(&s->rng, 500) ? "" : "\"\"");
		return;
	case 1: /* 129 bytes, one over */
		while (n < 129)
			v[n++] = 'x';
		sr__gen_rec_raw(r, col, v, 129);
		return;
	case 2:
		v[rng_below(&s->rng, n)] =
		    controls[rng_below(&s->rng, SR_GEN_NELEM(controls))];
		sr__gen_rec_raw(r, col, v, n);
		return;
	default: { /* a line break in a quoted id: split fine, bad id */
		char q[520];
		size_t cut = (size_t)rng_below(&s->rng, n + 1);
		const char *brk = rng_chance(&s->rng, 700) ? "\n" : "\r\n";

		q[0] = '"';
		memcpy(q + 1, v, cut);
		size_t k = 1 + cut + strlen(brk);

		memcpy(q + 1 + cut, brk, strlen(brk));
		memcpy(q + k, v + cut, n - cut);
		q[k + n - cut] = '"';
		sr__gen_rec_raw(r, col, q, k + n - cut + 1);
	}
	}
}

/* Whole values that are no timestamp of the contract. */
static const char *const bad_starts[] = {
    "",
    "2023-02-29T10:00:00Z",
    "2100-02-29T00:00:00Z",
    "2024-02-30T00:00:00Z",
    "2024-04-31T12:00:00Z",
    "2024-13-01T00:00:00Z",
    "2024-00-10T00:00:00Z",
    "2024-03-00T00:00:00Z",
    "2024-03-32T00:00:00Z",
    "0000-03-10T00:00:00Z",
    "2024-3-05T10:00:00Z",
    "2024-03-05T7:00:00Z",
    "2024-03-05",
    "1709630000",
    "2024-03-05T10:00:00.Z",
    "\"2024-03-05T10:00:00,5Z\"",
    "2024-03-05T10:00Z",
    "2024-03-05T10:00:00+0530",
    "2024-03-05T10:00:00+05",
    "2024-03-05T10:00:00+5:30",
    "2024-03-05T10:00:00 +01:00",
    "\xef\xbc\x92\xef\xbc\x90\xef\xbc\x92\xef\xbc\x94-03-05T10:00:00Z",
};

/* Edits of the record's own "YYYY-MM-DDTHH:MM:SSZ": replace len bytes at
 * at with the text, so most bad starts look plausible. */
static const struct {
	uint8_t at, len;
	const char *with;
} start_edits[] = {
    {10, 1, "t"},      {19, 1, "z"},        {19, 1, ""},
    {11, 2, "24"},     {14, 2, "60"},       {17, 2, "60"},
    {19, 1, "+24:00"}, {19, 1, "+05:60"},   {19, 1, "-25:00"},
    {10, 1, " "},      {19, 1, "Zx"},       {19, 1, "Z "},
    {0, 0, " "},       {19, 1, "+01:00Z"},  {4, 1, "/"},
    {19, 1, "UTC"},    {19, 1, "+1:00"},    {19, 1, "+01:00:00"},
    {19, 1, "-"},      {11, 8, "24:00:00"}, {17, 2, "6"},
};

static void bad_start(struct gen_ses *s, struct gen_rec *r)
{
	size_t nwhole = SR_GEN_NELEM(bad_starts),
	       nedits = SR_GEN_NELEM(start_edits);
	uint64_t k = rng_below(&s->rng, nwhole + 2 * nedits);
	char v[64], out[96];

	if (k < nwhole) {
		raw_str(r, SR_GEN_C_START, bad_starts[k]);
		return;
	}
	k = (k - nwhole) % nedits;
	r->zulu = true;
	r->frac = 0;
	size_t n = value_of(s, r, SR_GEN_C_START, v);
	size_t at = start_edits[k].at, w = strlen(start_edits[k].with);
	size_t tail = at + start_edits[k].len;

	memcpy(out, v, at);
	memcpy(out + at, start_edits[k].with, w);
	memcpy(out + at + w, v + tail, n - tail);
	sr__gen_rec_raw(r, SR_GEN_C_START, out, at + w + n - tail);
}

static void bad_number(struct gen_ses *s, struct gen_rec *r, enum gen_col col)
{
	static const char *const duration[] = {
	    "604801",
	    "-5",
	    "+5",
	    " 5",
	    "5 ",
	    "",
	    "1e3",
	    "5.0",
	    "0x10",
	    "99999999999999999999",
	    "18446744073709551616",
	    "\"1,5\"",
	    "\xd9\xa3",
	    "0604801",
	};
	static const char *const bytes[] = {
	    "9223372036854775808",
	    "18446744073709551615",
	    "99999999999999999999999",
	    "-1",
	    "+1",
	    " 1",
	    "1 ",
	    "",
	    "1.5",
	    "\"1,000\"",
	    "1e9",
	    "0x7fffffffffffffff",
	    "00009223372036854775808",
	};

	if (col == SR_GEN_C_DURATION)
		raw_str(r, col,
		        duration[rng_below(&s->rng, SR_GEN_NELEM(duration))]);
	else
		raw_str(r, col, bytes[rng_below(&s->rng, SR_GEN_NELEM(bytes))]);
}

static void bad_quality(struct gen_ses *s, struct gen_rec *r)
{
	static const char *const bad[] = {
	    "hd",  "Hd",   "sd",      "uhd", "4K",  "FHD",     "",  " HD",
	    "HD ", "HD\r", "\"HD \"", "H D", "SDR", "UHD\x7f", "*",
	};

	raw_str(r, SR_GEN_C_QUALITY,
	        bad[rng_below(&s->rng, SR_GEN_NELEM(bad))]);
}

static uint32_t edge_field(struct gen_ses *s, struct gen_rec *r)
{
	enum gen_col col = (enum gen_col)rng_below(&s->rng, SR_GEN_NREQUIRED);

	start_normal(s, r);
	switch (col) {
	case SR_GEN_C_START:
		bad_start(s, r);
		break;
	case SR_GEN_C_DURATION:
	case SR_GEN_C_BYTES:
		bad_number(s, r, col);
		break;
	case SR_GEN_C_QUALITY:
		bad_quality(s, r);
		break;
	default:
		bad_id(s, r, col);
	}
	/* It stops at step 1: a later record with its ids is no duplicate. */
	r->counted = false;
	sr__gen_emit(s, r);
	return 1;
}

/* ---- line: records that cannot be split --------------------------------*/

/* A column of this file holding a plain value (no raw bytes yet). */
static enum gen_col some_column(struct gen_ses *s)
{
	return (enum gen_col)s->cols[rng_below(&s->rng, s->ncols)];
}

static void stray_quote(struct gen_ses *s, struct gen_rec *r)
{
	enum gen_col col = some_column(s);
	char v[300];
	size_t n = value_of(s, r, col, v);
	size_t at = 1 + (size_t)rng_below(&s->rng, n ? n : 1);

	/* A quote first would open a quoted field: keep it inside. */
	if (!n)
		v[n++] = 'a';
	if (at > n)
		at = n;
	/* Already-quoted values (user agents) get junk after the quote. */
	if (v[0] == '"') {
		v[n++] = 'x';
	} else {
		memmove(v + at + 1, v + at, n - at);
		v[at] = '"';
		n++;
	}
	sr__gen_rec_raw(r, col, v, n);
}

static void junk_after_quote(struct gen_ses *s, struct gen_rec *r)
{
	/* Never a quote right after the closing one: that would be an
	 * escaped quote, and the field would run on into the next records. */
	static const char *const junk[] = {"x", " ", "x\"", ";"};
	enum gen_col col = some_column(s);
	char v[300];
	size_t n = value_of(s, r, col, v + 1);

	if (v[1] == '"') { /* already quoted */
		memmove(v, v + 1, n);
	} else {
		v[0] = '"';
		v[++n] = '"';
		n++;
	}
	const char *j = junk[rng_below(&s->rng, SR_GEN_NELEM(junk))];

	memcpy(v + n, j, strlen(j));
	sr__gen_rec_raw(r, col, v, n + strlen(j));
}

/* A quoted field over two lines, with junk after it: the first line is
 * rejected and reading resumes inside the field, whose tail is one more
 * unsplittable line. */
static void broken_multiline(struct gen_ses *s, struct gen_rec *r)
{
	raw_str(r, SR_GEN_C_CONTENT, "\"first half\nsecond half\"x");
}

/* Pads column col so the record (without its line end) is len bytes. */
static void pad_to(struct gen_ses *s, struct gen_rec *r, enum gen_col col,
                   size_t len)
{
	char *v = s->scratch;
	size_t n;

	raw_str(r, col, "");
	size_t base = (size_t)(sr__gen_render(s, r, s->scratch) - s->scratch);

	r->raw_used = 0;
	r->raw_mask = 0;
	n = len > base ? len - base : 0;
	if (n > SR_GEN_RAW_CAP)
		n = SR_GEN_RAW_CAP;
	for (size_t i = 0; i < n; i++)
		v[i] = (char)('a' + i % 26);
	sr__gen_rec_raw(r, col, v, n);
}

/* 65536 bytes splits (then fails on a too-long id, or rates fine when an
 * unknown column took the padding); 65537 and more cannot be split. */
static void long_record(struct gen_ses *s, struct gen_rec *r)
{
	static const size_t lens[] = {65536, 65537, 70000, 65535};
	enum gen_col col = s->has_extra ? SR_GEN_C_EXTRA : SR_GEN_C_CONTENT;

	s->long_left--;
	pad_to(s, r, col, lens[rng_below(&s->rng, SR_GEN_NELEM(lens))]);
	r->keep = col == SR_GEN_C_EXTRA;
}

static uint32_t edge_line(struct gen_ses *s, struct gen_rec *r)
{
	/* Lines that split into the wrong number of fields. No line opens
	 * a quote it does not close: only the very end of the input may. */
	static const char *const lines[] = {"   \n", ",,,\n", "x\n", " \r\n"};
	unsigned k = (unsigned)rng_below(&s->rng, 7);

	if (k == 6 && rng_chance(&s->rng, 300)) {
		const char *l = lines[rng_below(&s->rng, SR_GEN_NELEM(lines))];

		sr__gen_emit_bytes(s, l, strlen(l));
		return 1;
	}
	start_normal(s, r);
	r->keep = false;
	switch (k) {
	case 0:
		stray_quote(s, r);
		break;
	case 1:
		junk_after_quote(s, r);
		break;
	case 2:
		r->fields_delta = rng_chance(&s->rng, 500) ? 1 : -1;
		break;
	case 3:
		broken_multiline(s, r);
		break;
	case 4:
		if (s->long_left) {
			long_record(s, r);
			break;
		}
		/* fall through */
	default:
		r->fields_delta = 1;
	}
	sr__gen_emit(s, r);
	return 1;
}

/* ---- dup ---------------------------------------------------------------*/

static uint32_t edge_dup(struct gen_ses *s, struct gen_rec *r)
{
	bool from_uncounted = s->nuncounted && rng_chance(&s->rng, 250);
	const struct gen_pair *ring =
	    from_uncounted ? s->uncounted : s->counted;
	uint64_t n = from_uncounted ? s->nuncounted : s->ncounted;

	if (!n)
		return 0;
	n = n < SR_GEN_RING ? n : SR_GEN_RING;
	struct gen_pair pair = ring[rng_below(&s->rng, n)];

	sr__gen_rec_reset(s, r);
	sr__gen_rec_for_sub(s, r, pair.sub, sr__gen_pick_instant(s));
	r->sid = pair.sid;
	sr__gen_emit(s, r);
	return 1;
}

/* ---- quote: the dialect's corners --------------------------------------*/

/* A quoted copy of the record's own value, inner quotes doubled. */
static void quoted_value(struct gen_ses *s, struct gen_rec *r, enum gen_col col,
                         const char *insert)
{
	char v[300], q[700];
	size_t n = value_of(s, r, col, v), k = 0;
	size_t at = n / 2;

	q[k++] = '"';
	for (size_t i = 0; i <= n; i++) {
		if (i == at)
			for (const char *c = insert; *c; c++) {
				if (*c == '"')
					q[k++] = '"';
				q[k++] = *c;
			}
		if (i == n)
			break;
		if (v[i] == '"')
			q[k++] = '"';
		q[k++] = v[i];
	}
	q[k++] = '"';
	sr__gen_rec_raw(r, col, q, k);
}

static uint32_t edge_quote(struct gen_ses *s, struct gen_rec *r)
{
	static const char *const free_text[] = {
	    "a,b", "say \"hi\"", "two\nlines", "crlf\r\ninside",
	    "",    "\"",         ",\n,",
	};
	unsigned k = (unsigned)rng_below(&s->rng, 9);

	start_normal(s, r);
	switch (k) {
	case 0: /* commas and quotes are legal id bytes */
		quoted_value(s, r, SR_GEN_C_SESSION, ",");
		break;
	case 1:
		quoted_value(s, r, SR_GEN_C_SESSION, "\"");
		break;
	case 2: /* the same ids, just quoted: they still match */
		quoted_value(s, r, SR_GEN_C_SUBSCRIBER, "");
		quoted_value(s, r, SR_GEN_C_CONTENT, "");
		break;
	case 3: /* line breaks are not: malformed id */
		quoted_value(s, r,
		             rng_chance(&s->rng, 500) ? SR_GEN_C_SESSION
		                                      : SR_GEN_C_CONTENT,
		             rng_chance(&s->rng, 500) ? "\n" : "\r");
		break;
	case 4:
	case 5:
		for (unsigned c = SR_GEN_C_START; c <= SR_GEN_C_QUALITY; c++)
			if (rng_chance(&s->rng, 500))
				quoted_value(s, r, (enum gen_col)c, "");
		break;
	default: { /* free text in an optional or unknown column */
		enum gen_col free_col = some_column(s);

		if (free_col < SR_GEN_NREQUIRED)
			free_col = SR_GEN_C_QUALITY;
		quoted_value(s, r, free_col,
		             free_col == SR_GEN_C_QUALITY
		                 ? ""
		                 : free_text[rng_below(
		                       &s->rng, SR_GEN_NELEM(free_text))]);
	}
	}
	sr__gen_emit(s, r);
	return 1;
}

/* ---- crlf, empty -------------------------------------------------------*/

static uint32_t edge_crlf(struct gen_ses *s, struct gen_rec *r)
{
	start_normal(s, r);
	r->crlf = true;
	sr__gen_emit(s, r);
	return 1;
}

static uint32_t edge_empty(struct gen_ses *s, struct gen_rec *r)
{
	const char *l = rng_chance(&s->rng, 600) ? "\n" : "\r\n";

	sr__gen_emit_bytes(s, l, strlen(l));
	return 1;
}

/* ---- dispatch ----------------------------------------------------------*/

static uint32_t (*const makers[SR_GEN_NKINDS])(struct gen_ses *s,
                                               struct gen_rec *r) = {
    [SR_GEN_K_FIELD] = edge_field, [SR_GEN_K_LINE] = edge_line,
    [SR_GEN_K_DUP] = edge_dup,     [SR_GEN_K_QUOTE] = edge_quote,
    [SR_GEN_K_CRLF] = edge_crlf,   [SR_GEN_K_EMPTY] = edge_empty,
};

uint32_t sr__gen_edge(struct gen_ses *s, enum gen_kind kind)
{
	if (kind >= SR_GEN_NKINDS)
		return 0;
	if (!makers[kind])
		return sr__gen_aim(s, kind);
	return makers[kind](s, &s->rec);
}

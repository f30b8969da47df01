/*
 * Writes the session files: sessions-1.csv .. sessions-N.csv. Most records
 * are realistic (a subscriber in force at the start instant plays content
 * of their plan, starts roughly in time order as a streaming server logs
 * them); a share set by --edge is handed to the edge-case makers of
 * gen_edge.c, which bend one thing each.
 *
 * Speed matters: five million records must take seconds. A record is a
 * handful of integers in one reused struct; it is formatted straight into
 * the output buffer by hand-rolled digit loops, with no allocation and no
 * stdio call per record.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"

static const char *const col_names[SR_GEN_NCOLS] = {
    "session_id", "subscriber_id", "content_id", "start", "duration_s",
    "bytes",      "quality",       "device_id",  "ip",    "country",
    "x_extra",    "cdn_node",      "user_agent",
};

static const char *const qualities[] = {"", "SD", "HD", "UHD"};

/* Already in CSV form: some need quotes for their commas. */
static const char *const agents[] = {
    "Roku/DVP-9.10 (519.10E04111A)",
    "\"Mozilla/5.0 (SMART-TV; Linux, Tizen 6.0)\"",
    "ExoPlayerLib/2.18.1",
    "AppleCoreMedia/1.0.0.20G75 (Apple TV; U; CPU OS 16_6 like Mac OS X)",
    "\"VLC/3.0.18 LibVLC/3.0.18, \"\"nightly\"\"\"",
};

static const char hex[] = "0123456789abcdef";

/* ---- field values ------------------------------------------------------*/

static char *put_hex(char *p, uint64_t v, int digits)
{
	for (int i = digits - 1; i >= 0; i--) {
		p[i] = hex[v & 15];
		v >>= 4;
	}
	return p + digits;
}

/* A UUID-shaped id whose last 16 digits are a bijection of the session
 * number: distinct numbers give distinct ids without any lookup. */
static char *put_session_id(char *p, const struct gen_ses *s, uint64_t sid)
{
	uint64_t lo = sr__gen_mix(sid + s->sid_key);
	uint64_t hi = sr__gen_mix(lo ^ 0x6a09e667f3bcc908ULL);

	p = put_hex(p, hi >> 32, 8);
	*p++ = '-';
	p = put_hex(p, hi >> 16, 4);
	*p++ = '-';
	*p++ = '4';
	p = put_hex(p, hi, 3);
	*p++ = '-';
	p = put_hex(p, lo >> 48, 4);
	*p++ = '-';
	return put_hex(p, lo, 12);
}

static char *put_offset(char *p, int32_t off)
{
	uint32_t a = (uint32_t)(off < 0 ? -off : off);

	*p++ = off < 0 ? '-' : '+';
	p = sr__gen_put_pad(p, a / 3600, 2);
	*p++ = ':';
	return sr__gen_put_pad(p, a / 60 % 60, 2);
}

static char *put_start(char *p, const struct gen_rec *r)
{
	int64_t local = r->t + r->off;
	int32_t day = gen_day_of(local);
	uint32_t sec = (uint32_t)(local - (int64_t)day * SR_GEN_DAY);

	p = sr__gen_put_date(p, day);
	*p++ = 'T';
	p = sr__gen_put_pad(p, sec / 3600, 2);
	*p++ = ':';
	p = sr__gen_put_pad(p, sec / 60 % 60, 2);
	*p++ = ':';
	p = sr__gen_put_pad(p, sec % 60, 2);
	if (r->frac) {
		uint64_t f = sr__gen_mix(r->sid);

		*p++ = '.';
		for (int i = 0; i < r->frac; i++, f /= 10)
			*p++ = (char)('0' + f % 10);
	}
	if (r->zulu) {
		*p++ = 'Z';
		return p;
	}
	return put_offset(p, r->off);
}

static char *put_ip(char *p, uint64_t h)
{
	if (h & 1) {
		p = sr__gen_put_str(p, "2001:db8::");
		return put_hex(p, h >> 8, 4);
	}
	p = sr__gen_put_str(p, "10.");
	p = sr__gen_put_u64(p, (h >> 8) & 255);
	*p++ = '.';
	p = sr__gen_put_u64(p, (h >> 16) & 255);
	*p++ = '.';
	return sr__gen_put_u64(p, (h >> 24) & 255);
}

static char *put_optional(const struct gen_ses *s, const struct gen_rec *r,
                          enum gen_col col, char *p)
{
	uint64_t h = sr__gen_mix(r->sub ^ s->sid_key);

	switch (col) {
	case SR_GEN_C_DEVICE:
		p = sr__gen_put_str(p, "dev-");
		return put_hex(p, h, 8);
	case SR_GEN_C_IP:
		return put_ip(p, h);
	case SR_GEN_C_COUNTRY:
		return sr__gen_put_str(p, sr__gen_regions[r->region].country);
	case SR_GEN_C_EXTRA:
		return (r->sid & 7) ? p : put_hex(p, r->sid, 6);
	case SR_GEN_C_CDN:
		p = sr__gen_put_str(p, "edge-");
		p = sr__gen_put_str(p, sr__gen_regions[r->region].id);
		*p++ = '-';
		return sr__gen_put_pad(p, (h >> 40) % 16, 2);
	default:
		return sr__gen_put_str(p, agents[(h >> 50) % 5]);
	}
}

char *sr__gen_put_value(const struct gen_ses *s, const struct gen_rec *r,
                        enum gen_col col, char *p)
{
	switch (col) {
	case SR_GEN_C_SESSION:
		return put_session_id(p, s, r->sid);
	case SR_GEN_C_SUBSCRIBER:
		return sr__gen_put_sub_id(p, s->m, r->sub);
	case SR_GEN_C_CONTENT:
		return sr__gen_put_content_id(p, s->m, r->content);
	case SR_GEN_C_START:
		return put_start(p, r);
	case SR_GEN_C_DURATION:
		return sr__gen_put_u64(p, r->duration);
	case SR_GEN_C_BYTES:
		return sr__gen_put_u64(p, r->bytes);
	case SR_GEN_C_QUALITY:
		return sr__gen_put_str(p, qualities[r->quality]);
	default:
		return put_optional(s, r, col, p);
	}
}

/* ---- records -----------------------------------------------------------*/

void sr__gen_rec_reset(struct gen_ses *s, struct gen_rec *r)
{
	char *raw = r->raw;

	memset(r, 0, sizeof(*r));
	r->raw = raw;
	r->zulu = true;
	r->counted = true;
	r->keep = true;
	r->quality = 2;
	r->sid = s->next_sid++;
}

void sr__gen_rec_raw(struct gen_rec *r, enum gen_col col, const void *bytes,
                     size_t n)
{
	if (r->raw_used + n > SR_GEN_RAW_CAP)
		n = SR_GEN_RAW_CAP - r->raw_used;
	memcpy(r->raw + r->raw_used, bytes, n);
	r->raw_off[col] = r->raw_used;
	r->raw_len[col] = (uint32_t)n;
	r->raw_used += (uint32_t)n;
	r->raw_mask |= 1u << col;
}

/* Index in [0, n), drawn towards the low end now and then: some
 * subscribers watch more, some content is more popular. */
static uint64_t skewed(struct gen_rng *rng, uint64_t n)
{
	uint64_t u = rng_below(rng, n);

	if (rng_chance(rng, 300)) {
		uint64_t v = rng_below(rng, n);

		u = v < u ? v : u;
	}
	return u;
}

uint32_t sr__gen_pick_sub(struct gen_ses *s)
{
	for (;;) {
		uint32_t u = (uint32_t)skewed(&s->rng, s->m->nsubs);

		if (!s->m->subs[u].reserved)
			return u;
	}
}

int64_t sr__gen_pick_instant(struct gen_ses *s)
{
	return s->m->t0 +
	       (int64_t)rng_below(&s->rng, (uint64_t)(s->m->t1 - s->m->t0));
}

static void draw_usage(struct gen_ses *s, struct gen_rec *r)
{
	static const uint32_t kbps[4][2] = {
	    {0, 0}, {1500, 3000}, {4000, 8000}, {12000, 25000}};
	unsigned x = (unsigned)rng_below(&s->rng, 100);

	r->quality = x < 30 ? 1 : x < 85 ? 2 : 3;
	x = (unsigned)rng_below(&s->rng, 100);
	r->duration = (uint32_t)(x < 25   ? rng_range(&s->rng, 5, 300)
	                         : x < 70 ? rng_range(&s->rng, 300, 3600)
	                         : x < 95 ? rng_range(&s->rng, 3600, 10800)
	                                  : rng_range(&s->rng, 10800, 28800));
	r->bytes = (uint64_t)r->duration * 125 *
	           (uint64_t)rng_range(&s->rng, kbps[r->quality][0],
	                               kbps[r->quality][1]);
}

void sr__gen_rec_for_sub(struct gen_ses *s, struct gen_rec *r, uint32_t sub,
                         int64_t t)
{
	const struct gen_model *m = s->m;

	r->sub = sub;
	r->t = t;
	draw_usage(s, r);
	if (sub >= m->nsubs) {
		r->content = (uint32_t)rng_below(&s->rng, m->ncontent);
		r->region = (uint8_t)rng_below(&s->rng, SR_GEN_NREGIONS);
		return;
	}
	const struct gen_sub *su = &m->subs[sub];
	int row = sr__gen_sub_row_at(su, t);

	if (row < 0)
		row = 0;
	const struct gen_plan *pl = &m->plans[su->plan[row]];

	r->region = su->region[row];
	r->content = pl->nentitled
	                 ? pl->entitled[skewed(&s->rng, pl->nentitled)]
	                 : (uint32_t)rng_below(&s->rng, m->ncontent);
}

static bool playable_at(const struct gen_model *m, uint32_t sub, int64_t t)
{
	const struct gen_sub *su = &m->subs[sub];
	int row = sr__gen_sub_row_at(su, t);

	return row >= 0 && m->plans[su->plan[row]].nentitled;
}

bool sr__gen_rec_normal(struct gen_ses *s, struct gen_rec *r, int64_t t)
{
	const struct gen_model *m = s->m;
	uint32_t sub = 0;
	bool ok = false;

	for (int tries = 0; tries < 8 && !ok; tries++) {
		sub = sr__gen_pick_sub(s);
		ok = playable_at(m, sub, t);
	}
	for (int tries = 0; tries < 8 && !ok && m->nstable; tries++) {
		sub = m->stable[rng_below(&s->rng, m->nstable)];
		ok = playable_at(m, sub, t);
	}
	sr__gen_rec_for_sub(s, r, sub, t);
	return ok;
}

/* ---- writing -----------------------------------------------------------*/

char *sr__gen_render(const struct gen_ses *s, const struct gen_rec *r, char *p)
{
	uint32_t n = s->ncols;

	if (r->fields_delta < 0 && n > 1)
		n--;
	for (uint32_t i = 0; i < n; i++) {
		unsigned c = s->cols[i];

		if (i)
			*p++ = ',';
		if ((r->raw_mask >> c) & 1) {
			memcpy(p, r->raw + r->raw_off[c], r->raw_len[c]);
			p += r->raw_len[c];
		} else {
			p = sr__gen_put_value(s, r, c, p);
		}
	}
	if (r->fields_delta > 0)
		p = sr__gen_put_str(p, ",1");
	return p;
}

static void remember(struct gen_ses *s, const struct gen_rec *r)
{
	uint32_t ids = (1u << SR_GEN_C_SESSION) | (1u << SR_GEN_C_SUBSCRIBER);

	if (!r->keep || (r->raw_mask & ids))
		return;
	if (r->counted)
		s->counted[s->ncounted++ % SR_GEN_RING] =
		    (struct gen_pair){r->sub, r->sid};
	else
		s->uncounted[s->nuncounted++ % SR_GEN_RING] =
		    (struct gen_pair){r->sub, r->sid};
}

void sr__gen_emit(struct gen_ses *s, struct gen_rec *r)
{
	char *start = out_room(&s->out, 256u * SR_GEN_NCOLS + r->raw_used);
	char *p = sr__gen_render(s, r, start);

	/* One CR right before the LF is a line end: a value that ends in CR
	 * keeps it only if another CR follows. */
	if (r->crlf || (p > start && p[-1] == '\r'))
		*p++ = '\r';
	*p++ = '\n';
	out_done(&s->out, p);
	remember(s, r);
	s->written++;
}

void sr__gen_emit_bytes(struct gen_ses *s, const void *p, size_t n)
{
	sr__gen_out_bytes(&s->out, p, n);
	s->written++;
}

/* ---- headers -----------------------------------------------------------*/

static void shuffle_columns(struct gen_ses *s)
{
	s->ncols = 0;
	for (unsigned c = 0; c < SR_GEN_NCOLS; c++)
		if (c < SR_GEN_NREQUIRED || rng_chance(&s->rng, 600) ||
		    c == SR_GEN_C_EXTRA)
			s->cols[s->ncols++] = (uint8_t)c;
	for (uint32_t i = s->ncols - 1; i > 0; i--) {
		uint32_t j = (uint32_t)rng_below(&s->rng, i + 1);
		uint8_t t = s->cols[i];

		s->cols[i] = s->cols[j];
		s->cols[j] = t;
	}
}

static void choose_columns(struct gen_ses *s)
{
	enum gen_header h = s->p->header;

	if (h == SR_GEN_H_MIXED)
		h = s->file == 0 ? SR_GEN_H_FULL
		                 : (enum gen_header)rng_below(&s->rng, 3);
	if (h == SR_GEN_H_SHUFFLE) {
		shuffle_columns(s);
	} else {
		s->ncols = h == SR_GEN_H_FULL ? 10 : SR_GEN_NREQUIRED;
		for (unsigned c = 0; c < s->ncols; c++)
			s->cols[c] = (uint8_t)c;
	}
	s->has_extra = false;
	for (uint32_t i = 0; i < s->ncols; i++)
		s->has_extra |= s->cols[i] == SR_GEN_C_EXTRA;
}

static void write_header(struct gen_ses *s)
{
	bool bom = s->p->bom > 0 || (s->p->bom < 0 && rng_chance(&s->rng, 250));
	char *p = out_room(&s->out, 512);

	if (bom)
		p = sr__gen_put_str(p, "\xef\xbb\xbf");
	for (uint32_t i = 0; i < s->ncols; i++) {
		if (i)
			*p++ = ',';
		p = sr__gen_put_str(p, col_names[s->cols[i]]);
	}
	*p++ = '\n';
	out_done(&s->out, p);
}

/* ---- the files ---------------------------------------------------------*/

static enum gen_kind draw_kind(struct gen_ses *s)
{
	uint32_t total = s->cum[SR_GEN_NKINDS - 1];
	uint32_t x = (uint32_t)rng_below(&s->rng, total);
	int k = 0;

	while (x >= s->cum[k])
		k++;
	return (enum gen_kind)k;
}

/* About instant t0 + span * written / total, give or take two hours, as
 * servers deliver their logs in rough time order. */
static int64_t normal_instant(struct gen_ses *s)
{
	const struct gen_model *m = s->m;
	uint64_t span = (uint64_t)(m->t1 - m->t0);
	int64_t t = m->t0 + (int64_t)((unsigned __int128)span * s->written /
	                              (s->total ? s->total : 1));

	/* Reflected at the period's edges rather than clamped: clamping
	 * would pile sessions on the first and last second. */
	t += rng_range(&s->rng, -7200, 7200);
	if (t < m->t0)
		t = m->t0 + (m->t0 - t);
	if (t >= m->t1)
		t = m->t1 - 1 - (t - m->t1);
	return t;
}

static void write_one(struct gen_ses *s)
{
	struct gen_rec *r = &s->rec;

	if (s->cum[SR_GEN_NKINDS - 1] &&
	    rng_below(&s->rng, 1000000) < s->p->edge_ppm &&
	    sr__gen_edge(s, draw_kind(s)))
		return;
	sr__gen_rec_reset(s, r);
	sr__gen_rec_normal(s, r, normal_instant(s));
	sr__gen_emit(s, r);
}

/* The last record of the last file opens a quote it never closes. */
static void write_eof(struct gen_ses *s)
{
	struct gen_rec *r = &s->rec;
	unsigned last = s->cols[s->ncols - 1];
	char value[256] = "\"";

	sr__gen_rec_reset(s, r);
	sr__gen_rec_normal(s, r, normal_instant(s));
	char *end = sr__gen_put_value(s, r, last, value + 1);

	sr__gen_rec_raw(r, last, value, (size_t)(end - value));
	r->keep = false;
	sr__gen_emit(s, r);
}

static int write_file(struct gen_ses *s, uint64_t quota, bool last)
{
	char path[4096];
	int err;
	bool eof =
	    last && s->p->edge_ppm && s->p->weights[SR_GEN_K_EOF] && quota > 0;
	uint64_t end = s->written + quota - eof;

	snprintf(path, sizeof(path), "%s/sessions-%u.csv", s->p->out,
	         s->file + 1);
	if ((err = sr__gen_out_open(&s->out, path)))
		goto err;
	choose_columns(s);
	write_header(s);
	s->long_left = 3;
	while (s->written < end)
		write_one(s);
	if (eof)
		write_eof(s);
	if ((err = sr__gen_out_close(&s->out)))
		goto err;
	return 0;
err:
	fprintf(stderr, "streamrate gen: %s: %s\n", path, strerror(err));
	return err;
}

static int init_ses(struct gen_ses *s, const struct gen_model *m,
                    const struct gen_params *p)
{
	uint32_t sum = 0;

	memset(s, 0, sizeof(*s));
	s->m = m;
	s->p = p;
	s->total = p->sessions;
	sr__gen_rng_seed(&s->rng, p->seed, 4);
	s->sid_key = sr__gen_mix(p->seed ^ 0x5e5510dULL);
	for (int k = 0; k < SR_GEN_NKINDS; k++) {
		sum += k == SR_GEN_K_EOF ? 0 : p->weights[k];
		s->cum[k] = sum;
	}
	s->rec.raw = malloc(SR_GEN_RAW_CAP);
	s->scratch = malloc(SR_GEN_RAW_CAP + 256u * SR_GEN_NCOLS);
	return s->rec.raw && s->scratch ? 0 : ENOMEM;
}

int sr__gen_sessions_write(const struct gen_model *m,
                           const struct gen_params *p, uint64_t *written)
{
	struct gen_ses *s = malloc(sizeof(*s));
	int err = s ? init_ses(s, m, p) : ENOMEM;

	for (uint32_t f = 0; !err && f < p->files; f++) {
		uint64_t quota =
		    p->sessions / p->files + (f < p->sessions % p->files);

		s->file = f;
		err = write_file(s, quota, f + 1 == p->files);
	}
	if (s) {
		*written = s->written;
		free(s->rec.raw);
		free(s->scratch);
	}
	free(s);
	if (err == ENOMEM)
		fprintf(stderr, "streamrate gen: out of memory\n");
	return err;
}

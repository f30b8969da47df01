/*
 * One nginx access log line to one session record. The line is matched
 * against the mapping's log_format, the skip filters decide whether it is
 * a viewing session at all (nginx-rtmp logs publishers too), and each
 * column is rendered from its template and checked by the column rules of
 * SPEC section 1, in the contract's order, so that a reject names the same
 * first offending column as the CSV path would. Times are nginx's own
 * forms ($time_local, $time_iso8601, $msec) turned into UTC instants with
 * integer calendar arithmetic; nothing here reads the process time zone.
 */
#include <string.h>

#include "columns.h"
#include "civil.h"
#include "nginx_conf.h"
#include "streamrate/error.h"

/* 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z: the contract's years. */
#define INSTANT_MIN (-62135596800LL)
#define INSTANT_MAX 253402300799LL

/* Per-line state: the captured values and where rendered text goes. */
struct line_ctx {
	const struct sr_nginx *cfg;
	struct sr_nginx_scratch *sc;
	char *next;      /* free space for rendered texts */
	char *limit;     /* end of that space */
	int query_state; /* 0 not looked at, 1 found, -1 none */
	struct sr_str query;
};

/* A captured value; nginx writes "-" for a variable it has no value for. */
static struct sr_str var_value(const struct line_ctx *x, uint32_t var)
{
	struct sr_str v = x->sc->values[var];
	if (v.len == 1 && v.ptr[0] == '-')
		return (struct sr_str){v.ptr, 0};
	return v;
}

static bool arg_name_eq(const char *a, const char *b, uint32_t n)
{
	/* Names compare as nginx's $arg_NAME does: case-insensitively. */
	for (uint32_t i = 0; i < n; i++) {
		unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
		if (x >= 'A' && x <= 'Z')
			x |= 0x20;
		if (y >= 'A' && y <= 'Z')
			y |= 0x20;
		if (x != y)
			return false;
	}
	return true;
}

/* The query string: after the first '?', up to a space or '#'. */
static struct sr_str query_part(struct sr_str v)
{
	const char *q = memchr(v.ptr, '?', v.len), *end = v.ptr + v.len;
	const char *p = q ? q + 1 : v.ptr, *e = p;
	while (e < end && *e != ' ' && *e != '#')
		e++;
	return (struct sr_str){p, (uint32_t)(e - p)};
}

static bool render(struct line_ctx *x, const struct sr__ngx_tmpl *t,
                   struct sr_str *out);

static bool find_query(struct line_ctx *x)
{
	struct sr_str v;
	if (x->query_state == 0) {
		x->query_state = -1;
		if (x->cfg->has_query && render(x, &x->cfg->query, &v)) {
			x->query = query_part(v);
			x->query_state = 1;
		}
	}
	return x->query_state > 0;
}

/* The raw (not percent-decoded) value of query argument name, the first
 * one given; false when it is absent or empty. */
static bool query_arg(struct line_ctx *x, struct sr_str name,
                      struct sr_str *out)
{
	if (!find_query(x))
		return false;
	const char *p = x->query.ptr, *end = p + x->query.len;
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *e = amp ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(e - p));
		const char *k = eq ? eq : e;
		if ((size_t)(k - p) == name.len &&
		    arg_name_eq(p, name.ptr, name.len)) {
			const char *v = eq ? eq + 1 : e;
			*out = (struct sr_str){v, (uint32_t)(e - v)};
			return out->len > 0;
		}
		p = e + (amp != NULL);
	}
	return false;
}

static bool part_value(struct line_ctx *x, const struct sr__ngx_part *p,
                       struct sr_str *v)
{
	switch (p->kind) {
	case SR__NGX_TEXT:
		*v = p->text;
		return true;
	case SR__NGX_VAR:
		*v = var_value(x, p->var);
		return true;
	default:
		return query_arg(x, p->text, v);
	}
}

/*
 * Render a template: a view of the one value it names, or its parts
 * copied into the scratch. False when a query argument is missing or the
 * text would be longer than SR_NGINX_FIELD_MAX.
 */
static bool render(struct line_ctx *x, const struct sr__ngx_tmpl *t,
                   struct sr_str *out)
{
	struct sr_str v;
	if (t->nparts == 1)
		return part_value(x, &t->parts[0], out);
	if (x->limit - x->next < SR_NGINX_FIELD_MAX)
		return false;
	char *o = x->next;
	uint32_t n = 0;
	for (uint32_t i = 0; i < t->nparts; i++) {
		if (!part_value(x, &t->parts[i], &v))
			return false;
		if (v.len > SR_NGINX_FIELD_MAX - n)
			return false;
		memcpy(o + n, v.ptr, v.len);
		n += v.len;
	}
	x->next += n;
	*out = (struct sr_str){o, n};
	return true;
}

static int cmp_key(struct sr_str a, struct sr_str b)
{
	uint32_t n = a.len < b.len ? a.len : b.len;
	int c = n ? memcmp(a.ptr, b.ptr, n) : 0;
	return c ? c : (a.len > b.len) - (a.len < b.len);
}

static bool map_lookup(const struct sr__ngx_map *m, struct sr_str key,
                       struct sr_str *out)
{
	uint32_t lo = 0, hi = m->n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		int c = cmp_key(m->entries[mid].key, key);
		if (c == 0) {
			*out = m->entries[mid].value;
			return true;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*out = m->dflt;
	return m->has_default;
}

/* The text of column c: its template, looked up in its table if map:. */
static bool field_text(struct line_ctx *x, int c, struct sr_str *out)
{
	const struct sr__ngx_field *f = &x->cfg->fields[c];
	if (!render(x, &f->tmpl, out))
		return false;
	return !f->map || map_lookup(&x->cfg->maps[c], *out, out);
}

static bool skip_line(struct line_ctx *x)
{
	for (uint32_t i = 0; i < x->cfg->nfilters; i++) {
		const struct sr__ngx_filter *f = &x->cfg->filters[i];
		struct sr_str v;
		/* A missing query argument compares as empty text. */
		if (!render(x, &f->tmpl, &v))
			v = (struct sr_str){"", 0};
		if (sr_str_eq(v, f->value) != f->neq)
			return true;
	}
	return false;
}

/* Fraction digits after a '.', as milliseconds (the first three count);
 * -1 if there are none or one is not a digit. */
static int64_t fraction_ms(const char *p, uint32_t n)
{
	int64_t ms = 0;
	if (n == 0)
		return -1;
	for (uint32_t i = 0; i < n || i < 3; i++) {
		unsigned d = i < n ? (unsigned char)p[i] - '0' : 0;
		if (d > 9)
			return -1;
		if (i < 3)
			ms = ms * 10 + d;
	}
	return ms;
}

/* "<digits>[.<digits>]" seconds as milliseconds, at most max_digits
 * digits before the point; -1 if bad. */
static int64_t seconds_ms(struct sr_str v, uint32_t max_digits)
{
	const char *dot = memchr(v.ptr, '.', v.len);
	uint32_t n = dot ? (uint32_t)(dot - v.ptr) : v.len;
	int64_t s = n && n <= max_digits ? sr__digits(v.ptr, n) : -1;
	if (s < 0)
		return -1;
	if (!dot)
		return s * 1000;
	int64_t f = fraction_ms(dot + 1, v.len - n - 1);
	return f < 0 ? -1 : s * 1000 + f;
}

static int month_of(const char *p)
{
	static const char names[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	for (int m = 0; m < 12; m++)
		if (memcmp(p, names + 3 * m, 3) == 0)
			return m + 1;
	return -1;
}

/* $time_local: "25/Nov/2026:06:54:01 +0100" as UTC milliseconds. */
static int parse_clf(const char *p, int64_t *ms)
{
	if (p[2] != '/' || p[6] != '/' || p[11] != ':' || p[14] != ':' ||
	    p[17] != ':' || p[20] != ' ' || (p[21] != '+' && p[21] != '-'))
		return -1;
	int64_t d = sr__digits(p, 2), y = sr__digits(p + 7, 4),
	        hh = sr__digits(p + 12, 2), mi = sr__digits(p + 15, 2),
	        ss = sr__digits(p + 18, 2), oh = sr__digits(p + 22, 2),
	        om = sr__digits(p + 24, 2);
	int m = month_of(p + 3);
	if (m < 0 || y < 1 || d < 1 || d > sr__month_days(y, (unsigned)m) ||
	    hh < 0 || hh > 23 || mi < 0 || mi > 59 || ss < 0 || ss > 59 ||
	    oh < 0 || oh > 23 || om < 0 || om > 59)
		return -1;
	int64_t off = (oh * 60 + om) * 60 * (p[21] == '-' ? -1 : 1);
	int64_t t = sr__days_from_civil(y, (unsigned)m, (unsigned)d) * SR_DAY +
	            hh * 3600 + mi * 60 + ss - off;
	*ms = t * 1000;
	return 0;
}

/* An instant in one of nginx's forms, told apart by shape: $time_local,
 * $time_iso8601 (RFC 3339), or $msec (seconds since the epoch). */
static int parse_time_ms(struct sr_str v, int64_t *ms)
{
	int64_t t;
	if (v.len == 26 && v.ptr[2] == '/')
		return parse_clf(v.ptr, ms);
	if (v.len >= 20 && v.ptr[4] == '-') {
		if (sr__parse_rfc3339(v.ptr, v.len, &t) < 0)
			return -1;
		*ms = t * 1000;
		return 0;
	}
	t = seconds_ms(v, 12);
	if (t < 0)
		return -1;
	*ms = t;
	return 0;
}

/* $session_readable_time: "[Nd ][Nh ][Nm ]Ns", units in that order. */
static int64_t readable_ms(struct sr_str v)
{
	static const char units[] = "dhms";
	static const int64_t secs[] = {86400, 3600, 60, 1};
	int64_t total = 0;
	uint32_t i = 0, u = 0;
	while (i < v.len) {
		uint32_t s = i;
		while (i < v.len && v.ptr[i] >= '0' && v.ptr[i] <= '9')
			i++;
		if (i == s || i - s > 9 || i == v.len)
			return -1;
		const char *k = memchr(units + u, v.ptr[i], 4 - u);
		if (!k)
			return -1;
		u = (uint32_t)(k - units);
		total += sr__digits(v.ptr + s, i - s) * secs[u++];
		if (++i < v.len && (v.ptr[i++] != ' ' || i == v.len || u == 4))
			return -1;
	}
	return i ? total * 1000 : -1;
}

/* A duration: "<seconds>[.<fraction>]" or $session_readable_time. */
static int64_t duration_ms(struct sr_str v)
{
	if (v.len > 0 && (v.ptr[v.len - 1] < '0' || v.ptr[v.len - 1] > '9'))
		return readable_ms(v);
	return seconds_ms(v, 9);
}

static bool derive_start(struct line_ctx *x, struct sr_session *s)
{
	struct sr_str v;
	int64_t ms, d = 0;
	if (!field_text(x, SR_COL_START, &v) || parse_time_ms(v, &ms) < 0)
		return false;
	if (x->cfg->start_minus) {
		if (!render(x, &x->cfg->start_duration, &v) ||
		    (d = duration_ms(v)) < 0)
			return false;
	}
	ms -= d;
	/* Floor division: the fraction of a second is dropped. */
	int64_t t = ms / 1000 - (ms % 1000 < 0);
	if (t < INSTANT_MIN || t > INSTANT_MAX)
		return false;
	s->start = t;
	return true;
}

static bool derive(struct line_ctx *x, int c, struct sr_session *s)
{
	struct sr_str v;
	int64_t d;
	if (c == SR_COL_START)
		return derive_start(x, s);
	if (!field_text(x, c, &v))
		return false;
	switch (c) {
	case SR_COL_SESSION_ID:
		s->session_id = v;
		return sr__valid_id(v);
	case SR_COL_SUBSCRIBER_ID:
		s->subscriber_id = v;
		return sr__valid_id(v);
	case SR_COL_CONTENT_ID:
		s->content_id = v;
		return sr__valid_id(v);
	case SR_COL_DURATION_S:
		/* The fraction of a second is dropped, as nginx-rtmp does. */
		d = duration_ms(v);
		if (d < 0 || d / 1000 > SR_DURATION_MAX)
			return false;
		s->duration_s = (uint32_t)(d / 1000);
		return true;
	case SR_COL_BYTES:
		return sr__parse_count(v, INT64_MAX, &s->bytes);
	default:
		return sr__parse_quality(v, &s->quality);
	}
}

static enum sr_nginx_outcome reject(enum sr_reason why, enum sr_reason *out)
{
	*out = why;
	return SR_NGINX_REJECTED;
}

enum sr_nginx_outcome sr_nginx_parse_line(const struct sr_nginx *cfg,
                                          const char *line, size_t len,
                                          struct sr_nginx_scratch *scratch,
                                          struct sr_session *s,
                                          enum sr_reason *reason)
{
	*reason = SR_REASON_NONE;
	if (len > 0 && line[len - 1] == '\n')
		len--;
	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (len == 0)
		return SR_NGINX_SKIPPED;
	if (len > SR_NGINX_LINE_MAX ||
	    sr_logfmt_match(cfg->fmt, line, len, scratch->values,
	                    scratch->bytes) < 0)
		return reject(SR_REASON_MALFORMED_LINE, reason);
	struct line_ctx x = {cfg,
	                     scratch,
	                     scratch->bytes + len,
	                     scratch->bytes + sizeof(scratch->bytes),
	                     0,
	                     {NULL, 0}};
	if (skip_line(&x))
		return SR_NGINX_SKIPPED;
	*s = (struct sr_session){0};
	for (int c = 0; c < SR__NGX_FIELDS; c++)
		if (!derive(&x, c, s))
			return reject((enum sr_reason)(
			                  SR_REASON_MALFORMED_SESSION_ID + c),
			              reason);
	return SR_NGINX_SESSION;
}

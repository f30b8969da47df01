/*
 * nginx log_format strings: compile them into a list of literal texts and
 * variables, match access log lines against that list, and undo nginx's
 * escaping of the captured values. nginx writes each variable as it is,
 * with no delimiter of its own, so the only way back is the format's
 * literal text: a variable ends where the text that follows it in the
 * format first appears. Escaping is what makes this safe for quoted
 * fields: with escape=default nginx writes '"' as \x22, so a quote in the
 * log always closes a field.
 */
#include <stdlib.h>
#include <string.h>

#include "streamrate/error.h"
#include "streamrate/nginx.h"

#define MAX_OPS (2 * SR_LOGFMT_MAX_VARS + 1)

/* One step of the format: a literal text, or a variable (var >= 0). */
struct op {
	uint32_t off, len; /* the literal's bytes in f->text */
	int32_t var;       /* variable index, or -1 for a literal */
	uint32_t width;    /* fixed width of the variable's values, or 0 */
};

struct sr_logfmt {
	uint32_t nops, nvars;
	uint8_t escape;
	struct op ops[MAX_OPS];
	struct sr_str names[SR_LOGFMT_MAX_VARS]; /* point into text */
	char text[];                             /* copy of the format */
};

static bool name_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_';
}

/* Variables whose values always have the same width in nginx's logs. */
static uint32_t fixed_width(struct sr_str name)
{
	if (sr_str_eq(name, (struct sr_str){"time_local", 10}))
		return 26; /* 25/Nov/2026:06:54:01 +0000 */
	if (sr_str_eq(name, (struct sr_str){"time_iso8601", 12}))
		return 25; /* 2026-11-25T06:54:01+00:00 */
	return 0;
}

static int var_index(const struct sr_logfmt *f, struct sr_str name)
{
	for (uint32_t i = 0; i < f->nvars; i++)
		if (sr_str_eq(f->names[i], name))
			return (int)i;
	return -1;
}

/*
 * Read the variable reference at text[*i] ('$' seen): the name's view,
 * with *i moved past it. 0, or -1 with *why set.
 */
static int read_name(const char *text, size_t len, size_t *i,
                     struct sr_str *name, const char **why)
{
	size_t p = *i + 1, start;
	bool brace = p < len && text[p] == '{';
	if (brace)
		p++;
	start = p;
	while (p < len && name_char((unsigned char)text[p]))
		p++;
	if (p == start) {
		*why = "a '$' is not followed by a variable name";
		return -1;
	}
	*name = (struct sr_str){text + start, (uint32_t)(p - start)};
	if (brace) {
		if (p == len || text[p] != '}') {
			*why = "a '${' has no closing '}'";
			return -1;
		}
		p++;
	}
	*i = p;
	return 0;
}

/* Append an operation; a format may repeat variables, so the count of
 * operations needs its own bound. */
static int push_op(struct sr_logfmt *f, struct op op, const char **why)
{
	if (f->nops == MAX_OPS) {
		*why = "log_format has too many parts";
		return -1;
	}
	f->ops[f->nops++] = op;
	return 0;
}

static int add_var(struct sr_logfmt *f, struct sr_str name, const char **why)
{
	int v = var_index(f, name);
	if (f->nops > 0 && f->ops[f->nops - 1].var >= 0) {
		*why = "two variables with no text between them";
		return -1;
	}
	if (v < 0) {
		if (f->nvars == SR_LOGFMT_MAX_VARS) {
			*why = "more than 64 distinct variables";
			return -1;
		}
		v = (int)f->nvars;
		f->names[f->nvars++] = name;
	}
	return push_op(f, (struct op){0, 0, v, fixed_width(name)}, why);
}

static int compile_ops(struct sr_logfmt *f, size_t len, const char **why)
{
	size_t i = 0;
	while (i < len) {
		if (f->text[i] == '$') {
			struct sr_str name;
			if (read_name(f->text, len, &i, &name, why) < 0 ||
			    add_var(f, name, why) < 0)
				return -1;
			continue;
		}
		size_t start = i;
		while (i < len && f->text[i] != '$')
			i++;
		if (push_op(f,
		            (struct op){(uint32_t)start, (uint32_t)(i - start),
		                        -1, 0},
		            why) < 0)
			return -1;
	}
	if (f->nvars == 0) {
		*why = "log_format holds no variable";
		return -1;
	}
	return 0;
}

int sr_logfmt_compile(const char *log_format, size_t len,
                      enum sr_logfmt_escape escape, struct sr_logfmt **out,
                      const char **why)
{
	const char *dummy;
	if (!why)
		why = &dummy;
	*out = NULL;
	if (len == 0 || len > SR_NGINX_LINE_MAX || escape > SR_ESCAPE_NONE) {
		*why = "log_format is empty or too long";
		return SR_EINVAL;
	}
	struct sr_logfmt *f = calloc(1, sizeof(*f) + len);
	if (!f)
		return SR_ENOMEM;
	memcpy(f->text, log_format, len);
	f->escape = (uint8_t)escape;
	if (compile_ops(f, len, why) < 0) {
		free(f);
		return SR_EINVAL;
	}
	*why = NULL;
	*out = f;
	return 0;
}

void sr_logfmt_destroy(struct sr_logfmt *f)
{
	free(f);
}

uint32_t sr_logfmt_nvars(const struct sr_logfmt *f)
{
	return f->nvars;
}

struct sr_str sr_logfmt_var_name(const struct sr_logfmt *f, uint32_t i)
{
	return i < f->nvars ? f->names[i] : (struct sr_str){"", 0};
}

int sr_logfmt_var_index(const struct sr_logfmt *f, const char *name, size_t len)
{
	if (len > UINT32_MAX)
		return -1;
	return var_index(f, (struct sr_str){name, (uint32_t)len});
}

static int hex(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Length of the escape sequence at p[0] == '\' (n bytes left), or 1 when
 * it is not one the escape mode produces. */
static size_t escape_len(const char *p, size_t n, uint8_t escape)
{
	if (escape == SR_ESCAPE_DEFAULT)
		return n >= 4 && p[1] == 'x' && hex(p[2]) >= 0 && hex(p[3]) >= 0
		           ? 4
		           : 1;
	if (n >= 6 && p[1] == 'u' && hex(p[2]) >= 0 && hex(p[3]) >= 0 &&
	    hex(p[4]) >= 0 && hex(p[5]) >= 0)
		return 6;
	return n >= 2 && p[1] && strchr("\"\\/nrtbf", p[1]) ? 2 : 1;
}

/* First position >= pos where lit starts, outside escape sequences. */
static const char *find_literal(const char *p, const char *end, const char *lit,
                                size_t n, uint8_t escape)
{
	while ((size_t)(end - p) >= n) {
		if (*p == '\\' && escape != SR_ESCAPE_NONE) {
			p += escape_len(p, (size_t)(end - p), escape);
			continue;
		}
		if (*p == lit[0] && memcmp(p, lit, n) == 0)
			return p;
		p++;
	}
	return NULL;
}

/* Write code point u as UTF-8 at o; returns the bytes written. */
static size_t put_utf8(char *o, unsigned u)
{
	if (u < 0x80) {
		o[0] = (char)u;
		return 1;
	}
	if (u < 0x800) {
		o[0] = (char)(0xC0 | u >> 6);
		o[1] = (char)(0x80 | (u & 0x3F));
		return 2;
	}
	o[0] = (char)(0xE0 | u >> 12);
	o[1] = (char)(0x80 | ((u >> 6) & 0x3F));
	o[2] = (char)(0x80 | (u & 0x3F));
	return 3;
}

/* Decode one escape sequence of k bytes at p into o; bytes written. */
static size_t decode_one(const char *p, size_t k, uint8_t escape, char *o)
{
	static const char from[] = "nrtbf", to[] = "\n\r\t\b\f";
	if (k == 4 && escape == SR_ESCAPE_DEFAULT) {
		*o = (char)(hex(p[2]) << 4 | hex(p[3]));
		return 1;
	}
	if (k == 6) {
		unsigned u = (unsigned)(hex(p[2]) << 12 | hex(p[3]) << 8 |
		                        hex(p[4]) << 4 | hex(p[5]));
		/* nginx writes \u00XX for one byte XX; anything else is a
		 * code point. */
		if (u < 0x100) {
			*o = (char)u;
			return 1;
		}
		return put_utf8(o, u);
	}
	if (k == 2) {
		const char *c = strchr(from, p[1]);
		*o = c ? to[c - from] : p[1];
		return 1;
	}
	*o = p[0];
	return 1;
}

/* The value's unescaped form: v itself, or a copy decoded at *out. */
static struct sr_str unescape(struct sr_str v, uint8_t escape, char **out)
{
	if (escape == SR_ESCAPE_NONE || !memchr(v.ptr, '\\', v.len))
		return v;
	char *o = *out, *start = o;
	const char *p = v.ptr, *end = v.ptr + v.len;
	while (p < end) {
		if (*p != '\\') {
			*o++ = *p++;
			continue;
		}
		size_t k = escape_len(p, (size_t)(end - p), escape);
		o += decode_one(p, k, escape, o);
		p += k;
	}
	*out = o;
	return (struct sr_str){start, (uint32_t)(o - start)};
}

/* Where the variable at ops[i] ends in [p, end), or NULL. */
static const char *var_end(const struct sr_logfmt *f, uint32_t i, const char *p,
                           const char *end)
{
	const struct op *op = &f->ops[i];
	if (op->width)
		return (size_t)(end - p) >= op->width ? p + op->width : NULL;
	if (i + 1 == f->nops)
		return end;
	const struct op *lit = &f->ops[i + 1];
	return find_literal(p, end, f->text + lit->off, lit->len, f->escape);
}

int sr_logfmt_match(const struct sr_logfmt *f, const char *line, size_t len,
                    struct sr_str *values, char *scratch)
{
	const char *p = line, *end = line + len;
	if (len > SR_NGINX_LINE_MAX)
		return SR_EINVAL;
	for (uint32_t v = 0; v < f->nvars; v++)
		values[v] = (struct sr_str){NULL, 0};
	for (uint32_t i = 0; i < f->nops; i++) {
		const struct op *op = &f->ops[i];
		if (op->var < 0) {
			if ((size_t)(end - p) < op->len ||
			    memcmp(p, f->text + op->off, op->len) != 0)
				return SR_EINVAL;
			p += op->len;
			continue;
		}
		const char *e = var_end(f, i, p, end);
		if (!e)
			return SR_EINVAL;
		struct sr_str raw = {p, (uint32_t)(e - p)};
		/* A variable used twice keeps its first value. */
		if (!values[op->var].ptr)
			values[op->var] = unescape(raw, f->escape, &scratch);
		p = e;
	}
	return p == end ? 0 : SR_EINVAL;
}

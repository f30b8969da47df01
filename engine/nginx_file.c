/*
 * The syntax of nginx mapping files: key = value lines, [section] lines
 * that start lookup tables, # comments, and values quoted the way
 * nginx.conf quotes them (pieces joined, continued on the next lines), so
 * that a log_format can be pasted from nginx.conf as it stands. This part
 * only turns the text into lines with their numbers; nginx_conf.c gives
 * them meaning.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nginx_conf.h"
#include "streamrate/error.h"

struct reader {
	char *p, *end;
	uint32_t line;
	int section;
	struct sr__ngx_line *ents;
	uint32_t n, cap;
	struct sr_nginx_error *err;
};

int sr__ngx_fail(struct sr_nginx_error *err, uint32_t line, const char *fmt,
                 ...)
{
	va_list ap;
	err->line = line;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return SR_EINVAL;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

bool sr__ngx_str_is(struct sr_str s, const char *lit)
{
	return s.len == strlen(lit) && memcmp(s.ptr, lit, s.len) == 0;
}

struct sr_str sr__ngx_trim(const char *p, const char *e)
{
	while (p < e && is_blank(*p))
		p++;
	while (e > p && is_blank(e[-1]))
		e--;
	return (struct sr_str){p, (uint32_t)(e - p)};
}

/* The field a key or section names, or -1. "subscriber" is an alias. */
int sr__ngx_field_index(struct sr_str name)
{
	static const char *const names[SR__NGX_FIELDS] = {
	    "session_id", "subscriber_id", "content_id", "start",
	    "duration_s", "bytes",         "quality"};
	for (int c = 0; c < SR__NGX_FIELDS; c++)
		if (sr__ngx_str_is(name, names[c]))
			return c;
	return sr__ngx_str_is(name, "subscriber") ? SR_COL_SUBSCRIBER_ID : -1;
}

static int push_entry(struct reader *r, uint32_t line, struct sr_str key,
                      struct sr_str value)
{
	if (r->n == r->cap) {
		uint32_t cap = r->cap ? 2 * r->cap : 32;
		struct sr__ngx_line *e = realloc(r->ents, cap * sizeof(*e));
		if (!e)
			return SR_ENOMEM;
		r->ents = e;
		r->cap = cap;
	}
	r->ents[r->n++] = (struct sr__ngx_line){r->section, line, key, value};
	return 0;
}

/* One backslash escape inside quotes, as nginx.conf reads it. */
static char quoted_escape(char c, bool *keep)
{
	*keep = false;
	switch (c) {
	case 't':
		return '\t';
	case 'r':
		return '\r';
	case 'n':
		return '\n';
	case '"':
	case '\'':
	case '\\':
		return c;
	default:
		*keep = true; /* nginx keeps the backslash */
		return c;
	}
}

/* Copy the quoted string at r->p (its opening quote) to *o, unescaped. */
static int copy_quoted(struct reader *r, char **o)
{
	char q = *r->p++;
	while (r->p < r->end && *r->p != q) {
		if (*r->p == '\n')
			return sr__ngx_fail(r->err, r->line,
			                    "unterminated quote");
		if (*r->p == '\\' && r->p + 1 < r->end && r->p[1] != '\n') {
			bool keep;
			char c = quoted_escape(r->p[1], &keep);
			if (keep)
				*(*o)++ = '\\';
			*(*o)++ = c;
			r->p += 2;
			continue;
		}
		*(*o)++ = *r->p++;
	}
	if (r->p == r->end)
		return sr__ngx_fail(r->err, r->line, "unterminated quote");
	r->p++;
	return 0;
}

/*
 * After a quoted string: another one on the same line, or on the next
 * line when that line starts with blanks and a quote. Returns true with
 * r->p on the next opening quote, else false with r->p at the line end.
 */
static bool next_quoted(struct reader *r, bool *semicolon)
{
	while (r->p < r->end && is_blank(*r->p))
		r->p++;
	if (r->p < r->end && *r->p == ';') {
		*semicolon = true;
		r->p++;
		while (r->p < r->end && is_blank(*r->p))
			r->p++;
	}
	if (*semicolon)
		return false;
	if (r->p < r->end && (*r->p == '"' || *r->p == '\''))
		return true;
	if (r->p == r->end || *r->p != '\n')
		return false;
	char *q = r->p + 1;
	while (q < r->end && is_blank(*q))
		q++;
	if (q == r->p + 1 || q == r->end || (*q != '"' && *q != '\''))
		return false;
	r->line++;
	r->p = q;
	return true;
}

/* A value made of quoted strings, concatenated in place at r->p. */
static int read_quoted(struct reader *r, struct sr_str *value)
{
	char *start = r->p, *o = r->p;
	bool semicolon = false;
	do {
		int rc = copy_quoted(r, &o);
		if (rc < 0)
			return rc;
	} while (next_quoted(r, &semicolon));
	if (r->p < r->end && *r->p != '\n' && *r->p != '#')
		return sr__ngx_fail(r->err, r->line,
		                    "text after a quoted value");
	*value = (struct sr_str){start, (uint32_t)(o - start)};
	return 0;
}

static char *line_end(struct reader *r)
{
	char *e = memchr(r->p, '\n', (size_t)(r->end - r->p));
	return e ? e : r->end;
}

static int read_section(struct reader *r)
{
	char *e = line_end(r), *close = memchr(r->p, ']', (size_t)(e - r->p));
	if (!close || sr__ngx_trim(close + 1, e).len != 0)
		return sr__ngx_fail(r->err, r->line, "a section is [name]");
	struct sr_str name = sr__ngx_trim(r->p + 1, close);
	r->section = sr__ngx_field_index(name);
	if (r->section < 0)
		return sr__ngx_fail(r->err, r->line, "unknown section [%.*s]",
		                    (int)name.len, name.ptr);
	r->p = e;
	return 0;
}

static int read_entry(struct reader *r)
{
	char *e = line_end(r), *eq = memchr(r->p, '=', (size_t)(e - r->p));
	if (!eq)
		return sr__ngx_fail(r->err, r->line, "expected key = value");
	struct sr_str key = sr__ngx_trim(r->p, eq), value = {0};
	uint32_t line = r->line;
	if (key.len == 0)
		return sr__ngx_fail(r->err, r->line, "empty key");
	r->p = eq + 1;
	while (r->p < e && is_blank(*r->p))
		r->p++;
	if (r->p < e && (*r->p == '"' || *r->p == '\'')) {
		int rc = read_quoted(r, &value);
		if (rc < 0)
			return rc;
		r->p = line_end(r);
	} else {
		value = sr__ngx_trim(r->p, e);
		r->p = e;
	}
	return push_entry(r, line, key, value);
}

static int read_line(struct reader *r)
{
	while (r->p < r->end && is_blank(*r->p))
		r->p++;
	if (r->p == r->end || *r->p == '\n')
		return 0;
	if (*r->p == '#') {
		r->p = line_end(r);
		return 0;
	}
	if (*r->p == '[')
		return read_section(r);
	return read_entry(r);
}

static int read_entries(struct reader *r)
{
	while (r->p < r->end) {
		int rc = read_line(r);
		if (rc < 0)
			return rc;
		if (r->p < r->end) { /* at the LF */
			r->p++;
			r->line++;
		}
	}
	return 0;
}

int sr__ngx_read_lines(char *text, size_t len, struct sr__ngx_line **lines,
                       uint32_t *n, struct sr_nginx_error *err)
{
	struct reader r = {text, text + len, 1, SR__NGX_TOP_LEVEL,
	                   NULL, 0,          0, err};
	int rc = read_entries(&r);
	if (rc < 0) {
		free(r.ents);
		return rc;
	}
	*lines = r.ents;
	*n = r.n;
	return 0;
}

int sr__ngx_read_file(const char *path, char **buf, size_t *len,
                      struct sr_nginx_error *err)
{
	FILE *f = fopen(path, "rb");
	size_t cap = 4096, n = 0;
	char *b = malloc(cap);
	if (!f || !b)
		goto err_open;
	for (;;) {
		n += fread(b + n, 1, cap - n, f);
		if (n < cap)
			break;
		char *nb = cap < (1u << 24) ? realloc(b, cap *= 2) : NULL;
		if (!nb)
			goto err_open;
		b = nb;
	}
	if (ferror(f))
		goto err_open;
	fclose(f);
	*buf = b;
	*len = n;
	return 0;
err_open:
	snprintf(err->msg, sizeof(err->msg), "%s: %s", path,
	         f && b ? "cannot read (or larger than 16 MiB)"
	                : strerror(errno));
	free(b);
	if (f)
		fclose(f);
	return SR_EIO;
}

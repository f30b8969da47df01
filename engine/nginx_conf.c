/*
 * The nginx mapping file: key = value lines, [section] lookup tables and
 * values quoted the way nginx.conf quotes them, so that a log_format can
 * be pasted from nginx.conf as it stands. Reading happens in two passes:
 * first every line becomes an entry, then the log_format is compiled and
 * every other entry is checked against its variables. Every mistake is
 * reported with its line, because a mapping that silently drops a column
 * would bill the wrong subscriber.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nginx_conf.h"
#include "streamrate/error.h"

/* nginx's own "combined" formats, by the names the file may use. */
static const char http_combined[] =
    "$remote_addr - $remote_user [$time_local] \"$request\" $status "
    "$body_bytes_sent \"$http_referer\" \"$http_user_agent\"";
static const char rtmp_combined[] =
    "$remote_addr [$time_local] $command \"$app\" \"$name\" \"$args\" - "
    "$bytes_received $bytes_sent \"$pageurl\" \"$flashver\" "
    "($session_readable_time)";

/* Where arg: looks for the query string when the file does not say. */
static const char *const query_vars[] = {"args", "query_string", "request_uri",
                                         "request"};

#define TOP_LEVEL (-1)

/* One "key = value" line, in the section it appeared in. */
struct entry {
	int section; /* TOP_LEVEL or a field */
	uint32_t line;
	struct sr_str key, value;
};

struct reader {
	char *p, *end;
	uint32_t line;
	int section;
	struct entry *ents;
	uint32_t n, cap;
	struct sr_nginx_error *err;
};

static int fail(struct sr_nginx_error *err, uint32_t line, const char *fmt, ...)
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

static bool str_is(struct sr_str s, const char *lit)
{
	return s.len == strlen(lit) && memcmp(s.ptr, lit, s.len) == 0;
}

static struct sr_str trim(const char *p, const char *e)
{
	while (p < e && is_blank(*p))
		p++;
	while (e > p && is_blank(e[-1]))
		e--;
	return (struct sr_str){p, (uint32_t)(e - p)};
}

/* The field a key or section names, or -1. "subscriber" is an alias. */
static int field_index(struct sr_str name)
{
	static const char *const names[SR__NGX_FIELDS] = {
	    "session_id", "subscriber_id", "content_id", "start",
	    "duration_s", "bytes",         "quality"};
	for (int c = 0; c < SR__NGX_FIELDS; c++)
		if (str_is(name, names[c]))
			return c;
	return str_is(name, "subscriber") ? SR_COL_SUBSCRIBER_ID : -1;
}

static int push_entry(struct reader *r, uint32_t line, struct sr_str key,
                      struct sr_str value)
{
	if (r->n == r->cap) {
		uint32_t cap = r->cap ? 2 * r->cap : 32;
		struct entry *e = realloc(r->ents, cap * sizeof(*e));
		if (!e)
			return SR_ENOMEM;
		r->ents = e;
		r->cap = cap;
	}
	r->ents[r->n++] = (struct entry){r->section, line, key, value};
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
			return fail(r->err, r->line, "unterminated quote");
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
		return fail(r->err, r->line, "unterminated quote");
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
		return fail(r->err, r->line, "text after a quoted value");
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
	if (!close || trim(close + 1, e).len != 0)
		return fail(r->err, r->line, "a section is [name]");
	struct sr_str name = trim(r->p + 1, close);
	r->section = field_index(name);
	if (r->section < 0)
		return fail(r->err, r->line, "unknown section [%.*s]",
		            (int)name.len, name.ptr);
	r->p = e;
	return 0;
}

static int read_entry(struct reader *r)
{
	char *e = line_end(r), *eq = memchr(r->p, '=', (size_t)(e - r->p));
	if (!eq)
		return fail(r->err, r->line, "expected key = value");
	struct sr_str key = trim(r->p, eq), value;
	uint32_t line = r->line;
	if (key.len == 0)
		return fail(r->err, r->line, "empty key");
	r->p = eq + 1;
	while (r->p < e && is_blank(*r->p))
		r->p++;
	if (r->p < e && (*r->p == '"' || *r->p == '\'')) {
		int rc = read_quoted(r, &value);
		if (rc < 0)
			return rc;
		r->p = line_end(r);
	} else {
		value = trim(r->p, e);
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

/* The one top-level entry with this key, or NULL; a second is an error. */
static int find_unique(const struct reader *r, const char *key,
                       const struct entry **out)
{
	*out = NULL;
	for (uint32_t i = 0; i < r->n; i++) {
		const struct entry *e = &r->ents[i];
		if (e->section != TOP_LEVEL || !str_is(e->key, key))
			continue;
		if (*out)
			return fail(r->err, e->line, "%s given twice", key);
		*out = e;
	}
	return 0;
}

static int parse_escape(const struct reader *r, enum sr_logfmt_escape *esc)
{
	const struct entry *e;
	int rc = find_unique(r, "escape", &e);
	*esc = SR_ESCAPE_DEFAULT;
	if (rc < 0 || !e)
		return rc;
	if (str_is(e->value, "default"))
		*esc = SR_ESCAPE_DEFAULT;
	else if (str_is(e->value, "json"))
		*esc = SR_ESCAPE_JSON;
	else if (str_is(e->value, "none"))
		*esc = SR_ESCAPE_NONE;
	else
		return fail(r->err, e->line, "escape is default, json or none");
	return 0;
}

static int compile_format(struct sr_nginx *cfg, const struct reader *r)
{
	const struct entry *e;
	enum sr_logfmt_escape esc;
	const char *why;
	int rc = find_unique(r, "log_format", &e);
	if (rc < 0 || (rc = parse_escape(r, &esc)) < 0)
		return rc;
	if (!e)
		return fail(r->err, 0, "log_format is missing");
	struct sr_str f = e->value;
	if (str_is(f, "combined"))
		f = (struct sr_str){http_combined, sizeof(http_combined) - 1};
	else if (str_is(f, "rtmp_combined"))
		f = (struct sr_str){rtmp_combined, sizeof(rtmp_combined) - 1};
	rc = sr_logfmt_compile(f.ptr, f.len, esc, &cfg->fmt, &why);
	if (rc == SR_EINVAL)
		return fail(r->err, e->line, "log_format: %s", why);
	return rc;
}

static bool arg_char(unsigned char c)
{
	return c > ' ' && c != '}' && c != '&' && c != '=' && c != 0x7F;
}

static int add_part(struct sr__ngx_tmpl *t, struct sr__ngx_part part)
{
	if (t->nparts == SR__NGX_PARTS)
		return -1;
	t->parts[t->nparts++] = part;
	return 0;
}

/* ${arg:NAME} at v[*i]: the part, with *i moved past the '}'. */
static int read_arg_ref(struct sr_str v, uint32_t *i, struct sr__ngx_part *p)
{
	uint32_t start = *i + 6, k = start;
	while (k < v.len && arg_char((unsigned char)v.ptr[k]))
		k++;
	if (k == start || k == v.len || v.ptr[k] != '}')
		return -1;
	*p = (struct sr__ngx_part){SR__NGX_ARG, 0, {v.ptr + start, k - start}};
	*i = k + 1;
	return 0;
}

/* $name or ${name} at v[*i]: the variable's part, *i moved past it. */
static int read_var_ref(const struct sr_nginx *cfg, struct sr_str v,
                        uint32_t *i, struct sr__ngx_part *p,
                        struct sr_str *name)
{
	uint32_t k = *i + 1;
	bool brace = k < v.len && v.ptr[k] == '{';
	uint32_t start = k + brace;
	for (k = start; k < v.len; k++) {
		unsigned char c = (unsigned char)v.ptr[k];
		if (!(c == '_' || (c >= 'a' && c <= 'z') ||
		      (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
			break;
	}
	*name = (struct sr_str){v.ptr + start, k - start};
	if (k == start || (brace && (k == v.len || v.ptr[k] != '}')))
		return -1;
	int var = sr_logfmt_var_index(cfg->fmt, name->ptr, name->len);
	if (var < 0)
		return -2;
	*p = (struct sr__ngx_part){SR__NGX_VAR, (uint32_t)var, {0}};
	*i = k + brace;
	return 0;
}

static int parse_ref(const struct sr_nginx *cfg, struct sr_str v, uint32_t *i,
                     struct sr__ngx_part *p, uint32_t line,
                     struct sr_nginx_error *err)
{
	struct sr_str name;
	if (v.len - *i > 6 && memcmp(v.ptr + *i, "${arg:", 6) == 0) {
		if (read_arg_ref(v, i, p) < 0)
			return fail(err, line, "bad ${arg:NAME} reference");
		return 0;
	}
	int rc = read_var_ref(cfg, v, i, p, &name);
	if (rc == -2)
		return fail(err, line, "$%.*s is not in log_format",
		            (int)name.len, name.ptr);
	if (rc < 0)
		return fail(err, line, "a '$' is not followed by a variable");
	return 0;
}

/* Text with $var, ${var} and ${arg:NAME} references. */
static int parse_tmpl(const struct sr_nginx *cfg, struct sr_str v,
                      struct sr__ngx_tmpl *t, uint32_t line,
                      struct sr_nginx_error *err)
{
	uint32_t i = 0;
	t->nparts = 0;
	while (i < v.len) {
		struct sr__ngx_part p;
		if (v.ptr[i] == '$') {
			int rc = parse_ref(cfg, v, &i, &p, line, err);
			if (rc < 0)
				return rc;
		} else {
			uint32_t s = i;
			while (i < v.len && v.ptr[i] != '$')
				i++;
			p = (struct sr__ngx_part){
			    SR__NGX_TEXT, 0, {v.ptr + s, i - s}};
		}
		if (add_part(t, p) < 0)
			return fail(err, line, "more than %d parts",
			            SR__NGX_PARTS);
	}
	return 0;
}

/* A field's value: "arg:NAME", "map:<template>" or a template. */
static int parse_value(const struct sr_nginx *cfg, struct sr_str v,
                       struct sr__ngx_field *f, uint32_t line,
                       struct sr_nginx_error *err)
{
	f->set = true;
	f->map = v.len >= 4 && memcmp(v.ptr, "map:", 4) == 0;
	if (f->map) {
		v.ptr += 4;
		v.len -= 4;
	}
	if (v.len > 4 && memcmp(v.ptr, "arg:", 4) == 0) {
		struct sr_str name = {v.ptr + 4, v.len - 4};
		for (uint32_t i = 0; i < name.len; i++)
			if (!arg_char((unsigned char)name.ptr[i]))
				return fail(err, line, "bad arg:NAME");
		f->tmpl.nparts = 1;
		f->tmpl.parts[0] = (struct sr__ngx_part){SR__NGX_ARG, 0, name};
		return 0;
	}
	if (v.len == 0)
		return fail(err, line, "empty value");
	return parse_tmpl(cfg, v, &f->tmpl, line, err);
}

/* Position of " - " in v, or -1. */
static int64_t find_minus(struct sr_str v)
{
	for (uint32_t i = 0; i + 3 <= v.len; i++)
		if (memcmp(v.ptr + i, " - ", 3) == 0)
			return i;
	return -1;
}

/* start = <time> [- <duration>] */
static int parse_start(struct sr_nginx *cfg, const struct entry *e,
                       struct sr_nginx_error *err)
{
	struct sr_str v = e->value;
	int64_t m = find_minus(v);
	if (m >= 0) {
		struct sr_str d = trim(v.ptr + m + 3, v.ptr + v.len);
		v = trim(v.ptr, v.ptr + m);
		cfg->start_minus = true;
		if (d.len == 0)
			return fail(err, e->line, "start: empty duration");
		int rc = parse_tmpl(cfg, d, &cfg->start_duration, e->line, err);
		if (rc < 0)
			return rc;
	}
	return parse_value(cfg, v, &cfg->fields[SR_COL_START], e->line, err);
}

/* skip = <template> == <text> | <template> != <text> */
static int parse_filter(struct sr_nginx *cfg, const struct entry *e,
                        struct sr_nginx_error *err)
{
	struct sr_str v = e->value;
	if (cfg->nfilters == SR__NGX_FILTERS)
		return fail(err, e->line, "more than %d skip lines",
		            SR__NGX_FILTERS);
	struct sr__ngx_filter *f = &cfg->filters[cfg->nfilters++];
	for (uint32_t i = 0; i + 2 <= v.len; i++) {
		if ((v.ptr[i] != '=' && v.ptr[i] != '!') || v.ptr[i + 1] != '=')
			continue;
		f->neq = v.ptr[i] == '!';
		f->value = trim(v.ptr + i + 2, v.ptr + v.len);
		struct sr_str left = trim(v.ptr, v.ptr + i);
		if (left.len == 0)
			break;
		return parse_tmpl(cfg, left, &f->tmpl, e->line, err);
	}
	return fail(err, e->line, "skip is <template> == <text> or != <text>");
}

static int parse_query(struct sr_nginx *cfg, const struct entry *e,
                       struct sr_nginx_error *err)
{
	cfg->has_query = true;
	return parse_tmpl(cfg, e->value, &cfg->query, e->line, err);
}

static int parse_top(struct sr_nginx *cfg, const struct entry *e,
                     struct sr_nginx_error *err)
{
	int c = field_index(e->key);
	if (str_is(e->key, "log_format") || str_is(e->key, "escape"))
		return 0;
	if (str_is(e->key, "skip"))
		return parse_filter(cfg, e, err);
	if (str_is(e->key, "query"))
		return cfg->has_query ? fail(err, e->line, "query given twice")
		                      : parse_query(cfg, e, err);
	if (c < 0)
		return fail(err, e->line, "unknown key %.*s", (int)e->key.len,
		            e->key.ptr);
	if (cfg->fields[c].set)
		return fail(err, e->line, "%.*s given twice", (int)e->key.len,
		            e->key.ptr);
	if (c == SR_COL_START)
		return parse_start(cfg, e, err);
	return parse_value(cfg, e->value, &cfg->fields[c], e->line, err);
}

static int cmp_entry(const void *a, const void *b)
{
	const struct sr__ngx_entry *x = a, *y = b;
	uint32_t n = x->key.len < y->key.len ? x->key.len : y->key.len;
	int c = memcmp(x->key.ptr, y->key.ptr, n);
	if (c)
		return c;
	return (x->key.len > y->key.len) - (x->key.len < y->key.len);
}

static bool valid_quality(struct sr_str v)
{
	return str_is(v, "SD") || str_is(v, "HD") || str_is(v, "UHD");
}

static int add_map_row(struct sr_nginx *cfg, const struct entry *e,
                       struct sr_nginx_error *err)
{
	struct sr__ngx_map *m = &cfg->maps[e->section];
	if (e->section == SR_COL_QUALITY && !valid_quality(e->value))
		return fail(err, e->line, "a quality is SD, HD or UHD");
	if (str_is(e->key, "*")) {
		if (m->has_default)
			return fail(err, e->line, "* given twice");
		m->has_default = true;
		m->dflt = e->value;
		return 0;
	}
	m->entries[m->n++] = (struct sr__ngx_entry){e->key, e->value};
	return 0;
}

/* The section's rows, sorted; a key given twice is an error. */
static int build_map(struct sr_nginx *cfg, const struct reader *r, int c)
{
	struct sr__ngx_map *m = &cfg->maps[c];
	m->entries = calloc(r->n ? r->n : 1, sizeof(*m->entries));
	if (!m->entries)
		return SR_ENOMEM;
	for (uint32_t i = 0; i < r->n; i++) {
		if (r->ents[i].section != c)
			continue;
		int rc = add_map_row(cfg, &r->ents[i], r->err);
		if (rc < 0)
			return rc;
	}
	qsort(m->entries, m->n, sizeof(*m->entries), cmp_entry);
	for (uint32_t i = 1; i < m->n; i++) {
		if (cmp_entry(&m->entries[i - 1], &m->entries[i]) == 0)
			return fail(
			    r->err, 0, "key %.*s given twice in a table",
			    (int)m->entries[i].key.len, m->entries[i].key.ptr);
	}
	return 0;
}

static bool section_used(const struct reader *r, int c)
{
	for (uint32_t i = 0; i < r->n; i++)
		if (r->ents[i].section == c)
			return true;
	return false;
}

static int check_fields(struct sr_nginx *cfg, const struct reader *r)
{
	static const char *const names[SR__NGX_FIELDS] = {
	    "session_id", "subscriber_id", "content_id", "start",
	    "duration_s", "bytes",         "quality"};
	for (int c = 0; c < SR__NGX_FIELDS; c++) {
		if (!cfg->fields[c].set)
			return fail(r->err, 0, "%s is missing", names[c]);
		if (cfg->fields[c].map) {
			int rc = build_map(cfg, r, c);
			if (rc < 0)
				return rc;
		} else if (section_used(r, c)) {
			return fail(r->err, 0,
			            "[%s] is a table, but %s is "
			            "not map:",
			            names[c], names[c]);
		}
	}
	return 0;
}

static bool uses_arg(const struct sr__ngx_tmpl *t)
{
	for (uint32_t i = 0; i < t->nparts; i++)
		if (t->parts[i].kind == SR__NGX_ARG)
			return true;
	return false;
}

static bool any_arg(const struct sr_nginx *cfg)
{
	for (int c = 0; c < SR__NGX_FIELDS; c++)
		if (uses_arg(&cfg->fields[c].tmpl))
			return true;
	for (uint32_t i = 0; i < cfg->nfilters; i++)
		if (uses_arg(&cfg->filters[i].tmpl))
			return true;
	return uses_arg(&cfg->start_duration);
}

/* Without a query key, arg: reads the first of query_vars logged. */
static int default_query(struct sr_nginx *cfg, struct sr_nginx_error *err)
{
	if (cfg->has_query || !any_arg(cfg))
		return 0;
	for (size_t i = 0; i < sizeof(query_vars) / sizeof(*query_vars); i++) {
		const char *n = query_vars[i];
		int v = sr_logfmt_var_index(cfg->fmt, n, strlen(n));
		if (v < 0)
			continue;
		cfg->has_query = true;
		cfg->query.nparts = 1;
		cfg->query.parts[0] =
		    (struct sr__ngx_part){SR__NGX_VAR, (uint32_t)v, {0}};
		return 0;
	}
	return fail(err, 0,
	            "arg: needs $args, $query_string, $request_uri or "
	            "$request in log_format, or a query key");
}

static int compile(struct sr_nginx *cfg, struct reader *r)
{
	int rc = read_entries(r);
	if (rc < 0 || (rc = compile_format(cfg, r)) < 0)
		return rc;
	for (uint32_t i = 0; i < r->n; i++) {
		if (r->ents[i].section != TOP_LEVEL)
			continue;
		rc = parse_top(cfg, &r->ents[i], r->err);
		if (rc < 0)
			return rc;
	}
	if ((rc = check_fields(cfg, r)) < 0)
		return rc;
	return default_query(cfg, r->err);
}

int sr_nginx_create(const char *text, size_t len, struct sr_nginx **out,
                    struct sr_nginx_error *err)
{
	struct sr_nginx_error dummy;
	if (!err)
		err = &dummy;
	*out = NULL;
	*err = (struct sr_nginx_error){0};
	struct sr_nginx *cfg = calloc(1, sizeof(*cfg));
	if (!cfg)
		return SR_ENOMEM;
	cfg->text = malloc(len + 1);
	if (!cfg->text) {
		free(cfg);
		return SR_ENOMEM;
	}
	memcpy(cfg->text, text, len);
	cfg->text[len] = '\0';
	struct reader r = {cfg->text, cfg->text + len, 1, TOP_LEVEL, NULL, 0, 0,
	                   err};
	int rc = compile(cfg, &r);
	free(r.ents);
	if (rc < 0) {
		sr_nginx_destroy(cfg);
		return rc;
	}
	*out = cfg;
	return 0;
}

static int read_file(const char *path, char **buf, size_t *len,
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

int sr_nginx_load(const char *path, struct sr_nginx **out,
                  struct sr_nginx_error *err)
{
	struct sr_nginx_error dummy;
	char *buf;
	size_t len;
	if (!err)
		err = &dummy;
	*out = NULL;
	*err = (struct sr_nginx_error){0};
	int rc = read_file(path, &buf, &len, err);
	if (rc < 0)
		return rc;
	rc = sr_nginx_create(buf, len, out, err);
	free(buf);
	return rc;
}

void sr_nginx_destroy(struct sr_nginx *cfg)
{
	if (!cfg)
		return;
	for (int c = 0; c < SR__NGX_FIELDS; c++)
		free(cfg->maps[c].entries);
	sr_logfmt_destroy(cfg->fmt);
	free(cfg->text);
	free(cfg);
}

const struct sr_logfmt *sr_nginx_logfmt(const struct sr_nginx *cfg)
{
	return cfg->fmt;
}

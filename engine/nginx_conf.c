/*
 * The meaning of an nginx mapping file: which keys it has, how a value
 * becomes a template (literal text, $variables, ${arg:NAME}), the map:
 * tables, the skip filters and where arg: finds the query string. The
 * file is read in two passes: nginx_file.c first turns every line into a
 * key and a value, then the log_format is compiled and every other line is
 * checked against its variables. Every mistake is reported with its line,
 * because a mapping that silently drops a column would bill the wrong
 * subscriber.
 */
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

/* The lines of the file, as nginx_file.c read them. */
struct lines {
	struct sr__ngx_line *ents;
	uint32_t n;
	struct sr_nginx_error *err;
};

/* The one top-level entry with this key, or NULL; a second is an error. */
static int find_unique(const struct lines *r, const char *key,
                       const struct sr__ngx_line **out)
{
	*out = NULL;
	for (uint32_t i = 0; i < r->n; i++) {
		const struct sr__ngx_line *e = &r->ents[i];
		if (e->section != SR__NGX_TOP_LEVEL ||
		    !sr__ngx_str_is(e->key, key))
			continue;
		if (*out)
			return sr__ngx_fail(r->err, e->line, "%s given twice",
			                    key);
		*out = e;
	}
	return 0;
}

static int parse_escape(const struct lines *r, enum sr_logfmt_escape *esc)
{
	const struct sr__ngx_line *e;
	int rc = find_unique(r, "escape", &e);
	*esc = SR_ESCAPE_DEFAULT;
	if (rc < 0 || !e)
		return rc;
	if (sr__ngx_str_is(e->value, "default"))
		*esc = SR_ESCAPE_DEFAULT;
	else if (sr__ngx_str_is(e->value, "json"))
		*esc = SR_ESCAPE_JSON;
	else if (sr__ngx_str_is(e->value, "none"))
		*esc = SR_ESCAPE_NONE;
	else
		return sr__ngx_fail(r->err, e->line,
		                    "escape is default, json or none");
	return 0;
}

static int compile_format(struct sr_nginx *cfg, const struct lines *r)
{
	const struct sr__ngx_line *e;
	enum sr_logfmt_escape esc;
	const char *why;
	int rc = find_unique(r, "log_format", &e);
	if (rc < 0 || (rc = parse_escape(r, &esc)) < 0)
		return rc;
	if (!e)
		return sr__ngx_fail(r->err, 0, "log_format is missing");
	struct sr_str f = e->value;
	if (sr__ngx_str_is(f, "combined"))
		f = (struct sr_str){http_combined, sizeof(http_combined) - 1};
	else if (sr__ngx_str_is(f, "rtmp_combined"))
		f = (struct sr_str){rtmp_combined, sizeof(rtmp_combined) - 1};
	rc = sr_logfmt_compile(f.ptr, f.len, esc, &cfg->fmt, &why);
	if (rc == SR_EINVAL)
		return sr__ngx_fail(r->err, e->line, "log_format: %s", why);
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
			return sr__ngx_fail(err, line,
			                    "bad ${arg:NAME} reference");
		return 0;
	}
	int rc = read_var_ref(cfg, v, i, p, &name);
	if (rc == -2)
		return sr__ngx_fail(err, line, "$%.*s is not in log_format",
		                    (int)name.len, name.ptr);
	if (rc < 0)
		return sr__ngx_fail(err, line,
		                    "a '$' is not followed by a variable");
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
		struct sr__ngx_part p = {0};
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
			return sr__ngx_fail(err, line, "more than %d parts",
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
				return sr__ngx_fail(err, line, "bad arg:NAME");
		f->tmpl.nparts = 1;
		f->tmpl.parts[0] = (struct sr__ngx_part){SR__NGX_ARG, 0, name};
		return 0;
	}
	if (v.len == 0)
		return sr__ngx_fail(err, line, "empty value");
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
static int parse_start(struct sr_nginx *cfg, const struct sr__ngx_line *e,
                       struct sr_nginx_error *err)
{
	struct sr_str v = e->value;
	int64_t m = find_minus(v);
	if (m >= 0) {
		struct sr_str d = sr__ngx_trim(v.ptr + m + 3, v.ptr + v.len);
		v = sr__ngx_trim(v.ptr, v.ptr + m);
		cfg->start_minus = true;
		if (d.len == 0)
			return sr__ngx_fail(err, e->line,
			                    "start: empty duration");
		int rc = parse_tmpl(cfg, d, &cfg->start_duration, e->line, err);
		if (rc < 0)
			return rc;
	}
	return parse_value(cfg, v, &cfg->fields[SR_COL_START], e->line, err);
}

/* skip = <template> == <text> | <template> != <text> */
static int parse_filter(struct sr_nginx *cfg, const struct sr__ngx_line *e,
                        struct sr_nginx_error *err)
{
	struct sr_str v = e->value;
	if (cfg->nfilters == SR__NGX_FILTERS)
		return sr__ngx_fail(err, e->line, "more than %d skip lines",
		                    SR__NGX_FILTERS);
	struct sr__ngx_filter *f = &cfg->filters[cfg->nfilters++];
	for (uint32_t i = 0; i + 2 <= v.len; i++) {
		if ((v.ptr[i] != '=' && v.ptr[i] != '!') || v.ptr[i + 1] != '=')
			continue;
		f->neq = v.ptr[i] == '!';
		f->value = sr__ngx_trim(v.ptr + i + 2, v.ptr + v.len);
		struct sr_str left = sr__ngx_trim(v.ptr, v.ptr + i);
		if (left.len == 0)
			break;
		return parse_tmpl(cfg, left, &f->tmpl, e->line, err);
	}
	return sr__ngx_fail(err, e->line,
	                    "skip is <template> == <text> or != <text>");
}

static int parse_query(struct sr_nginx *cfg, const struct sr__ngx_line *e,
                       struct sr_nginx_error *err)
{
	cfg->has_query = true;
	return parse_tmpl(cfg, e->value, &cfg->query, e->line, err);
}

static int parse_top(struct sr_nginx *cfg, const struct sr__ngx_line *e,
                     struct sr_nginx_error *err)
{
	int c = sr__ngx_field_index(e->key);
	if (sr__ngx_str_is(e->key, "log_format") ||
	    sr__ngx_str_is(e->key, "escape"))
		return 0;
	if (sr__ngx_str_is(e->key, "skip"))
		return parse_filter(cfg, e, err);
	if (sr__ngx_str_is(e->key, "query"))
		return cfg->has_query
		           ? sr__ngx_fail(err, e->line, "query given twice")
		           : parse_query(cfg, e, err);
	if (c < 0)
		return sr__ngx_fail(err, e->line, "unknown key %.*s",
		                    (int)e->key.len, e->key.ptr);
	if (cfg->fields[c].set)
		return sr__ngx_fail(err, e->line, "%.*s given twice",
		                    (int)e->key.len, e->key.ptr);
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
	return sr__ngx_str_is(v, "SD") || sr__ngx_str_is(v, "HD") ||
	       sr__ngx_str_is(v, "UHD");
}

static int add_map_row(struct sr_nginx *cfg, const struct sr__ngx_line *e,
                       struct sr_nginx_error *err)
{
	struct sr__ngx_map *m = &cfg->maps[e->section];
	if (e->section == SR_COL_QUALITY && !valid_quality(e->value))
		return sr__ngx_fail(err, e->line, "a quality is SD, HD or UHD");
	if (sr__ngx_str_is(e->key, "*")) {
		if (m->has_default)
			return sr__ngx_fail(err, e->line, "* given twice");
		m->has_default = true;
		m->dflt = e->value;
		return 0;
	}
	m->entries[m->n++] = (struct sr__ngx_entry){e->key, e->value};
	return 0;
}

/* The section's rows, sorted; a key given twice is an error. */
static int build_map(struct sr_nginx *cfg, const struct lines *r, int c)
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
			return sr__ngx_fail(
			    r->err, 0, "key %.*s given twice in a table",
			    (int)m->entries[i].key.len, m->entries[i].key.ptr);
	}
	return 0;
}

static bool section_used(const struct lines *r, int c)
{
	for (uint32_t i = 0; i < r->n; i++)
		if (r->ents[i].section == c)
			return true;
	return false;
}

static int check_fields(struct sr_nginx *cfg, const struct lines *r)
{
	static const char *const names[SR__NGX_FIELDS] = {
	    "session_id", "subscriber_id", "content_id", "start",
	    "duration_s", "bytes",         "quality"};
	for (int c = 0; c < SR__NGX_FIELDS; c++) {
		if (!cfg->fields[c].set)
			return sr__ngx_fail(r->err, 0, "%s is missing",
			                    names[c]);
		if (cfg->fields[c].map) {
			int rc = build_map(cfg, r, c);
			if (rc < 0)
				return rc;
		} else if (section_used(r, c)) {
			return sr__ngx_fail(r->err, 0,
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
	return sr__ngx_fail(err, 0,
	                    "arg: needs $args, $query_string, $request_uri or "
	                    "$request in log_format, or a query key");
}

static int compile(struct sr_nginx *cfg, const struct lines *r)
{
	int rc = compile_format(cfg, r);
	if (rc < 0)
		return rc;
	for (uint32_t i = 0; i < r->n; i++) {
		if (r->ents[i].section != SR__NGX_TOP_LEVEL)
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
	struct lines r = {NULL, 0, err};
	int rc = sr__ngx_read_lines(cfg->text, len, &r.ents, &r.n, err);
	if (rc == 0)
		rc = compile(cfg, &r);
	free(r.ents);
	if (rc < 0) {
		sr_nginx_destroy(cfg);
		return rc;
	}
	*out = cfg;
	return 0;
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
	int rc = sr__ngx_read_file(path, &buf, &len, err);
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

/*
 * The compiled form of an nginx mapping file, shared by the file parser
 * (nginx_conf.c) and the line parser (nginx.c). A mapping is a handful of
 * templates: literal text, captured variables and query arguments, each
 * a list of parts that point into the mapping's own copy of the file.
 */
#ifndef SR_NGINX_CONF_H
#define SR_NGINX_CONF_H

#include "streamrate/nginx.h"

/* Parts of one template, filters, and fields mapped by the file. */
#define SR__NGX_PARTS   16
#define SR__NGX_FILTERS 8
#define SR__NGX_FIELDS  SR_COL_REQUIRED /* session_id .. quality */

/* Every template of a line can be rendered: columns, duration, query. */
_Static_assert(SR_NGINX_RENDERS >= SR__NGX_FIELDS + 2 + SR__NGX_FILTERS,
               "scratch too small for the templates of one line");

enum sr__ngx_part_kind {
	SR__NGX_TEXT, /* literal text */
	SR__NGX_VAR,  /* a variable of the log_format */
	SR__NGX_ARG,  /* a query argument, by name */
};

struct sr__ngx_part {
	uint8_t kind;
	uint32_t var;       /* SR__NGX_VAR: variable index */
	struct sr_str text; /* SR__NGX_TEXT: the text; SR__NGX_ARG: the name */
};

struct sr__ngx_tmpl {
	uint32_t nparts;
	struct sr__ngx_part parts[SR__NGX_PARTS];
};

struct sr__ngx_entry {
	struct sr_str key, value;
};

/* A lookup table ([section] of the file), sorted by key. */
struct sr__ngx_map {
	struct sr__ngx_entry *entries;
	uint32_t n;
	bool has_default; /* a "*" row */
	struct sr_str dflt;
};

/* How one column is derived: a template, or a table keyed by one. */
struct sr__ngx_field {
	bool set;
	bool map;
	struct sr__ngx_tmpl tmpl;
};

/* skip = <template> == <text>, or != <text>. */
struct sr__ngx_filter {
	struct sr__ngx_tmpl tmpl;
	bool neq;
	struct sr_str value;
};

struct sr_nginx {
	struct sr_logfmt *fmt;
	struct sr__ngx_field fields[SR__NGX_FIELDS];
	struct sr__ngx_map maps[SR__NGX_FIELDS];
	/* start = <time> - <duration>: the duration part, when present. */
	bool start_minus;
	struct sr__ngx_tmpl start_duration;
	bool has_query; /* where arg: finds the query string */
	struct sr__ngx_tmpl query;
	uint32_t nfilters;
	struct sr__ngx_filter filters[SR__NGX_FILTERS];
	char *text; /* the file's bytes, edited in place; parts point here */
};

/* nginx_file.c: the file's syntax. */

#define SR__NGX_TOP_LEVEL (-1) /* a line before any [section] */

/* One "key = value" line, in the section it appeared in. */
struct sr__ngx_line {
	int section; /* SR__NGX_TOP_LEVEL or the column of a [section] */
	uint32_t line;
	struct sr_str key, value; /* point into the text read */
};

/*
 * Split a mapping file's text (len bytes, NUL after them) into lines;
 * quoted values are unescaped in place, so the text must stay alive as
 * long as the lines. 0 and *lines (free() it), SR_EINVAL with *err, or
 * SR_ENOMEM.
 */
int sr__ngx_read_lines(char *text, size_t len, struct sr__ngx_line **lines,
                       uint32_t *n, struct sr_nginx_error *err);
/* Read a whole file (at most 16 MiB): 0 and *buf (free() it), or SR_EIO
 * with err->msg naming the path and the cause. */
int sr__ngx_read_file(const char *path, char **buf, size_t *len,
                      struct sr_nginx_error *err);
/* Fill *err (line 0: the whole file) and return SR_EINVAL. */
int sr__ngx_fail(struct sr_nginx_error *err, uint32_t line, const char *fmt,
                 ...) __attribute__((format(printf, 3, 4)));
bool sr__ngx_str_is(struct sr_str s, const char *lit);
/* s without blanks (space, tab, CR) at either end. */
struct sr_str sr__ngx_trim(const char *p, const char *e);
/* The column a key or section names, or -1; "subscriber" is an alias of
 * subscriber_id. */
int sr__ngx_field_index(struct sr_str name);

#endif

/*
 * Session records from the access logs of nginx and nginx-rtmp. A log line
 * is matched against the log_format string copied from nginx.conf, and a
 * small mapping file (README, "nginx and nginx-rtmp logs") says how the
 * captured variables become the columns of a session record: templates,
 * query arguments, lookup tables and "end time minus duration". A line
 * becomes a session, a skipped line (nginx-rtmp PUBLISH, an empty line) or
 * a reject with the same malformed:<column> reasons as the CSV path.
 *
 * Compiled objects are read-only after creation and can be shared by
 * threads; all per-line state lives in a caller-provided scratch struct.
 */
#ifndef STREAMRATE_NGINX_H
#define STREAMRATE_NGINX_H

#include <stddef.h>
#include <stdint.h>

#include "streamrate/session.h"
#include "streamrate/types.h"

/* Most distinct variables a log_format may hold. */
#define SR_LOGFMT_MAX_VARS 64
/* Longest log line (without its LF); longer is malformed:line. */
#define SR_NGINX_LINE_MAX 65536
/* Longest text a mapping may render for one field; longer is malformed. */
#define SR_NGINX_FIELD_MAX 256
/* Rendered texts per line: the seven columns, the start's duration, the
 * query and up to 8 skip filters, with room to spare. */
#define SR_NGINX_RENDERS 24

/* How nginx escaped variable values in the log (log_format escape=). */
enum sr_logfmt_escape {
	SR_ESCAPE_DEFAULT = 0, /* '"', '\', bytes < 0x20 or >= 0x7F as \xHH */
	SR_ESCAPE_JSON = 1,    /* \" \\ \n \r \t \b \f \u00XX */
	SR_ESCAPE_NONE = 2,    /* raw bytes; nginx-rtmp never escapes */
};

/* A compiled log_format: literal texts and the variables between them. */
struct sr_logfmt;

/*
 * Compile an nginx log_format string of len bytes: literal text and
 * $name / ${name} variable references (name: ASCII letters, digits, '_').
 * Two variables with no text between them cannot be told apart and are
 * refused. Returns 0 and *out (free with sr_logfmt_destroy), SR_EINVAL
 * with *why (when why is not NULL) set to a static explanation, or
 * SR_ENOMEM. The string is copied.
 */
int sr_logfmt_compile(const char *log_format, size_t len,
                      enum sr_logfmt_escape escape, struct sr_logfmt **out,
                      const char **why);
/* Free a compiled format; NULL is fine. */
void sr_logfmt_destroy(struct sr_logfmt *f);

/* Number of distinct variables; their indexes are 0..n-1 in order of
 * first appearance. */
uint32_t sr_logfmt_nvars(const struct sr_logfmt *f);
/* Name of variable i (without '$'); valid while f lives. */
struct sr_str sr_logfmt_var_name(const struct sr_logfmt *f, uint32_t i);
/* Index of the variable named name (without '$'), or -1. */
int sr_logfmt_var_index(const struct sr_logfmt *f, const char *name,
                        size_t len);

/*
 * Match one line (without its line end) and capture every variable into
 * values[0..nvars): a variable runs up to the first occurrence of the
 * literal text after it (escape sequences skipped), to the end of the
 * line when it is last; $time_local and $time_iso8601 have their fixed
 * widths. Values are unescaped per the format's escape mode: a view into
 * line when nothing needed decoding, else into scratch, which must hold
 * len bytes. Returns 0, or SR_EINVAL when the line does not match.
 */
int sr_logfmt_match(const struct sr_logfmt *f, const char *line, size_t len,
                    struct sr_str *values, char *scratch);

/* A compiled mapping file: the log format, filters and field mappings. */
struct sr_nginx;

/* Where a mapping file is wrong: 1-based line (0: the whole file). */
struct sr_nginx_error {
	uint32_t line;
	char msg[200];
};

/*
 * Compile a mapping from the text of a mapping file (len bytes, copied).
 * Returns 0 and *out (free with sr_nginx_destroy), SR_EINVAL with *err
 * filled (err may be NULL), or SR_ENOMEM.
 */
int sr_nginx_create(const char *text, size_t len, struct sr_nginx **out,
                    struct sr_nginx_error *err);
/* Read and compile a mapping file: as sr_nginx_create, or SR_EIO (with
 * err->msg naming the cause) when the file cannot be read. */
int sr_nginx_load(const char *path, struct sr_nginx **out,
                  struct sr_nginx_error *err);
/* Free a mapping; NULL is fine. */
void sr_nginx_destroy(struct sr_nginx *cfg);
/* The mapping's compiled log_format; valid while cfg lives. */
const struct sr_logfmt *sr_nginx_logfmt(const struct sr_nginx *cfg);

/* Per-line working memory; one per thread, reused for every line. */
struct sr_nginx_scratch {
	struct sr_str values[SR_LOGFMT_MAX_VARS]; /* the captured variables */
	char bytes[SR_NGINX_LINE_MAX + SR_NGINX_RENDERS * SR_NGINX_FIELD_MAX];
};

enum sr_nginx_outcome {
	SR_NGINX_SESSION = 0,  /* *s holds a session record */
	SR_NGINX_SKIPPED = 1,  /* empty line, or a skip filter matched */
	SR_NGINX_REJECTED = 2, /* *reason says why */
};

/*
 * Turn one access log line into a session record. line may end with its
 * LF (and one CR before it). On SR_NGINX_SESSION the strings of *s point
 * into line or into scratch, valid until either is reused. On
 * SR_NGINX_REJECTED *reason is malformed:line (longer than
 * SR_NGINX_LINE_MAX, or not matching log_format) or the malformed:<column>
 * of the first column, in the contract's order, that cannot be derived.
 */
enum sr_nginx_outcome sr_nginx_parse_line(const struct sr_nginx *cfg,
                                          const char *line, size_t len,
                                          struct sr_nginx_scratch *scratch,
                                          struct sr_session *s,
                                          enum sr_reason *reason);

#endif

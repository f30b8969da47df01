/*
 * The nginx decoder of follow: an access log read through a mapping file
 * (include/streamrate/nginx.h) instead of a CSV session file. There is no
 * header; a record is one line, final once its LF is there (or, for the
 * old content of a rotated log, at its end). A line the mapping skips
 * (nginx-rtmp PUBLISH, a filter) counts as skipped, like an empty line; a
 * line that does not match log_format is malformed:line, and a column the
 * mapping cannot derive is malformed:<column>, as in session files.
 */
#include <string.h>

#include "follow.h"
#include "streamrate/nginx.h"

static int nginx_begin(struct sr__follow *f, struct sr__input *in,
                       const char *p, size_t n, size_t *consumed,
                       uint64_t *lines, char *msg, size_t cap)
{
	*consumed = 0;
	*lines = 0;
	return 0;
}

static void nginx_next(const struct sr__follow *f, const struct sr__input *in,
                       struct sr__scratch *sc, const char *p, size_t n,
                       bool eof, unsigned slot, struct sr__record *r)
{
	const char *lf = memchr(p, '\n', n);
	size_t len = lf ? (size_t)(lf - p) + 1 : n;
	enum sr_reason why = SR_REASON_NONE;

	if (!lf && !eof) {
		r->kind = SR_SPLIT_MORE;
		return;
	}
	r->raw = p;
	r->raw_len =
	    (uint32_t)(lf ? len - 1 - (len > 1 && p[len - 2] == '\r') : len);
	r->consumed = (uint32_t)len;
	r->lines = 1;
	switch (sr_nginx_parse_line(f->cfg->nginx, p, len, &sc->ngx[slot],
	                            &r->s, &why)) {
	case SR_NGINX_SESSION:
		r->kind = SR_SPLIT_RECORD;
		r->why = SR_REASON_NONE;
		break;
	case SR_NGINX_SKIPPED:
		r->kind = SR_SPLIT_EMPTY;
		break;
	default:
		r->kind = why == SR_REASON_MALFORMED_LINE ? SR_SPLIT_MALFORMED
		                                          : SR_SPLIT_RECORD;
		r->why = why;
		break;
	}
}

const struct sr__decoder sr__nginx_decoder = {nginx_begin, nginx_next};

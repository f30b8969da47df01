/*
 * Header mapping and the column rules of SPEC section 1. Validation runs
 * in header order so that the first offending column named in a reject is
 * the one a person reading the line left to right meets first.
 */
#include <string.h>

#include "civil.h"
#include "columns.h"
#include "swar.h"
#include "streamrate/error.h"
#include "streamrate/session.h"

static const struct sr_str reason_texts[SR_REASON_COUNT] = {
#define SR_REASON_TEXT(name, text) {text, sizeof(text) - 1},
    SR_REASON_MAP(SR_REASON_TEXT)
#undef SR_REASON_TEXT
};

static const struct sr_str column_names[SR_COL_COUNT] = {
#define SR_COLUMN_TEXT(name, text) {text, sizeof(text) - 1},
    SR_COLUMN_MAP(SR_COLUMN_TEXT)
#undef SR_COLUMN_TEXT
};

struct sr_str sr_reason_text(enum sr_reason reason)
{
	if ((unsigned)reason >= SR_REASON_COUNT)
		return reason_texts[0];
	return reason_texts[reason];
}

int sr_header_init(struct sr_header *h, const struct sr_str *names, uint32_t n,
                   struct sr_str *bad)
{
	h->nfields = n;
	for (int c = 0; c < SR_COL_COUNT; c++)
		h->field[c] = -1;
	/* Any name given twice refuses the file, known or not. */
	for (uint32_t i = 0; i < n; i++) {
		for (uint32_t j = 0; j < i; j++) {
			if (sr_str_eq(names[i], names[j])) {
				*bad = names[i];
				return SR_EHEADER;
			}
		}
		for (int c = 0; c < SR_COL_COUNT; c++)
			if (sr_str_eq(names[i], column_names[c]))
				h->field[c] = (int32_t)i;
	}
	uint32_t k = 0;
	for (int c = 0; c < SR_COL_REQUIRED; c++) {
		if (h->field[c] < 0) {
			*bad = column_names[c];
			return SR_EHEADER;
		}
	}
	for (uint32_t i = 0; i < n; i++)
		for (int c = 0; c < SR_COL_REQUIRED; c++)
			if (h->field[c] == (int32_t)i)
				h->check_order[k++] = (uint8_t)c;
	*bad = (struct sr_str){0};
	return 0;
}

bool sr__valid_id(struct sr_str s)
{
	return s.len >= 1 && s.len <= SR_ID_MAX && !sr__has_control(s.ptr, s.len);
}

bool sr__parse_count(struct sr_str s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	uint32_t i = 0;
	if (s.len == 0)
		return false;
	/* Leading zeros are allowed and never overflow. */
	while (i + 1 < s.len && s.ptr[i] == '0')
		i++;
	/* 19 digits cannot overflow 64 bits: check the value once at the end.
	 */
	if (s.len - i > 19)
		return false;
	for (; i < s.len; i++) {
		unsigned d = (unsigned char)s.ptr[i] - '0';
		if (d > 9)
			return false;
		v = v * 10 + d;
	}
	if (v > max)
		return false;
	*out = v;
	return true;
}

bool sr__parse_quality(struct sr_str s, uint8_t *q)
{
	if (s.len == 2 && s.ptr[0] == 'S' && s.ptr[1] == 'D')
		*q = SR_SD;
	else if (s.len == 2 && s.ptr[0] == 'H' && s.ptr[1] == 'D')
		*q = SR_HD;
	else if (s.len == 3 && memcmp(s.ptr, "UHD", 3) == 0)
		*q = SR_UHD;
	else
		return false;
	return true;
}

/* An id of a record known to hold no control byte needs only its length
 * checked. */
static bool id_ok(struct sr_str v, bool clean)
{
	return clean ? v.len >= 1 && v.len <= SR_ID_MAX : sr__valid_id(v);
}

static bool parse_column(int c, struct sr_str v, struct sr_session *s,
                         bool clean)
{
	uint64_t n;

	switch (c) {
	case SR_COL_SESSION_ID:
		s->session_id = v;
		return id_ok(v, clean);
	case SR_COL_SUBSCRIBER_ID:
		s->subscriber_id = v;
		return id_ok(v, clean);
	case SR_COL_CONTENT_ID:
		s->content_id = v;
		return id_ok(v, clean);
	case SR_COL_START:
		return sr__parse_rfc3339(v.ptr, v.len, &s->start) == 0;
	case SR_COL_DURATION_S:
		if (!sr__parse_count(v, SR_DURATION_MAX, &n))
			return false;
		s->duration_s = (uint32_t)n;
		return true;
	case SR_COL_BYTES:
		return sr__parse_count(v, INT64_MAX, &s->bytes);
	default: /* SR_COL_QUALITY */
		return sr__parse_quality(v, &s->quality);
	}
}

enum sr_reason sr__session_parse(const struct sr_header *h,
                                 const struct sr_str *fields, bool clean,
                                 struct sr_session *s)
{
	s->plain = 0;
	/* Nearly every record is valid: check the columns in a fixed order,
	 * without a dispatch per column, and look for the first offending
	 * one in header order only when one fails. */
	uint64_t duration;
	s->session_id = fields[h->field[SR_COL_SESSION_ID]];
	s->subscriber_id = fields[h->field[SR_COL_SUBSCRIBER_ID]];
	s->content_id = fields[h->field[SR_COL_CONTENT_ID]];
	struct sr_str start = fields[h->field[SR_COL_START]];
	if (id_ok(s->session_id, clean) && id_ok(s->subscriber_id, clean) &&
	    id_ok(s->content_id, clean) &&
	    sr__parse_rfc3339(start.ptr, start.len, &s->start) == 0 &&
	    sr__parse_count(fields[h->field[SR_COL_DURATION_S]],
	                    SR_DURATION_MAX, &duration) &&
	    sr__parse_count(fields[h->field[SR_COL_BYTES]], INT64_MAX,
	                    &s->bytes) &&
	    sr__parse_quality(fields[h->field[SR_COL_QUALITY]], &s->quality)) {
		s->duration_s = (uint32_t)duration;
		return SR_REASON_NONE;
	}
	for (int k = 0; k < SR_COL_REQUIRED; k++) {
		int c = h->check_order[k];
		if (!parse_column(c, fields[h->field[c]], s, clean))
			return (enum sr_reason)(SR_REASON_MALFORMED_SESSION_ID +
			                        c);
	}
	return SR_REASON_NONE;
}

enum sr_reason sr_session_parse(const struct sr_header *h,
                                const struct sr_str *fields,
                                struct sr_session *s)
{
	return sr__session_parse(h, fields, false, s);
}

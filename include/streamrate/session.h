/*
 * Session records (SPEC section 1): the header that maps columns, the
 * parsed record, and the reasons a record is rejected. Parsing never
 * allocates: a parsed session points into the caller's bytes.
 */
#ifndef STREAMRATE_SESSION_H
#define STREAMRATE_SESSION_H

#include "streamrate/types.h"

/* Columns the engine knows, in the contract's order. */
#define SR_COLUMN_MAP(X)                                                       \
	X(SESSION_ID, "session_id")                                            \
	X(SUBSCRIBER_ID, "subscriber_id")                                      \
	X(CONTENT_ID, "content_id")                                            \
	X(START, "start")                                                      \
	X(DURATION_S, "duration_s")                                            \
	X(BYTES, "bytes")                                                      \
	X(QUALITY, "quality")                                                  \
	X(DEVICE_ID, "device_id")                                              \
	X(IP, "ip")                                                            \
	X(COUNTRY, "country")

enum sr_column {
#define SR_COLUMN_ENUM(name, text) SR_COL_##name,
	SR_COLUMN_MAP(SR_COLUMN_ENUM)
#undef SR_COLUMN_ENUM
	    SR_COL_COUNT
};
#define SR_COL_REQUIRED 7 /* session_id .. quality */

/*
 * Why a record is not rated. SR_REASON_NONE (0) means rated. The text is
 * what rejects.csv carries.
 */
#define SR_REASON_MAP(X)                                                       \
	X(NONE, "")                                                            \
	X(MALFORMED_LINE, "malformed:line")                                    \
	X(MALFORMED_SESSION_ID, "malformed:session_id")                        \
	X(MALFORMED_SUBSCRIBER_ID, "malformed:subscriber_id")                  \
	X(MALFORMED_CONTENT_ID, "malformed:content_id")                        \
	X(MALFORMED_START, "malformed:start")                                  \
	X(MALFORMED_DURATION_S, "malformed:duration_s")                        \
	X(MALFORMED_BYTES, "malformed:bytes")                                  \
	X(MALFORMED_QUALITY, "malformed:quality")                              \
	X(OTHER_PERIOD, "other_period")                                        \
	X(DUPLICATE, "duplicate")                                              \
	X(UNKNOWN_SUBSCRIBER, "unknown_subscriber")                            \
	X(NO_SUBSCRIPTION, "no_subscription")                                  \
	X(UNKNOWN_CONTENT, "unknown_content")                                  \
	X(NO_PRICE, "no_price")                                                \
	X(NOT_ENTITLED, "not_entitled")                                        \
	X(OVERFLOW, "overflow")                                                \
	X(PERIOD_CLOSED, "period_closed")

enum sr_reason {
#define SR_REASON_ENUM(name, text) SR_REASON_##name,
	SR_REASON_MAP(SR_REASON_ENUM)
#undef SR_REASON_ENUM
	    SR_REASON_COUNT
};

/* The reject text of a reason ("" for SR_REASON_NONE). */
struct sr_str sr_reason_text(enum sr_reason reason);

/* Where each known column sits in a file's records. */
struct sr_header {
	uint32_t nfields;            /* fields per record */
	int32_t field[SR_COL_COUNT]; /* field index, -1 when absent */
	/* Required columns in header order, for "first offending column". */
	uint8_t check_order[SR_COL_REQUIRED];
};

/*
 * Map a split header record. Returns 0, or SR_EHEADER with *bad set to the
 * offending column name (a missing required column, or a name given twice;
 * the view points into names or into static storage).
 */
int sr_header_init(struct sr_header *h, const struct sr_str *names, uint32_t n,
                   struct sr_str *bad);

/* A parsed session record; strings point into the split fields. */
struct sr_session {
	struct sr_str session_id;
	struct sr_str subscriber_id;
	struct sr_str content_id;
	int64_t start; /* UTC instant */
	uint32_t duration_s;
	uint64_t bytes;
	uint8_t quality; /* enum sr_quality, never SR_QUALITY_ANY */
	/* Set by callers that know it (0: unknown): bit 0, 1, 2 when
	 * session_id, subscriber_id, content_id hold no comma or quote, so a
	 * CSV writer may copy them without looking. */
	uint8_t plain;
};

/*
 * Check and convert the fields of one record (SPEC section 1 column rules,
 * in header order). Returns SR_REASON_NONE, or the malformed:<column>
 * reason of the first offending column.
 */
enum sr_reason sr_session_parse(const struct sr_header *h,
                                const struct sr_str *fields,
                                struct sr_session *s);

#endif

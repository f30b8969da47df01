/*
 * The column rules of SPEC section 1, shared by every reader of session
 * records (the CSV splitter's records, nginx access logs): one definition
 * of a valid id, a count and a quality, so the input paths cannot drift.
 */
#ifndef SR_COLUMNS_H
#define SR_COLUMNS_H

#include <stdbool.h>
#include <stdint.h>

#include "streamrate/types.h"

#define SR_DURATION_MAX 604800
/* Longest id the contract allows. */
#define SR_ID_MAX 128

/* 1 to 128 bytes, none of them a control byte (0x00-0x1F, 0x7F). */
bool sr__valid_id(struct sr_str s);
/* ASCII digits only (leading zeros allowed), at most max. */
bool sr__parse_count(struct sr_str s, uint64_t max, uint64_t *out);
/* "SD", "HD" or "UHD", exactly. */
bool sr__parse_quality(struct sr_str s, uint8_t *q);

struct sr_header;
struct sr_session;
/* sr_session_parse() of a record whose fields are known to hold no
 * control byte when clean (struct sr_csv_record's clean). */
enum sr_reason sr__session_parse(const struct sr_header *h,
                                 const struct sr_str *fields, bool clean,
                                 struct sr_session *s);

#endif

/*
 * Time zones of the system tz database, compiled for lookups that make no
 * library call: the TZif file's transitions as a sorted array searched by
 * bisection, and its POSIX TZ footer (e.g. CET-1CEST,M3.5.0,M10.5.0/3)
 * for every instant after the last transition, so that daylight saving is
 * exact in every year. The semantics follow Python's zoneinfo (RFC 8536):
 * before the first transition the first standard-time type applies; after
 * the last one the footer rule, evaluated in the instant's UTC year.
 */
#ifndef SR_TZ_H
#define SR_TZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "catalog_arena.h"

/* Where zones are read from. */
#define SR_TZDIR "/usr/share/zoneinfo"

/* One end of daylight saving time in a POSIX TZ rule. */
struct sr__tz_when {
	uint8_t kind; /* 'J' (1..365, no Feb 29), 'D' (0..365), 'M' */
	uint16_t day; /* J/D: the day; M: weekday 0 = Sunday */
	uint8_t month, week;
	int32_t time; /* local seconds after midnight, may be < 0 or > 24 h */
};

/* A POSIX TZ string: a standard offset and maybe a DST rule. */
struct sr__tz_rule {
	int32_t std_off, dst_off; /* seconds east of UTC */
	bool has_dst;
	struct sr__tz_when start, end;
};

/* Spans of 2^24 s (194 days) index a zone's transitions. */
#define SR_TZ_SPAN_BITS 24
#define SR_TZ_SPANS_MAX 65536

struct sr__tz {
	uint32_t n;
	const int64_t *at;  /* UTC instants of transitions, ascending */
	const int32_t *off; /* offset from at[i] on */
	/* Where to start looking for the last transition at or before t,
	 * for t in [ix_from, at[n-1]]: ix[(t - ix_from) >> SR_TZ_SPAN_BITS]
	 * is the last one at or before that span's start. NULL: none. */
	int64_t ix_from;
	const uint32_t *ix;
	int32_t before;     /* offset before at[0] */
	int32_t last;       /* offset after at[n-1] when there is no rule */
	bool has_rule;
	struct sr__tz_rule rule;
	/* The rule's DST start and end (UTC) for years y0 .. y0+nyears-1. */
	int64_t y0;
	uint32_t nyears;
	const int64_t *ystart, *yend;
};

/*
 * Whether name is a safe zone name: not empty, no leading '/', no ".."
 * component, no control bytes, not too long.
 */
bool sr__tz_name_ok(const char *name, size_t len);
/*
 * Load zone name (len bytes) from SR_TZDIR into tz, its arrays in arena.
 * Returns 0, SR_ENOTFOUND (no such zone, or not a valid TZif file) or
 * SR_ENOMEM.
 */
int sr__tz_load(const char *name, size_t len, struct sr__arena *arena,
                struct sr__tz *tz);
/* Parse a TZif image (versions 1 to 3): 0 or SR_ENOTFOUND / SR_ENOMEM. */
int sr__tz_parse(const unsigned char *p, size_t n, struct sr__arena *arena,
                 struct sr__tz *tz);
/* Parse a POSIX TZ string: 0 or -1. */
int sr__tz_rule_parse(const char *s, size_t n, struct sr__tz_rule *rule);
/* Offset of local time from UTC at instant, seconds east. */
int32_t sr__tz_offset(const struct sr__tz *tz, int64_t instant);

#endif

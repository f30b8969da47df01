/*
 * Plain value types shared by every part of the public API: byte-string
 * views, qualities, meters, the "none" index and the open-ended instants.
 * Instants are int64_t seconds since 1970-01-01T00:00:00Z (UTC); money is
 * int64_t micro-units (10^-6 of the currency unit).
 */
#ifndef STREAMRATE_TYPES_H
#define STREAMRATE_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A view into bytes owned by someone else; not NUL-terminated. */
struct sr_str {
	const char *ptr;
	uint32_t len;
};

/* Index meaning "none" (no band, '*' band, no package). */
#define SR_NONE UINT32_MAX

/* Open bounds of validity intervals. */
#define SR_TIME_MIN INT64_MIN /* empty valid_from: always */
#define SR_TIME_MAX INT64_MAX /* empty valid_to / end: open-ended */

#define SR_MICRO 1000000LL

enum sr_quality {
	SR_SD = 0,
	SR_HD = 1,
	SR_UHD = 2,
	SR_QUALITY_ANY = 3, /* '*' in rates.csv */
};

enum sr_meter {
	SR_METER_TIME = 0,
	SR_METER_BYTES = 1,
};

static inline bool sr_str_eq(struct sr_str a, struct sr_str b)
{
	if (a.len != b.len)
		return false;
	if (a.len >= 8 && a.len <= 16) {
		/* Most ids: two overlapping 8-byte words, no call. */
		uint64_t a0, a1, b0, b1;
		__builtin_memcpy(&a0, a.ptr, 8);
		__builtin_memcpy(&b0, b.ptr, 8);
		__builtin_memcpy(&a1, a.ptr + a.len - 8, 8);
		__builtin_memcpy(&b1, b.ptr + b.len - 8, 8);
		return ((a0 ^ b0) | (a1 ^ b1)) == 0;
	}
	return a.len == 0 || __builtin_memcmp(a.ptr, b.ptr, a.len) == 0;
}

#endif

/*
 * sr_strerror(): the one place where engine error codes become words.
 * Negative errno values (from the C library or liburing) pass through to
 * strerror() so callers can return either kind.
 */
#include <string.h>

#include "streamrate/error.h"

const char *sr_strerror(int err)
{
	switch (err) {
	case SR_OK:
		return "success";
#define SR_ERRNO_CASE(name, msg)                                               \
	case SR_E##name:                                                       \
		return msg;
		SR_ERRNO_MAP(SR_ERRNO_CASE)
#undef SR_ERRNO_CASE
	default:
		if (err < 0 && err > SR__EFIRST)
			return strerror(-err);
		return "unknown error";
	}
}

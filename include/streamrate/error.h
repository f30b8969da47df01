/*
 * Engine error codes. Every library function returns 0 or one of these
 * negative codes; nothing in the library prints or exits. The list is an
 * X-macro so that the enum and sr_strerror() can never disagree.
 */
#ifndef STREAMRATE_ERROR_H
#define STREAMRATE_ERROR_H

#define SR_ERRNO_MAP(X)                                                        \
	X(NOMEM, "out of memory")                                              \
	X(IO, "input/output error")                                            \
	X(INVAL, "invalid argument")                                           \
	X(OVERFLOW, "amount does not fit in 64-bit micro-units")               \
	X(CATALOG, "catalog is invalid")                                       \
	X(NOCATALOG, "no catalog stored in this database")                     \
	X(LMDB, "LMDB error")                                                  \
	X(HEADER, "input header is invalid")                                   \
	X(RANGE, "value out of range")                                         \
	X(NOTFOUND, "not found")                                               \
	X(FULL, "table or buffer is full")                                     \
	X(STATEFORMAT, "state directory is of another streamrate version")

enum sr_errno {
	SR_OK = 0,
#define SR_ERRNO_ENUM(name, msg) SR_E##name,
	SR__EFIRST = -1000,
	SR_ERRNO_MAP(SR_ERRNO_ENUM)
#undef SR_ERRNO_ENUM
	    SR__ELAST
};

/* A static string describing err; never NULL, also for unknown codes. */
const char *sr_strerror(int err);

#endif

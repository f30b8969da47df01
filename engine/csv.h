/*
 * The strict RFC 4180 record splitter of SPEC section 1, shared by session
 * files and catalog files. It works on a window of bytes that may end in
 * the middle of a record: it then asks for more instead of guessing, so the
 * same bytes give the same records whatever the chunking.
 */
#ifndef SR_CSV_H
#define SR_CSV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "streamrate/types.h"

/* Longest record that can be split, without its line end. */
#define SR_RECORD_MAX 65536
/* Size of the scratch buffer sr__csv_split() unescapes quoted fields into. */
#define SR_SCRATCH_SIZE (SR_RECORD_MAX + 64)

enum sr_split {
	SR_SPLIT_RECORD,    /* a record with the expected field count */
	SR_SPLIT_EMPTY,     /* an empty line: skip it */
	SR_SPLIT_MALFORMED, /* cannot be split: report rec.raw, resume */
	SR_SPLIT_MORE,      /* window ends before the decision; give more */
};

struct sr_csv_record {
	const char *raw;   /* record start in the window */
	uint32_t raw_len;  /* without its line end (LF and one CR before) */
	uint32_t consumed; /* bytes to advance past the record's line end */
	uint32_t lines;    /* physical lines consumed (1 + inner LFs) */
	uint32_t nfields;
	/* Bit i set: field i was quoted (only quoted fields can hold a comma
	 * or a quote); fields past 63 count as quoted. */
	uint64_t quoted;
	/* No control byte (0x00-0x1F, 0x7F) in raw: known for plain lines
	 * only, false when unknown. */
	bool clean;
};

/*
 * Split the record starting at p[0], with n bytes in the window; eof tells
 * that no byte follows p[n-1]. On SR_SPLIT_RECORD the fields (unescaped:
 * pointing into the window, or into scratch when they held "") go into
 * fields[0..nfields). expect is the required field count (0: any, up to
 * cap). For SR_SPLIT_MALFORMED, rec describes the first physical line only,
 * and the caller resumes after it. With n == 0 and eof there is no record:
 * the caller must not call.
 */
enum sr_split sr__csv_split(const char *p, size_t n, bool eof,
                            struct sr_str *fields, uint32_t cap,
                            uint32_t expect, char *scratch,
                            struct sr_csv_record *rec);

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
/*
 * The fast path of sr__csv_split() for a line without quotes, one build per
 * instruction set, so that tests can hold them to the same answers: each
 * gives SR_SPLIT_RECORD, or SR_SPLIT_MORE for the general splitter to
 * decide. sr__csv_plain_avx2() needs sr__csv_have_avx2().
 */
enum sr_split sr__csv_plain_sse2(const char *p, size_t n, struct sr_str *fields,
                                 uint32_t cap, uint32_t expect,
                                 struct sr_csv_record *rec);
enum sr_split sr__csv_plain_avx2(const char *p, size_t n, struct sr_str *fields,
                                 uint32_t cap, uint32_t expect,
                                 struct sr_csv_record *rec);
bool sr__csv_have_avx2(void);
#define SR_CSV_PLAIN_BUILDS 1
#endif

#endif

/*
 * Writers of SPEC section 5. An sr_out is a file that appears atomically:
 * it is written to a temporary name beside its final one, and becomes
 * visible by rename only when complete. Row formatters append to a plain
 * byte buffer so that workers can format without touching files.
 */
#ifndef SR_EMIT_H
#define SR_EMIT_H

#include <stddef.h>
#include <stdint.h>

#include "direct.h"
#include "mem.h"
#include "streamrate/invoice.h"
#include "streamrate/rate.h"

/* An output file written under a temporary name, renamed on commit. */
struct sr_out {
	int fd;
	char *path; /* final path */
	char *tmp;  /* temporary path */
	struct sr_buf buf;
	uint64_t written; /* bytes written to fd */
	uint64_t kicked;  /* bytes whose write-back has been started */
	struct io_uring *ring; /* set: written with O_DIRECT through dio */
	struct sr_direct dio;
};

/* Create dir/name's temporary file. Returns 0 or a negative errno. */
int sr__out_open(struct sr_out *o, const char *dir, const char *name);
/* Write a large output, still empty, with O_DIRECT from now on where
 * its file system allows (direct.h); else it stays buffered. 0 or a
 * negative errno. */
int sr__out_direct(struct sr_out *o);
/* Append bytes; flushes in large writes. 0 or a negative errno. */
int sr__out_write(struct sr_out *o, const void *p, size_t n);
/* Write the buffer out (no fsync); a direct output keeps its last
 * partial block until flushed. */
int sr__out_drain(struct sr_out *o);
/* Flush the buffer and fsync the temporary file. */
int sr__out_flush(struct sr_out *o);
/* Rename the temporary file over the final one. */
int sr__out_commit(struct sr_out *o);
/* Remove the temporary file if still there and free; accepts unopened. */
void sr__out_discard(struct sr_out *o);

/* Append a CSV field, quoted only when it holds , " CR or LF. */
void sr__csv_field(struct sr_buf *b, const char *p, size_t n);
/* Bytes sr__csv_field may append for n input bytes, at most. */
#define SR_CSV_FIELD_MAX(n) (2 * (size_t)(n) + 2)

/*
 * The CSV-encoded form of every catalog id a rated row can carry (plans,
 * regions, classes, bands, rates, currencies), computed once per run so
 * that a row only scans and quotes the ids that come from the input.
 */
struct sr_rowfmt {
	const struct sr_catalog *cat;
	const struct sr_period *period;
	struct sr_buf text;
	struct sr_str *plan, *region, *klass, *band, *rate, *currency;
	size_t max_catalog_bytes; /* longest sum of the encoded ids of a row */
	/* "YYYY-MM-DDT" of each day of the period, for the start column. */
	char (*days)[11];
};

int sr__rowfmt_init(struct sr_rowfmt *f, const struct sr_catalog *cat,
                    const struct sr_period *p);
void sr__rowfmt_finish(struct sr_rowfmt *f);

/* Append one rated.csv row (reserves what it needs). */
int sr__emit_rated(struct sr_buf *b, const struct sr_rowfmt *f,
                   const struct sr_session *s, const struct sr_rated *r);
/* Append one rejects.csv row; file is the field already CSV-encoded. */
int sr__emit_reject(struct sr_buf *b, const char *file_field, size_t file_len,
                    uint64_t line, enum sr_reason reason, const char *raw,
                    size_t raw_len);
/* Append one invoices JSON line and one invoices CSV row. */
int sr__emit_invoice_json(struct sr_buf *b, const struct sr_period *p,
                          const struct sr_invoice *inv);
int sr__emit_invoice_csv(struct sr_buf *b, const struct sr_invoice *inv);

#define SR_RATED_HEADER                                                        \
	"session_id,subscriber_id,content_id,start,period,plan_id,region,"     \
	"class,quality,band,rate_id,meter,units,charge,currency\n"
#define SR_REJECTS_HEADER      "file,line,reason,record\n"
#define SR_INVOICES_CSV_HEADER "subscriber,currency,subtotal,tax,total\n"

#endif

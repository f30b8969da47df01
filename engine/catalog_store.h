/*
 * The catalog in LMDB: one named database per catalog file plus "meta",
 * read through one read-only transaction. catalog_store.c documents the
 * key and value encodings; this header lets the dump and the view walk
 * the stored rows without knowing them.
 */
#ifndef SR_CATALOG_STORE_H
#define SR_CATALOG_STORE_H

#include <lmdb.h>

#include "catalog_rows.h"

/* A read-only snapshot of a stored catalog. */
struct sr__store {
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi[SR__NFILES];
};

/*
 * Open dbdir and begin a read transaction: 0, SR_ENOCATALOG (no catalog
 * stored), SR_ELMDB or a negative errno (e.g. -ENOENT).
 */
int sr__store_open(const char *dbdir, struct sr__store *s);
/* End the transaction and close the environment; rows seen die here. */
void sr__store_close(struct sr__store *s);
/* Rows stored for file f. */
uint64_t sr__store_count(struct sr__store *s, enum sr__file f);

/*
 * Call fn for each stored row of file f, in key order, with a decoded row
 * struct of that file (struct sr__plan_row for SR__PLANS...; line is the
 * row's line in a dump, the header being line 1; bad is false) whose strings
 * point into the transaction's pages. Stops at fn's first non-zero return and
 * returns it; SR_ECATALOG when a stored value cannot be decoded.
 */
typedef int (*sr__row_fn)(void *ctx, const void *row);
int sr__store_each(struct sr__store *s, enum sr__file f, sr__row_fn fn,
                   void *ctx);

/* An LMDB return code as an engine error code. */
int sr__lmdb_err(int rc);

#endif

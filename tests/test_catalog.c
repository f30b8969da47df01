/*
 * The catalog against SPEC section 2 and the README's catalog choices: a
 * small hand-written base catalog that is valid and canonical, then one
 * broken copy per rule, each asserting every diagnostic (file, line and
 * message) the loader reports. Then the store: load and dump round trips,
 * a refused load that changes nothing, a reader that keeps its snapshot
 * across a load, and the view's lookups on the base catalog.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <lmdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "civil.h"
#include "streamrate/catalog.h"
#include "streamrate/error.h"

enum {
	CURRENCIES,
	PLANS,
	CONTENT,
	PPV,
	REGIONS,
	TAXES,
	BANDS,
	RATES,
	TIERS,
	ALLOWANCES,
	SUBSCRIPTIONS,
	NFILES
};

static const char *const names[NFILES] = {
    "currencies.csv", "plans.csv",      "content.csv",       "ppv_prices.csv",
    "regions.csv",    "taxes.csv",      "bands.csv",         "rates.csv",
    "tiers.csv",      "allowances.csv", "subscriptions.csv",
};

/* Valid and canonical: dump writes exactly these bytes back. */
static const char *const base[NFILES] = {
    "currency,exponent\n"
    "EUR,2\n"
    "JPY,0\n"
    "USD,2\n",

    "plan_id,currency,monthly_fee,packages\n"
    "basic,EUR,9.99,news sports\n"
    "premium,EUR,19.99,cinema news sports\n"
    "usplan,USD,10,news\n",

    "content_id,class,package\n"
    "c-fight,ppv,\n"
    "c-movie,movie,cinema\n"
    "c-news,live,news\n"
    "c-sport,live,sports\n",

    "content_id,currency,price\n"
    "c-fight,EUR,15\n"
    "c-fight,USD,17.5\n",

    "region,timezone\n"
    "fr,Europe/Paris\n"
    "ny,America/New_York\n",

    "region,rate_percent,valid_from,valid_to\n"
    "fr,20,,2024-07-01\n"
    "fr,5.5,2024-07-01,\n"
    "ny,8.875,,\n",

    "band,days,from,to\n"
    "offpeak,mon tue wed thu fri,00:00,18:00\n"
    "peak,mon tue wed thu fri,18:00,24:00\n"
    "weekend,sat sun,00:00,24:00\n",

    "rate_id,plan_id,class,quality,band,meter,unit,unit_price,valid_from,"
    "valid_to\n"
    "r1,basic,live,*,*,time,60,0.006,2024-06-01,\n"
    "r2,basic,live,HD,peak,time,60,0.02,,\n"
    "r3,basic,live,*,peak,time,60,0.03,,\n"
    "r4,basic,live,*,*,time,60,0.005,,2024-06-01\n"
    "r5,basic,live,HD,*,time,60,0.01,,\n"
    "r6,premium,movie,UHD,*,bytes,1000000000,0.25,,\n",

    "rate_id,from_units,unit_price\n"
    "r6,50,0.2\n"
    "r6,100,0.15\n",

    "rate_id,units\n"
    "r5,600\n",

    "subscriber_id,plan_id,region,start,end\n"
    "s1,basic,fr,2024-01-01,2024-06-15\n"
    "s1,premium,fr,2024-06-15,\n"
    "s2,usplan,ny,2023-05-01,\n",
};

static char root[64];
static unsigned ncatalogs;

static void setup(void)
{
	strcpy(root, "/tmp/sr_test_catalog_XXXXXX");
	cr_assert_not_null(mkdtemp(root));
}

static int rm_one(const char *path, const struct stat *st, int flag,
                  struct FTW *ftw)
{
	return remove(path);
}

static void teardown(void)
{
	nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(catalog, .init = setup, .fini = teardown);

static void write_text(const char *path, const char *text, size_t n)
{
	FILE *f = fopen(path, "wb");
	cr_assert_not_null(f, "%s", path);
	cr_assert_eq(fwrite(text, 1, n, f), n);
	cr_assert_eq(fclose(f), 0);
}

static char *path_in(const char *dir, const char *name)
{
	static char buf[4][256];
	static int k;
	char *p = buf[k++ & 3];
	snprintf(p, 256, "%s/%s", dir, name);
	return p;
}

/* A fresh path under the test's directory. */
static const char *fresh(const char *what)
{
	static char buf[8][128];
	char *p = buf[ncatalogs & 7];
	snprintf(p, 128, "%s/%s%u", root, what, ncatalogs++);
	return p;
}

/*
 * A catalog directory with the base files, some replaced: arguments are
 * pairs (file index, text), ended by -1; a NULL text leaves the file out.
 */
static const char *catalog(int file, ...)
{
	const char *text[NFILES];
	va_list ap;
	memcpy(text, base, sizeof(text));
	va_start(ap, file);
	for (; file >= 0; file = va_arg(ap, int))
		text[file] = va_arg(ap, const char *);
	va_end(ap);
	const char *dir = fresh("cat");
	cr_assert_eq(mkdir(dir, 0755), 0);
	for (int f = 0; f < NFILES; f++)
		if (text[f])
			write_text(path_in(dir, names[f]), text[f],
			           strlen(text[f]));
	return dir;
}

/* The base catalog with rows appended to one file. */
static const char *with_rows(int file, const char *rows)
{
	static char buf[8192];
	snprintf(buf, sizeof(buf), "%s%s", base[file], rows);
	return catalog(file, buf, -1);
}

static char diags[65536];
static size_t dlen;

static void collect(void *ctx, const char *file, uint32_t line, const char *msg)
{
	if (line)
		dlen += (size_t)snprintf(diags + dlen, sizeof(diags) - dlen,
		                         "%s:%u: %s\n", file, line, msg);
	else
		dlen += (size_t)snprintf(diags + dlen, sizeof(diags) - dlen,
		                         "%s: %s\n", file, msg);
}

static int check(const char *dir)
{
	dlen = 0;
	diags[0] = 0;
	return sr_catalog_check(dir, collect, NULL);
}

/* Exactly these diagnostics, and the catalog refused. */
static void refused(const char *dir, const char *want)
{
	int err = check(dir);
	cr_assert_str_eq(diags, want);
	cr_assert_eq(err, SR_ECATALOG, "%s", sr_strerror(err));
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f, "%s", path);
	static char buf[8][16384];
	static int k;
	char *p = buf[k++ & 7];
	size_t n = fread(p, 1, sizeof(buf[0]) - 1, f);
	p[n] = 0;
	fclose(f);
	return p;
}

/* ---- Good catalogs ---- */

Test(catalog, base_is_valid)
{
	cr_assert_eq(check(catalog(-1)), 0);
	cr_assert_str_eq(diags, "");
}

Test(catalog, dialect_bom_crlf_order_extra_columns_empty_lines)
{
	/* Same rows as the base: columns reordered, an unknown column, a
	 * BOM, CRLF, empty lines, a quoted field, rows out of order and
	 * amounts with trailing zeros. */
	const char *dir =
	    catalog(PLANS,
	            "\xEF\xBB\xBFpackages,note,monthly_fee,currency,plan_id\r\n"
	            "\r\n"
	            "news,\"x,y\",10.000,USD,usplan\r\n"
	            "sports news,,9.990,EUR,basic\r\n"
	            "\n"
	            "sports cinema news,,19.99,EUR,\"premium\"\r\n",
	            -1);
	cr_assert_eq(check(dir), 0, "%s", diags);
	const char *db = fresh("db"), *out = fresh("out");
	cr_assert_eq(sr_catalog_load(db, dir, collect, NULL), 0);
	cr_assert_eq(sr_catalog_dump(db, out), 0);
	cr_assert_str_eq(slurp(path_in(out, "plans.csv")), base[PLANS]);
}

Test(catalog, empty_tables_are_valid)
{
	const char *dir =
	    catalog(TIERS, "rate_id,from_units,unit_price\n", ALLOWANCES,
	            "rate_id,units", PPV, "content_id,currency,price\n", -1);
	cr_assert_eq(check(dir), 0, "%s", diags);
}

/* ---- Files and headers ---- */

Test(catalog, missing_file)
{
	refused(catalog(TIERS, NULL, -1), "tiers.csv: missing file\n");
}

Test(catalog, unreadable_file_is_an_io_failure)
{
	/* Not the catalog's content: reported, and the result is SR_EIO. */
	const char *dir = catalog(TIERS, NULL, -1);
	cr_assert_eq(mkdir(path_in(dir, "tiers.csv"), 0755), 0);
	cr_assert_eq(check(dir), SR_EIO);
	cr_assert_str_eq(diags, "tiers.csv: cannot read: Is a directory\n");
}

Test(catalog, missing_and_twice_named_columns)
{
	refused(catalog(ALLOWANCES, "rate_id,unit\nr5,600\n", -1),
	        "allowances.csv:1: missing column 'units'\n");
	refused(catalog(ALLOWANCES, "rate_id,units,rate_id\nr5,600,r5\n", -1),
	        "allowances.csv:1: column 'rate_id' appears twice\n");
}

Test(catalog, empty_file_and_empty_header)
{
	refused(catalog(ALLOWANCES, "", -1),
	        "allowances.csv:1: empty file: a header is required\n");
	refused(catalog(ALLOWANCES, "\xEF\xBB\xBF", -1),
	        "allowances.csv:1: empty file: a header is required\n");
	refused(catalog(ALLOWANCES, "\nrate_id,units\n", -1),
	        "allowances.csv:1: missing column 'rate_id'\n"
	        "allowances.csv:1: missing column 'units'\n");
}

Test(catalog, header_that_cannot_be_split)
{
	refused(catalog(ALLOWANCES, "rate_id,un\"its\nr5,600\n", -1),
	        "allowances.csv:1: cannot split the header\n");
}

Test(catalog, unusable_file_does_not_cascade)
{
	/* Without a usable plans.csv, references to plans go unchecked. */
	refused(catalog(PLANS, "plan,currency\n", -1),
	        "plans.csv:1: missing column 'plan_id'\n"
	        "plans.csv:1: missing column 'monthly_fee'\n"
	        "plans.csv:1: missing column 'packages'\n");
}

Test(catalog, records_that_cannot_be_split)
{
	/* A quoted line break makes line 3 span two lines: the records
	 * after it are numbered from line 5. */
	refused(with_rows(SUBSCRIPTIONS, "s3,basic,fr,2024-01-01\n"
	                                 "\"s\n4\",basic,fr,2024-01-01,\n"
	                                 "s5,basic,fr,2024\"-01-01,\n"
	                                 "s6,gold,fr,2024-01-01,\n"),
	        "subscriptions.csv:5: record has 4 fields, the header has 5\n"
	        "subscriptions.csv:6: subscriber_id 's\\x0a4' holds a control "
	        "byte\n"
	        "subscriptions.csv:8: record cannot be split (a quote out of "
	        "place, or longer than 65536 bytes)\n"
	        "subscriptions.csv:9: unknown plan 'gold'\n");
}

/* ---- Ids ---- */

Test(catalog, id_rule)
{
	char rows[512], id[130], want[1024];
	memset(id, 'x', 129);
	id[129] = 0;
	snprintf(rows, sizeof(rows),
	         "%s,live,news\n"
	         ",live,news\n"
	         "c\x7f,live,news\n",
	         id);
	/* Messages cut long values at 64 bytes. */
	snprintf(want, sizeof(want),
	         "content.csv:6: content_id '%.64s...' is longer than 128 "
	         "bytes\n"
	         "content.csv:7: empty content_id\n"
	         "content.csv:8: content_id 'c\\x7f' holds a control byte\n",
	         id);
	refused(with_rows(CONTENT, rows), want);
	/* 128 bytes is fine. */
	id[128] = 0;
	snprintf(rows, sizeof(rows), "%s,live,news\n", id);
	cr_assert_eq(check(with_rows(CONTENT, rows)), 0, "%s", diags);
}

Test(catalog, duplicate_ids)
{
	refused(with_rows(CURRENCIES, "JPY,0\n"),
	        "currencies.csv:5: duplicate currency 'JPY' (first on line "
	        "3)\n");
	refused(with_rows(PLANS, "basic,EUR,1,news\n"),
	        "plans.csv:5: duplicate plan_id 'basic' (first on line 2)\n");
	refused(with_rows(CONTENT, "c-news,live,news\n"),
	        "content.csv:6: duplicate content_id 'c-news' (first on line "
	        "4)\n");
	refused(with_rows(REGIONS, "fr,UTC\n"),
	        "regions.csv:4: duplicate region 'fr' (first on line 2)\n");
	/* A duplicate rate is not also reported as an overlap. */
	refused(with_rows(RATES, "r3,basic,live,*,peak,time,60,0.03,,\n"),
	        "rates.csv:8: duplicate rate_id 'r3' (first on line 4)\n");
}

/* ---- Currencies and plans ---- */

Test(catalog, currency_codes_and_exponents)
{
	refused(with_rows(CURRENCIES, "eur,2\nGBPX,2\nCHF,4\nKWD,03\n"),
	        "currencies.csv:5: currency 'eur' is not 3 uppercase letters\n"
	        "currencies.csv:6: currency 'GBPX' is not 3 uppercase "
	        "letters\n"
	        "currencies.csv:7: exponent '4' is not 0, 1, 2 or 3\n"
	        "currencies.csv:8: exponent '03' is not 0, 1, 2 or 3\n");
}

Test(catalog, amounts)
{
	refused(with_rows(PLANS, "p1,EUR,1.1234567,news\n"
	                         "p2,EUR,-1,news\n"
	                         "p3,EUR,1e3,news\n"
	                         "p4,EUR,,news\n"
	                         "p5,EUR,1.,news\n"
	                         "p6,EUR,1.123456,news\n"),
	        "plans.csv:5: monthly_fee '1.1234567' is not an amount "
	        "(digits, then at most 6 after a point)\n"
	        "plans.csv:6: monthly_fee '-1' is not an amount (digits, then "
	        "at most 6 after a point)\n"
	        "plans.csv:7: monthly_fee '1e3' is not an amount (digits, "
	        "then at most 6 after a point)\n"
	        "plans.csv:8: monthly_fee '' is not an amount (digits, then at "
	        "most 6 after a point)\n"
	        "plans.csv:9: monthly_fee '1.' is not an amount (digits, then "
	        "at most 6 after a point)\n");
}

Test(catalog, plan_references_and_packages)
{
	refused(
	    with_rows(PLANS, "p1,GBP,1,news\n"
	                     "p2,EUR,1,news gold\n"
	                     "p3,EUR,1,news news\n"
	                     "p4,EUR,1,news  sports\n"
	                     "p5,EUR,1, news\n"
	                     "p6,,1,\n"),
	    "plans.csv:5: unknown currency 'GBP'\n"
	    "plans.csv:6: unknown package 'gold'\n"
	    "plans.csv:7: package 'news' is listed twice\n"
	    "plans.csv:8: packages 'news  sports' has an empty item (items "
	    "are one space apart)\n"
	    "plans.csv:9: packages ' news' has an empty item (items are one "
	    "space apart)\n"
	    "plans.csv:10: empty currency\n");
}

/* ---- Content and PPV ---- */

Test(catalog, content_classes_and_packages)
{
	refused(with_rows(CONTENT, "x1,Movie,cinema\n"
	                           "x2,movie-4k,cinema\n"
	                           "x3,,cinema\n"
	                           "x4,ppv,cinema\n"
	                           "x5,movie,\n"),
	        "content.csv:6: class 'Movie' does not match [a-z0-9_]+\n"
	        "content.csv:7: class 'movie-4k' does not match [a-z0-9_]+\n"
	        "content.csv:8: class '' does not match [a-z0-9_]+\n"
	        "content.csv:9: pay-per-view content 'x4' has package "
	        "'cinema'; PPV content has none\n"
	        "content.csv:10: content 'x5' of class 'movie' has no "
	        "package\n");
}

Test(catalog, ppv_prices)
{
	refused(with_rows(PPV, "c-none,EUR,1\n"
	                       "c-movie,EUR,1\n"
	                       "c-fight,GBP,1\n"
	                       "c-fight,EUR,16\n"
	                       "c-fight,JPY,1.5.0\n"),
	        "ppv_prices.csv:4: unknown content 'c-none'\n"
	        "ppv_prices.csv:5: content 'c-movie' is not pay-per-view "
	        "(class 'movie', line 3 of content.csv)\n"
	        "ppv_prices.csv:6: unknown currency 'GBP'\n"
	        "ppv_prices.csv:7: duplicate price for content 'c-fight' in "
	        "EUR (first on line 2)\n"
	        "ppv_prices.csv:8: price '1.5.0' is not an amount (digits, "
	        "then at most 6 after a point)\n");
}

/* ---- Regions and taxes ---- */

Test(catalog, time_zones)
{
	refused(with_rows(REGIONS, "r1,Mars/Olympus_Mons\n"
	                           "r2,../../../etc/passwd\n"
	                           "r3,/usr/share/zoneinfo/UTC\n"
	                           "r4,Europe//Paris\n"
	                           "r5,\n"
	                           "r6,zone.tab\n"
	                           "r7,Asia/Kolkata\n"
	                           "r8,UTC\n"),
	        "regions.csv:4: timezone 'Mars/Olympus_Mons' is not in the "
	        "time zone database\n"
	        "regions.csv:5: timezone '../../../etc/passwd' is not in the "
	        "time zone database\n"
	        "regions.csv:6: timezone '/usr/share/zoneinfo/UTC' is not in "
	        "the time zone database\n"
	        "regions.csv:7: timezone 'Europe//Paris' is not in the time "
	        "zone database\n"
	        "regions.csv:8: timezone '' is not in the time zone database\n"
	        "regions.csv:9: timezone 'zone.tab' is not in the time zone "
	        "database\n");
}

Test(catalog, tax_rates_and_dates)
{
	refused(with_rows(TAXES, "xx,1,,\n"
	                         "ny,100.0001,2030-01-01,\n"
	                         "ny,8.87501,2030-01-01,\n"
	                         "ny,-1,2030-01-01,\n"
	                         "ny,1,2030-02-30,\n"
	                         "ny,1,2030-01-01,2030-01-01\n"
	                         "ny,1,2031-01-01,2030-01-01\n"
	                         "ny,1,30-01-01,\n"),
	        "taxes.csv:5: unknown region 'xx'\n"
	        "taxes.csv:6: rate_percent '100.0001' is not a percent from 0 "
	        "to 100 with at most 4 decimals\n"
	        "taxes.csv:7: rate_percent '8.87501' is not a percent from 0 "
	        "to 100 with at most 4 decimals\n"
	        "taxes.csv:8: rate_percent '-1' is not a percent from 0 to 100 "
	        "with at most 4 decimals\n"
	        "taxes.csv:9: valid_from '2030-02-30' is not a date "
	        "YYYY-MM-DD\n"
	        "taxes.csv:10: valid_to 2030-01-01 is not after valid_from "
	        "2030-01-01\n"
	        "taxes.csv:11: valid_to 2030-01-01 is not after valid_from "
	        "2031-01-01\n"
	        "taxes.csv:12: valid_from '30-01-01' is not a date "
	        "YYYY-MM-DD\n");
	cr_assert_eq(check(with_rows(TAXES, "ny,100,,\n")), SR_ECATALOG);
}

Test(catalog, tax_overlaps)
{
	/* 100 and 8.875 are valid rates; the rows overlap ny's open row,
	 * and are reported on their own (later) lines. */
	refused(catalog(TAXES,
	                "region,rate_percent,valid_from,valid_to\n"
	                "fr,20,,2024-07-01\n"
	                "fr,5.5,2024-06-30,\n"
	                "ny,100,2020-01-01,2021-01-01\n"
	                "ny,8.875,,\n",
	                -1),
	        "taxes.csv:3: tax row overlaps line 2 for region 'fr'\n"
	        "taxes.csv:5: tax row overlaps line 4 for region 'ny'\n");
}

/* ---- Bands ---- */

Test(catalog, band_days_and_times)
{
	refused(
	    with_rows(BANDS, "a,monday,00:00,01:00\n"
	                     "b,mon mon,01:00,02:00\n"
	                     "c,,02:00,03:00\n"
	                     "d,mon  tue,03:00,04:00\n"
	                     "e,Mon,04:00,05:00\n"
	                     "f,mon,24:00,24:00\n"
	                     "g,mon,05:00,24:01\n"
	                     "h,mon,7:00,08:00\n"
	                     "i,mon,06:60,07:00\n"
	                     "j,mon,09:00,09:00\n"
	                     "k,mon,10:00,09:30\n"),
	    "bands.csv:5: unknown day 'monday' (days are mon tue wed thu fri "
	    "sat sun)\n"
	    "bands.csv:6: day 'mon' is listed twice\n"
	    "bands.csv:7: empty days\n"
	    "bands.csv:8: days 'mon  tue' has an empty item (items are one "
	    "space apart)\n"
	    "bands.csv:9: unknown day 'Mon' (days are mon tue wed thu fri "
	    "sat sun)\n"
	    "bands.csv:10: from '24:00' is not a time HH:MM from 00:00 to "
	    "23:59\n"
	    "bands.csv:11: to '24:01' is not a time HH:MM from 00:00 to "
	    "24:00\n"
	    "bands.csv:12: from '7:00' is not a time HH:MM from 00:00 to "
	    "23:59\n"
	    "bands.csv:13: from '06:60' is not a time HH:MM from 00:00 to "
	    "23:59\n"
	    "bands.csv:14: to 09:00 is not after from 09:00\n"
	    "bands.csv:15: to 09:30 is not after from 10:00\n");
}

Test(catalog, band_overlaps_any_band)
{
	refused(with_rows(BANDS, "late,sun fri,23:59,24:00\n"
	                         "peak,sat,12:00,13:00\n"),
	        "bands.csv:5: band row of 'late' overlaps the row of 'peak' "
	        "(line 3) on fri\n"
	        "bands.csv:6: band row of 'peak' overlaps the row of 'weekend' "
	        "(line 4) on sat\n");
	/* Touching rows do not overlap. */
	const char *dir = catalog(BANDS,
	                          "band,days,from,to\n"
	                          "a,mon,00:00,12:00\n"
	                          "b,mon,12:00,24:00\n",
	                          RATES,
	                          "rate_id,plan_id,class,quality,band,meter,"
	                          "unit,unit_price,valid_from,valid_to\n",
	                          TIERS, "rate_id,from_units,unit_price\n",
	                          ALLOWANCES, "rate_id,units\n", -1);
	cr_assert_eq(check(dir), 0, "%s", diags);
}

/* ---- Rates, tiers, allowances ---- */

Test(catalog, rate_fields)
{
	refused(with_rows(RATES, "x1,gold,live,HD,*,time,60,1,,\n"
	                         "x2,basic,sport,HD,*,time,60,1,,\n"
	                         "x3,basic,live,hd,lunch,time,60,1,,\n"
	                         "x4,basic,live,4K,*,minutes,0,1,,\n"
	                         "x5,basic,live,SD,*,bytes,-5,1,,\n"
	                         "x6,basic,live,SD,*,bytes,1.5,1,,\n"
	                         "x7,basic,ppv,SD,*,time,60,1,,\n"
	                         "x8,basic,live,SD,,time,60,1,,\n"),
	        "rates.csv:8: unknown plan 'gold'\n"
	        "rates.csv:9: unknown class 'sport'\n"
	        "rates.csv:10: quality 'hd' is not SD, HD, UHD or *\n"
	        "rates.csv:10: unknown band 'lunch'\n"
	        "rates.csv:11: quality '4K' is not SD, HD, UHD or *\n"
	        "rates.csv:11: meter 'minutes' is not time or bytes\n"
	        "rates.csv:11: unit '0' is not a positive integer\n"
	        "rates.csv:12: unit '-5' is not a positive integer\n"
	        "rates.csv:13: unit '1.5' is not a positive integer\n"
	        "rates.csv:15: empty band\n");
}

Test(catalog, rate_overlaps_of_equal_specificity)
{
	refused(with_rows(RATES,
	                  /* r4 holds until 2024-06-01: overlaps from May. */
	                  "x1,basic,live,*,*,time,60,1,2024-05-01,2024-05-02\n"
	                  /* Same as r5 but another quality: fine. */
	                  "x2,basic,live,SD,*,time,60,1,,\n"
	                  /* Same as r2 from 2025: overlaps r2 (open). */
	                  "x3,basic,live,HD,peak,time,60,1,2025-01-01,\n"
	                  /* Another plan: fine. */
	                  "x4,premium,live,HD,peak,time,60,1,,\n"
	                  /* After r4, before r1: touching, fine. */
	                  "x5,basic,live,*,offpeak,time,60,1,,2024-06-01\n"
	                  "x6,basic,live,*,offpeak,time,60,1,2024-06-01,\n"),
	        "rates.csv:8: rate 'x1' overlaps rate 'r4' (line 5) for plan "
	        "'basic' class 'live' quality '*' band '*'\n"
	        "rates.csv:10: rate 'x3' overlaps rate 'r2' (line 3) for plan "
	        "'basic' class 'live' quality 'HD' band 'peak'\n");
}

Test(catalog, overlap_reported_on_the_later_line)
{
	/* The later line starts first: still reported on the later line. */
	refused(catalog(RATES,
	                "rate_id,plan_id,class,quality,band,meter,unit,"
	                "unit_price,valid_from,valid_to\n"
	                "b,basic,live,*,*,time,60,1,2024-03-01,\n"
	                "a,basic,live,*,*,time,60,1,2024-01-01,2024-04-01\n",
	                TIERS, "rate_id,from_units,unit_price\n", ALLOWANCES,
	                "rate_id,units\n", -1),
	        "rates.csv:3: rate 'a' overlaps rate 'b' (line 2) for plan "
	        "'basic' class 'live' quality '*' band '*'\n");
}

Test(catalog, tiers)
{
	refused(with_rows(TIERS, "r9,10,1\n"
	                         "r6,100,0.1\n"
	                         "r6,0,0.1\n"
	                         "r5,20,0.1\n"
	                         "r5,10,0.1\n"
	                         "r5,30,x\n"),
	        "tiers.csv:4: unknown rate 'r9'\n"
	        "tiers.csv:5: from_units 100 of rate 'r6' is not above 100 "
	        "(line 3)\n"
	        "tiers.csv:6: from_units '0' is not a positive integer\n"
	        "tiers.csv:8: from_units 10 of rate 'r5' is not above 20 (line "
	        "7)\n"
	        "tiers.csv:9: unit_price 'x' is not an amount (digits, then at "
	        "most 6 after a point)\n");
}

Test(catalog, allowances)
{
	/* units 0 is valid (nothing included); line 4 is not reported. */
	refused(with_rows(ALLOWANCES, "r9,10\n"
	                              "r6,0\n"
	                              "r5,100\n"
	                              "r4,\n"
	                              "r3,-1\n"),
	        "allowances.csv:3: unknown rate 'r9'\n"
	        "allowances.csv:5: duplicate allowance for rate 'r5' (first on "
	        "line 2)\n"
	        "allowances.csv:6: units '' is not a non-negative integer\n"
	        "allowances.csv:7: units '-1' is not a non-negative integer\n");
}

/* ---- Subscriptions ---- */

Test(catalog, subscription_fields)
{
	refused(with_rows(SUBSCRIPTIONS, "s3,gold,fr,2024-01-01,\n"
	                                 "s4,basic,mars,2024-01-01,\n"
	                                 "s5,basic,fr,,\n"
	                                 "s6,basic,fr,2024-13-01,\n"
	                                 "s7,basic,fr,2024-05-01,2024-05-01\n"
	                                 "s8,basic,fr,2024-05-01,2024-04-30\n"),
	        "subscriptions.csv:5: unknown plan 'gold'\n"
	        "subscriptions.csv:6: unknown region 'mars'\n"
	        "subscriptions.csv:7: empty start: a date YYYY-MM-DD is "
	        "required\n"
	        "subscriptions.csv:8: start '2024-13-01' is not a date "
	        "YYYY-MM-DD\n"
	        "subscriptions.csv:9: end 2024-05-01 is not after start "
	        "2024-05-01\n"
	        "subscriptions.csv:10: end 2024-04-30 is not after start "
	        "2024-05-01\n");
}

Test(catalog, subscription_overlaps)
{
	refused(with_rows(SUBSCRIPTIONS, "s2,usplan,ny,2024-01-01,2024-02-01\n"
	                                 "s1,premium,fr,2023-01-01,2024-01-02\n"
	                                 "s1,basic,fr,2023-01-01,2024-01-01\n"),
	        "subscriptions.csv:5: subscription of 's2' overlaps line 4\n"
	        "subscriptions.csv:6: subscription of 's1' overlaps line 2\n"
	        "subscriptions.csv:7: subscription of 's1' overlaps line 6\n");
}

Test(catalog, subscriber_with_two_currencies)
{
	refused(with_rows(SUBSCRIPTIONS, "s2,basic,ny,2020-01-01,2023-05-01\n"),
	        "subscriptions.csv:5: subscriber 's2' mixes currencies: plan "
	        "'basic' is in EUR, plan 'usplan' (line 4) in USD\n");
}

Test(catalog, every_problem_of_every_file_in_order)
{
	const char *dir = catalog(TIERS, NULL, CURRENCIES,
	                          "currency,exponent\nEUR,2\nJPY,9\nUSD,2\n",
	                          RATES, NULL, -1);
	/* Without rates.csv, references to rates are not checked. */
	refused(dir, "currencies.csv:3: exponent '9' is not 0, 1, 2 or 3\n"
	             "rates.csv: missing file\n"
	             "tiers.csv: missing file\n");
}

/* ---- Store ---- */

static void same_files(const char *a, const char *b)
{
	for (int f = 0; f < NFILES; f++)
		cr_assert_str_eq(slurp(path_in(a, names[f])),
		                 slurp(path_in(b, names[f])), "%s", names[f]);
}

Test(catalog, load_dump_load_dump)
{
	const char *db = fresh("db"), *out = fresh("out"), *db2 = fresh("db"),
	           *out2 = fresh("out");
	cr_assert_eq(sr_catalog_load(db, catalog(-1), collect, NULL), 0);
	cr_assert_eq(sr_catalog_dump(db, out), 0);
	for (int f = 0; f < NFILES; f++)
		cr_assert_str_eq(slurp(path_in(out, names[f])), base[f], "%s",
		                 names[f]);
	cr_assert_eq(sr_catalog_load(db2, out, collect, NULL), 0);
	cr_assert_eq(sr_catalog_dump(db2, out2), 0);
	same_files(out, out2);
	uint64_t rows[SR_CATALOG_FILES];
	cr_assert_eq(sr_catalog_count(db, rows), 0);
	cr_assert_eq(rows[RATES], 6);
	cr_assert_eq(rows[SUBSCRIPTIONS], 3);
	cr_assert_str_eq(sr_catalog_file_name(SUBSCRIPTIONS),
	                 "subscriptions.csv");
}

Test(catalog, dump_quotes_only_when_needed)
{
	const char *dir = with_rows(CONTENT, "\"a,b\",live,news\n"
	                                     "\"say \"\"hi\"\"\",live,news\n");
	const char *db = fresh("db"), *out = fresh("out"), *db2 = fresh("db"),
	           *out2 = fresh("out");
	cr_assert_eq(sr_catalog_load(db, dir, collect, NULL), 0, "%s", diags);
	cr_assert_eq(sr_catalog_dump(db, out), 0);
	cr_assert_str_eq(slurp(path_in(out, "content.csv")),
	                 "content_id,class,package\n"
	                 "\"a,b\",live,news\n"
	                 "c-fight,ppv,\n"
	                 "c-movie,movie,cinema\n"
	                 "c-news,live,news\n"
	                 "c-sport,live,sports\n"
	                 "\"say \"\"hi\"\"\",live,news\n");
	cr_assert_eq(sr_catalog_load(db2, out, collect, NULL), 0);
	cr_assert_eq(sr_catalog_dump(db2, out2), 0);
	same_files(out, out2);
}

Test(catalog, refused_load_changes_nothing)
{
	const char *db = fresh("db"), *before = fresh("out"),
	           *after = fresh("out");
	cr_assert_eq(sr_catalog_load(db, catalog(-1), collect, NULL), 0);
	cr_assert_eq(sr_catalog_dump(db, before), 0);
	const char *bad =
	    catalog(PLANS,
	            "plan_id,currency,monthly_fee,packages\n"
	            "basic,EUR,1,news sports\n",
	            TIERS, "rate_id,from_units,unit_price\nr6,0,1\n", -1);
	dlen = 0;
	cr_assert_eq(sr_catalog_load(db, bad, collect, NULL), SR_ECATALOG);
	cr_assert_eq(sr_catalog_dump(db, after), 0);
	same_files(before, after);
	/* A refused load into a new directory does not even create it. */
	struct stat st;
	const char *none = fresh("db");
	cr_assert_eq(sr_catalog_load(none, bad, collect, NULL), SR_ECATALOG);
	cr_assert_eq(stat(none, &st), -1);
	cr_assert_eq(errno, ENOENT);
}

Test(catalog, store_failures_are_not_catalog_errors)
{
	const char *file = fresh("file");
	write_text(file, "x", 1);
	int err =
	    sr_catalog_load(path_in(file, "db"), catalog(-1), collect, NULL);
	cr_assert_eq(err, -ENOTDIR, "%s", sr_strerror(err));
	cr_assert_eq(sr_catalog_dump(fresh("nodb"), fresh("out")), -ENOENT);
	const char *empty = fresh("db");
	cr_assert_eq(mkdir(empty, 0755), 0);
	struct sr_catalog *cat;
	cr_assert_eq(sr_catalog_open(empty, &cat), SR_ENOCATALOG);
	cr_assert_eq(sr_catalog_open(fresh("nodb"), &cat), -ENOENT);
}

/* The fee of plan "basic" as a reader in txn sees it. */
static int64_t stored_fee(MDB_txn *txn)
{
	MDB_dbi dbi;
	MDB_val k = {5, "basic"}, v;
	cr_assert_eq(mdb_dbi_open(txn, "plans", 0, &dbi), 0);
	cr_assert_eq(mdb_get(txn, dbi, &k, &v), 0);
	int64_t fee;
	memcpy(&fee, v.mv_data, 8); /* little-endian, first in the value */
	return fee;
}

static const char *new_fee_catalog(void)
{
	return catalog(PLANS,
	               "plan_id,currency,monthly_fee,packages\n"
	               "basic,EUR,11,news sports\n"
	               "premium,EUR,19.99,cinema news sports\n"
	               "usplan,USD,10,news\n",
	               -1);
}

Test(catalog, reader_keeps_its_snapshot_across_a_load)
{
	const char *db = fresh("db"), *next = new_fee_catalog();
	MDB_env *env;
	MDB_txn *txn;
	cr_assert_eq(sr_catalog_load(db, catalog(-1), collect, NULL), 0);
	cr_assert_eq(mdb_env_create(&env), 0);
	cr_assert_eq(mdb_env_set_maxdbs(env, 16), 0);
	cr_assert_eq(mdb_env_set_mapsize(env, 64ull << 30), 0);
	cr_assert_eq(mdb_env_open(env, db, MDB_RDONLY, 0644), 0);
	cr_assert_eq(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	cr_assert_eq(stored_fee(txn), 9990000);
	/* The load runs in another process, as a loader would. */
	pid_t pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0)
		_exit(sr_catalog_load(db, next, NULL, NULL) == 0 ? 0 : 1);
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	cr_assert_eq(stored_fee(txn), 9990000);
	mdb_txn_abort(txn);
	cr_assert_eq(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	cr_assert_eq(stored_fee(txn), 11000000);
	mdb_txn_abort(txn);
	mdb_env_close(env);
}

Test(catalog, view_keeps_its_snapshot_across_a_load)
{
	const char *db = fresh("db");
	struct sr_catalog *old, *cur;
	cr_assert_eq(sr_catalog_load(db, catalog(-1), collect, NULL), 0);
	cr_assert_eq(sr_catalog_open(db, &old), 0);
	cr_assert_eq(sr_catalog_load(db, new_fee_catalog(), collect, NULL), 0);
	cr_assert_eq(sr_catalog_open(db, &cur), 0);
	cr_assert_eq(sr_catalog_plan(old, 0)->monthly_fee, 9990000);
	cr_assert_eq(sr_catalog_plan(cur, 0)->monthly_fee, 11000000);
	sr_catalog_close(old);
	sr_catalog_close(cur);
}

/* ---- The view ---- */

static struct sr_catalog *open_base(void)
{
	const char *db = fresh("db");
	struct sr_catalog *cat;
	cr_assert_eq(sr_catalog_load(db, catalog(-1), collect, NULL), 0);
	cr_assert_eq(sr_catalog_open(db, &cat), 0);
	return cat;
}

static bool is(struct sr_str s, const char *want)
{
	return s.len == strlen(want) && memcmp(s.ptr, want, s.len) == 0;
}

static int64_t date(const char *s)
{
	int64_t t;
	cr_assert_eq(sr__parse_date(s, strlen(s), &t), 0);
	return t;
}

Test(catalog, view_tables_in_byte_order)
{
	struct sr_catalog *cat = open_base();
	cr_assert(is(sr_catalog_currency(cat, 1)->code, "JPY"));
	cr_assert_eq(sr_catalog_currency(cat, 1)->exponent, 0);
	cr_assert_null(sr_catalog_currency(cat, 3));
	const struct sr_plan *p = sr_catalog_plan(cat, 1);
	cr_assert(is(p->id, "premium"));
	cr_assert_eq(p->currency, 0);
	cr_assert_eq(p->monthly_fee, 19990000);
	/* Packages cinema, news, sports are indexes 0, 1, 2. */
	cr_assert_eq(p->npackages, 3);
	cr_assert_eq(p->packages[0], 0);
	cr_assert_eq(p->packages[2], 2);
	cr_assert(is(sr_catalog_package_id(cat, 2), "sports"));
	/* Classes: live, movie, ppv. */
	cr_assert(is(sr_catalog_class_id(cat, 0), "live"));
	cr_assert(is(sr_catalog_class_id(cat, 2), "ppv"));
	cr_assert(is(sr_catalog_band_id(cat, 1), "peak"));
	cr_assert(is(sr_catalog_region(cat, 1)->timezone, "America/New_York"));
	cr_assert_eq(sr_catalog_nrates(cat), 6);
	cr_assert_eq(sr_catalog_ncurrencies(cat), 3);
	sr_catalog_close(cat);
}

Test(catalog, view_subscribers_and_content)
{
	struct sr_catalog *cat = open_base();
	cr_assert_eq(sr_catalog_nsubscribers(cat), 2);
	const struct sr_subscriber *s = sr_catalog_subscriber(cat, "s1", 2);
	cr_assert_not_null(s);
	cr_assert_eq(s, sr_catalog_subscriber_at(cat, 0));
	cr_assert_eq(s->index, 0);
	cr_assert_eq(s->nsubs, 2);
	cr_assert_eq(s->subs[0].plan, 0);
	cr_assert_eq(s->subs[0].start, date("2024-01-01"));
	cr_assert_eq(s->subs[0].end, date("2024-06-15"));
	cr_assert_eq(s->subs[1].plan, 1);
	cr_assert_eq(s->subs[1].end, SR_TIME_MAX);
	cr_assert_eq(sr_catalog_subscriber(cat, "s2", 2)->subs[0].region, 1);
	cr_assert_null(sr_catalog_subscriber(cat, "s3", 2));
	cr_assert_null(sr_catalog_subscriber(cat, "s", 1));
	const struct sr_content *c = sr_catalog_content(cat, "c-fight", 7);
	cr_assert(c->ppv);
	cr_assert_eq(c->package, SR_NONE);
	cr_assert_eq(c->klass, 2);
	c = sr_catalog_content(cat, "c-sport", 7);
	cr_assert(!c->ppv);
	cr_assert_eq(c->package, 2);
	cr_assert_null(sr_catalog_content(cat, "c-none", 6));
	sr_catalog_close(cat);
}

/* The hashed lookup reads the copy of the record kept beside the rows
 * (one block per subscriber, which may span two cache lines): it must be
 * the record itself in every field. */
Test(catalog, hashed_lookup_gives_the_record)
{
	struct sr_catalog *cat = open_base();
	for (uint32_t i = 0; i < sr_catalog_nsubscribers(cat); i++) {
		const struct sr_subscriber *w = sr_catalog_subscriber_at(cat, i);
		struct sr_subscriber view;
		const struct sr_subscriber *v = sr_catalog_subscriber_h(
		    cat, w->id.ptr, w->id.len,
		    sr_catalog_id_hash(w->id.ptr, w->id.len), &view);
		cr_assert_eq(v, &view);
		cr_assert(sr_str_eq(v->id, w->id));
		cr_assert_eq(v->index, w->index);
		cr_assert_eq(v->nsubs, w->nsubs);
		cr_assert_eq(v->subs, w->subs);
		cr_assert_eq(sr_catalog_subscriber(cat, w->id.ptr, w->id.len), w);
	}
	struct sr_subscriber view;
	cr_assert_null(sr_catalog_subscriber_h(
	    cat, "s3", 2, sr_catalog_id_hash("s3", 2), &view));
	/* A hash that leads to s1's slot with another id is no match. */
	cr_assert_null(sr_catalog_subscriber_h(
	    cat, "s9", 2, sr_catalog_id_hash("s1", 2), &view));
	sr_catalog_close(cat);
}

Test(catalog, view_rate_candidates_most_specific_first)
{
	struct sr_catalog *cat = open_base();
	uint32_t n;
	const struct sr_rate *const *r = sr_catalog_rates(cat, 0, 0, &n);
	/* HD/peak, HD/'*', '*'/peak, then '*'/'*' by valid_from. */
	static const char *const want[] = {"r2", "r5", "r3", "r4", "r1"};
	cr_assert_eq(n, 5);
	for (uint32_t i = 0; i < n; i++)
		cr_assert(is(r[i]->id, want[i]), "candidate %u", i);
	cr_assert_eq(r[0]->band, 1);
	cr_assert_eq(r[0]->quality, SR_HD);
	cr_assert_eq(r[1]->allowance, 600);
	cr_assert_eq(r[3]->valid_to, date("2024-06-01"));
	cr_assert_eq(r[4]->valid_from, date("2024-06-01"));
	cr_assert_eq(r[4]->index, 0);
	/* premium/movie: one rate with two tiers. */
	r = sr_catalog_rates(cat, 1, 1, &n);
	cr_assert_eq(n, 1);
	cr_assert_eq(r[0]->meter, SR_METER_BYTES);
	cr_assert_eq(r[0]->unit, 1000000000);
	cr_assert_eq(r[0]->ntiers, 2);
	cr_assert_eq(r[0]->tiers[0].from_units, 50);
	cr_assert_eq(r[0]->tiers[1].unit_price, 150000);
	cr_assert_null(sr_catalog_rates(cat, 2, 0, &n));
	cr_assert_eq(n, 0);
	sr_catalog_close(cat);
}

Test(catalog, view_bands_at_boundaries)
{
	struct sr_catalog *cat = open_base();
	/* offpeak 0, peak 1, weekend 2. */
	cr_assert_eq(sr_catalog_band_at(cat, 0, 0), 0);
	cr_assert_eq(sr_catalog_band_at(cat, 0, 18 * 3600 - 1), 0);
	cr_assert_eq(sr_catalog_band_at(cat, 0, 18 * 3600), 1);
	cr_assert_eq(sr_catalog_band_at(cat, 4, 86399), 1);
	cr_assert_eq(sr_catalog_band_at(cat, 5, 0), 2);
	cr_assert_eq(sr_catalog_band_at(cat, 6, 86399), 2);
	cr_assert_eq(sr_catalog_band_at(cat, 7, 0), SR_NONE);
	cr_assert_eq(sr_catalog_band_at(cat, 0, 86400), SR_NONE);
	sr_catalog_close(cat);
}

Test(catalog, view_taxes_prices_and_offsets)
{
	struct sr_catalog *cat = open_base();
	cr_assert_eq(sr_catalog_tax(cat, 0, date("2024-06-30"))->rate, 200000);
	cr_assert_eq(sr_catalog_tax(cat, 0, date("2024-07-01"))->rate, 55000);
	cr_assert_eq(sr_catalog_tax(cat, 1, date("1970-01-01"))->rate, 88750);
	cr_assert_null(sr_catalog_tax(cat, 2, 0));
	int64_t price;
	const struct sr_content *c = sr_catalog_content(cat, "c-fight", 7);
	cr_assert_eq(sr_catalog_ppv_price(cat, c, 2, &price), 0);
	cr_assert_eq(price, 17500000);
	cr_assert_eq(sr_catalog_ppv_price(cat, c, 1, &price), SR_ENOTFOUND);
	c = sr_catalog_content(cat, "c-news", 6);
	cr_assert_eq(sr_catalog_ppv_price(cat, c, 0, &price), SR_ENOTFOUND);
	/* Paris in summer, New York in winter. */
	cr_assert_eq(sr_catalog_utc_offset(cat, 0, date("2024-07-01")), 7200);
	cr_assert_eq(sr_catalog_utc_offset(cat, 1, date("2024-01-01")), -18000);
	sr_catalog_close(cat);
}

/*
 * catalog_open DBDIR [SUBSCRIBERS]: how long building the compiled view
 * takes, and how fast its hot lookups are. Opens the view, checks that it
 * holds the expected number of subscribers (when given), then looks up
 * every subscriber by id and every (plan, class) rate list, and prints
 * the timings and lookups per second. Peak memory comes from the caller
 * (/usr/bin/time -v in bench/catalog_load.sh).
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "streamrate/catalog.h"
#include "streamrate/error.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Every subscriber found again by its id; returns the number found. */
static uint32_t lookup_all(const struct sr_catalog *cat)
{
	uint32_t n = sr_catalog_nsubscribers(cat), found = 0;
	for (uint32_t i = 0; i < n; i++) {
		const struct sr_subscriber *s =
		    sr_catalog_subscriber_at(cat, i);
		found += sr_catalog_subscriber(cat, s->id.ptr, s->id.len) == s;
	}
	return found;
}

int main(int argc, char **argv)
{
	struct sr_catalog *cat;
	if (argc < 2) {
		fprintf(stderr, "usage: catalog_open DBDIR [SUBSCRIBERS]\n");
		return 1;
	}
	double t0 = now();
	int err = sr_catalog_open(argv[1], &cat);
	if (err) {
		fprintf(stderr, "catalog_open: %s: %s\n", argv[1],
		        sr_strerror(err));
		return 3;
	}
	double t1 = now();
	uint32_t n = sr_catalog_nsubscribers(cat);
	uint32_t found = lookup_all(cat);
	double t2 = now();
	if (found != n || (argc > 2 && n != strtoul(argv[2], NULL, 10))) {
		fprintf(stderr,
		        "catalog_open: %u subscribers, %u found again\n", n,
		        found);
		return 2;
	}
	printf("view of %u subscribers, %u rates built in %.3f s; "
	       "%u subscriber lookups in %.3f s (%.1f M/s)\n",
	       n, sr_catalog_nrates(cat), t1 - t0, n, t2 - t1,
	       t2 > t1 ? n / (t2 - t1) / 1e6 : 0.0);
	sr_catalog_close(cat);
	return 0;
}

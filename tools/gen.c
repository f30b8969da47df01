/*
 * streamrate gen: the workload generator. It writes a catalog directory
 * (the eleven files of SPEC section 2) and session files (section 1) for
 * one period, realistic by default and with a chosen share of edge cases,
 * for tests, differential runs against the Python oracle and benchmarks.
 *
 * Output is a pure function of the arguments: same arguments, byte-identical
 * files. The catalog depends only on --seed, --period and the catalog sizes,
 * so session sets of any size or mix can be drawn against one catalog.
 * This file parses the options; gen_model.c builds the catalog in memory,
 * gen_catalog.c writes it, gen_sessions.c and gen_edge.c write sessions.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "gen.h"

const char *const sr__gen_kind_names[SR_GEN_NKINDS] = {
    "field",  "line",   "dup",     "quote", "crlf", "empty",
    "offset", "period", "unknown", "nosub", "dst",  "bound",
    "ppv",    "noent",  "big",     "tier",  "eof",
};

const unsigned sr__gen_kind_defaults[SR_GEN_NKINDS] = {
    20, 8, 8, 6, 6, 3, 10, 6, 6, 5, 4, 6, 6, 5, 3, 2, 1,
};

static const char usage_text[] =
    "usage: streamrate gen --out DIR [options]\n"
    "\n"
    "Writes DIR/catalog/ (the eleven CSV files of SPEC section 2) and\n"
    "DIR/sessions-1.csv .. DIR/sessions-N.csv for one period. The same\n"
    "arguments always give byte-identical files; the catalog depends only\n"
    "on --seed, --period, --subscribers, --content, --plans and --rates.\n"
    "\n"
    "  --out DIR          output directory (created if missing)\n"
    "  --seed N           PRNG seed (default 1)\n"
    "  --period YYYY-MM   the period sessions fall in (default 2024-03);\n"
    "                     DST cases follow the rules in force since 2011\n"
    "  --subscribers N    subscribers in subscriptions.csv (default 1000)\n"
    "  --sessions N       session records in all files (default 100000);\n"
    "                     empty and malformed lines count as records, and\n"
    "                     edge cases that come in groups may add a few\n"
    "  --files N          split the records into N files (default 1)\n"
    "  --content N        content rows, at least 8 (default 400)\n"
    "  --plans N          plans, 1 to 60000 (default 16); with 4 or more the\n"
    "                     last one has no package (pay-per-view only)\n"
    "  --rates N          about N rate rows (default: drawn, about 3 per\n"
    "                     plan and rated class; at most 7 per pair)\n"
    "  --edge PERCENT     share of edge-case records, 0 to 100, decimals\n"
    "                     allowed (default 5)\n"
    "  --clean            --edge 0, standard header, no BOM: every record\n"
    "                     is a realistic one\n"
    "  --mix LIST         weights of the edge-case kinds, e.g.\n"
    "                     'field=2,dup=1'; kinds not listed get 0\n"
    "  --header MODE      std (the 7 required columns), full (with\n"
    "                     device_id, ip, country), shuffle (permuted, with\n"
    "                     optional and unknown columns), mixed (file 1 full,\n"
    "                     each other file drawn); default mixed, std with\n"
    "                     --edge 0\n"
    "  --bom, --no-bom    a UTF-8 BOM in every file / in none (default: in\n"
    "                     about one file in four when --edge > 0)\n"
    "  --catalog-only     write the catalog only\n"
    "  --sessions-only    write the session files only\n"
    "\n"
    "Edge-case kinds (default weight):\n"
    "  field (20)   a malformed value in one required column: empty,\n"
    "               129-byte or control-byte ids, line breaks in quoted ids,\n"
    "               bad dates (Feb 29 of non-leap years, hour 24, lowercase\n"
    "               t/z, missing or +24:00 offsets), durations over 604800,\n"
    "               signs, spaces, bytes over INT64_MAX, quality 'hd'\n"
    "  line (8)     unsplittable lines: stray quote, junk after a closing\n"
    "               quote, wrong field count, records over 65536 bytes\n"
    "  dup (8)      an earlier (subscriber, session) again, other values\n"
    "               (also of records that failed parsing or the period)\n"
    "  quote (6)    quoted fields: commas and doubled quotes in ids, line\n"
    "               breaks in free columns (and in ids: malformed)\n"
    "  crlf (6)     CRLF line end          empty (3)    empty line\n"
    "  offset (10)  start with a local or random offset and a fraction\n"
    "  period (6)   other periods, the seconds around the period's edges,\n"
    "               offsets that move an instant across them\n"
    "  unknown (6)  unknown subscriber or content (case, spaces, numbers)\n"
    "  nosub (5)    subscriber with no subscription in force at the start\n"
    "  dst (4)      around a DST switch of the subscriber's region\n"
    "  bound (6)    on a rate's valid_from/valid_to, a subscription's start\n"
    "               or end, a band's first second, the period's edges\n"
    "  ppv (6)      pay-per-view purchases, some bought twice, some unpriced\n"
    "  noent (5)    content outside the plan's packages\n"
    "  big (3)      valid extremes: 604800 s, INT64_MAX bytes, leading\n"
    "               zeros, 128-byte and non-UTF-8 session ids\n"
    "  tier (2)     a reserved subscriber whose usage sums exactly to an\n"
    "               allowance or tier bound\n"
    "  eof (1)      (on/off) the last file's last record opens a quote it\n"
    "               never closes\n";

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "streamrate gen: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n'streamrate gen --help' lists the options.\n");
	return SR_EXIT_USAGE;
}

static bool parse_u64(const char *s, uint64_t max, uint64_t *v)
{
	char *end;

	if (!s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	*v = strtoull(s, &end, 10);
	return !errno && !*end && *v <= max;
}

static bool parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *v)
{
	uint64_t x;

	if (!parse_u64(s, max, &x) || x < min)
		return false;
	*v = (uint32_t)x;
	return true;
}

/* A percentage with up to 4 decimals, as parts per million. */
static bool parse_percent(const char *s, uint32_t *ppm)
{
	uint64_t whole = 0, frac = 0, scale = 10000;

	if (!s || *s < '0' || *s > '9')
		return false;
	for (; *s >= '0' && *s <= '9'; s++)
		if ((whole = whole * 10 + (uint64_t)(*s - '0')) > 100)
			return false;
	if (*s == '.')
		for (s++; *s >= '0' && *s <= '9' && scale > 1; s++)
			frac += (scale /= 10) * (uint64_t)(*s - '0');
	if (*s || whole * 10000 + frac > 1000000)
		return false;
	*ppm = (uint32_t)(whole * 10000 + frac);
	return true;
}

static bool parse_period(const char *s, struct gen_params *p)
{
	uint32_t y, m;
	char ys[5] = {0}, ms[3] = {0};

	if (!s || strlen(s) != 7 || s[4] != '-')
		return false;
	memcpy(ys, s, 4);
	memcpy(ms, s + 5, 2);
	/* Subscriptions reach years back; DST rules are today's. */
	if (!parse_u32(ys, 1980, 2999, &y) || !parse_u32(ms, 1, 12, &m))
		return false;
	p->year = (int)y;
	p->month = m;
	return true;
}

static bool parse_mix(const char *s, struct gen_params *p)
{
	char buf[512];

	if (!s || strlen(s) >= sizeof(buf))
		return false;
	memset(p->weights, 0, sizeof(p->weights));
	strcpy(buf, s);
	for (char *save, *tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		uint32_t w = 1;
		int k = 0;

		if (eq) {
			*eq = 0;
			if (!parse_u32(eq + 1, 0, 1000000, &w))
				return false;
		}
		while (k < SR_GEN_NKINDS && strcmp(tok, sr__gen_kind_names[k]))
			k++;
		if (k == SR_GEN_NKINDS)
			return false;
		p->weights[k] = w;
	}
	return true;
}

static bool parse_header(const char *s, struct gen_params *p)
{
	static const char *const modes[] = {"std", "full", "shuffle", "mixed"};

	for (int i = 0; s && i < 4; i++)
		if (!strcmp(s, modes[i])) {
			p->header = (enum gen_header)i;
			return true;
		}
	return false;
}

static void set_defaults(struct gen_params *p)
{
	memset(p, 0, sizeof(*p));
	p->seed = 1;
	p->year = 2024;
	p->month = 3;
	p->subscribers = 1000;
	p->sessions = 100000;
	p->files = 1;
	p->content = 400;
	p->plans = 16;
	p->edge_ppm = 50000;
	memcpy(p->weights, sr__gen_kind_defaults, sizeof(p->weights));
	p->header = (enum gen_header) - 1;
	p->bom = -2;
	p->write_catalog = p->write_sessions = true;
}

/* Options taking a value; returns false if the value is bad. */
static bool take_value(struct gen_params *p, const char *opt, const char *v)
{
	uint64_t x;

	if (!strcmp(opt, "--out"))
		return (p->out = v) && *v;
	if (!strcmp(opt, "--seed"))
		return parse_u64(v, UINT64_MAX, &p->seed);
	if (!strcmp(opt, "--period"))
		return parse_period(v, p);
	if (!strcmp(opt, "--subscribers"))
		return parse_u32(v, 1, 100000000, &p->subscribers);
	if (!strcmp(opt, "--sessions"))
		return parse_u64(v, 100000000000ULL, &x) &&
		       (p->sessions = x, 1);
	if (!strcmp(opt, "--files"))
		return parse_u32(v, 1, 10000, &p->files);
	if (!strcmp(opt, "--content"))
		return parse_u32(v, 8, 100000000, &p->content);
	if (!strcmp(opt, "--plans"))
		return parse_u32(v, 1, 60000, &p->plans);
	if (!strcmp(opt, "--rates"))
		return parse_u32(v, 0, 100000000, &p->rates);
	if (!strcmp(opt, "--edge"))
		return parse_percent(v, &p->edge_ppm);
	if (!strcmp(opt, "--mix"))
		return parse_mix(v, p);
	return parse_header(v, p);
}

static bool take_flag(struct gen_params *p, const char *opt, bool *clean)
{
	if (!strcmp(opt, "--clean"))
		*clean = true;
	else if (!strcmp(opt, "--bom"))
		p->bom = 1;
	else if (!strcmp(opt, "--no-bom"))
		p->bom = 0;
	else if (!strcmp(opt, "--catalog-only"))
		p->write_sessions = false;
	else if (!strcmp(opt, "--sessions-only"))
		p->write_catalog = false;
	else
		return false;
	return true;
}

static int parse_args(int argc, char **argv, struct gen_params *p)
{
	static const char *const valued[] = {
	    "--out",      "--seed",  "--period",  "--subscribers",
	    "--sessions", "--files", "--content", "--plans",
	    "--rates",    "--edge",  "--mix",     "--header",
	};
	bool clean = false;

	for (int i = 1; i < argc; i++) {
		char opt[64];
		const char *arg = argv[i], *eq = strchr(arg, '='), *v = NULL;
		size_t n = eq ? (size_t)(eq - arg) : strlen(arg);
		bool known = false;

		snprintf(opt, sizeof(opt), "%.*s", (int)n, arg);
		for (size_t k = 0; k < sizeof(valued) / sizeof(*valued); k++)
			known |= !strcmp(opt, valued[k]);
		if (!known) {
			if (eq || !take_flag(p, opt, &clean))
				return usage_error("unknown option '%s'", arg);
			continue;
		}
		v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
		if (!v || !take_value(p, opt, v))
			return usage_error("bad value for %s", opt);
	}
	if (!p->out)
		return usage_error("%s", "--out DIR is required");
	if (!p->write_catalog && !p->write_sessions)
		return usage_error("%s", "--catalog-only and --sessions-only "
		                         "exclude each other");
	/* Each plan keeps the list of content it plays. */
	if ((uint64_t)p->plans * p->content > 100000000)
		return usage_error("%s", "--plans x --content is at most 10^8");
	if (clean)
		p->edge_ppm = 0;
	if ((int)p->header < 0)
		p->header = p->edge_ppm ? SR_GEN_H_MIXED : SR_GEN_H_STD;
	if (p->bom == -2)
		p->bom = p->edge_ppm ? -1 : 0;
	return SR_EXIT_OK;
}

static int make_dir(const char *dir)
{
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "streamrate gen: %s: %s\n", dir,
		        strerror(errno));
		return SR_EXIT_IO;
	}
	return SR_EXIT_OK;
}

static int run(const struct gen_params *p, struct gen_model *m)
{
	char dir[4096];
	uint64_t written = 0;
	int err;

	if ((err = sr__gen_model_build(m, p))) {
		fprintf(stderr, "streamrate gen: out of memory\n");
		return SR_EXIT_IO;
	}
	if ((err = make_dir(p->out)))
		return err;
	snprintf(dir, sizeof(dir), "%s/catalog", p->out);
	if (p->write_catalog && sr__gen_catalog_write(m, dir))
		return SR_EXIT_IO;
	if (p->write_sessions && sr__gen_sessions_write(m, p, &written))
		return SR_EXIT_IO;
	printf("streamrate gen: %s: period %04d-%02u, %u subscribers, %u "
	       "plans, %u content, %u rates, %llu session records in %u "
	       "file(s)\n",
	       p->out, p->year, p->month, m->nsubs, m->nplans, m->ncontent,
	       m->nrates, (unsigned long long)written,
	       p->write_sessions ? p->files : 0);
	return SR_EXIT_OK;
}

int sr_cmd_gen(int argc, char **argv)
{
	struct gen_params p;
	struct gen_model m;
	int rc;

	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			fputs(usage_text, stdout);
			return SR_EXIT_OK;
		}
	set_defaults(&p);
	if ((rc = parse_args(argc, argv, &p)))
		return rc;
	rc = run(&p, &m);
	sr__gen_model_finish(&m);
	return rc;
}

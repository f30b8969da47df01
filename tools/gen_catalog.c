/*
 * Writes the generated catalog model as the eleven CSV files of SPEC
 * section 2, each with its header in the spec's column order. Nothing here
 * draws a random number: every choice was made when the model was built,
 * so the files are a pure function of the model.
 *
 * No field ever needs quoting: ids are drawn from letters, digits, dashes
 * and dots. The session files are where the CSV dialect is exercised.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "gen.h"

static const char *const package_names[] = {
    "basic", "news", "kids", "sports", "cinema", "premium",
};
static const char *const quality_names[] = {"*", "SD", "HD", "UHD"};
static const char *const day_names[] = {"mon", "tue", "wed", "thu",
                                        "fri", "sat", "sun"};

char *sr__gen_put_sub_id(char *p, const struct gen_model *m, uint32_t sub)
{
	uint64_t lim = 1;

	for (int i = 0; i < m->id_width; i++)
		lim *= 10;
	p = sr__gen_put_str(p, "sub");
	/* Numbers past the width (unknown subscribers) keep every digit. */
	if (sub >= lim)
		return sr__gen_put_u64(p, sub);
	return sr__gen_put_pad(p, sub, m->id_width);
}

char *sr__gen_put_content_id(char *p, const struct gen_model *m,
                             uint32_t content)
{
	int width = 5;
	uint64_t lim = 100000;

	for (; m->ncontent > lim && width < 10; lim *= 10)
		width++;
	/* Unknown content (index past the catalog) keeps the same shape. */
	unsigned klass = content < m->ncontent ? m->content[content].klass
	                                       : content % SR_GEN_NCLASSES;

	p = sr__gen_put_str(p, sr__gen_class_names[klass]);
	*p++ = '-';
	if (content >= lim)
		return sr__gen_put_u64(p, content);
	return sr__gen_put_pad(p, content, width);
}

static char *put_opt_date(char *p, int32_t day)
{
	if (day == SR_GEN_NO_DATE || day == SR_GEN_OPEN_END)
		return p;
	return sr__gen_put_date(p, day);
}

static char *put_rate_id(char *p, const struct gen_model *m,
                         const struct gen_rate *r)
{
	p = sr__gen_put_str(p, m->plans[r->plan].id);
	*p++ = '.';
	p = sr__gen_put_str(p, sr__gen_class_names[r->klass]);
	*p++ = '.';
	p = sr__gen_put_str(p, r->quality ? quality_names[r->quality] : "any");
	*p++ = '.';
	p = sr__gen_put_str(p, r->band ? sr__gen_band_ids[r->band - 1] : "any");
	p = sr__gen_put_str(p, ".v");
	return sr__gen_put_u64(p, r->version);
}

static char *put_hhmm(char *p, int32_t secs)
{
	p = sr__gen_put_pad(p, (uint64_t)secs / 3600, 2);
	*p++ = ':';
	return sr__gen_put_pad(p, (uint64_t)secs / 60 % 60, 2);
}

/* ---- one file per function ---------------------------------------------*/

static void write_currencies(struct gen_out *o, const struct gen_model *m)
{
	for (int i = 0; i < SR_GEN_NCURRENCIES; i++)
		sr__gen_out_printf(o, "%s,%d\n", sr__gen_currencies[i].code,
		                   sr__gen_currencies[i].exponent);
}

static void write_plans(struct gen_out *o, const struct gen_model *m)
{
	for (uint32_t i = 0; i < m->nplans; i++) {
		const struct gen_plan *pl = &m->plans[i];
		char line[256], *p = line;
		const char *sep = "";

		p += sprintf(p, "%s,%s,", pl->id,
		             sr__gen_currencies[pl->currency].code);
		p = sr__gen_put_amount(
		    p, pl->fee, sr__gen_currencies[pl->currency].exponent);
		*p++ = ',';
		for (int k = 0; k < 6; k++) {
			if (!((pl->packages >> k) & 1))
				continue;
			p = sr__gen_put_str(p, sep);
			p = sr__gen_put_str(p, package_names[k]);
			sep = " ";
		}
		*p++ = '\n';
		sr__gen_out_bytes(o, line, (size_t)(p - line));
	}
}

static void write_content(struct gen_out *o, const struct gen_model *m)
{
	for (uint32_t i = 0; i < m->ncontent; i++) {
		const struct gen_content *c = &m->content[i];
		char *p = out_room(o, 128);

		p = sr__gen_put_content_id(p, m, i);
		*p++ = ',';
		p = sr__gen_put_str(p, sr__gen_class_names[c->klass]);
		*p++ = ',';
		if (c->klass != SR_GEN_PPV)
			p = sr__gen_put_str(p, package_names[c->package]);
		*p++ = '\n';
		out_done(o, p);
	}
}

static void write_ppv_prices(struct gen_out *o, const struct gen_model *m)
{
	for (uint32_t i = 0; i < m->ncontent; i++) {
		const struct gen_content *c = &m->content[i];

		for (unsigned cur = 0;
		     c->klass == SR_GEN_PPV && cur < SR_GEN_NCURRENCIES;
		     cur++) {
			if (!((c->priced >> cur) & 1))
				continue;
			char *p = out_room(o, 128);
			int64_t price = c->price_eur *
			                sr__gen_currencies[cur].per_eur_milli /
			                1000;

			p = sr__gen_put_content_id(p, m, i);
			*p++ = ',';
			p = sr__gen_put_str(p, sr__gen_currencies[cur].code);
			*p++ = ',';
			p = sr__gen_put_amount(p, price, 0);
			*p++ = '\n';
			out_done(o, p);
		}
	}
}

static void write_regions(struct gen_out *o, const struct gen_model *m)
{
	for (int i = 0; i < SR_GEN_NREGIONS; i++)
		sr__gen_out_printf(o, "%s,%s\n", sr__gen_regions[i].id,
		                   sr__gen_regions[i].zone->name);
}

static void write_taxes(struct gen_out *o, const struct gen_model *m)
{
	for (uint32_t i = 0; i < m->ntaxes; i++) {
		const struct gen_tax *t = &m->taxes[i];
		char *p = out_room(o, 128);

		p = sr__gen_put_str(p, sr__gen_regions[t->region].id);
		*p++ = ',';
		/* Percent x 10^4 as an amount x 10^6 with 4 digits at most. */
		p = sr__gen_put_amount(p, (int64_t)t->rate_e4 * 100, 0);
		*p++ = ',';
		p = put_opt_date(p, t->from);
		*p++ = ',';
		p = put_opt_date(p, t->to);
		*p++ = '\n';
		out_done(o, p);
	}
}

static void write_bands(struct gen_out *o, const struct gen_model *m)
{
	for (int i = 0; i < SR_GEN_NBANDS; i++) {
		const struct gen_band_row *b = &sr__gen_bands[i];
		char *p = out_room(o, 128);
		const char *sep = "";

		p = sr__gen_put_str(p, b->band);
		*p++ = ',';
		for (int d = 0; d < 7; d++) {
			if (!((b->days >> d) & 1))
				continue;
			p = sr__gen_put_str(p, sep);
			p = sr__gen_put_str(p, day_names[d]);
			sep = " ";
		}
		*p++ = ',';
		p = put_hhmm(p, b->from);
		*p++ = ',';
		p = put_hhmm(p, b->to);
		*p++ = '\n';
		out_done(o, p);
	}
}

static void write_rates(struct gen_out *o, const struct gen_model *m)
{
	for (uint32_t i = 0; i < m->nrates; i++) {
		const struct gen_rate *r = &m->rates[i];
		char *p = out_room(o, 512);

		p = put_rate_id(p, m, r);
		*p++ = ',';
		p = sr__gen_put_str(p, m->plans[r->plan].id);
		*p++ = ',';
		p = sr__gen_put_str(p, sr__gen_class_names[r->klass]);
		*p++ = ',';
		p = sr__gen_put_str(p, quality_names[r->quality]);
		*p++ = ',';
		p = sr__gen_put_str(p, r->band ? sr__gen_band_ids[r->band - 1]
		                               : "*");
		p = sr__gen_put_str(p, r->meter == SR_GEN_TIME ? ",time,"
		                                               : ",bytes,");
		p = sr__gen_put_u64(p, r->unit);
		*p++ = ',';
		p = sr__gen_put_amount(p, r->price, 0);
		*p++ = ',';
		p = put_opt_date(p, r->from);
		*p++ = ',';
		p = put_opt_date(p, r->to);
		*p++ = '\n';
		out_done(o, p);
	}
}

static void write_tiers(struct gen_out *o, const struct gen_model *m)
{
	for (uint32_t i = 0; i < m->nrates; i++) {
		const struct gen_rate *r = &m->rates[i];

		for (int k = 0; k < r->ntiers; k++) {
			char *p = out_room(o, 512);

			p = put_rate_id(p, m, r);
			*p++ = ',';
			p = sr__gen_put_u64(p, r->tier_from[k]);
			*p++ = ',';
			p = sr__gen_put_amount(p, r->tier_price[k], 0);
			*p++ = '\n';
			out_done(o, p);
		}
	}
}

static void write_allowances(struct gen_out *o, const struct gen_model *m)
{
	for (uint32_t i = 0; i < m->nrates; i++) {
		const struct gen_rate *r = &m->rates[i];

		if (r->allowance < 0)
			continue;
		char *p = out_room(o, 512);

		p = put_rate_id(p, m, r);
		*p++ = ',';
		p = sr__gen_put_u64(p, (uint64_t)r->allowance);
		*p++ = '\n';
		out_done(o, p);
	}
}

static void write_subscriptions(struct gen_out *o, const struct gen_model *m)
{
	for (uint32_t i = 0; i < m->nsubs; i++) {
		const struct gen_sub *s = &m->subs[i];

		for (int r = 0; r < s->nrows; r++) {
			char *p = out_room(o, 256);

			p = sr__gen_put_sub_id(p, m, i);
			*p++ = ',';
			p = sr__gen_put_str(p, m->plans[s->plan[r]].id);
			*p++ = ',';
			p = sr__gen_put_str(p,
			                    sr__gen_regions[s->region[r]].id);
			*p++ = ',';
			p = sr__gen_put_date(p, s->from[r]);
			*p++ = ',';
			p = put_opt_date(p, s->to[r]);
			*p++ = '\n';
			out_done(o, p);
		}
	}
}

static const struct {
	const char *name, *header;
	void (*write)(struct gen_out *o, const struct gen_model *m);
} files[] = {
    {"currencies.csv", "currency,exponent", write_currencies},
    {"plans.csv", "plan_id,currency,monthly_fee,packages", write_plans},
    {"content.csv", "content_id,class,package", write_content},
    {"ppv_prices.csv", "content_id,currency,price", write_ppv_prices},
    {"regions.csv", "region,timezone", write_regions},
    {"taxes.csv", "region,rate_percent,valid_from,valid_to", write_taxes},
    {"bands.csv", "band,days,from,to", write_bands},
    {"rates.csv",
     "rate_id,plan_id,class,quality,band,meter,unit,unit_price,valid_from,"
     "valid_to",
     write_rates},
    {"tiers.csv", "rate_id,from_units,unit_price", write_tiers},
    {"allowances.csv", "rate_id,units", write_allowances},
    {"subscriptions.csv", "subscriber_id,plan_id,region,start,end",
     write_subscriptions},
};

int sr__gen_catalog_write(const struct gen_model *m, const char *dir)
{
	char path[4096];
	int err;

	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		err = errno;
		fprintf(stderr, "streamrate gen: %s: %s\n", dir, strerror(err));
		return err;
	}
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		struct gen_out o;

		snprintf(path, sizeof(path), "%s/%s", dir, files[i].name);
		if ((err = sr__gen_out_open(&o, path)))
			goto err;
		sr__gen_out_printf(&o, "%s\n", files[i].header);
		files[i].write(&o, m);
		if ((err = sr__gen_out_close(&o)))
			goto err;
	}
	return 0;
err:
	fprintf(stderr, "streamrate gen: %s: %s\n", path, strerror(err));
	return err;
}

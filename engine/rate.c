/*
 * The rating function of SPEC section 3, steps 4 to 10, as a pure function
 * of an immutable catalog view and one parsed session. Each step is a small
 * function named after what it decides; the first that fails gives the
 * reject reason, exactly in the contract's order.
 */
#include <string.h>

#include "civil.h"
#include "streamrate/error.h"
#include "streamrate/rate.h"

int sr_period_init(struct sr_period *p, const char *text)
{
	if (sr__parse_period(text, strlen(text), &p->year, &p->month) < 0)
		return SR_EINVAL;
	p->days = sr__month_days(p->year, p->month);
	p->start = sr__days_from_civil(p->year, p->month, 1) * SR_DAY;
	p->end = p->start + (int64_t)p->days * SR_DAY;
	memcpy(p->text, text, 7);
	p->text[7] = 0;
	return 0;
}

/* Step 4: the subscription row in force at the start instant. */
static const struct sr_subscription *in_force(const struct sr_subscriber *sub,
                                              int64_t instant)
{
	for (uint32_t i = 0; i < sub->nsubs; i++) {
		const struct sr_subscription *row = &sub->subs[i];
		if (row->start <= instant && instant < row->end)
			return row;
	}
	return NULL;
}

/* Step 7: the content's package is one of the plan's (ascending list). */
static bool entitled(const struct sr_plan *plan, uint32_t package)
{
	uint32_t lo = 0, hi = plan->npackages;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (plan->packages[mid] < package)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < plan->npackages && plan->packages[lo] == package;
}

/* Step 8: the band of the start instant in the region's local time. */
static uint32_t band_of(const struct sr_catalog *cat, uint32_t region,
                        int64_t instant)
{
	int64_t local = instant + sr_catalog_utc_offset(cat, region, instant);
	int64_t day = sr__day_of(local);
	return sr_catalog_band_at(cat, sr__weekday(day),
	                          (uint32_t)(local - day * SR_DAY));
}

/* Step 9: candidates come most specific first, so the first valid match
 * is the one; the loader refused catalogs where it could be ambiguous. */
static const struct sr_rate *
rate_of(const struct sr_catalog *cat, const struct sr_plan *plan,
        uint32_t plan_index, const struct sr_content *content, uint8_t quality,
        uint32_t band, int64_t instant)
{
	uint32_t n;
	const struct sr_rate *const *rates =
	    sr_catalog_rates(cat, plan_index, content->klass, &n);
	(void)plan;
	for (uint32_t i = 0; i < n; i++) {
		const struct sr_rate *r = rates[i];
		if (r->quality != SR_QUALITY_ANY && r->quality != quality)
			continue;
		if (r->band != SR_NONE && r->band != band)
			continue;
		if (r->valid_from <= instant && instant < r->valid_to)
			return r;
	}
	return NULL;
}

/* Step 10: units and the list price, in 128 bits. */
static enum sr_reason charge_of(const struct sr_rate *r,
                                const struct sr_session *s,
                                struct sr_rated *out)
{
	uint64_t amount = r->meter == SR_METER_TIME ? s->duration_s : s->bytes;
	out->units = amount / r->unit + (amount % r->unit != 0);
	__int128 charge = (__int128)out->units * r->unit_price;
	if (charge > INT64_MAX)
		return SR_REASON_OVERFLOW;
	out->charge = (int64_t)charge;
	return SR_REASON_NONE;
}

enum sr_reason sr_rate(const struct sr_catalog *cat, const struct sr_session *s,
                       struct sr_rated *out)
{
	return sr_rate_for(
	    cat, s,
	    sr_catalog_subscriber(cat, s->subscriber_id.ptr,
	                          s->subscriber_id.len),
	    sr_catalog_content(cat, s->content_id.ptr, s->content_id.len), out);
}

enum sr_reason sr_rate_for(const struct sr_catalog *cat,
                           const struct sr_session *s,
                           const struct sr_subscriber *subscriber,
                           const struct sr_content *content,
                           struct sr_rated *out)
{
	memset(out, 0, sizeof(*out));
	out->band = SR_NONE;

	out->subscriber = subscriber;
	if (!out->subscriber)
		return SR_REASON_UNKNOWN_SUBSCRIBER;
	out->subscription = in_force(out->subscriber, s->start);
	if (!out->subscription)
		return SR_REASON_NO_SUBSCRIPTION;
	out->plan = sr_catalog_plan(cat, out->subscription->plan);

	out->content = content;
	if (!out->content)
		return SR_REASON_UNKNOWN_CONTENT;

	if (out->content->ppv) {
		out->units = 1;
		if (sr_catalog_ppv_price(cat, out->content, out->plan->currency,
		                         &out->charge) < 0)
			return SR_REASON_NO_PRICE;
		return SR_REASON_NONE;
	}
	if (!entitled(out->plan, out->content->package))
		return SR_REASON_NOT_ENTITLED;

	out->band = band_of(cat, out->subscription->region, s->start);
	out->rate = rate_of(cat, out->plan, out->subscription->plan,
	                    out->content, s->quality, out->band, s->start);
	if (!out->rate)
		return SR_REASON_NONE; /* included in the subscription */
	return charge_of(out->rate, s, out);
}

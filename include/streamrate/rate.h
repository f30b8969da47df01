/*
 * Rating one session (SPEC section 3, steps 4 to 10) and the period being
 * rated (step 2). sr_rate() is a pure function of the catalog view and the
 * session: no I/O, no allocation, no global state, safe from any thread.
 * Steps 1 (parsing) and 3 (duplicates) belong to the caller, who sees the
 * input order.
 */
#ifndef STREAMRATE_RATE_H
#define STREAMRATE_RATE_H

#include "streamrate/catalog.h"
#include "streamrate/session.h"

/* A calendar month in UTC. */
struct sr_period {
	int64_t year;
	unsigned month;
	unsigned days; /* D of SPEC section 4 */
	int64_t start; /* first instant */
	int64_t end;   /* first instant of the next month */
	char text[8];  /* "YYYY-MM" and a NUL */
};

/* Parse "YYYY-MM" (years 0001-9999). Returns 0 or SR_EINVAL. */
int sr_period_init(struct sr_period *p, const char *text);

static inline bool sr_period_holds(const struct sr_period *p, int64_t instant)
{
	return instant >= p->start && instant < p->end;
}

/* A rated session; every pointer lives as long as the catalog view. */
struct sr_rated {
	const struct sr_subscriber *subscriber;
	const struct sr_subscription *subscription; /* row in force */
	const struct sr_plan *plan;
	const struct sr_content *content;
	const struct sr_rate *rate; /* NULL: PPV or included */
	uint32_t band;              /* SR_NONE: no band (and for PPV) */
	uint64_t units;
	int64_t charge; /* micro-units: list price, before allowances/tiers */
};

/*
 * Rate session s (already parsed, in the run's period, not a duplicate)
 * against cat. Returns SR_REASON_NONE and fills out, or the reject reason
 * (unknown_subscriber, no_subscription, unknown_content, no_price,
 * not_entitled, overflow).
 */
enum sr_reason sr_rate(const struct sr_catalog *cat, const struct sr_session *s,
                       struct sr_rated *out);
/* sr_rate() given the subscriber and content of s already looked up
 * (NULL: unknown), for callers that looked them up ahead. */
enum sr_reason sr_rate_for(const struct sr_catalog *cat,
                           const struct sr_session *s,
                           const struct sr_subscriber *subscriber,
                           const struct sr_content *content,
                           struct sr_rated *out);

#endif

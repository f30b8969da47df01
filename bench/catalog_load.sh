#!/usr/bin/env bash
# Catalog load speed: generate (seeded, so every run sees the same bytes) a
# catalog of 1,000,000 subscription rows and 10,000 rates, then time
# 'catalog check', a first 'catalog load', a second load that replaces the
# first, 'catalog dump', and building the compiled view, each with
# /usr/bin/time -v for wall time and peak memory. The dump is loaded again
# and dumped again to check the result: the two dumps must be identical.
#
#   bash bench/catalog_load.sh [BUILD_DIR]   (default: build)
#
# SUBS and RATES in the environment change the sizes.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
subs=${SUBS:-1000000}
rates=${RATES:-10000}
bin=$build/tools/streamrate
openbin=$build/bench/catalog_open
work=$(mktemp -d /tmp/sr_bench_catalog.XXXXXX)
trap 'rm -rf "$work"' EXIT

python3 - "$work/cat" "$subs" "$rates" <<'EOF'
import os, random, sys
out, nsubs, nrates = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
random.seed(20240601)
os.makedirs(out)
def write(name, header, rows):
    with open(os.path.join(out, name), "w") as f:
        f.write(header + "\n")
        f.writelines(",".join(r) + "\n" for r in rows)
currencies = [("EUR", "2"), ("USD", "2"), ("JPY", "0")]
write("currencies.csv", "currency,exponent", currencies)
packages = ["pkg%02d" % i for i in range(20)]
classes = ["class%d" % i for i in range(10)]
# Plans: groups of 12 rates (4 qualities x 3 bands) per (plan, class).
ngroups = (nrates + 11) // 12
nplans = max(1, (ngroups + len(classes) - 1) // len(classes))
plans = []
for p in range(nplans):
    cur = currencies[p % 3][0]
    fee = "1200" if cur == "JPY" else "%d.%02d" % (5 + p % 20, p % 100)
    plans.append(("plan%04d" % p, cur, fee,
                  " ".join(sorted(random.sample(packages, 5)))))
write("plans.csv", "plan_id,currency,monthly_fee,packages", plans)
content = [("c%06d" % i, classes[i % 10], packages[i % 20])
           for i in range(20000)]
content += [("ppv%04d" % i, "ppv", "") for i in range(200)]
write("content.csv", "content_id,class,package", content)
write("ppv_prices.csv", "content_id,currency,price",
      [("ppv%04d" % i, c, "%d.99" % (5 + i % 30))
       for i in range(200) for c, _ in currencies])
zones = ["Europe/Paris", "Europe/Berlin", "Europe/London", "America/New_York",
         "America/Chicago", "America/Los_Angeles", "Asia/Tokyo",
         "Asia/Kolkata", "Australia/Sydney", "UTC"]
regions = [("reg%d" % i, z) for i, z in enumerate(zones)]
write("regions.csv", "region,timezone", regions)
write("taxes.csv", "region,rate_percent,valid_from,valid_to",
      [r for i, (g, _) in enumerate(regions)
       for r in ((g, "%d" % (5 + i), "", "2024-07-01"),
                 (g, "%d.875" % (5 + i), "2024-07-01", ""))])
write("bands.csv", "band,days,from,to", [
    ("offpeak", "mon tue wed thu fri", "00:00", "18:00"),
    ("peak", "mon tue wed thu fri", "18:00", "23:00"),
    ("offpeak", "mon tue wed thu fri", "23:00", "24:00"),
    ("weekend", "sat sun", "00:00", "24:00")])
rows, tiers, allowances = [], [], []
combos = [(q, b) for q in ("SD", "HD", "UHD", "*")
          for b in ("peak", "offpeak", "*")]
for g in range(ngroups):
    plan, cls = plans[g // len(classes)][0], classes[g % len(classes)]
    for q, b in combos:
        if len(rows) == nrates:
            break
        rid = "r%06d" % len(rows)
        meter, unit = random.choice((("time", "60"), ("bytes", "1000000")))
        rows.append((rid, plan, cls, q, b, meter, unit,
                     "0.%04d" % random.randint(1, 9999), "", ""))
        if random.random() < 0.2:
            tiers += [(rid, "100", "0.0009"), (rid, "1000", "0.0005")]
        if random.random() < 0.2:
            allowances.append((rid, str(random.randint(1, 600))))
write("rates.csv", "rate_id,plan_id,class,quality,band,meter,unit,"
      "unit_price,valid_from,valid_to", rows)
write("tiers.csv", "rate_id,from_units,unit_price", tiers)
write("allowances.csv", "rate_id,units", allowances)
# Subscription rows: a third of the subscribers change plan on a day of
# 2024 (to a plan of the same currency), in shuffled file order.
subs, i = [], 0
by_currency = {c: [p for p in plans if p[1] == c] for c, _ in currencies}
while len(subs) < nsubs:
    sid, p = "sub%08d" % i, random.choice(plans)
    region = regions[random.randrange(len(regions))][0]
    i += 1
    if len(subs) + 2 <= nsubs and i % 3 == 0:
        change = "2024-%02d-%02d" % (random.randint(1, 12),
                                     random.randint(1, 28))
        q = random.choice(by_currency[p[1]])
        subs += [(sid, p[0], region, "2023-01-01", change),
                 (sid, q[0], region, change, "")]
    else:
        subs.append((sid, p[0], region, "2023-%02d-01" %
                     random.randint(1, 12), ""))
random.shuffle(subs)
write("subscriptions.csv", "subscriber_id,plan_id,region,start,end", subs)
EOF

nsubscribers=$(cut -d, -f1 "$work/cat/subscriptions.csv" | tail -n +2 |
	sort -u | wc -l)
nrows=$(cat "$work"/cat/*.csv | wc -l)
nrows=$((nrows - 11))
bytes=$(cat "$work"/cat/*.csv | wc -c)
echo "catalog: $subs subscription rows ($nsubscribers subscribers)," \
	"$rates rates, $nrows rows in all, $((bytes / 1000000)) MB of CSV"

# Run a command under /usr/bin/time -v; print wall time, rows and MB of
# CSV per second, and peak RSS.
timed() {
	local what=$1
	shift
	/usr/bin/time -v "$@" >"$work/out" 2>"$work/time" || {
		cat "$work/out" "$work/time" >&2
		exit 1
	}
	local wall rss
	wall=$(sed -n 's/.*Elapsed (wall clock) time.*: //p' "$work/time")
	rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$work/time")
	awk -v what="$what" -v wall="$wall" -v rss="$rss" -v rows="$nrows" \
		-v bytes="$bytes" 'BEGIN {
		n = split(wall, p, ":"); s = 0
		for (i = 1; i <= n; i++) s = s * 60 + p[i]
		if (s <= 0) s = 0.01
		printf "%-26s %7.2f s %6.2f M rows/s %6.1f MB/s %6d MiB peak RSS\n",
			what, s, rows / s / 1e6, bytes / s / 1e6, rss / 1024
	}'
}

timed "catalog check" "$bin" catalog check "$work/cat"
timed "catalog load (new store)" "$bin" catalog load --db "$work/db" \
	"$work/cat"
timed "catalog load (replacing)" "$bin" catalog load --db "$work/db" \
	"$work/cat"
timed "catalog dump" "$bin" catalog dump --db "$work/db" "$work/dump"
if [ -x "$openbin" ]; then
	timed "view open + lookups" "$openbin" "$work/db" "$nsubscribers"
	cat "$work/out"
fi
"$bin" catalog load --db "$work/db2" "$work/dump" >/dev/null
"$bin" catalog dump --db "$work/db2" "$work/dump2"
diff -r "$work/dump" "$work/dump2" >/dev/null ||
	{ echo "dump, load, dump differs" >&2; exit 1; }
echo "store: $(du -sh "$work/db/data.mdb" | cut -f1) on disk;" \
	"dump -> load -> dump identical"

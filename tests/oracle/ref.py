#!/usr/bin/env python3
"""Reference implementation of the streamrate rating contract (SPEC.md v1).

This program is a differential oracle for the C engine: it reads the catalog
straight from its CSV directory (SPEC section 2), rates session files
(sections 1 and 3), builds invoices (section 4) and writes the output files of
section 5 byte for byte.  It is written for clarity, not speed, with the
Python standard library only.  Every byte of input is handled as bytes and
never decoded; money is Python integers of micro-units, never floats.

Where SPEC.md is silent it follows "Choices where the contract is silent" in
the project README; the few remaining choices are marked CHOICE below.

    python3 ref.py rate --catalog DIR --period YYYY-MM --out DIR FILE...
"""

import os
import re
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

I64_MAX = 2**63 - 1
MAX_RECORD = 65536  # README: limit on a record's bytes without its line end
BOM = b"\xef\xbb\xbf"

# CHOICE (README): a CR is dropped only right before an LF; a last record
# without an LF keeps a trailing CR as data. The switch is kept to test the
# other reading.
EOF_DROPS_CR = False

REQUIRED = (b"session_id", b"subscriber_id", b"content_id", b"start",
            b"duration_s", b"bytes", b"quality")
RATED_HEADER = (b"session_id,subscriber_id,content_id,start,period,plan_id,"
                b"region,class,quality,band,rate_id,meter,units,charge,"
                b"currency\n")
WEEKDAYS = (b"mon", b"tue", b"wed", b"thu", b"fri", b"sat", b"sun")


class Refuse(Exception):
    """An error that ends the run without output, with an exit code."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


# ---------------------------------------------------------------------------
# CSV splitting (SPEC section 1, README "Session files")
# ---------------------------------------------------------------------------

# An unquoted field runs up to a comma, an LF or a quote (the quote is an
# error in an unquoted field).
UNQUOTED = re.compile(rb'[^,\n"]*')


def split_record(buf, p):
    """Split the record starting at buf[p].

    Returns (fields, content_end, next_pos): the fields as bytes, the end of
    the record's bytes without its line end, and where the next record
    starts.  Returns None when the record cannot be split (malformed:line).
    Only the first MAX_RECORD + 2 bytes (record plus CR LF) are looked at:
    anything longer is malformed anyway.
    """
    n = len(buf)
    lim = min(n, p + MAX_RECORD + 2)
    fields = []
    i = p
    while True:
        if i < lim and buf[i] == 0x22:  # a quoted field
            parts = []
            i += 1
            while True:
                j = buf.find(b'"', i, lim)
                if j < 0:
                    return None  # input ends inside quotes, or too long
                if j + 1 >= lim and lim < n:
                    return None  # too long, whatever comes next
                if j + 1 < n and buf[j + 1] == 0x22:  # "" is one quote
                    parts.append(buf[i:j + 1])
                    i = j + 2
                    continue
                parts.append(buf[i:j])
                i = j + 1
                break
            fields.append(b"".join(parts))
            # After the closing quote: a comma or the record's end only.
            if i == n:
                end, nxt = n, n
            elif buf[i] == 0x2C:
                i += 1
                continue
            elif buf[i] == 0x0A:
                end, nxt = i, i + 1
            elif buf[i] == 0x0D and i + 1 < n and buf[i + 1] == 0x0A:
                end, nxt = i, i + 2
            elif buf[i] == 0x0D and i + 1 == n and EOF_DROPS_CR:
                end, nxt = i, n
            else:
                return None
        else:  # an unquoted field
            m = UNQUOTED.match(buf, i, lim)
            k = m.end()
            if k == lim and lim < n:
                return None  # too long
            if k < n and buf[k] == 0x22:
                return None  # a quote inside an unquoted field
            field = buf[i:k]
            if k < n and buf[k] == 0x2C:
                fields.append(field)
                i = k + 1
                continue
            # The record ends here, at an LF or at the end of input.
            end = k
            if k < n:
                nxt = k + 1
                if field.endswith(b"\r"):
                    field, end = field[:-1], k - 1
            else:
                nxt = n
                if EOF_DROPS_CR and field.endswith(b"\r"):
                    field, end = field[:-1], k - 1
            fields.append(field)
        if end - p > MAX_RECORD:
            return None
        return fields, end, nxt


def first_line(buf, p):
    """The first physical line at buf[p] without its line end, and where the
    next line starts (the malformed:line resync rule)."""
    n = len(buf)
    q = buf.find(b"\n", p)
    if q < 0:
        end, nxt = n, n
        if EOF_DROPS_CR and end > p and buf[end - 1] == 0x0D:
            end -= 1
    else:
        end, nxt = q, q + 1
        if end > p and buf[end - 1] == 0x0D:
            end -= 1
    return buf[p:end], nxt


def iter_records(buf):
    """Yield (line, kind, value, raw) for every record after the header.

    kind is "ok" (value = fields), "empty" or "malformed" (value None); raw is
    the record's bytes for rejects.csv.  A record whose field count differs
    from the header's cannot be split (SPEC section 1): like any malformed
    record it is reported as its first physical line and reading resumes on
    the next line, even when the record spanned several lines.  The header
    itself is yielded first with line 1 and kind "ok" or "malformed".  A BOM
    at the start is skipped without changing line numbers.
    """
    p = 3 if buf.startswith(BOM) else 0
    line = 1
    n = len(buf)
    width = None  # the header's field count
    while p < n:
        got = split_record(buf, p)
        if got is not None and width is not None and got[1] > p \
                and len(got[0]) != width:
            got = None  # a field count that differs from the header's
        if got is None:
            raw, nxt = first_line(buf, p)
            yield line, "malformed", None, raw
        else:
            fields, end, nxt = got
            raw = buf[p:end]
            if end == p:
                yield line, "empty", None, raw
            else:
                yield line, "ok", fields, raw
        if width is None:
            width = len(got[0]) if got is not None and got[1] > p else 1
        line += buf.count(b"\n", p, nxt)
        p = nxt


# ---------------------------------------------------------------------------
# Civil dates (pure integer arithmetic, proleptic Gregorian calendar)
# ---------------------------------------------------------------------------

def days_from_civil(y, m, d):
    """Days since 1970-01-01 of the date y-m-d (any year, even <= 0)."""
    y -= 1 if m <= 2 else 0
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m - 3 if m > 2 else m + 9) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def civil_from_days(z):
    """The date (y, m, d) of day z since 1970-01-01."""
    z += 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (1 if m <= 2 else 0), m, d


def days_in_month(y, m):
    ny, nm = (y + 1, 1) if m == 12 else (y, m + 1)
    return days_from_civil(ny, nm, 1) - days_from_civil(y, m, 1)


DATE_RE = re.compile(rb"([0-9]{4})-([0-9]{2})-([0-9]{2})")


def parse_date(s):
    """YYYY-MM-DD -> days since the epoch, or None if not a real date."""
    m = DATE_RE.fullmatch(s)
    if not m:
        return None
    y, mo, d = (int(g) for g in m.groups())
    if y < 1 or not 1 <= mo <= 12 or not 1 <= d <= days_in_month(y, mo):
        return None
    return days_from_civil(y, mo, d)


TS_RE = re.compile(rb"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):"
                   rb"([0-9]{2})(?:\.[0-9]+)?(?:Z|([+-])([0-9]{2}):([0-9]{2}))")


def parse_start(s):
    """SPEC section 1 `start` -> UTC instant in seconds since the epoch (the
    fraction dropped), or None when the rule is broken."""
    m = TS_RE.fullmatch(s)
    if not m:
        return None
    y, mo, d, hh, mi, ss = (int(g) for g in m.groups()[:6])
    if y < 1 or not 1 <= mo <= 12 or not 1 <= d <= days_in_month(y, mo):
        return None
    if hh > 23 or mi > 59 or ss > 59:
        return None
    off = 0
    if m.group(7) is not None:
        oh, om = int(m.group(8)), int(m.group(9))
        if oh > 23 or om > 59:  # README: offset minutes 00-59
            return None
        off = (oh * 3600 + om * 60) * (1 if m.group(7) == b"+" else -1)
    local = days_from_civil(y, mo, d) * 86400 + hh * 3600 + mi * 60 + ss
    return local - off


def format_instant(t):
    y, mo, d = civil_from_days(t // 86400)
    s = t % 86400
    return b"%04d-%02d-%02dT%02d:%02d:%02dZ" % (y, mo, d, s // 3600,
                                                s // 60 % 60, s % 60)


# The UTC offset of a time zone, taken from zoneinfo.  datetime only covers
# years 1-9999, so the offset of an instant at the very edge is taken one day
# inside the range (time zones there are in their fixed local mean time).
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
T_LOW = days_from_civil(1, 1, 2) * 86400
T_HIGH = days_from_civil(9999, 12, 30) * 86400


def utc_offset(tzname, t):
    tc = min(max(t, T_LOW), T_HIGH)
    local = (EPOCH + timedelta(seconds=tc)).astimezone(ZoneInfo(tzname))
    return round(local.utcoffset().total_seconds())


# ---------------------------------------------------------------------------
# Decimals and money
# ---------------------------------------------------------------------------

DEC_RE = re.compile(rb"([0-9]+)(?:\.([0-9]+))?")


def parse_decimal(s, scale):
    """A non-negative decimal string -> integer count of 10^-scale units."""
    m = DEC_RE.fullmatch(s)
    if not m or (m.group(2) and len(m.group(2)) > scale):
        raise ValueError("bad decimal %r" % s)
    frac = (m.group(2) or b"").ljust(scale, b"0")
    return int(m.group(1).lstrip(b"0") or b"0") * 10**scale + int(frac or b"0")


def div_round(n, d):
    """n / d rounded half away from zero (d > 0)."""
    q = (2 * abs(n) + d) // (2 * d)
    return q if n >= 0 else -q


def round_minor(num, den, exponent):
    """Round the micro-unit value num/den to a multiple of 10^(6-exponent)
    micro-units (SPEC section 4), exactly."""
    step = 10**(6 - exponent)
    return div_round(num, den * step) * step


def fmt_micro6(v):
    """Micro-units with exactly 6 fractional digits (rated.csv charge)."""
    sign = b"-" if v < 0 else b""
    v = abs(v)
    return b"%s%d.%06d" % (sign, v // 10**6, v % 10**6)


def fmt_amount(v, exponent):
    """Micro-units (a multiple of 10^(6-exponent)) with exactly `exponent`
    fractional digits; no dot for exponent 0."""
    sign = b"-" if v < 0 else b""
    v = abs(v)
    whole = b"%s%d" % (sign, v // 10**6)
    if exponent == 0:
        return whole
    frac = (v % 10**6) // 10**(6 - exponent)
    return whole + b".%0*d" % (exponent, frac)


def fmt_rate(rate_e4):
    """Tax percent (in 10^-4 percent) without trailing fractional zeros."""
    whole, frac = divmod(rate_e4, 10**4)
    if frac == 0:
        return b"%d" % whole
    return b"%d.%s" % (whole, (b"%04d" % frac).rstrip(b"0"))


def parse_uint(s, maximum):
    """ASCII digits only, value 0..maximum, else None.  Leading zeros are
    stripped first: Python refuses int() of very long digit strings."""
    if not s or not s.isdigit():
        return None
    s = s.lstrip(b"0")
    if len(s) > len(str(maximum)):
        return None
    v = int(s or b"0")
    return v if v <= maximum else None


# ---------------------------------------------------------------------------
# Catalog (SPEC section 2): read straight from the CSV directory
# ---------------------------------------------------------------------------

def read_table(catdir, fname, columns):
    """Rows of a catalog CSV file as dicts of the named columns (bytes)."""
    path = os.path.join(catdir, fname)
    try:
        with open(path, "rb") as f:
            buf = f.read()
    except OSError as e:
        raise Refuse(2, "%s: %s" % (path, e.strerror))
    rows = []
    index = None
    for line, kind, fields, raw in iter_records(buf):
        if index is None:  # the header
            if kind != "ok":
                raise Refuse(2, "%s:%d: cannot split the header" % (path, line))
            missing = [c for c in columns if c not in fields]
            if missing:
                raise Refuse(2, "%s:%d: missing column %s"
                             % (path, line, missing[0].decode()))
            index = {c: fields.index(c) for c in columns}
            width = len(fields)
            continue
        if kind == "empty":
            continue
        if kind != "ok" or len(fields) != width:
            raise Refuse(2, "%s:%d: cannot split the record" % (path, line))
        rows.append((line, {c: fields[i] for c, i in index.items()}))
    if index is None:
        raise Refuse(2, "%s: no header" % path)
    return path, rows


def opt_date(s):
    """An optional date bound in seconds, None when empty (open)."""
    return None if s == b"" else parse_date(s) * 86400


class Catalog:
    def __init__(self, catdir):
        try:
            self._load(catdir)
        except (ValueError, TypeError, KeyError) as e:
            raise Refuse(2, "%s: bad catalog: %s" % (catdir, e))

    def _load(self, d):
        _, rows = read_table(d, "currencies.csv", (b"currency", b"exponent"))
        self.exponent = {r[b"currency"]: int(r[b"exponent"]) for _, r in rows}

        _, rows = read_table(d, "plans.csv", (b"plan_id", b"currency",
                                              b"monthly_fee", b"packages"))
        self.plans = {}
        for _, r in rows:
            packages = {p for p in r[b"packages"].split(b" ") if p}
            self.plans[r[b"plan_id"]] = (r[b"currency"],
                                         parse_decimal(r[b"monthly_fee"], 6),
                                         packages)

        _, rows = read_table(d, "content.csv",
                             (b"content_id", b"class", b"package"))
        self.content = {r[b"content_id"]: (r[b"class"], r[b"package"])
                        for _, r in rows}

        _, rows = read_table(d, "ppv_prices.csv",
                             (b"content_id", b"currency", b"price"))
        self.ppv = {(r[b"content_id"], r[b"currency"]):
                    parse_decimal(r[b"price"], 6) for _, r in rows}

        _, rows = read_table(d, "regions.csv", (b"region", b"timezone"))
        self.tz = {r[b"region"]: r[b"timezone"].decode("ascii")
                   for _, r in rows}

        _, rows = read_table(d, "taxes.csv", (b"region", b"rate_percent",
                                              b"valid_from", b"valid_to"))
        self.taxes = {}
        for _, r in rows:
            self.taxes.setdefault(r[b"region"], []).append(
                (opt_date(r[b"valid_from"]), opt_date(r[b"valid_to"]),
                 parse_decimal(r[b"rate_percent"], 4)))

        # Band rows: (band id, weekday numbers, from s, to s) in file order.
        _, rows = read_table(d, "bands.csv", (b"band", b"days", b"from",
                                              b"to"))
        self.bands = []
        for _, r in rows:
            days = {WEEKDAYS.index(x) for x in r[b"days"].split(b" ") if x}
            self.bands.append((r[b"band"], days, hhmm(r[b"from"]),
                               hhmm(r[b"to"])))

        _, rows = read_table(d, "rates.csv", (
            b"rate_id", b"plan_id", b"class", b"quality", b"band", b"meter",
            b"unit", b"unit_price", b"valid_from", b"valid_to"))
        self.rates = {}  # (plan, class) -> list of rates in file order
        self.rate_price = {}
        for _, r in rows:
            rate = {
                "id": r[b"rate_id"], "quality": r[b"quality"],
                "band": r[b"band"], "meter": r[b"meter"],
                "unit": int(r[b"unit"]),
                "price": parse_decimal(r[b"unit_price"], 6),
                "from": opt_date(r[b"valid_from"]),
                "to": opt_date(r[b"valid_to"]),
            }
            self.rates.setdefault((r[b"plan_id"], r[b"class"]), []).append(
                rate)
            self.rate_price[rate["id"]] = rate["price"]

        _, rows = read_table(d, "tiers.csv",
                             (b"rate_id", b"from_units", b"unit_price"))
        self.tiers = {}
        for _, r in rows:
            self.tiers.setdefault(r[b"rate_id"], []).append(
                (int(r[b"from_units"]), parse_decimal(r[b"unit_price"], 6)))
        for t in self.tiers.values():
            t.sort()

        _, rows = read_table(d, "allowances.csv", (b"rate_id", b"units"))
        self.allowance = {r[b"rate_id"]: int(r[b"units"]) for _, r in rows}

        # Subscription rows per subscriber, in start order (days since epoch,
        # end None when open).
        _, rows = read_table(d, "subscriptions.csv", (
            b"subscriber_id", b"plan_id", b"region", b"start", b"end"))
        self.subs = {}
        for _, r in rows:
            end = None if r[b"end"] == b"" else parse_date(r[b"end"])
            self.subs.setdefault(r[b"subscriber_id"], []).append(
                (parse_date(r[b"start"]), end, r[b"plan_id"], r[b"region"]))
        for rows_ in self.subs.values():
            rows_.sort(key=lambda s: s[0])


def hhmm(s):
    """Band bound HH:MM -> seconds since local midnight (24:00 = 86400)."""
    h, m = s.split(b":")
    return int(h) * 3600 + int(m) * 60


def in_interval(t, lo, hi):
    """lo <= t < hi with None meaning open on that side."""
    return (lo is None or lo <= t) and (hi is None or t < hi)


# ---------------------------------------------------------------------------
# Rating one session (SPEC section 3)
# ---------------------------------------------------------------------------

ID_BAD = re.compile(rb"[\x00-\x1f\x7f]")


def valid_id(s):
    return 1 <= len(s) <= 128 and not ID_BAD.search(s)


def parse_session(cols, fields):
    """Step 1 (SPEC section 1): check the required columns in header order.
    Returns (session dict, None) or (None, reason)."""
    rec = {}
    for name, idx in cols:
        v = fields[idx]
        if name in (b"session_id", b"subscriber_id", b"content_id"):
            ok = valid_id(v)
        elif name == b"start":
            v = parse_start(v)
            ok = v is not None
        elif name == b"duration_s":
            v = parse_uint(v, 604800)
            ok = v is not None
        elif name == b"bytes":
            v = parse_uint(v, I64_MAX)
            ok = v is not None
        else:  # quality
            ok = v in (b"SD", b"HD", b"UHD")
        if not ok:
            return None, b"malformed:" + name
        rec[name] = v
    return rec, None


def find_band(cat, tzname, t):
    """Step 8: the band holding the local weekday and time of instant t."""
    local = t + utc_offset(tzname, t)
    day, secs = divmod(local, 86400)
    weekday = (day + 3) % 7  # 1970-01-01 was a Thursday; 0 = Monday
    for band, days, lo, hi in cat.bands:
        if weekday in days and lo <= secs < hi:
            return band
    return None


def find_rate(cat, plan, cls, quality, band, t):
    """Step 9: the most specific rate valid at t, or None (included)."""
    best, best_key = None, None
    for rate in cat.rates.get((plan, cls), ()):
        if not in_interval(t, rate["from"], rate["to"]):
            continue
        if rate["quality"] not in (quality, b"*"):
            continue
        if rate["band"] != b"*" and (band is None or rate["band"] != band):
            continue
        key = (rate["quality"] != b"*", rate["band"] != b"*")
        if best_key is None or key > best_key:  # first in file order on ties
            best, best_key = rate, key
    return best


def rate_session(cat, rec):
    """Steps 4 to 10 for a record that passed steps 1 to 3.  Returns
    (rated dict, None) or (None, reason)."""
    t = rec[b"start"]
    sub = rec[b"subscriber_id"]
    rows = cat.subs.get(sub)
    if not rows:
        return None, b"unknown_subscriber"
    row = next((r for r in rows
                if r[0] * 86400 <= t and (r[1] is None or t < r[1] * 86400)),
               None)
    if row is None:
        return None, b"no_subscription"
    _, _, plan, region = row
    currency, _, packages = cat.plans[plan]
    content = cat.content.get(rec[b"content_id"])
    if content is None:
        return None, b"unknown_content"
    cls, package = content
    out = {"rec": rec, "plan": plan, "region": region, "class": cls,
           "currency": currency, "band": None}
    if cls == b"ppv":  # step 6
        price = cat.ppv.get((rec[b"content_id"], currency))
        if price is None:
            return None, b"no_price"
        if price > I64_MAX:
            return None, b"overflow"
        out.update(kind="ppv", rate_id=b"ppv", meter=b"", units=1,
                   charge=price)
        return out, None
    if package not in packages:  # step 7
        return None, b"not_entitled"
    band = find_band(cat, cat.tz[region], t)  # step 8
    out["band"] = band
    rate = find_rate(cat, plan, cls, rec[b"quality"], band, t)  # step 9
    if rate is None:
        out.update(kind="included", rate_id=b"", meter=b"", units=0, charge=0)
        return out, None
    amount = rec[b"duration_s"] if rate["meter"] == b"time" else rec[b"bytes"]
    units = -(-amount // rate["unit"])  # step 10: ceil
    charge = units * rate["price"]
    if charge > I64_MAX:  # README: rejected as overflow
        return None, b"overflow"
    out.update(kind="usage", rate_id=rate["id"], meter=rate["meter"],
               units=units, charge=charge)
    return out, None


# ---------------------------------------------------------------------------
# Invoices (SPEC section 4)
# ---------------------------------------------------------------------------

def graduated(billable, base_price, tiers):
    """Value in micro-units of billable units numbered from 0: below the
    first tier's from_units at the rate's price, from each tier's from_units
    on at that tier's price."""
    bounds = [0] + [f for f, _ in tiers]
    prices = [base_price] + [p for _, p in tiers]
    value = 0
    for k, lo in enumerate(bounds):
        hi = bounds[k + 1] if k + 1 < len(bounds) else None
        top = billable if hi is None else min(billable, hi)
        if top > lo:
            value += (top - lo) * prices[k]
    return value


def build_invoices(cat, year, month, rated):
    """One invoice per subscriber with a row overlapping the period, sorted by
    subscriber byte order."""
    m_lo = days_from_civil(year, month, 1)
    n_days = days_in_month(year, month)
    m_hi = m_lo + n_days
    last_day = (m_hi - 1) * 86400

    usage = {}  # subscriber -> rate_id -> units
    ppv = {}  # subscriber -> set of content ids
    for r in rated:
        sub = r["rec"][b"subscriber_id"]
        if r["kind"] == "usage":
            per = usage.setdefault(sub, {})
            per[r["rate_id"]] = per.get(r["rate_id"], 0) + r["units"]
        elif r["kind"] == "ppv":
            ppv.setdefault(sub, set()).add(r["rec"][b"content_id"])

    invoices = []
    for sub in sorted(cat.subs):
        rows = [s for s in cat.subs[sub]
                if s[0] < m_hi and (s[1] is None or s[1] > m_lo)]
        if not rows:
            continue
        currency = cat.plans[rows[0][2]][0]
        e = cat.exponent[currency]
        lines = []
        for start, end, plan, _ in rows:  # recurring, start order
            days = min(m_hi, end if end is not None else m_hi) - max(start,
                                                                     m_lo)
            fee = cat.plans[plan][1]
            lines.append({"type": "recurring", "plan": plan, "days": days,
                          "amount": round_minor(fee * days, n_days, e)})
        for rate_id in sorted(usage.get(sub, {})):  # usage, rate_id order
            units = usage[sub][rate_id]
            allowance = cat.allowance.get(rate_id, 0)
            billable = max(0, units - allowance)
            value = graduated(billable, cat.rate_price[rate_id],
                              cat.tiers.get(rate_id, []))
            lines.append({"type": "usage", "rate": rate_id, "units": units,
                          "allowance": allowance, "billable": billable,
                          "amount": round_minor(value, 1, e)})
        for content in sorted(ppv.get(sub, ())):  # ppv, content_id order
            price = cat.ppv[(content, currency)]
            lines.append({"type": "ppv", "content": content,
                          "amount": round_minor(price, 1, e)})
        subtotal = sum(line["amount"] for line in lines)
        region = max(rows, key=lambda s: s[0])[3]
        rate_e4 = 0
        for lo, hi, rate in cat.taxes.get(region, ()):
            if in_interval(last_day, lo, hi):
                rate_e4 = rate
                break
        tax = round_minor(subtotal * rate_e4, 100 * 10**4, e)
        total = subtotal + tax
        amounts = [line["amount"] for line in lines] + [subtotal, tax, total]
        if max(amounts) > I64_MAX:
            raise Refuse(2, "invoice of subscriber %s: an amount does not fit "
                         "64-bit micro-units" % sub.decode("utf-8", "replace"))
        invoices.append({"subscriber": sub, "currency": currency,
                         "exponent": e, "region": region, "lines": lines,
                         "subtotal": subtotal, "tax_rate": fmt_rate(rate_e4),
                         "tax": tax, "total": total})
    return invoices


# ---------------------------------------------------------------------------
# Outputs (SPEC section 5)
# ---------------------------------------------------------------------------

def csv_field(v):
    """Quoted only when holding a comma, a quote, CR or LF."""
    if any(c in v for c in (b",", b'"', b"\r", b"\n")):
        return b'"' + v.replace(b'"', b'""') + b'"'
    return v


def csv_row(fields):
    return b",".join(csv_field(f) for f in fields) + b"\n"


def jstr(v):
    """A JSON string: only quote and backslash are escaped."""
    return b'"' + v.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def jobj(pairs):
    return b"{" + b",".join(jstr(k) + b":" + v for k, v in pairs) + b"}"


def invoice_json(inv, period):
    e = inv["exponent"]
    lines = []
    for ln in inv["lines"]:
        amount = jstr(fmt_amount(ln["amount"], e))
        if ln["type"] == "recurring":
            pairs = [(b"type", jstr(b"recurring")), (b"plan", jstr(ln["plan"])),
                     (b"days", b"%d" % ln["days"]), (b"amount", amount)]
        elif ln["type"] == "usage":
            pairs = [(b"type", jstr(b"usage")), (b"rate", jstr(ln["rate"])),
                     (b"units", b"%d" % ln["units"]),
                     (b"allowance", b"%d" % ln["allowance"]),
                     (b"billable", b"%d" % ln["billable"]),
                     (b"amount", amount)]
        else:
            pairs = [(b"type", jstr(b"ppv")), (b"content", jstr(ln["content"])),
                     (b"amount", amount)]
        lines.append(jobj(pairs))
    return jobj([
        (b"subscriber", jstr(inv["subscriber"])), (b"period", jstr(period)),
        (b"currency", jstr(inv["currency"])), (b"region", jstr(inv["region"])),
        (b"lines", b"[" + b",".join(lines) + b"]"),
        (b"subtotal", jstr(fmt_amount(inv["subtotal"], e))),
        (b"tax_rate", jstr(inv["tax_rate"])),
        (b"tax", jstr(fmt_amount(inv["tax"], e))),
        (b"total", jstr(fmt_amount(inv["total"], e))),
    ]) + b"\n"


def write_outputs(outdir, files):
    """Write every file to a temporary name in outdir, then rename them all:
    a run that dies leaves the previous outputs or complete new ones."""
    os.makedirs(outdir, exist_ok=True)
    umask = os.umask(0)
    os.umask(umask)
    temps = []
    try:
        for name, data in files:
            fd, tmp = tempfile.mkstemp(dir=outdir, prefix=".ref-" + name)
            temps.append((tmp, name))
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates files 0600
        for tmp, name in temps:
            os.replace(tmp, os.path.join(outdir, name))
    except OSError as e:
        for tmp, _ in temps:
            if os.path.exists(tmp):
                os.unlink(tmp)
        raise Refuse(3, "%s: %s" % (outdir, e))


# ---------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------

def read_input(name):
    try:
        if name == "-":
            return sys.stdin.buffer.read()
        with open(name, "rb") as f:
            return f.read()
    except OSError as e:
        raise Refuse(3, "%s: %s" % (name, e.strerror))


def check_header(name, buf):
    """Returns (records iterator, [(column, index)] of the required columns in
    header order, header width) or None for a file that adds nothing.
    Refuses the run (exit 2) for a header that cannot be split, lacks a
    required column or names a column twice."""
    records = iter_records(buf)
    first = next(records, None)
    if first is None:
        return None  # empty, or just a BOM
    line, kind, fields, _ = first
    if kind == "malformed":
        raise Refuse(2, "%s:%d: the header cannot be split" % (name, line))
    if fields is None:  # an empty first line is a header with one empty name
        fields = [b""]
    seen = set()
    for f in fields:
        if f in seen:
            raise Refuse(2, "%s:%d: column %s named twice"
                         % (name, line, f.decode("utf-8", "replace")))
        seen.add(f)
    for c in REQUIRED:
        if c not in seen:
            raise Refuse(2, "%s:%d: missing column %s"
                         % (name, line, c.decode()))
    cols = [(f, i) for i, f in enumerate(fields) if f in REQUIRED]
    return records, cols, len(fields)


def run(catdir, period, outdir, names):
    year, month = int(period[:4]), int(period[5:7])
    cat = Catalog(catdir)

    # Every header is checked before anything is rated (SPEC section 1).
    inputs = []
    for name in names:
        got = check_header(name, read_input(name))
        if got is not None:
            inputs.append((os.fsencode(name), got))

    rated, rejects = [], []
    skipped = 0
    seen = set()  # (subscriber_id, session_id) past step 2
    for fname, (records, cols, width) in inputs:
        for line, kind, fields, raw in records:
            if kind == "empty":
                skipped += 1
                continue
            if kind == "malformed" or len(fields) != width:
                rejects.append((fname, line, b"malformed:line", raw))
                continue
            rec, reason = parse_session(cols, fields)  # step 1
            if rec is None:
                rejects.append((fname, line, reason, raw))
                continue
            y, m, _ = civil_from_days(rec[b"start"] // 86400)  # step 2
            if (y, m) != (year, month):
                rejects.append((fname, line, b"other_period", raw))
                continue
            key = (rec[b"subscriber_id"], rec[b"session_id"])  # step 3
            if key in seen:
                rejects.append((fname, line, b"duplicate", raw))
                continue
            seen.add(key)
            out, reason = rate_session(cat, rec)
            if out is None:
                rejects.append((fname, line, reason, raw))
            else:
                rated.append(out)

    invoices = build_invoices(cat, year, month, rated)

    bperiod = period.encode()
    rated_csv = [RATED_HEADER]
    for r in rated:
        rec = r["rec"]
        rated_csv.append(csv_row([
            rec[b"session_id"], rec[b"subscriber_id"], rec[b"content_id"],
            format_instant(rec[b"start"]), bperiod, r["plan"], r["region"],
            r["class"], rec[b"quality"], r["band"] or b"", r["rate_id"],
            r["meter"], b"%d" % r["units"], fmt_micro6(r["charge"]),
            r["currency"]]))
    rejects_csv = [b"file,line,reason,record\n"]
    for fname, line, reason, raw in rejects:
        rejects_csv.append(b"%s,%d,%s,\"%s\"\n" % (
            csv_field(fname), line, csv_field(reason),
            raw.replace(b'"', b'""')))
    inv_jsonl = [invoice_json(inv, bperiod) for inv in invoices]
    inv_csv = [b"subscriber,currency,subtotal,tax,total\n"]
    for inv in invoices:
        e = inv["exponent"]
        inv_csv.append(csv_row([
            inv["subscriber"], inv["currency"], fmt_amount(inv["subtotal"], e),
            fmt_amount(inv["tax"], e), fmt_amount(inv["total"], e)]))

    reasons = {}
    for _, _, reason, _ in rejects:
        reasons[reason] = reasons.get(reason, 0) + 1
    totals = {}
    for inv in invoices:
        totals[inv["currency"]] = totals.get(inv["currency"], 0) + inv["total"]
    summary = jobj([
        (b"records", b"%d" % (len(rated) + len(rejects))),
        (b"rated", b"%d" % len(rated)),
        (b"skipped", b"%d" % skipped),
        (b"rejected", jobj([(k, b"%d" % reasons[k]) for k in sorted(reasons)])),
        (b"invoices", b"%d" % len(invoices)),
        (b"totals", jobj([(c, jstr(fmt_amount(totals[c], cat.exponent[c])))
                          for c in sorted(totals)])),
        (b"seconds", b"0"),
        (b"records_per_second", b"0"),
    ]) + b"\n"

    write_outputs(outdir, [
        ("rated.csv", b"".join(rated_csv)),
        ("rejects.csv", b"".join(rejects_csv)),
        ("invoices-%s.jsonl" % period, b"".join(inv_jsonl)),
        ("invoices-%s.csv" % period, b"".join(inv_csv)),
        ("summary.json", summary),
    ])


USAGE = ("usage: ref.py rate --catalog CATALOG_DIR --period YYYY-MM "
         "--out OUTDIR FILE...\n")


def main(argv):
    if len(argv) < 1 or argv[0] != "rate":
        sys.stderr.write(USAGE)
        return 1
    opts = {"--catalog": None, "--period": None, "--out": None}
    names = []
    i = 1
    while i < len(argv):
        a = argv[i]
        if a in opts and i + 1 < len(argv):
            opts[a] = argv[i + 1]
            i += 2
        elif a == "--":
            names.extend(argv[i + 1:])
            break
        elif a.startswith("--"):
            sys.stderr.write(USAGE)
            return 1
        else:
            names.append(a)
            i += 1
    period = opts["--period"]
    if (None in opts.values() or not names or
            not re.fullmatch(r"[0-9]{4}-(0[1-9]|1[0-2])", period) or
            period[:4] == "0000"):
        sys.stderr.write(USAGE)
        return 1
    try:
        run(opts["--catalog"], period, opts["--out"], names)
    except Refuse as e:
        sys.stderr.write("ref.py: %s\n" % e)
        return e.code
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
